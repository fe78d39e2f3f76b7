"""Writes of lawful requests: filing, validation, forwarding, acknowledgement, answers,
closure, the access log and legal holds. Every state change is audited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import AuditContext, audit_record
from accounts.errors import Conflict, Invalid, NotPermitted
from accounts.models import Organisation, OrganisationKind, OrganisationStatus, User
from federation.authorities.models import (
    AnswerOutcome,
    LawfulRequest,
    LawfulRequestAddressee,
    LawfulRequestKind,
    LawfulRequestState,
    LegalHold,
    Urgency,
)
from federation.authorities.personal_data import personal_data_warnings
from hashbank import signal_types
from hashbank.models import Signal, Submission

MAX_SUBJECT_ITEMS = 1000
# A removal order's clock is fixed by law (Regulation (EU) 2021/784, art. 3(3)): one hour.
REMOVAL_ORDER_HOURS = 1


def deadline_hours_for(kind: str) -> int:
    if kind == LawfulRequestKind.REMOVAL_ORDER:
        return REMOVAL_ORDER_HOURS
    return int(settings.LAWFUL_REQUEST_DEADLINE_HOURS[kind])


@dataclass(frozen=True)
class FiledRequest:
    request: LawfulRequest
    # Field-level warnings about what looks like personal data; never a refusal.
    warnings: dict[str, list[dict[str, str]]]


def _normalised_hashes(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    hashes = []
    for index, item in enumerate(items):
        try:
            value = signal_types.normalise_value(item["signal_type"], item["value"])
        except signal_types.SignalValueError as exc:
            raise Invalid.for_field(
                f"subject_hashes.{index}.value", exc.message, code=exc.code
            ) from exc
        hashes.append({"signal_type": item["signal_type"], "value": value})
    return hashes


@transaction.atomic
def lawful_request_file(
    *,
    authority: Organisation,
    filed_by: User | None,
    kind: str,
    issuing_authority: str,
    officer: str,
    legal_basis: str,
    jurisdiction: str,
    addressed: list[str],
    subject_urls: list[str],
    subject_hashes: list[dict[str, Any]],
    subject_accounts: list[str],
    description: str,
    urgency: str = Urgency.ROUTINE,
    context: AuditContext,
) -> FiledRequest:
    """Record a request an authority files, in state `submitted`, for staff to validate.

    Raises Invalid when an addressed organisation is not an active member platform, when
    the subject names nothing, or a hash is malformed. Hashes are only normalised, never
    looked up: an authority learns nothing about the shared list from filing. Returns the
    request and warnings for free text that looks like personal data.
    """
    if authority.kind != OrganisationKind.AUTHORITY:
        raise NotPermitted("only authorities file lawful requests")
    slugs = list(dict.fromkeys(addressed))
    if not slugs:
        raise Invalid.for_field(
            "addressed_platforms", "name at least one platform", code="required"
        )
    platforms = {
        org.slug: org
        for org in Organisation.objects.filter(
            slug__in=slugs, kind=OrganisationKind.PLATFORM, status=OrganisationStatus.ACTIVE
        )
    }
    for index, slug in enumerate(slugs):
        if slug not in platforms:
            raise Invalid.for_field(
                f"addressed_platforms.{index}",
                f"{slug!r} is not an active member platform",
                code="unknown_platform",
            )
    if not (subject_urls or subject_hashes or subject_accounts):
        raise Invalid.for_field(
            "subject", "name at least one URL, content hash or account", code="required"
        )
    if len(subject_urls) + len(subject_hashes) + len(subject_accounts) > MAX_SUBJECT_ITEMS:
        raise Invalid.for_field(
            "subject", f"at most {MAX_SUBJECT_ITEMS} items", code="subject_too_large"
        )
    request = LawfulRequest.objects.create(
        authority=authority,
        filed_by=filed_by,
        kind=kind,
        issuing_authority=issuing_authority,
        officer=officer,
        legal_basis=legal_basis,
        jurisdiction=jurisdiction.upper(),
        subject_urls=subject_urls,
        subject_hashes=_normalised_hashes(subject_hashes),
        subject_accounts=subject_accounts,
        description=description,
        urgency=urgency,
        deadline_hours=deadline_hours_for(kind),
    )
    LawfulRequestAddressee.objects.bulk_create(
        LawfulRequestAddressee(request=request, organisation=platforms[slug]) for slug in slugs
    )
    audit_record(
        action="authorities.request.filed",
        context=context,
        target=request,
        organisation=authority,
        detail={"kind": kind, "addressed": slugs, "urgency": urgency},
    )
    _notify_on_commit(request, "filed")
    warnings = personal_data_warnings(
        {
            "description": description,
            **{f"subject_urls.{i}": url for i, url in enumerate(subject_urls)},
            **{f"subject_accounts.{i}": handle for i, handle in enumerate(subject_accounts)},
        }
    )
    return FiledRequest(request=request, warnings=warnings)


def _locked(request: LawfulRequest) -> LawfulRequest:
    return LawfulRequest.objects.select_for_update().get(pk=request.pk)


def _require_state(request: LawfulRequest, *states: str) -> None:
    if request.state not in states:
        raise Conflict(f"this request is {request.state}", code="wrong_state")


def _notify_on_commit(request: LawfulRequest, event: str) -> None:
    from federation.authorities.tasks import notify_lawful_request_event

    pk = request.pk
    transaction.on_commit(lambda: notify_lawful_request_event.delay(pk, event))


@transaction.atomic
def lawful_request_validate(
    *, request: LawfulRequest, context: AuditContext, forward: bool = True
) -> LawfulRequest:
    """Staff confirm a submitted request is authentic and complete. A preservation request
    places its legal hold now (not at filing, so an unchecked request freezes nothing).
    With `forward` (the default), the request goes to the platforms at once: a removal
    order's hour must not wait on a second click."""
    request = _locked(request)
    _require_state(request, LawfulRequestState.SUBMITTED)
    request.state = LawfulRequestState.VALIDATED
    request.validated_at = timezone.now()
    request.validated_by = context.user
    request.save(update_fields=["state", "validated_at", "validated_by"])
    audit_record(
        action="authorities.request.validated",
        context=context,
        target=request,
        organisation=request.authority,
    )
    if forward:
        request = lawful_request_forward(request=request, context=context)
    # The hold comes last: everything the authority can see of this step (its states,
    # times and audit events) is fixed before the hash bank is read, so none of it can
    # depend on how much the hold covers.
    if request.kind == LawfulRequestKind.PRESERVATION:
        legal_hold_place(request=request, context=context)
    return request


