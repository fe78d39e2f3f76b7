"""Lawful requests in the portal: an authority files through the form, staff validate, the
platform acknowledges and answers from its dashboard, the authority reads the answer; every
page that shows a request is in the access log, on the portal channel."""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import User
from federation.authorities.models import LawfulRequest, LawfulRequestAccess
from federation.authorities.services import lawful_request_validate
from hashbank.models import Signal
from hashbank.services.disputes import dispute_open
from tests.conftest import approve_all, submit
from tests.governance.conftest import signed_in

PDQ = "f" * 64
AUTHORITY = "/portal/organisations/ruritania-ctu/lawful-requests/"
PLATFORM = "/portal/organisations/northwind/"


def removal_order_form(**overrides: object) -> dict[str, object]:
    form: dict[str, object] = {
        "kind": "removal_order",
        "urgency": "immediate",
        "issuing_authority": "Ruritania Counter-Terrorism Unit",
        "officer": "Inspector R. Example",
        "legal_basis": "Regulation (EU) 2021/784, art. 3",
        "jurisdiction": "de",
        "addressed_platforms": ["northwind"],
        "subject_urls": "https://video.northwind.example/v/8d2f\n",
        "subject_hashes": f"pdq {PDQ.upper()}",
        "subject_accounts": "@attack_clips_2026",
        "description": "Livestream of an attack, re-uploaded.",
    }
    form.update(overrides)
    return form


def validate(request: LawfulRequest) -> None:
    staff = User.objects.get(email="governance@consortium.example")
    lawful_request_validate(request=request, context=AuditContext(user=staff))


def reads(request: LawfulRequest) -> list[tuple[str, str, str]]:
    log = LawfulRequestAccess.objects.filter(request_public_id=request.public_id).order_by("id")
    return [(row.organisation_slug, row.channel, row.what) for row in log]


