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
from core.bulk_insert import rows_insert
from hashbank.models import ChangeLogEntry, ChangeOp, EntryDisclosure, ReviewState, Signal
from hashbank.selectors import changelog_next_sequence, signal_as_listed
from hashbank.services.transparency import tree_append
from hashfed_wire import provenance

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


# Why an update entry was appended, where it says so: a dispute decision that sets the
# labels says `relabelled` (docs/sync.md).
UPDATE_REASONS = {
    "relabelled": "a dispute decision set the signal's labels",
}


@dataclass(frozen=True)
class EnvelopeRef:
    """One approved submission behind a signal, as an entry names it."""

    digest: str
    organisation: str
    key_id: str


def supporting_envelopes(signal: Signal) -> list[EnvelopeRef]:
    """The envelopes of the signal's approved submissions."""
    return [
        EnvelopeRef(digest, organisation, key_id)
        for digest, organisation, key_id in signal.submissions.filter(
            review_state=ReviewState.APPROVED
        ).values_list("envelope_digest", "organisation__slug", "signing_key__key_id")
    ]


def envelope_items(refs: list[EnvelopeRef], *, show_contributors: bool) -> list[dict[str, str]]:
    """The `envelopes` of an add or update entry, sorted by digest: in a bank that shows
    contributors each names its organisation and key id, elsewhere only the digest."""
    items: list[dict[str, str]] = []
    for ref in sorted(set(refs), key=lambda r: r.digest):
        item = {"digest": ref.digest}
        if show_contributors:
            item |= {"organisation": ref.organisation, "key_id": ref.key_id}
        items.append(item)
    return items


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
    envelopes: list[EnvelopeRef] | None = None,
    incident_salt: str | None = None,
) -> dict[str, Any]:
    """What one log entry says. Clients key their copy of the list on
    (bank, signal_type, value): add and update set the record, remove deletes it and says
    why (`reason`, one of REMOVAL_REASONS; an update may say why too, UPDATE_REASONS).
    Add and update commit to the envelopes of every approved submission behind the signal
    (`envelopes`). The incident is not in the entry: `incident_commitment` commits to it
    with `incident_salt`, and the text travels beside the entry (EntryDisclosure).
    `labels`, `contributors` and `envelopes`, when the caller already has them, save their
    queries."""
    listed = signal_as_listed(signal, labels=labels, contributors=contributors)
    incident = listed.pop("incident")
    if incident is not None and incident_salt is None:
        raise ValueError("an entry of a signal in an incident needs a salt to commit to it")
    material: dict[str, Any] = {
        "sequence": sequence,
        "op": op,
        "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        **listed,
        "incident_commitment": None
        if incident is None
        else provenance.commitment("incident", str(incident_salt), incident),
    }
    if op == ChangeOp.REMOVE:
        if reason not in REMOVAL_REASONS:
            raise ValueError(f"a remove entry needs a reason from REMOVAL_REASONS, not {reason!r}")
        material["reason"] = reason
    else:
        if reason is not None:
            if op != ChangeOp.UPDATE or reason not in UPDATE_REASONS:
                raise ValueError(f"an {op} entry cannot say {reason!r}")
            material["reason"] = reason
        refs = envelopes if envelopes is not None else supporting_envelopes(signal)
        material["envelopes"] = envelope_items(
            refs, show_contributors=signal.bank.show_contributors
        )
    return material


@dataclass(frozen=True)
class Change:
    """One entry to append: the signal's current state as `op` (a remove with its
    `reason`, an update with an optional one). `labels`, `contributors` and `envelopes`,
    when the caller already has them, save their queries."""

    signal: Signal
    op: ChangeOp
    reason: str | None = None
    labels: list[str] | None = None
    contributors: list[str] | None = None
    envelopes: list[EnvelopeRef] | None = None


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
        disclosures: dict[int, EntryDisclosure] = {}
        for offset, change in enumerate(changes):
            incident = change.signal.incident
            salt = provenance.new_salt() if incident else None
            if incident and salt:
                disclosures[offset] = EntryDisclosure(field="incident", salt=salt, text=incident)
            entry = rfc8785.dumps(
                entry_material(
                    change.signal,
                    op=change.op,
                    sequence=first + offset,
                    at=now,
                    labels=change.labels,
                    contributors=change.contributors,
                    reason=change.reason,
                    envelopes=change.envelopes,
                    incident_salt=salt,
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
        created = rows_insert(ChangeLogEntry, rows)
        if disclosures:
            for offset, disclosure in disclosures.items():
                disclosure.entry = created[offset]
            rows_insert(EntryDisclosure, list(disclosures.values()))
        return created
