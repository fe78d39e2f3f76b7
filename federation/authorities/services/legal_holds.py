"""Legal holds: what a preservation request freezes in the hash bank, and lifting it."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import AuditContext, audit_record
from core.errors import Conflict, Invalid
from federation.authorities.models import (
    LawfulRequest,
    LegalHold,
)
from hashbank.models import Signal, Submission


def _held_records(request: LawfulRequest) -> tuple[list[Signal], list[Submission]]:
    """The signals and submissions a preservation request names, by hash value (in any
    bank: the authority cannot know banks)."""
    match = Q()
    for item in request.subject_hashes:
        match |= Q(signal_type=item["signal_type"], value=item["value"])
    if not match:
        return [], []
    return list(Signal.objects.filter(match)), list(Submission.objects.filter(match))


@transaction.atomic
def legal_hold_place(*, request: LawfulRequest, context: AuditContext) -> LegalHold:
    """Place the hold of a preservation request on what it names; the signals are flagged
    `legal_hold`. A request has at most one active hold (placing again returns it).

    What the hold covers is hash-bank data: the audit event that counts it is recorded
    under the staff member's organisation, never the authority's, whose liaisons read
    their own organisation's trail (the authority must learn nothing of the list)."""
    existing = request.legal_holds.filter(lifted_at__isnull=True).first()
    if existing is not None:
        return existing
    signals, submissions = _held_records(request)
    hold = LegalHold.objects.create(request=request, placed_by=context.user)
    hold.signals.set(signals)
    hold.submissions.set(submissions)
    Signal.objects.filter(pk__in=[s.pk for s in signals]).update(legal_hold=True)
    audit_record(
        action="authorities.legal_hold.placed",
        context=context,
        target=hold,
        detail={"signals": len(signals), "submissions": len(submissions)},
    )
    return hold


@transaction.atomic
def legal_hold_lift(*, hold: LegalHold, reason: str, context: AuditContext) -> LegalHold:
    """Staff lift a hold. A signal stays flagged while another active hold covers it."""
    if not reason.strip():
        raise Invalid.for_field("reason", "lifting a hold needs a reason", code="required")
    hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if hold.lifted_at is not None:
        raise Conflict("this hold is already lifted", code="already_lifted")
    hold.lifted_at = timezone.now()
    hold.lifted_by = context.user
    hold.lift_reason = reason
    hold.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    still_held = LegalHold.objects.filter(lifted_at__isnull=True).values("signals")
    hold.signals.exclude(pk__in=still_held).update(legal_hold=False)
    audit_record(
        action="authorities.legal_hold.lifted",
        context=context,
        target=hold,
        organisation=hold.request.authority,
        detail={"reason": reason},
    )
    return hold
