"""Appending to the change log: the sync feed, and later the Merkle transparency log."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import rfc8785
from django.db import transaction
from django.utils import timezone

from accounts.audit import lock_chain
from hashbank.models import ChangeLogEntry, ChangeOp, ReviewState, Signal

# All appends to the change log take this PostgreSQL advisory lock (see lock_chain).
_CHANGELOG_LOCK_KEY = 0x4861736866656402


def leaf_hash(entry: bytes) -> str:
    """RFC 6962 leaf hash: SHA-256(0x00 ‖ entry)."""
    return hashlib.sha256(b"\x00" + entry).hexdigest()


def entry_material(signal: Signal, *, op: str, sequence: int, at: dt.datetime) -> dict[str, Any]:
    """What one log entry says. Clients key their copy of the list on
    (bank, signal_type, value): add and update set the record, remove deletes it."""
    material: dict[str, Any] = {
        "sequence": sequence,
        "op": op,
        "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "bank": signal.bank.name,
        "signal": signal.pk,
        "signal_type": signal.signal_type,
        "value": signal.value,
        "labels": sorted(label.slug for label in signal.labels.all()),
        "status": signal.status,
        "confidence": signal.confidence,
        "incident": signal.incident or None,
    }
    if signal.bank.show_contributors:
        material["contributors"] = sorted(
            set(
                signal.submissions.filter(review_state=ReviewState.APPROVED).values_list(
                    "organisation__slug", flat=True
                )
            )
        )
    return material


def changelog_append(*, signal: Signal, op: ChangeOp) -> ChangeLogEntry:
    """Append one entry describing the signal's current state. Numbers have no gaps: appends
    are serialised and the number is the current head, never a database sequence."""
    with transaction.atomic():
        lock_chain(_CHANGELOG_LOCK_KEY)
        last = (
            ChangeLogEntry.objects.order_by("-sequence").values_list("sequence", flat=True).first()
        )
        sequence = 0 if last is None else last + 1
        now = timezone.now()
        entry = rfc8785.dumps(entry_material(signal, op=op, sequence=sequence, at=now))
        return ChangeLogEntry.objects.create(
            sequence=sequence,
            bank=signal.bank,
            signal=signal,
            op=op,
            entry=entry,
            leaf_hash=leaf_hash(entry),
            created_at=now,
        )
