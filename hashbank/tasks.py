"""Background work of the hash bank. Tasks take ids and call services; they are enqueued
on commit and safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from accounts.models import Role
from hashbank.models import Dispute, ReviewState, Submission


def _admin_emails(organisation) -> list[str]:  # type: ignore[no-untyped-def]
    return list(
        organisation.memberships.filter(role=Role.ADMIN).values_list("user__email", flat=True)
    )


@shared_task(acks_late=True)
def notify_submission_rejected(submission_pk: int) -> int:
    submission = Submission.objects.select_related("organisation", "bank").get(pk=submission_pk)
    if submission.review_state != ReviewState.REJECTED:
        return 0
    return send_mail(
        subject=f"[Hashfed] Submission {submission.submission_id} rejected",
        message=(
            f"Your submission {submission.submission_id} to bank {submission.bank.name} "
            f"({submission.signal_type} {submission.value}) was rejected.\n\n"
            f"Reason: {submission.review_reason}\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=_admin_emails(submission.organisation),
    )


@shared_task(acks_late=True)
def notify_dispute_event(dispute_pk: int, event: str) -> int:
    """Tell every party: the disputing member and the members whose submissions support the
    signal."""
    dispute = Dispute.objects.select_related("signal__bank", "opened_by").get(pk=dispute_pk)
    parties = {dispute.opened_by}
    for submission in dispute.signal.submissions.select_related("organisation"):
        parties.add(submission.organisation)
    recipients = sorted({email for org in parties for email in _admin_emails(org)})
    lines = [
        f"Dispute {dispute.public_id} on {dispute.signal.bank.name} "
        f"{dispute.signal.signal_type} {dispute.signal.value}: {event}.",
        f"State: {dispute.state}.",
    ]
    if dispute.outcome:
        lines.append(f"Decision: {dispute.outcome}. {dispute.decision_reason}")
    if dispute.appeal_outcome:
        lines.append(f"Appeal decision: {dispute.appeal_outcome}. {dispute.appeal_reason}")
    return send_mail(
        subject=f"[Hashfed] Dispute {str(dispute.public_id)[:8]} {event}",
        message="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )


@shared_task(acks_late=True)
def create_snapshots() -> list[int]:
    from hashbank.services.snapshots import snapshots_create

    return [s.pk for s in snapshots_create()]


@shared_task(acks_late=True)
def rebuild_pdq_index() -> str:
    """Rebuild the PDQ index files from the database (web processes pick the new generation
    up at their next lookup). Incremental changes never need this; it folds them in."""
    from hashbank.matching.matcher import pdq_index_build

    return str(pdq_index_build())
