"""Moderating submissions: approve (which puts a value on the list), reject, withdraw."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import AuditContext, audit_record
from core.errors import Conflict, Invalid, ServiceError
from hashbank.models import ReviewState, Signal, Submission
from hashbank.services.inclusion import signal_listing_entry
from hashbank.services.signals import signal_refresh


def _signal_for(submission: Submission) -> Signal:
    signal = (
        Signal.objects.select_for_update()
        .filter(bank=submission.bank, signal_type=submission.signal_type, value=submission.value)
        .first()
    )
    if signal is not None:
        return signal
    try:
        with transaction.atomic():
            return Signal.objects.create(
                bank=submission.bank,
                signal_type=submission.signal_type,
                value=submission.value,
                status="removed",
            )
    except IntegrityError:
        return Signal.objects.select_for_update().get(
            bank=submission.bank, signal_type=submission.signal_type, value=submission.value
        )


@transaction.atomic
def submission_approve(
    *, submission: Submission, context: AuditContext, auto: bool = False
) -> Submission:
    """Approve a pending submission: its value joins the list (or corroborates the signal
    already there). Approving an approved submission is a no-op (it confirms an
    auto-approval); a rejected or withdrawn one is a Conflict."""
    submission = Submission.objects.select_for_update().get(pk=submission.pk)
    if submission.review_state == ReviewState.APPROVED:
        if not submission.post_reviewed and not auto:
            submission.post_reviewed = True
            submission.reviewed_by = context.user
            submission.reviewed_at = timezone.now()
            submission.save(update_fields=["post_reviewed", "reviewed_by", "reviewed_at"])
        return submission
    if submission.review_state != ReviewState.PENDING:
        raise Conflict(f"this submission is {submission.review_state}", code="not_pending")
    if submission.signing_key.distrusts_as_compromised(
        submission.created_at, submission.received_at
    ):
        raise Conflict(
            "this submission was signed with a key revoked as compromised",
            code="signing_key_compromised",
        )
    signal = _signal_for(submission)
    submission.signal = signal
    submission.review_state = ReviewState.APPROVED
    submission.auto_approved = auto
    submission.post_reviewed = not auto
    submission.reviewed_by = None if auto else context.user
    submission.reviewed_at = timezone.now()
    submission.save()
    signal_refresh(signal)
    # The entry this approval appended (or, for a value already listed and unchanged, the one
    # that lists it), in the same transaction: what the receipt's promise is about.
    submission.log_entry = signal_listing_entry(signal)
    submission.save(update_fields=["log_entry"])
    audit_record(
        action="hashbank.submission.approved",
        context=context,
        target=submission,
        organisation=submission.organisation,
        detail={"auto": auto, "signal": signal.pk},
    )
    return submission


def _notify_rejected_on_commit(submissions: Iterable[Submission]) -> None:
    """One message per organisation, listing its rejected submissions, once committed."""
    from hashbank.tasks import notify_submissions_rejected

    by_organisation: dict[int, list[int]] = defaultdict(list)
    for submission in submissions:
        by_organisation[submission.organisation_id].append(submission.pk)
    for pks in by_organisation.values():
        transaction.on_commit(partial(notify_submissions_rejected.delay, pks))


@transaction.atomic
def submission_reject(
    *, submission: Submission, reason: str, context: AuditContext, notify: bool = True
) -> Submission:
    """Reject a pending submission, or an auto-approved one after the fact (its support is
    withdrawn from the signal, which leaves the list if nothing else supports it). The
    reason is sent to the submitter, unless `notify` is off (submissions_reject tells each
    organisation once for a whole selection)."""

    if not reason.strip():
        raise Invalid.for_field("reason", "a rejection needs a reason", code="required")
    submission = Submission.objects.select_for_update().get(pk=submission.pk)
    if submission.review_state not in (ReviewState.PENDING, ReviewState.APPROVED):
        raise Conflict(f"this submission is {submission.review_state}", code="not_reviewable")
    signal = submission.signal
    submission.review_state = ReviewState.REJECTED
    submission.review_reason = reason
    submission.reviewed_by = context.user
    submission.reviewed_at = timezone.now()
    submission.post_reviewed = True
    submission.save()
    if signal is not None:
        signal_refresh(Signal.objects.select_for_update().get(pk=signal.pk))
    audit_record(
        action="hashbank.submission.rejected",
        context=context,
        target=submission,
        organisation=submission.organisation,
        detail={"reason": reason},
    )
    if notify:
        _notify_rejected_on_commit([submission])
    return submission


def submissions_reject(
    *, submissions: Iterable[Submission], reason: str, context: AuditContext
) -> tuple[list[Submission], list[tuple[Submission, ServiceError]]]:
    """Reject each submission (see submission_reject) with the same reason; a refusal for
    one leaves the others rejected. Each organisation concerned receives one message
    listing its rejected submissions, not one per submission. Returns the rejected
    submissions and the refusals."""
    rejected: list[Submission] = []
    refused: list[tuple[Submission, ServiceError]] = []
    for submission in submissions:
        try:
            rejected.append(
                submission_reject(
                    submission=submission, reason=reason, context=context, notify=False
                )
            )
        except ServiceError as exc:
            refused.append((submission, exc))
    _notify_rejected_on_commit(rejected)
    return rejected, refused


@transaction.atomic
def submission_withdraw(*, submission: Submission, context: AuditContext) -> Submission:
    """The submitter takes back its statement. When nothing else supports the signal, it
    leaves the list (a change-log entry like any other)."""
    submission = Submission.objects.select_for_update().get(pk=submission.pk)
    if submission.review_state in (ReviewState.REJECTED, ReviewState.WITHDRAWN):
        raise Conflict(f"this submission is {submission.review_state}", code="not_withdrawable")
    signal = submission.signal
    submission.review_state = ReviewState.WITHDRAWN
    submission.save(update_fields=["review_state"])
    if signal is not None:
        signal_refresh(
            Signal.objects.select_for_update().get(pk=signal.pk), removal_reason="withdrawn"
        )
    audit_record(
        action="hashbank.submission.withdrawn",
        context=context,
        target=submission,
        organisation=submission.organisation,
    )
    return submission