def test_a_removal_order_goes_from_the_form_to_the_answer_and_every_read_is_logged(cast):
    authority = signed_in(cast["ruritania-ctu/liaison"].user)
    platform = signed_in(cast["northwind/admin"].user)

    assert authority.get(AUTHORITY + "new/").status_code == 200
    response = authority.post(AUTHORITY + "new/", removal_order_form())
    request = LawfulRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{AUTHORITY}{request.public_id}/"
    assert request.state == "submitted"
    assert request.jurisdiction == "DE"
    assert request.subject_hashes == [{"signal_type": "pdq", "value": PDQ}]
    assert request.filed_by.email == "liaison@ruritania.example"
    assert [a.organisation.slug for a in request.addressees.all()] == ["northwind"]

    page = authority.get(response["Location"]).content.decode()
    assert "Request filed." in page
    assert "Submitted, awaiting validation" in page
    # Not forwarded yet: the platform sees nothing of it.
    assert str(request.public_id) not in platform.get(PLATFORM).content.decode()
    assert platform.get(f"{PLATFORM}lawful-requests/{request.public_id}/").status_code == 404

    validate(request)
    dashboard = platform.get(PLATFORM).content.decode()
    assert f'id="request-{request.public_id}"' in dashboard
    assert "Removal order" in dashboard
    assert "Not acknowledged" in dashboard

    detail = f"{PLATFORM}lawful-requests/{request.public_id}/"
    assert "Acknowledge receipt" in platform.get(detail).content.decode()
    response = platform.post(detail + "acknowledge/")
    assert response.status_code == 302 and response["Location"] == detail
    page = platform.get(detail).content.decode()
    assert "Receipt acknowledged." in page
    assert "Acknowledge receipt" not in page

    response = platform.post(
        detail + "answer/",
        {"outcome": "partial", "details": "Video removed; the account is elsewhere."},
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == "answered"
    page = platform.get(detail).content.decode()
    assert "Answer sent to the authority." in page
    assert "Send the answer" not in page

    page = authority.get(f"{AUTHORITY}{request.public_id}/").content.decode()
    assert "Answered by every addressed platform" in page
    assert "Northwind Video" in page
    assert "Partially actioned" in page
    assert "Video removed; the account is elsewhere." in page
    listing = authority.get(AUTHORITY).content.decode()
    assert "1 of 1" in listing

    assert reads(request) == [
        ("ruritania-ctu", "portal", "request.detail"),
        ("northwind", "portal", "request.list"),
        ("northwind", "portal", "request.detail"),
        ("northwind", "portal", "request.detail"),
        ("northwind", "portal", "request.detail"),
        ("ruritania-ctu", "portal", "request.detail"),
        ("ruritania-ctu", "portal", "request.list"),
    ]
    row = LawfulRequestAccess.objects.filter(organisation_slug="northwind").first()
    assert row.user_email == "admin@northwind.example"


def test_a_form_error_keeps_everything_that_was_typed(cast):
    authority = signed_in(cast["ruritania-ctu/liaison"].user)
    typed = removal_order_form(
        jurisdiction="Ruritania",
        subject_hashes="pdq not-a-hash",
        description="Uploaded again from the same account.",
    )
    response = authority.post(AUTHORITY + "new/", typed)
    page = response.content.decode()
    assert response.status_code == 400
    assert not LawfulRequest.objects.exists()
    assert "Use the two-letter ISO code of the country, or EU." in page
    assert "Line 1: this is not a valid pdq hash." in page
    for value in ("Ruritania", "pdq not-a-hash", "Inspector R. Example", "@attack_clips_2026"):
        assert value in page, value
    assert "Uploaded again from the same account." in page
    assert re.search(r'value="northwind"[^>]*checked', page)

    response = authority.post(
        AUTHORITY + "new/",
        removal_order_form(subject_urls="", subject_hashes="", subject_accounts=""),
    )
    assert response.status_code == 400
    assert "Name at least one URL, content hash or account." in response.content.decode()


def test_the_authority_is_warned_after_filing_when_text_looks_like_personal_data(cast):
    authority = signed_in(cast["ruritania-ctu/liaison"].user)
    response = authority.post(
        AUTHORITY + "new/",
        removal_order_form(description="Uploader: jane.doe@example.org"),
        follow=True,
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Description looks like it contains an email address." in page
    assert LawfulRequest.objects.get().description == "Uploader: jane.doe@example.org"


def test_a_platform_declines_with_a_reason_and_overdue_requests_stand_out(cast):
    authority = signed_in(cast["ruritania-ctu/liaison"].user)
    platform = signed_in(cast["northwind/analyst"].user)
    authority.post(AUTHORITY + "new/", removal_order_form())
    request = LawfulRequest.objects.get()
    validate(request)
    LawfulRequest.objects.filter(pk=request.pk).update(
        deadline=timezone.now() - dt.timedelta(minutes=5)
    )

    listing = platform.get(f"{PLATFORM}lawful-requests/").content.decode()
    assert f'class="overdue" id="request-{request.public_id}"' in listing
    assert "Overdue" in listing
    assert (
        f"request-{request.public_id}"
        in platform.get(f"{PLATFORM}lawful-requests/?overdue=true").content.decode()
    )

    detail = f"{PLATFORM}lawful-requests/{request.public_id}/"
    response = platform.post(detail + "answer/", {"outcome": "declined", "details": ""})
    assert response.status_code == 400
    assert "Say why the request was declined." in response.content.decode()
    response = platform.post(
        detail + "answer/", {"outcome": "declined", "details": "Not hosted by us."}
    )
    assert response.status_code == 302
    addressee = request.addressees.get()
    assert (addressee.outcome, addressee.details) == ("declined", "Not hosted by us.")
    # An answer is final.
    response = platform.post(detail + "answer/", {"outcome": "actioned"}, follow=True)
    assert "Your organisation has already answered" in response.content.decode()
    assert request.addressees.get().outcome == "declined"


def test_both_parties_follow_a_dispute_from_the_portal(cast, alice, bob, signer_for):
    submit(alice, signer_for("northwind/admin").envelope())
    approve_all()
    dispute_open(
        organisation=bob.org,
        signal=Signal.objects.get(),
        kind="signal",
        grounds="This is a news report.",
        context=AuditContext(user=bob.user, organisation=bob.org),
    )
    # Northwind's approved submission supports the signal: it is a party, like Lakeside.
    for label, opener in [
        ("northwind/viewer", "Another member"),
        ("lakeside/admin", "Your organisation"),
    ]:
        actor = cast[label]
        page = (
            signed_in(actor.user)
            .get(f"/portal/organisations/{actor.org.slug}/disputes/")
            .content.decode()
        )
        assert opener in page, label
        assert "The hash should not be listed" in page
        assert "Open" in page
    pebble = signed_in(User.objects.get(email="admin@pebble.example"))
    page = pebble.get("/portal/organisations/pebble/disputes/").content.decode()
    assert "Your organisation is not a party to any dispute." in page


def test_the_pages_speak_french(cast):
    authority = signed_in(cast["ruritania-ctu/liaison"].user)
    authority.post(AUTHORITY + "new/", removal_order_form())
    request = LawfulRequest.objects.get()
    page = authority.get(
        f"{AUTHORITY}{request.public_id}/", HTTP_ACCEPT_LANGUAGE="fr"
    ).content.decode()
    assert '<html lang="fr">' in page
    assert "Injonction de retrait" in page
    assert "Soumise, en attente de validation" in page
    form = authority.get(AUTHORITY + "new/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Déposer une demande légale" in form
    assert reads(request) == [("ruritania-ctu", "portal", "request.detail")]
