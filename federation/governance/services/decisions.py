"""Decisions on a member organisation after approval: tier changes, suspension,
reinstatement and offboarding. Each writes an OrganisationDecision and an audit event in the
same transaction, and emails the organisation on commit."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.audit import AuditContext, audit_record
from accounts.models import (
    Organisation,
    OrganisationKind,
    OrganisationStatus,
    Tier,
)
from core.errors import Conflict, Invalid, NotFound
from federation.governance import tasks
from federation.governance.models import (
    DecisionKind,
    Mentorship,
    OrganisationDecision,
)
from federation.governance.services.access import staff_required


def _decide_on_organisation(
    organisation: Organisation,
    *,
    kind: str,
    action: str,
    reason: str,
    from_value: str,
    to_value: str,
    context: AuditContext,
) -> OrganisationDecision:
    decision = OrganisationDecision.objects.create(
        organisation=organisation,
        kind=kind,
        from_value=from_value,
        to_value=to_value,
        reason=reason,
        decided_by=context.user,
    )
    audit_record(
        action=action,
        context=context,
        target=organisation,
        organisation=organisation,
        detail={"from": from_value, "to": to_value, "reason": reason},
    )
    transaction.on_commit(lambda: tasks.notify_organisation_decision.delay(decision.pk))
    return decision


def _member_for_update(organisation: Organisation) -> Organisation:
    try:
        return Organisation.objects.select_for_update().get(
            pk=organisation.pk, kind=OrganisationKind.PLATFORM
        )
    except Organisation.DoesNotExist:
        raise NotFound("no such member platform") from None


def _reason_required(reason: str) -> None:
    if not reason.strip():
        raise Invalid.for_field("reason", "a decision states its reasons")


@transaction.atomic
def organisation_tier_change(
    *, organisation: Organisation, tier: str, reason: str, context: AuditContext
) -> Organisation:
    """Move a member platform to another tier. What it may read and submit follows at its
    next request (hashbank selectors read the tier). Raises Invalid or Conflict (same tier)."""
    staff_required(context)
    _reason_required(reason)
    if tier not in Tier.values:
        raise Invalid.for_field("tier", "tier is full, associate or probation")
    organisation = _member_for_update(organisation)
    if organisation.tier == tier:
        raise Conflict.for_field("tier", "the organisation is in this tier already")
    previous = organisation.tier or ""
    organisation.tier = tier
    organisation.save(update_fields=["tier"])
    _decide_on_organisation(
        organisation,
        kind=DecisionKind.TIER_CHANGED,
        action="governance.organisation.tier_changed",
        reason=reason,
        from_value=previous,
        to_value=tier,
        context=context,
    )
    return organisation


# Each status decision: the statuses it applies to, and the status it leads to.
STATUS_DECISIONS: dict[str, tuple[tuple[str, ...], str]] = {
    DecisionKind.SUSPENDED: ((OrganisationStatus.ACTIVE,), OrganisationStatus.SUSPENDED),
    DecisionKind.REINSTATED: (
        (OrganisationStatus.SUSPENDED, OrganisationStatus.OFFBOARDED),
        OrganisationStatus.ACTIVE,
    ),
    DecisionKind.OFFBOARDED: (
        (OrganisationStatus.ACTIVE, OrganisationStatus.SUSPENDED),
        OrganisationStatus.OFFBOARDED,
    ),
}


def _status_change(
    organisation: Organisation, *, kind: str, reason: str, context: AuditContext
) -> Organisation:
    allowed_from, to = STATUS_DECISIONS[kind]
    staff_required(context)
    _reason_required(reason)
    organisation = _member_for_update(organisation)
    if organisation.status not in allowed_from:
        raise Conflict(f"The organisation is {organisation.status}.", code="wrong_status")
    previous = organisation.status
    organisation.status = to
    # The reason a member reads in the portal and in API refusals; cleared on reinstatement.
    organisation.status_reason = "" if to == OrganisationStatus.ACTIVE else reason
    organisation.save(update_fields=["status", "status_reason"])
    _decide_on_organisation(
        organisation,
        kind=kind,
        action=f"governance.organisation.{kind}",
        reason=reason,
        from_value=previous,
        to_value=to,
        context=context,
    )
    return organisation


@transaction.atomic
def organisation_suspend(
    *, organisation: Organisation, reason: str, context: AuditContext
) -> Organisation:
    """Suspend an active member. Its API keys and session API calls are refused from the
    next request on (`organisation_inactive`), so its signing keys cannot submit either;
    nothing is revoked, so reinstatement restores everything as it was."""
    return _status_change(organisation, kind=DecisionKind.SUSPENDED, reason=reason, context=context)


@transaction.atomic
def organisation_reinstate(
    *, organisation: Organisation, reason: str, context: AuditContext
) -> Organisation:
    """Undo a suspension or an offboarding: the organisation is active again, with its keys."""
    return _status_change(
        organisation, kind=DecisionKind.REINSTATED, reason=reason, context=context
    )


@transaction.atomic
def organisation_offboard(
    *, organisation: Organisation, reason: str, context: AuditContext
) -> Organisation:
    """Offboard a member that leaves or is removed. Its data is kept as docs/governance.md
    (retention) says: its approved submissions keep supporting their signals, so the list
    does not change; staff withdraw individual submissions in moderation if they decide
    otherwise. Its mentorship ends. Reversible with organisation_reinstate."""
    organisation = _status_change(
        organisation, kind=DecisionKind.OFFBOARDED, reason=reason, context=context
    )
    Mentorship.objects.filter(mentee=organisation, ended_at__isnull=True).update(
        ended_at=timezone.now()
    )
    return organisation
