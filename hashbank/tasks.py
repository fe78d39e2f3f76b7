"""Background work of the hash bank. Tasks take ids and call services; they are enqueued
on commit and safe to run twice."""

from __future__ import annotations

from itertools import groupby

from celery import shared_task
from django.urls import reverse

from accounts.mail import admins_of, email_people, hub_url
from hashbank.models import Dispute, ReviewState, Submission


@shared_task(acks_late=True)
def notify_submissions_rejected(submission_pks: list[int]) -> int:
    """Tell an organisation's admins which of its submissions were rejected and why: one
    message per organisation however many were rejected together. Submissions no longer
    rejected are left out."""
    submissions = (
        Submission.objects.filter(pk__in=submission_pks, review_state=ReviewState.REJECTED)
        .select_related("organisation", "bank")
        .order_by("organisation_id", "received_at", "pk")
    )
    sent = 0
    for _, group in groupby(submissions, key=lambda s: s.organisation_id):
        rejected = list(group)
        sent += email_people(
            recipients=admins_of(organisation=rejected[0].organisation),
            template="hashbank/email/submissions_rejected.txt",
            context={
                "submissions": [
                    {
                        "submission": s,
                        "link": hub_url(
                            reverse("hashbank:submission-detail", args=[s.submission_id])
                        ),
                    }
                    for s in rejected
                ],
                "count": len(rejected),
            },
        )
    return sent


@shared_task(acks_late=True)
def notify_submission_rejected(submission_pk: int) -> int:
    """The one-submission message, for tasks queued before messages were grouped."""
    return notify_submissions_rejected([submission_pk])


@shared_task(acks_late=True)
def notify_dispute_event(dispute_pk: int, event: str) -> int:
    """Tell every party, one message each (parties do not learn each other's people): the
    disputing member and the members whose submissions support the signal."""
    dispute = Dispute.objects.select_related("signal__bank", "opened_by").get(pk=dispute_pk)
    parties = {dispute.opened_by}
    for submission in dispute.signal.submissions.select_related("organisation"):
        parties.add(submission.organisation)
    return email_people(
        recipients=[
            r for org in sorted(parties, key=lambda o: o.slug) for r in admins_of(organisation=org)
        ],
        template="hashbank/email/dispute_event.txt",
        context={
            "dispute": dispute,
            "short_id": str(dispute.public_id)[:8],
            "event": event,
            "link": hub_url(reverse("hashbank:dispute-detail", args=[dispute.public_id])),
        },
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


@shared_task(acks_late=True)
def issue_checkpoints() -> list[int]:
    """Sign a checkpoint of every bank whose Merkle tree grew since its last one."""
    from hashbank.services.transparency import checkpoints_issue

    return [checkpoint.pk for checkpoint in checkpoints_issue()]


@shared_task(acks_late=True)
def erase_expired_disclosures() -> int:
    """The retention policy for the text beside change-log entries (docs/governance.md)."""
    from hashbank.services.provenance import erase_expired_disclosures as erase

    return erase()


@shared_task
def check_inclusion_promises() -> int:
    """Log (as an error) approved submissions whose entry no checkpoint covered within the
    receipts' maximum delay; returns how many were found (at most 20 are looked at)."""
    from hashbank.services.inclusion import inclusion_overdue, inclusion_promise_check

    inclusion_promise_check()
    return len(inclusion_overdue())
