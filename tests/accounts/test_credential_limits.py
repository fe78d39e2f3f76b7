"""Nobody mints a credential with more than they hold: a key or person never creates an API
key, signing key or membership with a later expiry, a wider scope or a higher role than
their own. Written from the attacker's side, for every role of every kind in the cast."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from nacl.signing import SigningKey as NaclSigningKey
from rest_framework.test import APIClient

from accounts.audit import AuditContext
from accounts.models import ApiKey, Membership, Organisation, User
from accounts.permissions import ROLE_ORDER_BY_KIND, is_granted, roles_at_most
from accounts.principal import Principal
from accounts.services import api_key_issue, membership_add
from core.errors import NotPermitted
from tests.conftest import sign_in


def as_key(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def issue_key(client: APIClient, **overrides):
    body = {"name": "minted", "role": "viewer", "scope": "read", **overrides}
    return client.post("/api/v1/api-keys/", body, format="json")


def an_hour_key(
    actor, role: str | None = None, scope: str = "read_write"
) -> tuple[str, dt.datetime]:
    expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    response = issue_key(
        actor.client(), role=role or actor.account.role, scope=scope, expires_at=iso(expires)
    )
    assert response.status_code == 201, response.content
    return response.json()["key"], expires


def refused_field(response, field: str, code: str) -> None:
    assert response.status_code == 403, response.content
    assert response.json()["error"]["fields"][field][0]["code"] == code


def test_a_one_hour_key_cannot_issue_a_key_that_never_expires_or_outlives_it(alice):
    raw, expires = an_hour_key(alice)
    minting = as_key(raw)
    refused_field(issue_key(minting, expires_at=None), "expires_at", "beyond_own_expiry")
    refused_field(issue_key(minting), "expires_at", "beyond_own_expiry")
    later = iso(expires + dt.timedelta(seconds=1))
    refused_field(issue_key(minting, expires_at=later), "expires_at", "beyond_own_expiry")
    within = issue_key(minting, expires_at=iso(expires - dt.timedelta(minutes=5)))
    assert within.status_code == 201, within.content
    at_the_limit = issue_key(minting, role="admin", scope="read_write", expires_at=iso(expires))
    assert at_the_limit.status_code == 201, at_the_limit.content
    assert ApiKey.objects.filter(expires_at__isnull=True, name="minted").count() == 0


def test_a_one_hour_key_cannot_register_a_signing_key_valid_beyond_it(alice):
    raw, expires = an_hour_key(alice)
    minting = as_key(raw)

    def register(**window):
        public = base64.b64encode(bytes(NaclSigningKey.generate().verify_key)).decode()
        return minting.post(
            "/api/v1/signing-keys/", {"public_key": public, **window}, format="json"
        )

    refused_field(register(), "valid_until", "beyond_own_expiry")
    refused_field(
        register(valid_until=iso(expires + dt.timedelta(days=1))),
        "valid_until",
        "beyond_own_expiry",
    )
    assert register(valid_until=iso(expires)).status_code == 201
    # A person, or a key that never expires, chooses the window freely.
    public = base64.b64encode(bytes(NaclSigningKey.generate().verify_key)).decode()
    response = alice.client().post("/api/v1/signing-keys/", {"public_key": public}, format="json")
    assert response.status_code == 201


def _every_actor_with_keys(cast):
    return [a for a in cast if a.org.status == "active"]


def test_no_role_of_any_kind_issues_a_key_above_its_own_role(cast):
    every_role = sorted({r for roles in ROLE_ORDER_BY_KIND.values() for r in roles})
    checked = 0
    for actor in _every_actor_with_keys(cast):
        kind, own = actor.org.kind, actor.account.role
        for role in every_role:
            response = issue_key(actor.client(), role=role)
            if not is_granted("accounts.apikey.issue", kind=kind, role=own):
                assert response.status_code == 403, (actor.label, role)
                assert "role" not in response.json()["error"]["fields"]
            elif role not in ROLE_ORDER_BY_KIND[kind]:
                assert response.status_code == 400, (actor.label, role)
                assert "role" in response.json()["error"]["fields"]
            elif role not in roles_at_most(kind, own):
                refused_field(response, "role", "above_own_role")
            else:
                assert response.status_code == 201, (actor.label, role, response.content)
                assert ApiKey.objects.get(prefix=response.json()["prefix"]).role == role
            checked += 1
    assert checked == len(_every_actor_with_keys(cast)) * len(every_role)


@pytest.mark.parametrize(
    ("kind_slug", "issuer_role", "asked", "allowed"),
    [
        ("northwind", "analyst", "admin", False),
        ("northwind", "viewer", "analyst", False),
        ("northwind", "viewer", "viewer", True),
        ("northwind", "analyst", "viewer", True),
        ("consortium", "moderator", "governance_officer", False),
        ("consortium", "governance_officer", "moderator", True),
    ],
)
def test_a_key_or_person_never_issues_a_key_above_its_own_role(
    cast, kind_slug, issuer_role, asked, allowed
):
    organisation = Organisation.objects.get(slug=kind_slug)
    person = Membership.objects.filter(organisation=organisation, role=issuer_role).first()
    key, _ = api_key_issue(
        organisation=organisation,
        name="issuer",
        role=issuer_role,
        scope="read_write",
        expires_at=None,
        context=AuditContext.system(),
    )
    issuers = [Principal(organisation=organisation, role=issuer_role, api_key=key)]
    if person is not None:
        issuers.append(Principal(organisation=organisation, role=issuer_role, user=person.user))
    for issuer in issuers:
        attempt = dict(
            organisation=organisation,
            name="escalation",
            role=asked,
            scope="read",
            expires_at=None,
            issuer=issuer,
            context=AuditContext.system(),
        )
        if allowed:
            assert api_key_issue(**attempt)[0].role == asked
        else:
            with pytest.raises(NotPermitted) as refused:
                api_key_issue(**attempt)
            assert refused.value.fields["role"][0]["code"] == "above_own_role"


def test_a_read_only_key_cannot_issue_a_read_write_key(alice):
    organisation = alice.org
    key, _ = api_key_issue(
        organisation=organisation,
        name="read only admin",
        role="admin",
        scope="read",
        expires_at=None,
        context=AuditContext.system(),
    )
    issuer = Principal(organisation=organisation, role="admin", api_key=key)
    with pytest.raises(NotPermitted) as refused:
        api_key_issue(
            organisation=organisation,
            name="wider",
            role="viewer",
            scope="read_write",
            expires_at=None,
            issuer=issuer,
            context=AuditContext.system(),
        )
    assert refused.value.fields["scope"][0]["code"] == "above_own_scope"
    # Through the API, the write itself is refused to a read-only key.
    raw, _ = an_hour_key(alice, scope="read")
    response = issue_key(as_key(raw), scope="read_write", expires_at=None)
    assert response.status_code == 403


def test_a_person_never_grants_a_role_above_their_own(cast):
    organisation = Organisation.objects.get(slug="northwind")
    analyst = Membership.objects.get(organisation=organisation, role="analyst")
    granter = Principal(organisation=organisation, role="analyst", user=analyst.user)
    newcomer = User.objects.create_user(email="newcomer@northwind.example", password=None)
    with pytest.raises(NotPermitted) as refused:
        membership_add(
            user=newcomer,
            organisation=organisation,
            role="admin",
            granted_by=granter,
            context=AuditContext.system(),
        )
    assert refused.value.fields["role"][0]["code"] == "above_own_role"
    other = Organisation.objects.get(slug="lakeside")
    with pytest.raises(NotPermitted):
        membership_add(
            user=newcomer,
            organisation=other,
            role="viewer",
            granted_by=granter,
            context=AuditContext.system(),
        )
    membership = membership_add(
        user=newcomer,
        organisation=organisation,
        role="viewer",
        granted_by=granter,
        context=AuditContext.system(),
    )
    assert membership.role == "viewer"


def test_the_portal_offers_a_person_only_the_roles_up_to_their_own(cast):
    from django.test import Client

    for email, expected in [
        ("admin@northwind.example", ["admin", "analyst", "viewer"]),
        ("governance@consortium.example", ["governance_officer", "moderator"]),
    ]:
        user = User.objects.get(email=email)
        membership = user.memberships.get()
        browser = Client()
        sign_in(browser, user)
        page = browser.get(f"/portal/organisations/{membership.organisation.slug}/api-keys/")
        assert page.status_code == 200, page.status_code
        offered = [c[0] for c in page.context["form"].fields["role"].choices]
        assert offered == expected


def test_the_schema_states_the_role_choices_and_the_lifetime_limits(anonymous):
    schema = anonymous.get("/api/v1/schema/?format=json").json()
    properties = schema["components"]["schemas"]["ApiKeyListCreateInputRequest"]["properties"]
    assert "viewer" in str(properties["role"]) and "above_own_role" in str(properties["role"])
    assert "730 days" in properties["expires_at"]["description"]
    assert "beyond_own_expiry" in properties["expires_at"]["description"]
