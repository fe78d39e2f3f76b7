"""Opinions and disputes: members' views of a signal, and cases staff decide."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import AuditContext, audit_record
from accounts.models import Organisation, User
from core.errors import Conflict, Invalid, NotPermitted
from hashbank.models import (
    Dispute,
    DisputeKind,
    DisputeOutcome,
    DisputeState,
    Label,
    Opinion,
    OpinionKind,
    Signal,
)
from hashbank.services.signals import OPEN_DISPUTE_STATES, signal_refresh


def _labels(slugs: list[str], field: str) -> list[Label]:
    found = {label.slug: label for label in Label.objects.filter(slug__in=slugs, active=True)}
    for position, slug in enumerate(slugs):
        if slug not in found:
            raise Invalid.for_field(
                f"{field}.{position}", f"no active label {slug!r}", code="unknown_label"
            )
    return [found[slug] for slug in slugs]


@transaction.atomic
def opinion_record(
    *,
    organisation: Organisation,
    signal: Signal,
    kind: str,
    reasons: str = "",
    proposed_labels: list[str] | None = None,
    context: AuditContext,
) -> Opinion:
    """Record (or replace) the organisation's opinion of a signal. The feed carries only the
    aggregate confidence, which may produce an update entry."""
    if kind not in OpinionKind.values:
        raise Invalid.for_field(
            "kind", f"kind is one of {', '.join(OpinionKind.values)}", code="invalid_choice"
        )
    if kind in (OpinionKind.FALSE_POSITIVE, OpinionKind.DISAGREE_LABELS) and not reasons.strip():
        raise Invalid.for_field("reasons", "say why", code="required")
    labels = _labels(proposed_labels or [], "proposed_labels")
    signal = Signal.objects.select_for_update().get(pk=signal.pk)
    opinion, _ = Opinion.objects.update_or_create(
        organisation=organisation,
        signal=signal,
        defaults={"kind": kind, "reasons": reasons, "updated_at": timezone.now()},
    )
    opinion.proposed_labels.set(labels)
    if signal.is_listed:
        signal_refresh(signal)
    audit_record(
        action="hashbank.opinion.recorded",
        context=context,
        target=opinion,
        organisation=organisation,
        detail={"signal": signal.pk, "kind": kind},
    )
    return opinion


@transaction.atomic
def dispute_open(
    *,
    organisation: Organisation,
    signal: Signal,
    kind: str,
    grounds: str,
    evidence: str = "",
    proposed_labels: list[str] | None = None,
    context: AuditContext,
) -> Dispute:
    """Open a case against a listed signal (or its labels). The signal stays listed, marked
    disputed in the feed, until a decision."""
    from hashbank.tasks import notify_dispute_event

    if kind not in DisputeKind.values:
        raise Invalid.for_field("kind", "kind is signal or labels", code="invalid_choice")
    if not grounds.strip():
        raise Invalid.for_field("grounds", "state the grounds of the dispute", code="required")
    labels = _labels(proposed_labels or [], "proposed_labels")
    if kind == DisputeKind.LABELS and not labels:
        raise Invalid.for_field(
            "proposed_labels", "propose the labels you think are right", code="required"
        )
    signal = Signal.objects.select_for_update().get(pk=signal.pk)
    if not signal.is_listed:
        raise Conflict("this signal is not on the list", code="not_listed")
    if signal.disputes.filter(opened_by=organisation, state__in=OPEN_DISPUTE_STATES).exists():
        raise Conflict(
            "your organisation has an open dispute on this signal already", code="duplicate_dispute"
        )
    dispute = Dispute.objects.create(
        signal=signal,
        opened_by=organisation,
        kind=kind,
        grounds=grounds,
        evidence=evidence,
        deadline=timezone.now() + dt.timedelta(days=settings.DISPUTE_DECISION_DAYS),
    )
    dispute.proposed_labels.set(labels)
    signal_refresh(signal)
    audit_record(
        action="hashbank.dispute.opened",
        context=context,
        target=dispute,
        organisation=organisation,
        detail={"signal": signal.pk, "kind": kind},
    )
    transaction.on_commit(lambda: notify_dispute_event.delay(dispute.pk, "opened"))
    return dispute


def _apply_outcome(dispute: Dispute, outcome: str, labels: list[Label]) -> None:
    signal = Signal.objects.select_for_update().get(pk=dispute.signal_id)
    # The last decision rules: an upheld or relabelled appeal lists again what was overturned.
    signal.delisted_by_decision = outcome == DisputeOutcome.OVERTURNED
    signal_refresh(signal, labels=labels if outcome == DisputeOutcome.RELABELLED else None)


def _check_outcome(outcome: str, reason: str, labels: list[str] | None) -> list[Label]:
    if outcome not in DisputeOutcome.values:
        raise Invalid.for_field(
            "outcome", "outcome is upheld, overturned or relabelled", code="invalid_choice"
        )
    if not reason.strip():
        raise Invalid.for_field("reason", "a decision needs a written reason", code="required")
    resolved = _labels(labels or [], "labels")
    if outcome == DisputeOutcome.RELABELLED and not resolved:
        raise Invalid.for_field("labels", "a relabel names the new labels", code="required")
    return resolved


def _record_decision(
    dispute: Dispute,
    outcome: str,
    reason: str,
    labels: list[Label],
    context: AuditContext,
    *,
    stage: str,
) -> Dispute:
    """Save a first or appeal decision, apply it to the list, audit it and tell the
    parties after commit."""
    from hashbank.tasks import notify_dispute_event

    dispute.save()
    _apply_outcome(dispute, outcome, labels)
    prefix = "appeal_" if stage == "appeal_decided" else ""
    audit_record(
        action=f"hashbank.dispute.{prefix}{outcome}",
        context=context,
        target=dispute,
        organisation=dispute.opened_by,
        detail={"reason": reason},
    )
    transaction.on_commit(lambda: notify_dispute_event.delay(dispute.pk, stage))
    return dispute


@transaction.atomic
def dispute_decide(
    *,
    dispute: Dispute,
    outcome: str,
    reason: str,
    reviewer: User,
    labels: list[str] | None = None,
    context: AuditContext,
) -> Dispute:
    """Staff decide: upheld (listing stands), overturned (removed from the list at every
    member's next sync) or relabelled (new labels in the feed)."""

    resolved = _check_outcome(outcome, reason, labels)
    dispute = Dispute.objects.select_for_update().get(pk=dispute.pk)
    if dispute.state not in (DisputeState.OPEN, DisputeState.IN_REVIEW):
        raise Conflict(f"this dispute is {dispute.state}", code="not_open")
    dispute.state = DisputeState.DECIDED
    dispute.outcome = outcome
    dispute.decision_reason = reason
    dispute.decided_by = reviewer
    dispute.decided_at = timezone.now()
    return _record_decision(dispute, outcome, reason, resolved, context, stage="decided")


@transaction.atomic
def dispute_appeal(
    *, dispute: Dispute, organisation: Organisation, grounds: str, context: AuditContext
) -> Dispute:
    """Either party (the disputing member or a member whose submission supports the signal)
    may appeal a decision once, within the appeal window."""
    from hashbank.tasks import notify_dispute_event

    if not grounds.strip():
        raise Invalid.for_field("grounds", "state the grounds of the appeal", code="required")
    dispute = Dispute.objects.select_for_update().get(pk=dispute.pk)
    if dispute.state != DisputeState.DECIDED:
        raise Conflict(
            "only a decided dispute can be appealed, and only once", code="not_appealable"
        )
    window = dt.timedelta(days=settings.DISPUTE_APPEAL_WINDOW_DAYS)
    if dispute.decided_at and timezone.now() > dispute.decided_at + window:
        raise Conflict("the appeal window has closed", code="appeal_window_closed")
    dispute.state = DisputeState.APPEALED
    dispute.appealed_by = organisation
    dispute.appeal_grounds = grounds
    dispute.appealed_at = timezone.now()
    dispute.appeal_deadline = timezone.now() + dt.timedelta(days=settings.DISPUTE_DECISION_DAYS)
    dispute.save()
    signal_refresh(Signal.objects.select_for_update().get(pk=dispute.signal_id))
    audit_record(
        action="hashbank.dispute.appealed",
        context=context,
        target=dispute,
        organisation=organisation,
    )
    transaction.on_commit(lambda: notify_dispute_event.delay(dispute.pk, "appealed"))
    return dispute


@transaction.atomic
def dispute_decide_appeal(
    *,
    dispute: Dispute,
    outcome: str,
    reason: str,
    reviewer: User,
    labels: list[str] | None = None,
    context: AuditContext,
) -> Dispute:
    """A second reviewer, never the first, decides the appeal; that decision is final."""

    resolved = _check_outcome(outcome, reason, labels)
    dispute = Dispute.objects.select_for_update().get(pk=dispute.pk)
    if dispute.state != DisputeState.APPEALED:
        raise Conflict("this dispute is not under appeal", code="not_appealed")
    if dispute.decided_by_id == reviewer.pk:
        raise NotPermitted(
            "an appeal goes to a different reviewer than the first decision", code="same_reviewer"
        )
    dispute.state = DisputeState.CLOSED
    dispute.appeal_outcome = outcome
    dispute.appeal_reason = reason
    dispute.appeal_decided_by = reviewer
    dispute.appeal_decided_at = timezone.now()
    return _record_decision(dispute, outcome, reason, resolved, context, stage="appeal_decided")


@transaction.atomic
def dispute_mark_in_review(*, dispute: Dispute, context: AuditContext) -> Dispute:
    """Staff take an open dispute up. Raises Conflict unless it is open."""
    dispute = Dispute.objects.select_for_update().get(pk=dispute.pk)
    if dispute.state != DisputeState.OPEN:
        raise Conflict(f"this dispute is {dispute.get_state_display().lower()}", code="not_open")
    dispute.state = DisputeState.IN_REVIEW
    dispute.save(update_fields=["state"])
    audit_record(
        action="hashbank.dispute.in_review",
        context=context,
        target=dispute,
        organisation=dispute.opened_by,
    )
    return dispute


@transaction.atomic
def dispute_assign_reviewer(
    *, dispute: Dispute, reviewer: User | None, context: AuditContext
) -> Dispute:
    """Assign (or clear) the reviewer. Only that column is written: saving the whole row
    could undo a decision made by someone else meanwhile."""
    Dispute.objects.filter(pk=dispute.pk).update(reviewer=reviewer)
    audit_record(
        action="hashbank.dispute.reviewer_assigned",
        context=context,
        target=dispute,
        organisation=dispute.opened_by,
        detail={"reviewer": reviewer.email if reviewer else None},
    )
    return dispute


@transaction.atomic
def dispute_decide_by_origin(
    *, dispute: Dispute, outcome: str, reason: str, origin_hub: str, context: AuditContext
) -> Dispute:
    """Apply the decision of the hub a received signal came from to a member's dispute of
    it, forwarded there (federation/peering/forwarding.py): overturned takes the signal off
    this hub's list (members see the removal at their next sync), upheld keeps it, relabelled
    keeps it with the labels the origin's feed brings. The member is told, as for a decision
    here. A dispute staff here decided meanwhile is left as it is."""
    if outcome not in DisputeOutcome.values:
        raise Invalid.for_field("outcome", f"unknown outcome {outcome!r}", code="invalid_choice")
    dispute = Dispute.objects.select_for_update().get(pk=dispute.pk)
    if dispute.state not in (DisputeState.OPEN, DisputeState.IN_REVIEW):
        return dispute
    dispute.state = DisputeState.DECIDED
    dispute.outcome = outcome
    dispute.decision_reason = f"Decided by {origin_hub}, the hub this hash came from: {reason}"
    dispute.decided_at = timezone.now()
    dispute.save()
    return _origin_decision_applied(
        dispute, outcome, reason=reason, origin_hub=origin_hub, context=context, stage="decided"
    )


@transaction.atomic
def dispute_decide_appeal_by_origin(
    *, dispute: Dispute, outcome: str, reason: str, origin_hub: str, context: AuditContext
) -> Dispute:
    """Apply the origin hub's decision of an appeal there to a member's dispute whose first
    decision was the origin's (dispute_decide_by_origin): the dispute is closed with the
    appeal's outcome, which rules the listing here as an appeal decided here would (an
    overturn takes the signal off this hub's list, an upheld appeal of an overturn lists it
    again), and the member is told. A dispute staff here decided, or one under appeal here,
    is left as it is."""
    if outcome not in DisputeOutcome.values:
        raise Invalid.for_field("outcome", f"unknown outcome {outcome!r}", code="invalid_choice")
    dispute = Dispute.objects.select_for_update().get(pk=dispute.pk)
    if dispute.state != DisputeState.DECIDED or dispute.decided_by_id is not None:
        return dispute
    dispute.state = DisputeState.CLOSED
    dispute.appeal_outcome = outcome
    dispute.appeal_reason = (
        f"Decided on appeal by {origin_hub}, the hub this hash came from: {reason}"
    )
    dispute.appeal_decided_at = timezone.now()
    dispute.save()
    return _origin_decision_applied(
        dispute,
        outcome,
        reason=reason,
        origin_hub=origin_hub,
        context=context,
        stage="appeal_decided",
    )


def _origin_decision_applied(
    dispute: Dispute,
    outcome: str,
    *,
    reason: str,
    origin_hub: str,
    context: AuditContext,
    stage: str,
) -> Dispute:
    """What an origin hub's decision (`stage` "decided") or appeal decision
    ("appeal_decided") of a forwarded dispute does here once the dispute records it: an
    overturn takes the signal off this hub's list, any other outcome lists it, the decision
    is audited and the member is told."""
    from hashbank.tasks import notify_dispute_event

    signal = Signal.objects.select_for_update().get(pk=dispute.signal_id)
    signal.delisted_by_decision = outcome == DisputeOutcome.OVERTURNED
    signal_refresh(signal)
    prefix = "appeal_" if stage == "appeal_decided" else ""
    audit_record(
        action=f"hashbank.dispute.{prefix}{outcome}",
        context=context,
        target=dispute,
        organisation=dispute.opened_by,
        detail={"reason": reason, "decided_by_hub": origin_hub},
    )
    transaction.on_commit(lambda: notify_dispute_event.delay(dispute.pk, stage))
    return dispute
