"""Reads behind the TAXII 2.1 endpoints: the collections (one per bank the caller may
read) and their objects, in the order of the change log.

A collection holds the hub's identity and, for every listing of every signal of the bank
that the change log has recorded, the indicator as the listing's last entry left it. An
object's "date added" is the time of that entry, and the objects come in the order of their
entries' sequence numbers, so a page ends at a sequence number and the next page starts
after it: nothing is skipped or repeated, whatever timestamps the entries share
(docs/interop.md)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from accounts.hub_identity import hub_id, hub_instance
from accounts.models import Organisation
from core.errors import NotFound
from hashbank.models import Bank, ChangeLogEntry, ChangeOp, EntryDisclosure, SignalStatus
from hashbank.selectors import banks_readable_by
from taxii import stix
from taxii.models import IndexedUpTo, IndicatorId, StoredVersion

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


@dataclass(frozen=True)
class Versions:
    """Which versions of each object `match[version]` asks for (TAXII 2.1 §3.4.2): its
    latest, its earliest, all of them, or those `modified` at the given times; several
    together select their union. Without the parameter, the latest."""

    last: bool = False
    first: bool = False
    every: bool = False
    at: frozenset[dt.datetime] = frozenset()


LATEST = Versions(last=True)
EVERY = Versions(every=True)


def _later_entry() -> Exists:
    return Exists(
        ChangeLogEntry.objects.filter(
            signal_id=OuterRef("signal_id"), sequence__gt=OuterRef("sequence")
        )
    )


def _versions_filter(versions: Versions) -> Q | None:
    """The entries of a bank's log that are the wanted versions of its indicators. Every
    entry is a version of the indicator of its signal's listing: the first version is a
    listing's first entry (the signal's first, or its first after a removal), the last is
    the removal that ended it or the signal's latest entry."""
    if versions.every:
        return None
    wanted = Q(pk__in=[])
    if versions.last:
        wanted |= Q(op=ChangeOp.REMOVE) | Q(has_later=False)
    if versions.first:
        wanted |= Q(previous_op__isnull=True) | Q(previous_op=ChangeOp.REMOVE)
    if versions.at:
        wanted |= Q(created_at__in=versions.at)
    return wanted


def _version_entries(bank: Bank, versions: Versions) -> QuerySet[ChangeLogEntry]:
    entries = ChangeLogEntry.objects.filter(bank=bank)
    if versions.last:
        entries = entries.annotate(has_later=_later_entry())
    if versions.first:
        previous = ChangeLogEntry.objects.filter(
            signal_id=OuterRef("signal_id"), sequence__lt=OuterRef("sequence")
        ).order_by("-sequence")
        entries = entries.annotate(previous_op=Subquery(previous.values("op")[:1]))
    wanted = _versions_filter(versions)
    return entries if wanted is None else entries.filter(wanted)


def _of_listings(
    entries: QuerySet[ChangeLogEntry], listings: list[IndicatorId]
) -> QuerySet[ChangeLogEntry]:
    """Only the entries of the given listings: a listing's number is how many removals of
    its signal came before the entry (a removal belongs to the listing it ends)."""
    if not listings:
        return entries.none()
    removals_before = (
        ChangeLogEntry.objects.filter(
            signal_id=OuterRef("signal_id"),
            op=ChangeOp.REMOVE,
            sequence__lt=OuterRef("sequence"),
        )
        .order_by()
        .values("signal_id")
        .annotate(count=Count("pk"))
        .values("count")
    )
    wanted = Q(pk__in=[])
    for found in listings:
        wanted |= Q(signal_id=found.signal_id, listing=found.listing)
    return (
        entries.filter(signal_id__in={found.signal_id for found in listings})
        .annotate(listing=Coalesce(Subquery(removals_before), 0))
        .filter(wanted)
    )


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
    """Indicators for (sequence, signal id, created_at) of entries, in that order, each the
    version its entry made: stored as stix2 built it, built now if it is not yet, with the
    incident the entry's disclosure holds today."""
    sequences = [sequence for sequence, _, _ in rows]
    stored = dict(
        StoredVersion.objects.filter(entry_id__in=sequences).values_list("entry_id", "stix")
    )
    missing = [row for row in rows if row[0] not in stored]
    if missing:
        stored.update(_versions_build(bank, missing))
    incidents = dict(
        EntryDisclosure.objects.filter(entry__sequence__in=sequences, field="incident").values_list(
            "entry__sequence", "text"
        )
    )
    items = []
    for sequence, _, added in rows:
        indicator = json.loads(stored[sequence])
        if sequence in incidents:
            indicator["x_hashfed_incident"] = incidents[sequence]
        items.append(Item(position=sequence, date_added=added, object=indicator))
    return items


