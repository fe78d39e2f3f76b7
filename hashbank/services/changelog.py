"""Appending to the change log: the sync feed, and the banks' Merkle trees."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import rfc8785
from django.db import transaction
from django.utils import timezone

from accounts.audit import lock_chain
from core.bulk_insert import rows_insert, values_insert
from hashbank.models import ChangeLogEntry, ChangeOp, EntryDisclosure, ReviewState, Signal
from hashbank.selectors import changelog_next_sequence, signal_as_listed
from hashbank.services.transparency import tree_append, tree_extend
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


# RFC 8785 (JCS) as the standard library's JSON encoder writes it for the values where the
# two agree: strings (JCS escapes exactly the characters json does, and leaves the others
# as they are in UTF-8), integers in JCS's range, true, false, null, arrays, and objects
# whose keys are ASCII (sorted alike by code point and by UTF-16 unit). A float is written
# alike only when Python's repr of it is positional and has a fraction.
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"))
_JCS_INT = 2**53 - 1


def _jcs_plain(value: Any) -> bool:
    """Whether the standard encoder writes `value` (an object or array) byte for byte as
    RFC 8785 does: one call per object or array, the scalars checked inline."""
    kind = type(value)
    if kind is dict:
        try:
            if not "".join(value).isascii():
                return False
        except TypeError:  # a key that is not a string
            return False
        items = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:
        return False
    for item in items:
        if isinstance(item, str) or item is None or item is True or item is False:
            continue
        kind = type(item)
        if kind is int:
            if not -_JCS_INT <= item <= _JCS_INT:
                return False
        elif kind is float:
            if not (1e-4 <= abs(item) < 1e16 and not item.is_integer()):
                return False
        elif not _jcs_plain(item):
            return False
    return True


def canonical_json(value: Any) -> bytes:
    """`rfc8785.dumps(value)`, the same bytes, several times faster on what log entries
    hold; anything else (a float in exponent form, a lone surrogate, another type) goes
    through rfc8785 itself, which writes it or raises as it always does."""
    if _jcs_plain([value]):
        try:
            return _JSON.encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass
    return rfc8785.dumps(value)


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
            entry = canonical_json(
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


def changelog_import(*, changes: list[Change]) -> int:
    """Append one entry per change, as changelog_append does (the same entries, numbers,
    trees and disclosures), without a model instance per entry: for a caller appending
    many at once that needs only how many it appended (a pull from a peer hub)."""
    if not changes:
        return 0
    with transaction.atomic():
        lock_chain(_CHANGELOG_LOCK_KEY)
        first = changelog_next_sequence()
        now = timezone.now()
        rows: list[dict[str, Any]] = []
        leaves: dict[int, list[bytes]] = {}
        places: dict[int, list[dict[str, Any]]] = {}
        disclosures: dict[int, dict[str, Any]] = {}
        for offset, change in enumerate(changes):
            signal = change.signal
            incident = signal.incident
            salt = provenance.new_salt() if incident else None
            if incident and salt:
                disclosures[offset] = {
                    "field": "incident",
                    "salt": salt,
                    "text": incident,
                    "created_at": now,
                }
            entry = canonical_json(
                entry_material(
                    signal,
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
            leaf = hashlib.sha256(b"\x00" + entry).digest()
            row = {
                "sequence": first + offset,
                "bank_id": signal.bank_id,
                "signal_id": signal.pk,
                "op": change.op,
                "entry": entry,
                "leaf_hash": leaf.hex(),
                "created_at": now,
            }
            rows.append(row)
            leaves.setdefault(signal.bank_id, []).append(leaf)
            places.setdefault(signal.bank_id, []).append(row)
        # Each entry takes the next place in its bank's Merkle tree, whose new nodes are
        # stored in this same transaction.
        for bank_id, bank_leaves in leaves.items():
            size = tree_extend(bank_id, bank_leaves)
            for index, row in enumerate(places[bank_id], start=size):
                row["bank_index"] = index
        ids = values_insert(ChangeLogEntry, rows, set_ids=bool(disclosures))
        if disclosures:
            values_insert(
                EntryDisclosure,
                [row | {"entry_id": ids[offset]} for offset, row in disclosures.items()],
                set_ids=False,
            )
        return len(rows)
