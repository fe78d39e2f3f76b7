"""Complaints from the public: filed without an account, acknowledged to the complainant
alone, protected by a honeypot and a rate limit per address, never a lookup oracle for the
list; triaged by staff in admin (a dispute on the complainant's behalf, an answer by email),
and their personal data erased once the retention period after closing is over."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.mail import hub_url
from accounts.models import AuditEvent, User
from federation.complaints.models import Complaint, ComplaintAnswer, ComplaintState
from federation.complaints.tasks import erase_expired_complaints
from hashbank.models import Dispute, Signal
from tests.complaints.conftest import COMPLAINT, committed, file_complaint
from tests.conftest import approve_all, sign_in, submit

REFERENCE = re.compile(
    r"HF-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}"
)
CHANGELIST = "/admin/complaints/complaint/"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def reference_on(response) -> str:
    """Follow the redirect to the confirmation page and read the reference shown there."""
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response["Location"] == "/help/complaint/sent/"
    return reference_shown(response.client.get("/help/complaint/sent/").content.decode())


def reference_shown(page: str) -> str:
    found = re.search(r'id="complaint-reference">([^<]+)<', page)
    assert found, page
    assert REFERENCE.fullmatch(found.group(1))
    return found.group(1)


def listed_signal(cast, signer_for) -> Signal:
    envelope = signer_for("northwind/admin").envelope()
    submit(cast["northwind/analyst"], envelope)
    approve_all()
    return Signal.objects.get(value=envelope["payload"]["value"])


def test_the_form_renders_in_english_and_french(db):
    page = Client().get("/help/complaint/").content.decode()
    assert "Complain about a wrongful match or removal" in page
    assert 'name="website"' in page and "hidden" in page
    french = Client().get("/help/complaint/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Réclamer contre une détection ou un retrait à tort" in french
    assert "Votre adresse électronique" in french
    assert "Your email address" not in french


def test_a_complaint_is_filed_and_acknowledged_to_its_sender_alone(cast):
    other = Client()
    first_reference = reference_on(
        file_complaint(
            other, email="noor@example.net", platform="Lakeside Social", ip="198.51.100.2"
        )
    )
    mail.outbox.clear()
    client = Client()
    reference = reference_on(file_complaint(client))
    assert reference != first_reference
    complaint = Complaint.objects.get(reference=reference)
    assert complaint.state == ComplaintState.NEW
    assert complaint.email == COMPLAINT["email"]
    assert complaint.removed_on == dt.date(2026, 11, 30)
    assert complaint.consented_at is not None
    assert complaint.sender_digest and "203.0.113.7" not in complaint.sender_digest
    [message] = to_complainant(COMPLAINT["email"])
    assert message.to == [COMPLAINT["email"]] and not message.cc and not message.bcc
    assert reference in message.subject
    text = message.subject + message.body
    assert "Northwind Video" in text
    assert "http://" in message.body and "/help/" in message.body
    for elsewhere in (first_reference, "noor@example.net", "Lakeside Social"):
        assert elsewhere not in text
    # The confirmation page says nothing about the other complaint either.
    sent = client.get("/help/complaint/sent/").content.decode()
    assert first_reference not in sent and "noor@example.net" not in sent
    # The audit trail records the filing, without the sender's address or words.
    event = AuditEvent.objects.get(action="complaints.complaint.filed", target_repr=reference)
    assert event.ip_address in (None, "")
    assert COMPLAINT["email"] not in str(event.detail) + event.actor_email


def to_complainant(address: str) -> list[mail.EmailMessage]:
    return [m for m in mail.outbox if address in m.to]


def test_staff_who_triage_complaints_are_told_without_the_senders_data(cast):
    """Every staff member who may triage complaints gets one email of their own, in their
    language, naming the reference and linking to the complaint in admin on the hub's
    address; no one else does, and nothing of the sender is in it."""
    triagers = {
        user.email
        for user in User.objects.filter(is_staff=True, is_active=True)
        if user.has_perm("complaints.change_complaint")
    }
    assert "moderator@consortium.example" in triagers
    User.objects.filter(email="moderator@consortium.example").update(language="fr")
    mail.outbox.clear()
    reference = reference_on(file_complaint())
    complaint = Complaint.objects.get(reference=reference)
    notices = [m for m in mail.outbox if COMPLAINT["email"] not in m.to]
    assert {m.to[0] for m in notices} == triagers
    for message in notices:
        assert len(message.to) == 1 and not message.cc and not message.bcc
        assert reference in message.subject
        assert hub_url(f"/admin/complaints/complaint/{complaint.pk}/change/") in message.body
        for private in (COMPLAINT["email"], COMPLAINT["reason"], COMPLAINT["content_url"]):
            assert private not in message.subject + message.body
    [french] = [m for m in notices if m.to == ["moderator@consortium.example"]]
    assert french.subject == f"[Hashfed] Nouvelle réclamation {reference} à trier"
    # A member platform's people are never told of complaints.
    assert not any(
        User.objects.get(email=m.to[0])
        .memberships.exclude(organisation__kind="consortium")
        .exists()
        for m in notices
    )


def test_a_complaint_filed_in_french_is_acknowledged_in_french(cast):
    reference = reference_on(file_complaint(lang="fr"))
    [message] = to_complainant(COMPLAINT["email"])
    assert message.subject == f"[Hashfed] Votre réclamation {reference} est bien reçue"
    assert "Nous avons reçu votre réclamation" in message.body
    assert Complaint.objects.get(reference=reference).language == "fr"


def test_a_robot_filling_the_honeypot_is_shown_the_same_page_and_nothing_is_filed(cast):
    client = Client()
    reference = reference_on(file_complaint(client, website="https://spam.example"))
    assert not Complaint.objects.exists()
    assert mail.outbox == []
    assert not Complaint.objects.filter(reference=reference).exists()
    assert not AuditEvent.objects.filter(action="complaints.complaint.filed").exists()


def test_too_many_complaints_from_one_address_get_a_friendly_429(cast, settings):
    settings.HUB_COMPLAINT_RATE_PER_HOUR = 2
    for _ in range(2):
        reference_on(file_complaint())
    response = file_complaint()
    assert response.status_code == 429
    page = response.content.decode()
    assert "Please try again later" in page
    assert "Please try again in 60 minutes." in page
    assert 0 < int(response["Retry-After"]) <= 3600
    assert Complaint.objects.count() == 2
    french = file_complaint(lang="fr")
    assert french.status_code == 429
    assert "Veuillez réessayer plus tard" in french.content.decode()
    # Another address is not held back; and an hour later, this one is not either.
    reference_on(file_complaint(ip="198.51.100.9"))
    Complaint.objects.update(created_at=timezone.now() - dt.timedelta(minutes=61))
    reference_on(file_complaint())


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": None}, "email"),
        ({"email": "not an address"}, "email"),
        ({"platform": ""}, "platform"),
        ({"platform": "x" * 201}, "platform"),
        ({"removed_on": "yesterday"}, "removed_on"),
        ({"removed_on": "2999-01-01"}, "removed_on"),
        ({"content_url": "javascript:alert(1)"}, "content_url"),
        ({"content_url": "", "content_description": "  "}, "content_description"),
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 5001}, "reason"),
        ({"hash_value": "f" * 601}, "hash_value"),
        ({"consent": None}, "consent"),
    ],
)
def test_bad_input_shows_the_form_again_with_the_field_named(cast, overrides, field):
    response = file_complaint(**overrides)
    assert response.status_code == 400
    page = response.content.decode()
    assert f'href="#id_{field}"' in page  # the summary at the top links to the field
    if field != "consent":  # portal/field.html shows a checkbox's errors in the summary only
        assert f'id="id_{field}_errors"' in page
    assert not Complaint.objects.exists()
    assert mail.outbox == []


def test_a_form_shown_again_keeps_what_was_typed_in_either_language(cast):
    for lang in ("en", "fr"):
        page = file_complaint(lang=lang, reason="").content.decode()
        assert 'value="2026-11-30"' in page and 'value="maya@example.org"' in page
        assert COMPLAINT["content_description"] in page


def test_garbage_never_makes_a_500(cast):
    for data in ({}, {"removed_on": "\x00"}, {"email": ["a@b.c", "d@e.f"]}, {"consent": "maybe"}):
        response = Client().post("/help/complaint/", data)
        assert response.status_code == 400, data


def test_the_form_is_not_a_lookup_oracle_for_the_list(cast, signer_for):
    """Whether the hash given is listed or not, the pages and the email are the same, but
    for the reference."""
    signal = listed_signal(cast, signer_for)
    mail.outbox.clear()
    answers = []
    for value, ip in ((signal.value, "192.0.2.10"), ("0" * 64, "192.0.2.11")):
        client = Client()
        response = file_complaint(client, hash_value=value, ip=ip)
        reference = reference_on(response)
        sent = client.get("/help/complaint/sent/")
        [message] = to_complainant(COMPLAINT["email"])
        mail.outbox.clear()
        answers.append(
            (
                response.status_code,
                response["Location"],
                sent.status_code,
                CSRF.sub("", sent.content.decode()).replace(reference, "REF"),
                message.subject.replace(reference, "REF"),
                message.body.replace(reference, "REF"),
            )
        )
    assert answers[0] == answers[1]
    # A malformed hash is taken as typed too: the form never judges it against the list.
    reference_on(file_complaint(hash_value="not a hash at all", ip="192.0.2.12"))


def staff(email: str = "moderator@consortium.example") -> Client:
    return sign_in(Client(), User.objects.get(email=email))


def act(client: Client, action: str, complaints: list[Complaint], **data):
    with committed():
        return client.post(
            CHANGELIST,
            {
                "action": action,
                "apply": "1",
                "_selected_action": [c.pk for c in complaints],
                **data,
            },
        )


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_staff_open_a_dispute_on_the_complainants_behalf_and_answer_by_email(cast, signer_for):
    signal = listed_signal(cast, signer_for)
    reference = reference_on(file_complaint(hash_value=signal.value))
    complaint = Complaint.objects.get(reference=reference)
    moderator = staff()
    assert moderator.get(CHANGELIST).status_code == 200
    page = moderator.get(f"{CHANGELIST}{complaint.pk}/change/").content.decode()
    assert reference in page and COMPLAINT["reason"] in page

    act(moderator, "mark_in_review", [complaint])
    complaint.refresh_from_db()
    assert complaint.state == ComplaintState.IN_REVIEW

    # The action asks for the signal and the grounds first.
    form = moderator.post(
        CHANGELIST, {"action": "open_dispute", "index": 0, "_selected_action": [complaint.pk]}
    )
    assert form.status_code == 200 and 'name="grounds"' in form.content.decode()
    mail.outbox.clear()
    grounds = "Footage of a lawful demonstration, wrongly listed as terrorist content."
    response = act(moderator, "open_dispute", [complaint], signal=signal.pk, grounds=grounds)
    assert response.status_code == 302, response.content.decode()[:3000]
    complaint.refresh_from_db()
    dispute = Dispute.objects.get(signal=signal)
    assert complaint.dispute == dispute
    assert complaint.state == ComplaintState.DISPUTE_OPENED
    assert dispute.opened_by.slug == "consortium"
    assert dispute.grounds == grounds and reference in dispute.evidence
    assert COMPLAINT["email"] not in dispute.evidence + dispute.grounds
    # The parties told of the dispute never learn who complained.
    assert mail.outbox  # the signal's submitter hears of the dispute
    for message in mail.outbox:
        assert COMPLAINT["email"] not in message.to
        assert COMPLAINT["email"] not in message.body and COMPLAINT["reason"] not in message.body
    assert Signal.objects.get(pk=signal.pk).is_listed

    # A second complaint about the same signal joins the consortium's open dispute.
    other = Complaint.objects.get(
        reference=reference_on(file_complaint(email="sam@example.com", ip="198.51.100.3"))
    )
    act(moderator, "open_dispute", [other], signal=signal.pk, grounds=grounds)
    other.refresh_from_db()
    assert other.dispute == dispute and Dispute.objects.count() == 1

    mail.outbox.clear()
    body = "We opened a dispute; staff decide within 14 days."
    response = act(moderator, "answer", [complaint], body=body)
    assert response.status_code == 302
    complaint.refresh_from_db()
    assert complaint.state == ComplaintState.ANSWERED
    answer = ComplaintAnswer.objects.get(complaint=complaint)
    assert answer.body == body and answer.sent_by.email == "moderator@consortium.example"
    [message] = mail.outbox
    assert message.to == [COMPLAINT["email"]]
    assert reference in message.subject and body in message.body
    assert other.reference not in message.body and "sam@example.com" not in message.body

    act(moderator, "close", [complaint], outcome="dispute")
    complaint.refresh_from_db()
    assert complaint.state == ComplaintState.CLOSED and complaint.outcome == "dispute"
    assert complaint.closed_at is not None
    actions = set(AuditEvent.objects.filter(target_repr=reference).values_list("action", flat=True))
    assert {
        "complaints.complaint.filed",
        "complaints.complaint.in_review",
        "complaints.complaint.dispute_opened",
        "complaints.complaint.answered",
        "complaints.complaint.closed",
    } <= actions
    staff_events = AuditEvent.objects.filter(
        target_repr=reference, action__startswith="complaints.complaint."
    ).exclude(action="complaints.complaint.filed")
    assert set(staff_events.values_list("actor_email", flat=True)) == {
        "moderator@consortium.example"
    }
    assert AuditEvent.objects.filter(
        action="hashbank.dispute.opened", organisation_slug="consortium"
    ).exists()


def test_a_dispute_needs_a_listed_signal_and_refusals_are_reported(cast, signer_for):
    signal = listed_signal(cast, signer_for)
    Signal.objects.filter(pk=signal.pk).update(status="removed")
    complaint = Complaint.objects.get(reference=reference_on(file_complaint()))
    moderator = staff()
    response = act(moderator, "open_dispute", [complaint], signal=signal.pk, grounds="Wrong.")
    assert any("not on the list" in m for m in messages_of(response))
    form = act(moderator, "open_dispute", [complaint], signal=999999, grounds="Wrong.")
    assert form.status_code == 200 and "No signal has this id." in form.content.decode()
    complaint.refresh_from_db()
    assert complaint.state == ComplaintState.NEW and complaint.dispute is None
    assert not Dispute.objects.exists()


def test_personal_data_is_erased_after_the_retention_period_and_not_before(cast, settings):
    settings.HUB_COMPLAINT_RETENTION_DAYS = 180
    moderator = staff()
    references = [
        reference_on(file_complaint(email=f"p{n}@example.org", ip=f"192.0.2.{n}")) for n in range(3)
    ]
    due, recent, still_open = (Complaint.objects.get(reference=r) for r in references)
    act(moderator, "answer", [due], body="Nothing on the list was involved.")
    act(moderator, "close", [due, recent], outcome="no_match")
    now = timezone.now()
    Complaint.objects.filter(pk=due.pk).update(closed_at=now - dt.timedelta(days=181))
    Complaint.objects.filter(pk=recent.pk).update(closed_at=now - dt.timedelta(days=179))
    Complaint.objects.filter(pk=still_open.pk).update(created_at=now - dt.timedelta(days=900))

    assert erase_expired_complaints() == 1
    due.refresh_from_db()
    for field in ("email", "content_url", "content_description", "reason", "hash_value"):
        assert getattr(due, field) == "", field
    assert due.sender_digest == "" and due.erased_at is not None
    assert due.reference == references[0] and due.outcome == "no_match"
    assert due.state == ComplaintState.CLOSED and due.platform == COMPLAINT["platform"]
    assert ComplaintAnswer.objects.get(complaint=due).body == ""
    for kept in (recent, still_open):
        kept.refresh_from_db()
        assert kept.email and kept.reason and kept.erased_at is None
    event = AuditEvent.objects.get(action="complaints.personal_data.erased")
    assert event.detail == {"count": 1, "references": [references[0]]}
    assert erase_expired_complaints() == 0
    # Nobody left to write to.
    mail.outbox.clear()
    response = act(moderator, "answer", [due], body="Hello again.")
    assert any("erased" in m for m in messages_of(response))
    assert mail.outbox == []


def test_the_retention_job_is_scheduled_daily():
    from federation.celery import app

    job = app.conf.beat_schedule["complaints-retention"]
    assert job == {
        "task": "federation.complaints.tasks.erase_expired_complaints",
        "schedule": 24 * 3600,
    }
    assert erase_expired_complaints.name == job["task"]


@pytest.mark.parametrize(
    "path",
    [CHANGELIST, "/admin/complaints/", "/admin/complaints/helpcountry/"],
)
def test_nobody_outside_consortium_staff_reaches_the_triage(cast, path):
    complaint = Complaint.objects.get(reference=reference_on(file_complaint()))
    pages = [path, f"{CHANGELIST}{complaint.pk}/change/"]
    outsiders = [Client()] + [sign_in(Client(), a.user) for a in cast if a.org.kind != "consortium"]
    for client in outsiders:
        for page in pages:
            response = client.get(page)
            assert response.status_code == 302, page
            assert "/admin/login/" in response["Location"]
        response = act(client, "close", [complaint], outcome="withdrawn")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    complaint.refresh_from_db()
    assert complaint.state == ComplaintState.NEW
    assert staff().get(path).status_code == 200