@transaction.atomic
def lawful_request_forward(*, request: LawfulRequest, context: AuditContext) -> LawfulRequest:
    """Send a validated request to its platforms. This is the platforms' receipt: the
    deadline clock starts here."""
    request = _locked(request)
    _require_state(request, LawfulRequestState.VALIDATED)
    now = timezone.now()
    request.state = LawfulRequestState.FORWARDED
    request.forwarded_at = now
    request.deadline = now + dt.timedelta(hours=request.deadline_hours)
    request.save(update_fields=["state", "forwarded_at", "deadline"])
    audit_record(
        action="authorities.request.forwarded",
        context=context,
        target=request,
        organisation=request.authority,
        detail={"deadline": request.deadline.isoformat()},
    )
    _notify_on_commit(request, "forwarded")
    return request


@transaction.atomic
def lawful_request_refuse(
    *, request: LawfulRequest, reason: str, context: AuditContext
) -> LawfulRequest:
    """Staff refuse a submitted request that is not authentic or not complete; the
    authority is told why. Nothing reaches the platforms."""
    if not reason.strip():
        raise Invalid.for_field("reason", "a refusal needs a reason", code="required")
    request = _locked(request)
    _require_state(request, LawfulRequestState.SUBMITTED)
    request.state = LawfulRequestState.REFUSED
    request.refusal_reason = reason
    request.save(update_fields=["state", "refusal_reason"])
    audit_record(
        action="authorities.request.refused",
        context=context,
        target=request,
        organisation=request.authority,
        detail={"reason": reason},
    )
    _notify_on_commit(request, "refused")
    return request


def _addressee(request: LawfulRequest, organisation: Organisation) -> LawfulRequestAddressee:
    return LawfulRequestAddressee.objects.select_for_update().get(
        request=request, organisation=organisation
    )


