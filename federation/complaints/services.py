"""Writes of the help pages' data and of complaints from the public: loading the help
fixture, filing a complaint (rate-limited per sender address), and staff triage: review, a
dispute opened on the complainant's behalf, an answer by email, closing, and erasing the
personal data once the retention period after closing is over. Every change is audited;
the audit trail never holds a complainant's address or words."""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.audit import AuditContext, audit_record, lock_chain
from accounts.models import Organisation, OrganisationKind, OrganisationStatus
from core.errors import Conflict
from federation.complaints.models import (
    Complaint,
    ComplaintAnswer,
    ComplaintState,
    HelpCountry,
    HelpResource,
)
from hashbank.models import Dispute, DisputeKind, Signal
from hashbank.services.disputes import dispute_open
from hashbank.services.lookup import RateLimited
from hashbank.services.signals import OPEN_DISPUTE_STATES

HELP_FILE = Path(settings.BASE_DIR) / "fixtures" / "victim_support.json"
# Letters and digits that cannot be misread for one another (no 0/O, 1/I/L, U).
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
RATE_WINDOW = dt.timedelta(hours=1)


@transaction.atomic
def help_resources_load(*, path: Path = HELP_FILE, context: AuditContext) -> tuple[int, int]:
    """Create the countries and organisations of the file that do not exist yet, by code and
    key (staff edit them in admin, and a reload keeps their edits). Returns how many
    countries and organisations were created."""
    data = json.loads(path.read_text("utf-8"))
    countries = resources = 0
    for spec in data["countries"]:
        country, created = HelpCountry.objects.get_or_create(
            code=spec["code"],
            defaults={
                "name_en": spec["name"]["en"],
                "name_fr": spec["name"].get("fr", ""),
                "emergency_number": spec.get("emergency_number", ""),
            },
        )
        countries += created
        for position, item in enumerate(spec["resources"]):
            _, created = HelpResource.objects.get_or_create(
                key=item["key"],
                defaults={
                    "country": country,
                    "kind": item["kind"],
                    "name_en": item["name"]["en"],
                    "name_fr": item["name"].get("fr", ""),
                    "description_en": item["description"]["en"],
                    "description_fr": item["description"].get("fr", ""),
                    "website": item["website"],
                    "phone": item.get("phone", ""),
                    "terrorism": "terrorism" in item["harms"],
                    "child_abuse": "child_abuse" in item["harms"],
                    "hate": "hate" in item["harms"],
                    "position": position,
                },
            )
            resources += created
    audit_record(
        action="complaints.help.loaded",
        context=context,
        detail={"countries": countries, "resources": resources},
    )
    return countries, resources


def _new_reference() -> str:
    while True:
        chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
        reference = f"HF-{chars[:4]}-{chars[4:]}"
        if not Complaint.objects.filter(reference=reference).exists():
            return reference


def decoy_reference() -> str:
    """A reference of the right shape that names no complaint: what a refused bot is shown."""
    return _new_reference()


def sender_digest(ip_address: str | None) -> str:
    """A keyed digest of the sender's address: enough to count their complaints, not to
    tell who they are."""
    return salted_hmac("federation.complaints.sender", ip_address or "").hexdigest()


def _rate_check(digest: str, now: dt.datetime) -> None:
    """At most HUB_COMPLAINT_RATE_PER_HOUR complaints from one address in any hour; raises
    RateLimited, with the seconds until the oldest of them leaves the window."""
    # One filing at a time per address (PostgreSQL; SQLite writes one at a time anyway), so
    # concurrent requests cannot all count the same earlier complaints and slip through.
    lock_chain(int(digest[:15], 16))
    recent = list(
        Complaint.objects.filter(sender_digest=digest, created_at__gt=now - RATE_WINDOW)
        .order_by("created_at")
        .values_list("created_at", flat=True)
    )
    if len(recent) >= settings.HUB_COMPLAINT_RATE_PER_HOUR:
        wait = (recent[0] + RATE_WINDOW - now).total_seconds()
        raise RateLimited("too many complaints from this address", retry_after=math.ceil(wait))


@transaction.atomic
def complaint_file(
    *,
    email: str,
    platform: str,
    removed_on: dt.date,
    reason: str,
    content_url: str = "",
    content_description: str = "",
    hash_value: str = "",
    language: str = "en",
    ip_address: str | None = None,
) -> Complaint:
    """File a complaint from the public, acknowledge it by email to its sender alone and tell
    the staff who triage complaints (without the sender's address or words). The
    hash, when given, is stored for staff as typed: it is never looked up here, so filing
    says nothing about whether it is listed."""
    from federation.complaints.tasks import (
        send_complaint_acknowledgement,
        send_complaint_staff_notice,
    )

    now = timezone.now()
    digest = sender_digest(ip_address)
    _rate_check(digest, now)
    complaint = Complaint.objects.create(
        reference=_new_reference(),
        email=email,
        language=language,
        platform=platform,
        removed_on=removed_on,
        content_url=content_url,
        content_description=content_description,
        reason=reason,
        hash_value=hash_value,
        sender_digest=digest,
        consented_at=now,
        created_at=now,
    )
    # No address or words of the sender in the audit trail, which is never erased.
    audit_record(action="complaints.complaint.filed", context=AuditContext(), target=complaint)
    transaction.on_commit(lambda: send_complaint_acknowledgement.delay(complaint.pk))
    transaction.on_commit(lambda: send_complaint_staff_notice.delay(complaint.pk))
    return complaint


