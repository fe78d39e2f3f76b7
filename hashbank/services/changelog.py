"""Appending to the change log: the sync feed, and the banks' Merkle trees."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import rfc8785
from django.db import transaction
from django.utils import timezone

from accounts.audit import lock_chain
from hashbank.models import ChangeLogEntry, ChangeOp, Signal
from hashbank.selectors import changelog_next_sequence, signal_as_listed
from hashbank.services.transparency import tree_append

# All appends to the change log take this PostgreSQL advisory lock (see lock_chain).
_CHANGELOG_LOCK_KEY = 0x4861736866656402

# Why a signal left the list, as a remove entry says it (docs/sync.md).
REMOVAL_REASONS = {
    "withdrawn": "every submission that supported it was withdrawn by its submitter",
    "rejected": "moderators rejected the submissions that supported it",
    "dispute_overturned": "a dispute decision overturned the listing",
    "signing_key_compromised": "the signing key of its only supporting submissions was "
    "revoked as compromised",
}


def leaf_hash(entry: bytes) -> str:
    """RFC 6962 leaf hash: SHA-256(0x00 ‖ entry)."""
    return hashlib.sha256(b"\x00" + entry).hexdigest()


def entry_material(
    signal: Signal,
    *,
    op: str,
    sequence: int,
    at: dt.datetime,
    labels: list[str] | None = None,
    contributors: list[str] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """What one log entry says. Clients key their copy of the list on
    (bank, signal_type, value): add and update set the record, remove deletes it and says
    why (`reason`, one of REMOVAL_REASONS). `labels` and `contributors`, when the caller
    already has them, save their queries."""
    material: dict[str, Any] = {
        "sequence": sequence,
        "op": op,
        "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        **signal_as_listed(signal, labels=labels, contributors=contributors),
    }
    if op == ChangeOp.REMOVE:
        if reason not in REMOVAL_REASONS:
            raise ValueError(f"a remove entry needs a reason from REMOVAL_REASONS, not {reason!r}")
        material["reason"] = reason
    return material


@dataclass(frozen=True)
class Change:
    """One entry to append: the signal's current state as `op` (a remove with its
    `reason`). `labels` and `contributors`, when the caller already has them, save their
    queries."""

    signal: Signal
    op: ChangeOp
    reason: str | None = None
    labels: list[str] | None = None
    contributors: list[str] | None = None


def changelog_append(*, changes: list[Change]) -> list[ChangeLogEntry]:
    """Append one entry per change, in order, under one lock. Numbers have no gaps: appends
    are serialised and each number follows the log's last, never a database sequence."""
    if not changes:
        return []
    with transaction.atomic():
        lock_chain(_CHANGELOG_LOCK_KEY)
        first = changelog_next_sequence()
        now = timezone.now()
        rows = []
        for offset, change in enumerate(changes):
            entry = rfc8785.dumps(
                entry_material(
                    change.signal,
                    op=change.op,
                    sequence=first + offset,
                    at=now,
                    labels=change.labels,
                    contributors=change.contributors,
                    reason=change.reason,
                )
            )
            rows.append(
                ChangeLogEntry(
                    sequence=first + offset,
                    bank=change.signal.bank,
                    signal=change.signal,
                    op=change.op,
                    entry=entry,
                    leaf_hash=leaf_hash(entry),
                    created_at=now,
                )
            )
        # Each entry takes the next place in its bank's Merkle tree, whose new nodes are
        # stored in this same transaction.
        tree_append(rows)
        return ChangeLogEntry.objects.bulk_create(rows)