@transaction.atomic
def lawful_request_acknowledge(
    *, request: LawfulRequest, organisation: Organisation, context: AuditContext
) -> LawfulRequestAddressee:
    """An addressed platform confirms receipt. Acknowledging twice is a no-op."""
    request = _locked(request)
    _require_state(
        request,
        LawfulRequestState.FORWARDED,
        LawfulRequestState.ACKNOWLEDGED,
        LawfulRequestState.ANSWERED,
    )
    addressee = _addressee(request, organisation)
    if addressee.acknowledged_at is not None:
        return addressee
    addressee.acknowledged_at = timezone.now()
    addressee.acknowledged_by = context.user
    addressee.save(update_fields=["acknowledged_at", "acknowledged_by"])
    if request.state == LawfulRequestState.FORWARDED:
        request.state = LawfulRequestState.ACKNOWLEDGED
        request.save(update_fields=["state"])
    audit_record(
        action="authorities.request.acknowledged",
        context=context,
        target=request,
        organisation=organisation,
    )
    return addressee


@transaction.atomic
def lawful_request_answer(
    *,
    request: LawfulRequest,
    organisation: Organisation,
    outcome: str,
    details: str,
    context: AuditContext,
) -> LawfulRequestAddressee:
    """An addressed platform answers: actioned, partially actioned (saying what was done)
    or declined (saying why). An answer is final (Conflict on a second one); answering
    acknowledges. When every platform has answered, the request is `answered` and the
    authority is told."""
    if outcome in (AnswerOutcome.DECLINED, AnswerOutcome.PARTIAL) and not details.strip():
        raise Invalid.for_field(
            "details",
            "say why the request was declined, or what was done",
            code="required",
        )
    request = _locked(request)
    _require_state(request, LawfulRequestState.FORWARDED, LawfulRequestState.ACKNOWLEDGED)
    addressee = _addressee(request, organisation)
    if addressee.answered_at is not None:
        raise Conflict("your organisation has already answered this request", code="answered")
    now = timezone.now()
    if addressee.acknowledged_at is None:
        addressee.acknowledged_at = now
        addressee.acknowledged_by = context.user
    addressee.outcome = outcome
    addressee.details = details
    addressee.answered_at = now
    addressee.answered_by = context.user
    addressee.save()
    if not request.addressees.filter(answered_at__isnull=True).exists():
        request.state = LawfulRequestState.ANSWERED
    elif request.state == LawfulRequestState.FORWARDED:
        request.state = LawfulRequestState.ACKNOWLEDGED
    request.save(update_fields=["state"])
    audit_record(
        action="authorities.request.answered",
        context=context,
        target=request,
        organisation=organisation,
        detail={
            "outcome": outcome,
            "within_deadline": request.deadline is None or now <= request.deadline,
        },
    )
    _notify_on_commit(request, "answered")
    return addressee


@transaction.atomic
def lawful_request_close(*, request: LawfulRequest, context: AuditContext) -> LawfulRequest:
    """Staff close a request (answered, or abandoned). Legal holds stay until lifted."""
    request = _locked(request)
    if request.state in (LawfulRequestState.CLOSED, LawfulRequestState.REFUSED):
        raise Conflict(f"this request is {request.state}", code="wrong_state")
    request.state = LawfulRequestState.CLOSED
    request.closed_at = timezone.now()
    request.closed_by = context.user
    request.save(update_fields=["state", "closed_at", "closed_by"])
    audit_record(
        action="authorities.request.closed",
        context=context,
        target=request,
        organisation=request.authority,
    )
    return request


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


@transaction.atomic
def lawful_requests_remind_overdue(*, now: dt.datetime | None = None) -> list[int]:
    """Mark open requests past their deadline as reminded and send one reminder each to
    staff and the platforms that have not answered. Returns the requests reminded."""
    from federation.authorities.selectors import overdue_q

    now = now or timezone.now()
    due = list(
        LawfulRequest.objects.select_for_update(skip_locked=True)
        .filter(overdue_q(now), overdue_notified_at__isnull=True)
        .values_list("pk", flat=True)
    )
    LawfulRequest.objects.filter(pk__in=due).update(overdue_notified_at=now)
    for pk in due:
        request = LawfulRequest(pk=pk)
        _notify_on_commit(request, "overdue")
    return due
