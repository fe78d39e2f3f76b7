"""Lawful requests end to end: an authority files, staff validate in admin, the addressed
platform acknowledges and answers, the authority reads the answer; every read is logged;
the firewall keeps authorities away from the hash bank and from each other's requests."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import transaction
from django.db.models import ProtectedError
from django.test import Client
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import AuditEvent, Organisation, User
from accounts.services import api_key_issue, membership_add, organisation_create
from core.routes import all_routes
from federation.authorities.holds import RecordUnderLegalHold
from federation.authorities.models import LawfulRequest, LawfulRequestAccess, LegalHold
from hashbank.models import Signal, Submission
from tests.conftest import approve_all, random_pdq, sign_in, submit

PDQ = "f" * 64


def removal_order(**overrides) -> dict:
    body = {
        "kind": "removal_order",
        "issuing_authority": "Ruritania Counter-Terrorism Unit",
        "officer": "Inspector R. Example",
        "legal_basis": "Regulation (EU) 2021/784, art. 3",
        "jurisdiction": "DE",
        "addressed_platforms": ["northwind"],
        "subject": {
            "urls": ["https://video.northwind.example/v/8d2f"],
            "hashes": [{"signal_type": "pdq", "value": PDQ.upper()}],
            "accounts": ["@attack_clips_2026"],
        },
        "description": "Livestream of an attack, re-uploaded.",
        "urgency": "immediate",
    }
    body.update(overrides)
    return body


def staff_client() -> Client:
    return sign_in(Client(), User.objects.get(email="governance@consortium.example"))


def validate_in_admin(request: LawfulRequest) -> None:
    response = staff_client().post(
        "/admin/authorities/lawfulrequest/",
        {"action": "validate_and_forward", "_selected_action": [request.pk]},
    )
    assert response.status_code == 302


def test_a_removal_order_is_answered_within_the_hour_and_every_read_is_logged(cast):
    liaison = cast["ruritania-ctu/liaison"]
    platform = cast["northwind/admin"]
    before = (Submission.objects.count(), Signal.objects.count())

    response = liaison.client().post("/api/v1/lawful-requests/", removal_order(), format="json")
    assert response.status_code == 201, response.content
    filed = response.json()
    request_id = filed["id"]
    assert filed["state"] == "submitted"
    assert filed["deadline_hours"] == 1
    assert filed["deadline"] is None  # the clock starts when the platforms receive it
    assert filed["subject"]["hashes"] == [{"signal_type": "pdq", "value": PDQ}]
    assert filed["warnings"] == {}
    # Nothing an authority files enters the shared list by itself.
    assert (Submission.objects.count(), Signal.objects.count()) == before

    # Not validated yet: the platform does not see it.
    assert platform.client().get(f"/api/v1/lawful-requests/{request_id}/").status_code == 404

    request = LawfulRequest.objects.get(public_id=request_id)
    validate_in_admin(request)
    request.refresh_from_db()
    assert request.state == "forwarded"
    assert request.deadline == request.forwarded_at + dt.timedelta(hours=1)

    listed = platform.client().get("/api/v1/lawful-requests/").json()
    assert [r["id"] for r in listed["results"]] == [request_id]
    assert listed["results"][0]["overdue"] is False

    response = platform.client().post(f"/api/v1/lawful-requests/{request_id}/acknowledge/")
    assert response.status_code == 200
    assert response.json()["state"] == "acknowledged"
    response = platform.client().post(
        f"/api/v1/lawful-requests/{request_id}/answer/",
        {"outcome": "actioned", "details": "Video removed, account suspended."},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "answered"

    seen = liaison.client().get(f"/api/v1/lawful-requests/{request_id}/").json()
    assert seen["state"] == "answered"
    [answer] = seen["addressees"]
    assert answer["organisation"] == "northwind"
    assert answer["outcome"] == "actioned"
    assert answer["details"] == "Video removed, account suspended."
    answered_at = dt.datetime.fromisoformat(answer["answered_at"].replace("Z", "+00:00"))
    assert answered_at <= request.deadline

    # Staff read it in admin too.
    assert (
        staff_client().get(f"/admin/authorities/lawfulrequest/{request.pk}/change/").status_code
        == 200
    )

    log = list(LawfulRequestAccess.objects.filter(request_public_id=request_id).order_by("id"))
    assert [(row.organisation_slug, row.channel, row.what) for row in log] == [
        ("northwind", "api", "request.list"),
        ("northwind", "api", "request.acknowledge"),
        ("northwind", "api", "request.answer"),
        ("ruritania-ctu", "api", "request.detail"),
        ("consortium", "admin", "admin.detail"),
    ]
    # API keys belong to the organisation: the key's prefix says which one read it.
    assert log[3].api_key_prefix == liaison.account.api_key.split("_")[1]
    assert log[4].user_email == "governance@consortium.example"

    # Exportable for oversight.
    export = staff_client().post(
        "/admin/authorities/lawfulrequestaccess/",
        {"action": "export_csv", "_selected_action": [row.pk for row in log]},
    )
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert [row["organisation_slug"] for row in rows] == [
        "northwind",
        "northwind",
        "northwind",
        "ruritania-ctu",
        "consortium",
    ]
    assert all(row["request_public_id"] == request_id for row in rows)

    actions = set(
        AuditEvent.objects.filter(target_id=str(request.pk)).values_list("action", flat=True)
    )
    assert {
        "authorities.request.filed",
        "authorities.request.validated",
        "authorities.request.forwarded",
        "authorities.request.acknowledged",
        "authorities.request.answered",
    } <= actions


def test_an_overdue_request_stands_out_in_the_api_and_in_admin(cast):
    liaison = cast["ruritania-ctu/liaison"]
    response = liaison.client().post("/api/v1/lawful-requests/", removal_order(), format="json")
    request = LawfulRequest.objects.get(public_id=response.json()["id"])
    validate_in_admin(request)
    LawfulRequest.objects.filter(pk=request.pk).update(
        deadline=timezone.now() - dt.timedelta(minutes=5)
    )

    listed = liaison.client().get("/api/v1/lawful-requests/?overdue=true").json()
    assert [r["overdue"] for r in listed["results"]] == [True]
    page = staff_client().get("/admin/authorities/lawfulrequest/?overdue=yes")
    assert b"OVERDUE by 5 min" in page.content


def test_a_platform_declines_with_a_reason_and_never_sees_other_platforms_answers(cast):
    liaison = cast["ruritania-ctu/liaison"]
    body = removal_order(kind="notice", addressed_platforms=["northwind", "lakeside"])
    request_id = liaison.client().post("/api/v1/lawful-requests/", body, format="json").json()["id"]
    validate_in_admin(LawfulRequest.objects.get(public_id=request_id))

    lakeside = cast["lakeside/admin"].client()
    refused = lakeside.post(
        f"/api/v1/lawful-requests/{request_id}/answer/", {"outcome": "declined"}, format="json"
    )
    assert refused.status_code == 400
    assert "details" in refused.json()["error"]["fields"]
    lakeside.post(
        f"/api/v1/lawful-requests/{request_id}/answer/",
        {"outcome": "declined", "details": "The content is lawful news reporting here."},
        format="json",
    )
    again = lakeside.post(
        f"/api/v1/lawful-requests/{request_id}/answer/",
        {"outcome": "actioned"},
        format="json",
    )
    assert again.status_code == 409

    northwind_view = cast["northwind/admin"].client().get(f"/api/v1/lawful-requests/{request_id}/")
    assert [a["organisation"] for a in northwind_view.json()["addressees"]] == ["northwind"]
    authority_view = liaison.client().get(f"/api/v1/lawful-requests/{request_id}/").json()
    assert authority_view["state"] == "acknowledged"  # northwind has not answered yet
    assert {a["organisation"]: a["outcome"] for a in authority_view["addressees"]} == {
        "lakeside": "declined",
        "northwind": "",
    }


def test_the_authority_is_warned_when_free_text_looks_like_personal_data(cast):
    body = removal_order(
        description="Uploader reachable at j.doe@mail.example or +44 20 7946 0958.",
        subject={"accounts": ["jane.doe@mail.example"]},
    )
    response = (
        cast["ruritania-ctu/liaison"].client().post("/api/v1/lawful-requests/", body, format="json")
    )
    assert response.status_code == 201
    warnings = response.json()["warnings"]
    assert {w["code"] for w in warnings["description"]} == {"possible_personal_data"}
    assert len(warnings["description"]) == 2  # an email address and a phone number
    assert "subject_accounts.0" in warnings


def test_it_refuses_a_request_to_an_organisation_that_is_not_an_active_platform(cast):
    for slug in ["shadyshare", "open-harms-lab", "nobody"]:
        response = (
            cast["ruritania-ctu/liaison"]
            .client()
            .post(
                "/api/v1/lawful-requests/", removal_order(addressed_platforms=[slug]), format="json"
            )
        )
        assert response.status_code == 400
        assert "addressed_platforms.0" in response.json()["error"]["fields"]


def _second_authority() -> tuple[Organisation, str]:
    context = AuditContext.system()
    org = organisation_create(
        slug="borduria-police",
        name="Borduria Police",
        kind="authority",
        country="AT",
        tier=None,
        status="active",
        context=context,
    )
    user = User.objects.create_user("liaison@borduria.example", "x")
    membership_add(user=user, organisation=org, role="liaison", context=context)
    _, raw = api_key_issue(
        organisation=org,
        name="k",
        role="liaison",
        scope="read_write",
        expires_at=None,
        context=context,
    )
    return org, raw


def test_authorities_never_reach_the_hash_bank_nor_each_others_requests(cast):
    liaison = cast["ruritania-ctu/liaison"]
    request_id = (
        liaison.client()
        .post("/api/v1/lawful-requests/", removal_order(), format="json")
        .json()["id"]
    )
    validate_in_admin(LawfulRequest.objects.get(public_id=request_id))

    _, other_key = _second_authority()
    from rest_framework.test import APIClient

    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    assert other.get(f"/api/v1/lawful-requests/{request_id}/").status_code == 404
    assert other.get("/api/v1/lawful-requests/").json()["results"] == []
    assert other.post(f"/api/v1/lawful-requests/{request_id}/answer/", {}).status_code == 403

    hash_bank_routes = [r for r in all_routes() if r.name.startswith("hashbank:")]
    assert {"hashbank:sync", "hashbank:lookup", "hashbank:signal-detail"} <= {
        r.name for r in hash_bank_routes
    }
    for client in (liaison.client(), other):
        for route in hash_bank_routes:
            path = "/" + route.pattern
            for converter, value in [
                ("<id:signal_id>", "1"),
                ("<id:snapshot_id>", "1"),
                ("<uuid:submission_id>", "00000000-0000-0000-0000-000000000001"),
                ("<uuid:dispute_id>", "00000000-0000-0000-0000-000000000001"),
            ]:
                path = path.replace(converter, value)
            for method in route.actions:
                response = getattr(client, method.lower())(path, {}, format="json")
                if route.name == "hashbank:label-list":
                    continue  # the taxonomy is public knowledge, not the list
                assert response.status_code in (403, 404), (route.pattern, method)


def test_a_preservation_request_holds_what_it_names_until_staff_lift_the_hold(cast, signer_for):
    value = random_pdq()
    submit(cast["northwind/admin"], signer_for("northwind/admin").envelope(value=value))
    approve_all()
    signal = Signal.objects.get(value=value)
    submission = Submission.objects.get(value=value)

    body = removal_order(
        kind="preservation",
        subject={"hashes": [{"signal_type": "pdq", "value": value}]},
        description="Preserve for criminal proceedings.",
    )
    request_id = (
        cast["ruritania-ctu/liaison"]
        .client()
        .post("/api/v1/lawful-requests/", body, format="json")
        .json()["id"]
    )
    request = LawfulRequest.objects.get(public_id=request_id)
    assert not Signal.objects.get(pk=signal.pk).legal_hold  # unchecked requests freeze nothing
    validate_in_admin(request)

    hold = LegalHold.objects.get(request=request)
    assert list(hold.signals.all()) == [signal]
    assert list(hold.submissions.all()) == [submission]
    signal.refresh_from_db()
    assert signal.legal_hold
    with pytest.raises(RecordUnderLegalHold), transaction.atomic():
        Submission.objects.get(pk=submission.pk).delete()
    with pytest.raises((RecordUnderLegalHold, ProtectedError)), transaction.atomic():
        Signal.objects.get(pk=signal.pk).delete()

    response = staff_client().post(
        "/admin/authorities/legalhold/",
        {"action": "lift", "_selected_action": [hold.pk], "apply": "1", "reason": "Case closed."},
    )
    assert response.status_code == 302
    signal.refresh_from_db()
    assert not signal.legal_hold
    assert LegalHold.objects.get(pk=hold.pk).lift_reason == "Case closed."
    assert AuditEvent.objects.filter(action="authorities.legal_hold.placed").count() == 1
    lifted = AuditEvent.objects.get(action="authorities.legal_hold.lifted")
    assert lifted.actor_email == "governance@consortium.example"
    Submission.objects.get(pk=submission.pk).delete()  # no longer held


def test_staff_refuse_a_request_that_is_not_authentic(cast):
    liaison = cast["ruritania-ctu/liaison"]
    request_id = (
        liaison.client()
        .post("/api/v1/lawful-requests/", removal_order(), format="json")
        .json()["id"]
    )
    request = LawfulRequest.objects.get(public_id=request_id)
    staff_client().post(
        "/admin/authorities/lawfulrequest/",
        {
            "action": "refuse",
            "_selected_action": [request.pk],
            "apply": "1",
            "reason": "Officer unknown to the issuing authority.",
        },
    )
    seen = liaison.client().get(f"/api/v1/lawful-requests/{request_id}/").json()
    assert seen["state"] == "refused"
    assert seen["refusal_reason"] == "Officer unknown to the issuing authority."
    assert (
        cast["northwind/admin"].client().get(f"/api/v1/lawful-requests/{request_id}/").status_code
        == 404
    )


def test_overdue_requests_are_reminded_once(cast, django_capture_on_commit_callbacks):
    from django.core import mail

    from federation.authorities.tasks import remind_overdue_lawful_requests

    liaison = cast["ruritania-ctu/liaison"]
    request_id = (
        liaison.client()
        .post("/api/v1/lawful-requests/", removal_order(), format="json")
        .json()["id"]
    )
    request = LawfulRequest.objects.get(public_id=request_id)
    validate_in_admin(request)
    LawfulRequest.objects.filter(pk=request.pk).update(
        deadline=timezone.now() - dt.timedelta(minutes=1)
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_overdue_lawful_requests() == [request.pk]
        assert remind_overdue_lawful_requests() == []
    reminders = {message.to[0]: message for message in mail.outbox}
    assert len(reminders) == len(mail.outbox)  # one message each, sent once
    assert {"admin@northwind.example", "governance@consortium.example"} <= set(reminders)
    assert all(len(m.to) == 1 and "overdue" in m.subject for m in mail.outbox)