def _versions_build(bank: Bank, rows: list[tuple[int, int, dt.datetime]]) -> dict[int, str]:
    """Build with stix2 and store the indicator versions of the entries (sequence, signal
    id, created_at) of `rows`; returns them by sequence. Each version's content and its
    `modified` come from the same entry, whatever changed since. Idempotent: a version
    stored meanwhile by another process is kept as it was (they are equal)."""
    sequences = [sequence for sequence, _, _ in rows]
    # Entries logged before incidents were disclosed beside them hold the incident in
    # clear: that is part of the version. A disclosed one is added when served.
    recorded = {
        sequence: json.loads(bytes(entry))
        for sequence, entry in ChangeLogEntry.objects.filter(sequence__in=sequences).values_list(
            "sequence", "entry"
        )
    }
    history: dict[int, list[tuple[int, str, dt.datetime]]] = defaultdict(list)
    for signal_id, sequence, op, created_at in (
        ChangeLogEntry.objects.filter(signal_id__in={signal_id for _, signal_id, _ in rows})
        .order_by("sequence")
        .values_list("signal_id", "sequence", "op", "created_at")
    ):
        history[signal_id].append((sequence, op, created_at))
    hub = hub_id()
    built = {}
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
            incident=entry.get("incident") or "",
            listing=len(removals),
            created=created,
            modified=added,
        )
        built[sequence] = json.dumps(stix.indicator_object(hub_id=hub, version=version))
    StoredVersion.objects.bulk_create(
        (StoredVersion(entry_id=sequence, stix=text) for sequence, text in built.items()),
        ignore_conflicts=True,
    )
    return built


def versions_build_ahead(bank: Bank, *, chunk: int = 1000) -> int:
    """Build and store the indicator version of every entry of the bank that has none yet,
    `chunk` entries at a time, so that reads find them built. Returns how many it built."""
    done = 0
    while True:
        rows = list(
            ChangeLogEntry.objects.filter(bank=bank)
            .filter(~Exists(StoredVersion.objects.filter(entry_id=OuterRef("sequence"))))
            .order_by("sequence")
            .values_list("sequence", "signal_id", "created_at")[:chunk]
        )
        if not rows:
            return done
        _versions_build(bank, rows)
        done += len(rows)


def collection_page(
    *,
    bank: Bank,
    after: int | None,
    added_after: dt.datetime | None,
    limit: int,
    types: frozenset[str] | None = None,
    ids: frozenset[str] | None = None,
    versions: Versions = LATEST,
    spec_versions: frozenset[str] | None = None,
) -> Page:
    """Up to `limit` object versions of the bank's collection after position `after`
    (None: from the start), added after `added_after`, of the STIX `types` and `ids`
    (None: all), the `versions` of each, in the STIX `spec_versions` (None: the latest the
    hub serves, 2.1, which is also the only one)."""
    items: list[Item] = []
    if spec_versions is not None and stix.SPEC_VERSION not in spec_versions:
        return Page(items=items, more=False)
    if after is None and (types is None or "identity" in types):
        identity = _identity_item(bank)
        if (
            identity is not None
            and (added_after is None or identity.date_added > added_after)
            and (ids is None or identity.object["id"] in ids)
            and _identity_is_wanted(identity, versions)
        ):
            items.append(identity)
    if types is not None and "indicator" not in types:
        return Page(items=items, more=False)
    entries = _version_entries(bank, versions).filter(
        sequence__gt=IDENTITY_POSITION if after is None else after
    )
    if ids is not None:
        entries = _of_listings(entries, _listings_named(bank, ids))
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


