"""Withdrawing what a compromised signing key vouched for: its statements from the
compromise on stop supporting the list, in the revocation's own transaction."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import AuditContext, audit_record
from accounts.models import RevocationReason, SigningKey
from hashbank.models import ReviewState, Signal, Submission
from hashbank.services.signals import signal_refresh


@transaction.atomic
def submissions_distrust_compromised(
    *, signing_key: SigningKey, context: AuditContext
) -> list[Submission]:
    """Reject every pending or approved submission the key vouched for from its compromise
    time on, judged by the signed `created_at` and by when the hub received it (a thief can
    backdate). Signals they alone supported leave the list (a `remove` entry with reason
    `signing_key_compromised`); signals other trusted submissions support stay, their labels
    and confidence recomputed without them. Idempotent: a second call finds nothing left.
    Call with the key row locked (signing_key_revoke does), so no batch signed with the key
    commits between the revocation and this."""
    if (
        signing_key.revocation_reason != RevocationReason.COMPROMISED
        or signing_key.compromised_since is None
    ):
        return []
    since = signing_key.compromised_since
    distrusted = list(
        Submission.objects.select_for_update()
        .filter(
            signing_key=signing_key,
            review_state__in=(ReviewState.PENDING, ReviewState.APPROVED),
        )
        .filter(Q(created_at__gte=since) | Q(received_at__gte=since))
        .order_by("pk")
    )
    if not distrusted:
        return []
    now = timezone.now()
    reason = (
        f"signed with key {signing_key.key_id[:16]}…, revoked as compromised from "
        f"{since.isoformat()}; submit again, signed with a new key and with new ids"
    )
    Submission.objects.filter(pk__in=[s.pk for s in distrusted]).update(
        review_state=ReviewState.REJECTED,
        review_reason=reason,
        reviewed_by=None,
        reviewed_at=now,
        post_reviewed=True,
    )
    signal_ids = sorted({s.signal_id for s in distrusted if s.signal_id is not None})
    removed = []
    for signal in Signal.objects.select_for_update().filter(pk__in=signal_ids).order_by("pk"):
        was_listed = signal.is_listed
        signal_refresh(signal, removal_reason="signing_key_compromised")
        if was_listed and not signal.is_listed:
            removed.append(signal.pk)
    audit_record(
        action="hashbank.submission.distrusted",
        context=context,
        target=signing_key,
        organisation=signing_key.organisation,
        detail={
            "key_id": signing_key.key_id,
            "compromised_since": since.isoformat(),
            "submissions": [str(s.submission_id) for s in distrusted],
            "signals_refreshed": signal_ids,
            "signals_removed": removed,
        },
    )
    return distrusted


def compromised_key_handler(signing_key: SigningKey, context: AuditContext) -> None:
    submissions_distrust_compromised(signing_key=signing_key, context=context)