def _locked(complaint: Complaint) -> Complaint:
    return Complaint.objects.select_for_update().get(pk=complaint.pk)


@transaction.atomic
def complaint_mark_in_review(*, complaint: Complaint, context: AuditContext) -> Complaint:
    complaint = _locked(complaint)
    if complaint.state != ComplaintState.NEW:
        raise Conflict(f"this complaint is {complaint.get_state_display().lower()}")
    complaint.state = ComplaintState.IN_REVIEW
    complaint.save(update_fields=["state"])
    audit_record(action="complaints.complaint.in_review", context=context, target=complaint)
    return complaint


def consortium_organisation() -> Organisation:
    """The consortium's own organisation: who a dispute opened for the public stands in the
    name of."""
    organisation = (
        Organisation.objects.filter(
            kind=OrganisationKind.CONSORTIUM, status=OrganisationStatus.ACTIVE
        )
        .order_by("pk")
        .first()
    )
    if organisation is None:
        raise Conflict("no active consortium organisation to open the dispute in the name of")
    return organisation


@transaction.atomic
def complaint_dispute_open(
    *, complaint: Complaint, signal: Signal, grounds: str, context: AuditContext
) -> Dispute:
    """Open a dispute against `signal` in the consortium's name, on the complainant's
    behalf (or join the consortium's dispute already open on it). The complainant is never
    named in the dispute, which the signal's submitters read."""
    complaint = _locked(complaint)
    if complaint.state == ComplaintState.CLOSED:
        raise Conflict("this complaint is closed")
    consortium = consortium_organisation()
    dispute = signal.disputes.filter(opened_by=consortium, state__in=OPEN_DISPUTE_STATES).first()
    if dispute is None:
        dispute = dispute_open(
            organisation=consortium,
            signal=signal,
            kind=DisputeKind.SIGNAL,
            grounds=grounds,
            evidence=f"Opened by consortium staff for complaint {complaint.reference} "
            "from the public.",
            context=AuditContext(
                user=context.user, organisation=consortium, ip_address=context.ip_address
            ),
        )
    complaint.dispute = dispute
    complaint.state = ComplaintState.DISPUTE_OPENED
    complaint.save(update_fields=["dispute", "state"])
    audit_record(
        action="complaints.complaint.dispute_opened",
        context=context,
        target=complaint,
        detail={"dispute": str(dispute.public_id), "signal": signal.pk},
    )
    return dispute


@transaction.atomic
def complaint_answer(*, complaint: Complaint, body: str, context: AuditContext) -> ComplaintAnswer:
    """Write to the complainant, by email to their address alone; the answer is kept as
    sent."""
    from federation.complaints.tasks import send_complaint_answer

    complaint = _locked(complaint)
    if not complaint.email:
        raise Conflict("this complaint's personal data is erased: there is no one to write to")
    if not body.strip():
        raise Conflict("the answer is empty")
    answer = ComplaintAnswer.objects.create(complaint=complaint, body=body, sent_by=context.user)
    if complaint.state != ComplaintState.CLOSED:
        complaint.state = ComplaintState.ANSWERED
        complaint.save(update_fields=["state"])
    audit_record(action="complaints.complaint.answered", context=context, target=complaint)
    transaction.on_commit(lambda: send_complaint_answer.delay(answer.pk))
    return answer


@transaction.atomic
def complaint_close(*, complaint: Complaint, outcome: str, context: AuditContext) -> Complaint:
    """Close with an outcome; the retention period of the personal data starts now."""
    complaint = _locked(complaint)
    if complaint.state == ComplaintState.CLOSED:
        raise Conflict("this complaint is closed already")
    complaint.state = ComplaintState.CLOSED
    complaint.outcome = outcome
    complaint.closed_at = timezone.now()
    complaint.save(update_fields=["state", "outcome", "closed_at"])
    audit_record(
        action="complaints.complaint.closed",
        context=context,
        target=complaint,
        detail={"outcome": outcome},
    )
    return complaint


@transaction.atomic
def complaints_erase_expired(*, now: dt.datetime | None = None) -> int:
    """Erase the address, the free text, the hash and the sender's digest of complaints
    closed more than HUB_COMPLAINT_RETENTION_DAYS ago, and the answers written to them.
    The reference, dates, platform, state, outcome and dispute stay. Returns how many."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.HUB_COMPLAINT_RETENTION_DAYS)
    due = Complaint.objects.filter(
        state=ComplaintState.CLOSED, closed_at__lt=cutoff, erased_at__isnull=True
    )
    references = list(due.values_list("reference", flat=True))
    if not references:
        return 0
    ComplaintAnswer.objects.filter(complaint__reference__in=references).update(body="")
    Complaint.objects.filter(reference__in=references).update(
        email="",
        content_url="",
        content_description="",
        reason="",
        hash_value="",
        sender_digest="",
        erased_at=timezone.now(),
    )
    audit_record(
        action="complaints.personal_data.erased",
        context=AuditContext.system(),
        detail={"count": len(references), "references": references},
    )
    return len(references)