def _identity_is_wanted(identity: Item, versions: Versions) -> bool:
    # The identity has one version: it is first, last and every version at once.
    if versions.every or versions.first or versions.last:
        return True
    return stix.parse_timestamp(identity.object["modified"]) in versions.at


def _listings_named(bank: Bank, ids: frozenset[str]) -> list[IndicatorId]:
    """The listings behind the indicator ids among `ids` (others are ignored)."""
    wanted = set()
    for object_id in ids:
        prefix, _, text = object_id.partition("--")
        if prefix != "indicator":
            continue
        try:
            wanted.add(uuid.UUID(text))
        except ValueError:
            continue
    if not wanted:
        return []
    index_catch_up(bank)
    return list(IndicatorId.objects.filter(bank=bank, uuid__in=wanted))


def index_catch_up(bank: Bank) -> None:
    """Record the indicator id of every listing the bank's log has begun since the last
    call. Ids of a listing are all equal, so only its entries that are not removals count;
    a listing's number is how many removals of its signal came before it."""
    with transaction.atomic():
        mark, _ = IndexedUpTo.objects.select_for_update().get_or_create(bank=bank)
        hub = hub_id()
        # Removals before where this call starts, of signals the new entries name, counted
        # per signal; removals after it are counted as they come.
        start = mark.sequence
        removals: dict[int, int] = defaultdict(int)
        known: set[int] = set()
        while True:
            rows = list(
                ChangeLogEntry.objects.filter(bank=bank, sequence__gte=mark.sequence)
                .order_by("sequence")
                .values_list("sequence", "signal_id", "op", "signal__signal_type", "signal__value")[
                    :_INDEX_CHUNK
                ]
            )
            if not rows:
                return
            unknown = {row[1] for row in rows} - known
            if start and unknown:
                for signal_id in ChangeLogEntry.objects.filter(
                    signal_id__in=unknown, op=ChangeOp.REMOVE, sequence__lt=start
                ).values_list("signal_id", flat=True):
                    removals[signal_id] += 1
            known |= unknown
            ids = {}
            for _, signal_id, op, signal_type, value in rows:
                if op == ChangeOp.REMOVE:
                    removals[signal_id] += 1
                    continue
                listing = removals[signal_id]
                stix_id = stix.indicator_id(hub, bank.name, signal_type, value, listing)
                ids[stix_id] = IndicatorId(
                    uuid=stix_id.removeprefix("indicator--"),
                    bank=bank,
                    signal_id=signal_id,
                    listing=listing,
                )
            IndicatorId.objects.bulk_create(ids.values(), ignore_conflicts=True)
            mark.sequence = rows[-1][0] + 1
            mark.save(update_fields=["sequence"])


_INDEX_CHUNK = 10_000


def collection_has_object(*, bank: Bank, object_id: str) -> bool:
    """Whether `object_id` names an object of the bank's collection, in any version."""
    identity = _identity_item(bank)
    if identity is not None and identity.object["id"] == object_id:
        return True
    return bool(_listings_named(bank, frozenset([object_id])))


def object_page(
    *,
    bank: Bank,
    object_id: str,
    after: int | None,
    added_after: dt.datetime | None,
    limit: int,
    versions: Versions = LATEST,
    spec_versions: frozenset[str] | None = None,
) -> Page:
    """The versions of one object of the bank's collection, paged as `collection_page`.
    Raises NotFound when the collection has no such object, whatever the filters."""
    if not collection_has_object(bank=bank, object_id=object_id):
        raise NotFound("no such object")
    return collection_page(
        bank=bank,
        after=after,
        added_after=added_after,
        limit=limit,
        ids=frozenset([object_id]),
        versions=versions,
        spec_versions=spec_versions,
    )
