"""The portal's member pages from the attacker's side. They are checked by the API's own
function (accounts.access.action_refusal): a refusal is audited exactly like a refused API
call, and a suspended organisation reaches exactly what the API lets it reach."""

from __future__ import annotations

import dataclasses

import pytest

from accounts.models import ApiKey, AuditEvent, AuditOutcome, Organisation, SigningKey
from accounts.permissions import ACTIONS
from tests.governance.conftest import signed_in

NORTHWIND = "/portal/organisations/northwind/"


def denials(action: str) -> list[dict]:
    return [
        event.detail
        for event in AuditEvent.objects.filter(action=action, outcome=AuditOutcome.DENIED)
    ]


def test_another_organisations_pages_answer_404_and_the_attempt_is_audited(cast):
    intruder = signed_in(cast["lakeside/admin"].user)
    for page in ("api-keys/", "people/", "signing-keys/"):
        assert intruder.get(NORTHWIND + page).status_code == 404, page
    response = intruder.post(
        NORTHWIND + "api-keys/", {"name": "mine now", "role": "admin", "scope": "read_write"}
    )
    assert response.status_code == 404
    assert not ApiKey.objects.filter(name="mine now").exists()
    assert [d["reason"] for d in denials("accounts.apikey.issue")] == [
        "not a member of the organisation"
    ]
    assert [d["reason"] for d in denials("accounts.membership.list")] == [
        "not a member of the organisation"
    ]
    assert intruder.get(NORTHWIND).status_code == 404
    assert denials("portal.dashboard")


def test_a_role_too_low_is_refused_a_write_and_the_refusal_is_audited(cast):
    viewer = signed_in(cast["northwind/viewer"].user)
    response = viewer.post(
        NORTHWIND + "api-keys/", {"name": "escalate", "role": "admin", "scope": "read_write"}
    )
    assert response.status_code == 403
    assert not ApiKey.objects.filter(name="escalate").exists()
    assert [d["reason"] for d in denials("accounts.apikey.issue")] == ["role viewer of a platform"]

    keys_before = SigningKey.objects.count()
    response = viewer.post(NORTHWIND + "signing-keys/", {"public_key": "x", "name": "mine"})
    assert response.status_code == 403
    assert SigningKey.objects.count() == keys_before
    assert [d["reason"] for d in denials("accounts.signingkey.register")] == [
        "role viewer of a platform"
    ]


def test_a_role_too_low_to_read_a_page_is_audited_like_the_api(cast):
    viewer = signed_in(cast["northwind/viewer"].user)
    assert viewer.get(NORTHWIND + "people/").status_code == 403
    api = cast["northwind/viewer"].client().get("/api/v1/organisation/members/")
    assert api.status_code == 403
    refused = AuditEvent.objects.filter(
        action="accounts.membership.list", outcome=AuditOutcome.DENIED
    ).order_by("sequence")
    # The same refusal, by the same function: only the credential differs.
    assert [(e.organisation_slug, e.detail["reason"]) for e in refused] == [
        ("northwind", "role viewer of a platform")
    ] * 2
    assert refused[0].actor_email == "viewer@northwind.example"
    assert [bool(e.api_key_prefix) for e in refused] == [False, True]


def test_a_suspended_organisations_pages_are_refused_and_audited(cast):
    suspended = signed_in(cast["shadyshare/admin"].user)
    response = suspended.get("/portal/organisations/shadyshare/api-keys/")
    assert response.status_code == 403
    assert "Your organisation is suspended" in response.content.decode()
    response = suspended.post(
        "/portal/organisations/shadyshare/api-keys/",
        {"name": "while suspended", "role": "admin", "scope": "read_write"},
    )
    assert response.status_code == 403
    assert not ApiKey.objects.filter(name="while suspended").exists()
    assert [d["reason"] for d in denials("accounts.apikey.issue")] == ["organisation suspended"]
    assert [d["reason"] for d in denials("accounts.apikey.list")] == ["organisation suspended"]


@pytest.fixture
def people_while_suspended(monkeypatch):
    """The matrix as if listing one's people stayed open while suspended."""
    action = dataclasses.replace(ACTIONS["accounts.membership.list"], while_suspended=True)
    monkeypatch.setitem(ACTIONS, "accounts.membership.list", action)


def test_a_suspended_organisation_reaches_what_the_api_keeps_open_and_nothing_else(
    cast, people_while_suspended
):
    assert Organisation.objects.get(slug="shadyshare").status == "suspended"
    portal = signed_in(cast["shadyshare/admin"].user)
    api = cast["shadyshare/admin"].client()
    assert api.get("/api/v1/organisation/members/").status_code == 200
    assert portal.get("/portal/organisations/shadyshare/people/").status_code == 200
    assert api.get("/api/v1/api-keys/").status_code == 403
    assert portal.get("/portal/organisations/shadyshare/api-keys/").status_code == 403
