"""Reads behind the TAXII 2.1 endpoints: the collections (one per bank the caller may
read) and their objects, in the order of the change log.

A collection holds the hub's identity and, for every signal of the bank that the change log
has recorded, the indicator as the signal's latest entry left it. An object's "date added"
is the time of that entry, and the objects come in the order of their entries' sequence
numbers, so a page ends at a sequence number and the next page starts after it: nothing is
skipped or repeated, whatever timestamps the entries share (docs/interop.md)."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet

from accounts.hub_identity import hub_id, hub_instance
from accounts.models import Organisation
from core.errors import NotFound
from hashbank.models import Bank, ChangeLogEntry, ChangeOp, SignalStatus
from hashbank.selectors import banks_readable_by
from taxii import stix

# The identity object's place in every collection: before the first entry (sequence 0).
IDENTITY_POSITION = -1


@dataclass(frozen=True)
class Item:
    position: int
    date_added: dt.datetime
    object: dict[str, Any]


@dataclass(frozen=True)
class Page:
    items: list[Item]
    more: bool


def collection_id_of(bank: Bank) -> str:
    return stix.collection_id(hub_id(), bank.name)


def collections_readable_by(*, organisation: Organisation) -> list[Bank]:
    return list(banks_readable_by(organisation=organisation).order_by("name"))


def collection_readable(*, organisation: Organisation, collection_id: str) -> Bank:
    """The bank behind `collection_id` if the organisation may read it; anything else is
    NotFound, the same whether the collection exists or not."""
    for bank in collections_readable_by(organisation=organisation):
        if collection_id_of(bank) == collection_id:
            return bank
    raise NotFound("no such collection")


def _latest_entries(bank: Bank) -> QuerySet[ChangeLogEntry]:
    """Each signal's latest entry in the bank's log."""
    later = ChangeLogEntry.objects.filter(
        signal_id=OuterRef("signal_id"), sequence__gt=OuterRef("sequence")
    )
    return ChangeLogEntry.objects.filter(bank=bank).exclude(Exists(later))


def _identity_item(bank: Bank) -> Item | None:
    """The hub's identity, dated by the bank's first entry; an empty bank has no objects."""
    first = (
        ChangeLogEntry.objects.filter(bank=bank)
        .order_by("sequence")
        .values_list("created_at", flat=True)
        .first()
    )
    if first is None:
        return None
    instance = hub_instance()
    identity = stix.identity_object(
        hub_id=str(instance.hub_id), origin=settings.HUB_ORIGIN, created=instance.created_at
    )
    return Item(position=IDENTITY_POSITION, date_added=first, object=identity)


def _indicator_items(bank: Bank, rows: list[tuple[int, int, dt.datetime]]) -> list[Item]:
    """Indicators for (sequence, signal id, created_at) of latest entries, in that order,
    each as its entry recorded the signal: the version's content and its `modified` come
    from the same entry, whatever changed since."""
    sequences = [sequence for sequence, _, _ in rows]
    recorded = {
        sequence: json.loads(bytes(entry))
        for sequence, entry in ChangeLogEntry.objects.filter(sequence__in=sequences).values_list(
            "sequence", "entry"
        )
    }
    history: dict[int, list[tuple[int, str, dt.datetime]]] = defaultdict(list)
    for signal_id, sequence, op, created_at in (
        ChangeLogEntry.objects.filter(signal_id__in=[signal_id for _, signal_id, _ in rows])
        .order_by("sequence")
        .values_list("signal_id", "sequence", "op", "created_at")
    ):
        history[signal_id].append((sequence, op, created_at))
    hub = hub_id()
    items = []
    for sequence, signal_id, added in rows:
        entry = recorded[sequence]
        earlier = [h for h in history[signal_id] if h[0] < sequence]
        removals = [i for i, h in enumerate(earlier) if h[1] == ChangeOp.REMOVE]
        # This listing began with the first entry after the last earlier removal.
        start = removals[-1] + 1 if removals else 0
        created = earlier[start][2] if start < len(earlier) else added
        version = stix.IndicatorVersion(
            bank=bank.name,
            signal_type=entry["signal_type"],
            value=entry["value"],
            labels=entry["labels"],
            status=SignalStatus.REMOVED if entry["op"] == ChangeOp.REMOVE else entry["status"],
            confidence=entry["confidence"],
            incident=entry["incident"] or "",
            listing=len(removals),
            created=created,
            modified=added,
        )
        items.append(
            Item(
                position=sequence,
                date_added=added,
                object=stix.indicator_object(hub_id=hub, version=version),
            )
        )
    return items


def collection_page(
    *,
    bank: Bank,
    after: int | None,
    added_after: dt.datetime | None,
    limit: int,
    types: frozenset[str] | None = None,
) -> Page:
    """Up to `limit` objects of the bank's collection after position `after` (None: from
    the start), added after `added_after`, of the STIX `types` (None: all)."""
    items: list[Item] = []
    if after is None and (types is None or "identity" in types):
        identity = _identity_item(bank)
        if identity is not None and (added_after is None or identity.date_added > added_after):
            items.append(identity)
    if types is not None and "indicator" not in types:
        return Page(items=items, more=False)
    entries = _latest_entries(bank).filter(
        sequence__gt=IDENTITY_POSITION if after is None else after
    )
    if added_after is not None:
        entries = entries.filter(created_at__gt=added_after)
    wanted = limit - len(items)
    rows = list(
        entries.order_by("sequence").values_list("sequence", "signal_id", "created_at")[
            : wanted + 1
        ]
    )
    more = len(rows) > wanted
    items += _indicator_items(bank, rows[:wanted])
    return Page(items=items, more=more)


def collection_object(*, bank: Bank, object_id: str) -> Item:
    """One object of the bank's collection by its STIX id, as the collection lists it now.

    Indicator ids are hashes, so this walks the bank's signals: its cost grows with the
    bank (docs/interop.md)."""
    identity = _identity_item(bank)
    if identity is not None and identity.object["id"] == object_id:
        return identity
    if not object_id.startswith("indicator--"):
        raise NotFound("no such object")
    removals: dict[int, int] = defaultdict(int)
    for signal_id in ChangeLogEntry.objects.filter(bank=bank, op=ChangeOp.REMOVE).values_list(
        "signal_id", flat=True
    ):
        removals[signal_id] += 1
    hub = hub_id()
    latest = _latest_entries(bank).values_list(
        "sequence", "signal_id", "created_at", "op", "signal__signal_type", "signal__value"
    )
    for sequence, signal_id, created_at, op, signal_type, value in latest.iterator(chunk_size=2000):
        listing = removals[signal_id] - (1 if op == ChangeOp.REMOVE else 0)
        if stix.indicator_id(hub, bank.name, signal_type, value, listing) == object_id:
            return _indicator_items(bank, [(sequence, signal_id, created_at)])[0]
    raise NotFound("no such object")
