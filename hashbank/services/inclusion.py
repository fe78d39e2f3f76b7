"""Receipts and their promise: each accepted submission gets a hub-signed receipt, each
approved one is linked to the change-log entry that lists its value, and that entry must be
covered by a signed checkpoint of its bank within INCLUSION_MAX_DELAY seconds
(docs/transparency-log.md, "Receipts")."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from accounts.hub_identity import HubKeys
from hashbank.models import (
    Bank,
    ChangeLogEntry,
    Checkpoint,
    ReviewState,
    Signal,
    SignalStatus,
    Submission,
)
from hashbank.services.transparency import inclusion_proof, log_origin
from hashfed_wire import receipt as wire_receipt

logger = logging.getLogger(__name__)

# What the inclusion answer says of a submission (docs/transparency-log.md).
INCLUDED = "included"
AWAITING_CHECKPOINT = "awaiting_checkpoint"
PENDING_REVIEW = "pending_review"
NOT_LISTED = "not_listed"
# Approved and listed, in a bank the submitter may contribute to but not read: its position,
# the tree's size and root and the proof would tell it about the bank's other entries.
LISTED_UNREADABLE = "listed_unreadable"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
INCLUSION_STATES = (
    INCLUDED,
    AWAITING_CHECKPOINT,
    LISTED_UNREADABLE,
    PENDING_REVIEW,
    NOT_LISTED,
    REJECTED,
    WITHDRAWN,
)


def max_delay() -> int:
    return int(settings.INCLUSION_MAX_DELAY)


def receipt_sign(
    *,
    organisation: str,
    submission_id: uuid.UUID,
    bank: Bank,
    payload_digest: str,
    received_at: dt.datetime,
    approved: bool,
    keys: HubKeys,
) -> str:
    """The signed receipt of a submission as it is on arrival, signed with `keys` (read
    once per batch): during a hub key rotation the next key signs it too, as it does
    checkpoints."""
    return keys.sign_note(
        wire_receipt.receipt_body(
            wire_receipt.Receipt(
                origin=log_origin(bank),
                organisation=organisation,
                submission_id=str(submission_id),
                payload_digest=payload_digest,
                received_at=int(received_at.timestamp()),
                review_state=ReviewState.APPROVED if approved else ReviewState.PENDING,
                max_delay=max_delay(),
            )
        )
    )


def signal_listing_entry(signal: Signal) -> ChangeLogEntry | None:
    """The change-log entry that lists the signal as it now is: its latest entry, unless the
    signal is off the list. Call after signal_refresh, holding the signal's row lock."""
    if signal.status == SignalStatus.REMOVED:
        return None
    return ChangeLogEntry.objects.filter(signal=signal).order_by("-sequence").first()


def promised_by(entry: ChangeLogEntry) -> dt.datetime:
    """When a checkpoint covering the entry is due: MAX DELAY after it was appended (the
    approval's own transaction, or earlier for a value the approval corroborated)."""
    return entry.created_at + dt.timedelta(seconds=max_delay())


def _covering_checkpoint(entry: ChangeLogEntry) -> Checkpoint | None:
    """The bank's latest checkpoint, if it covers the entry."""
    latest = Checkpoint.objects.filter(bank_id=entry.bank_id).order_by("-size").first()
    if latest is None or latest.size <= entry.bank_index:
        return None
    return latest


@dataclass(frozen=True)
class Inclusion:
    submission: Submission
    state: str
    entry: ChangeLogEntry | None = None
    checkpoint: Checkpoint | None = None
    proof: list[bytes] | None = None
    promised_by: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        entry, checkpoint = self.entry, self.checkpoint
        return {
            "id": str(self.submission.submission_id),
            "bank": self.submission.bank.name,
            "review_state": self.submission.review_state,
            "state": self.state,
            "receipt": self.submission.receipt or None,
            "entry": None
            if entry is None
            else {
                "sequence": entry.sequence,
                "bank_index": entry.bank_index,
                "leaf_hash": entry.leaf_hash,
                "content": bytes(entry.entry).decode(),
            },
            "promised_by": self.promised_by,
            "checkpoint": None
            if checkpoint is None
            else {
                "size": checkpoint.size,
                "root_hash": checkpoint.root_hash,
                "note": checkpoint.note,
            },
            "proof": None if self.proof is None else [node.hex() for node in self.proof],
        }


def submission_inclusion(submission: Submission, *, may_read_log: bool) -> Inclusion:
    """Where the submission stands in its bank's verifiable log: its entry with an inclusion
    proof to the bank's latest checkpoint once one covers it; otherwise why not.
    `may_read_log`: whether the submitter may read the bank's log; if not, a listed
    submission says only that it is listed (LISTED_UNREADABLE), since the entry's position,
    the tree's size and root and the proof's hashes all depend on the bank's other
    entries."""
    state = submission.review_state
    if state == ReviewState.PENDING:
        return Inclusion(submission, PENDING_REVIEW)
    if state == ReviewState.REJECTED:
        return Inclusion(submission, REJECTED)
    if state == ReviewState.WITHDRAWN:
        return Inclusion(submission, WITHDRAWN)
    entry = submission.log_entry
    if entry is None:
        return Inclusion(submission, NOT_LISTED)
    if not may_read_log:
        return Inclusion(submission, LISTED_UNREADABLE)
    checkpoint = _covering_checkpoint(entry)
    if checkpoint is None:
        return Inclusion(submission, AWAITING_CHECKPOINT, entry, promised_by=promised_by(entry))
    proof = inclusion_proof(bank=submission.bank, index=entry.bank_index, size=checkpoint.size)
    return Inclusion(submission, INCLUDED, entry, checkpoint, proof, promised_by=promised_by(entry))


def inclusion_overdue(*, now: dt.datetime | None = None, limit: int = 20) -> list[Submission]:
    """Approved submissions whose log entry is still not covered by a signed checkpoint of
    its bank MAX DELAY after it was appended: a broken promise. At most `limit`, oldest
    first. Reads only each bank's uncovered tail (entries from its latest checkpoint's size
    on, by the (bank, bank_index) index), so it stays cheap however long the log grows."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=max_delay())
    sizes = dict(
        Checkpoint.objects.values("bank_id")
        .annotate(size=Max("size"))
        .values_list("bank_id", "size")
    )
    uncovered = Q()
    for bank_id in Bank.objects.values_list("pk", flat=True):
        uncovered |= Q(bank_id=bank_id, bank_index__gte=sizes.get(bank_id, 0))
    if not uncovered:
        return []
    late = ChangeLogEntry.objects.filter(uncovered, created_at__lt=cutoff).values("pk")
    overdue = Submission.objects.filter(review_state=ReviewState.APPROVED, log_entry__in=late)
    return list(
        overdue.select_related("organisation", "log_entry").order_by("log_entry__sequence")[:limit]
    )


def inclusion_promise_check() -> str | None:
    """The health check: None while every approved submission's entry is covered in time;
    else what is overdue (also logged as an error)."""
    overdue = inclusion_overdue(limit=5)
    if not overdue:
        return None
    ids = ", ".join(str(s.submission_id) for s in overdue)
    logger.error(
        "inclusion promise broken: approved submissions not covered by a checkpoint within "
        "%s s, e.g. %s",
        max_delay(),
        ids,
    )
    return f"entries not covered by a checkpoint within {max_delay()} s: {ids}"
