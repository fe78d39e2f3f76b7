"""Batch lookup of hashes against the list, and the per-organisation rate limit."""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Organisation
from core.errors import Invalid, ServiceError
from hashbank import signal_types
from hashbank.models import LookupVolume, ReviewState, Signal, SignalStatus
from hashbank.selectors import banks_readable_by, signal_as_listed
from hashfed_wire import vpdq

logger = logging.getLogger(__name__)

MAX_LOOKUP_BATCH = 10_000
_EXACT_CHUNK = 900  # below SQLite's default limit of bound parameters per statement


class RateLimited(ServiceError):
    status_code = 429
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class LookupQuery:
    index: int
    signal_type: str = ""
    value: str = ""
    max_distance: int | None = None
    error: dict[str, Any] | None = None


def lookup_rate_consume(*, organisation: Organisation, queries: int) -> None:
    """Count `queries` against the organisation's budget for the current minute, atomically
    (one INSERT … ON CONFLICT … RETURNING, so concurrent requests cannot both slip under the
    limit). Raises RateLimited, with the seconds until the next window, when over budget.
    The key is the organisation, never the client address: rotating X-Forwarded-For buys
    nothing."""
    now = timezone.now()
    window = now.replace(second=0, microsecond=0)
    table = LookupVolume._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (organisation_id, window_start, queries, matches) "  # noqa: S608
            f"VALUES (%s, %s, %s, 0) ON CONFLICT (organisation_id, window_start) "
            f"DO UPDATE SET queries = {table}.queries + excluded.queries RETURNING queries",
            [organisation.pk, window, queries],
        )
        used = cursor.fetchone()[0]
        if used > settings.LOOKUP_RATE_PER_MINUTE:
            # Give the budget back: refused queries are not counted as looked up.
            cursor.execute(
                f"UPDATE {table} SET queries = queries - %s "  # noqa: S608
                f"WHERE organisation_id = %s AND window_start = %s",
                [queries, organisation.pk, window],
            )
            retry_after = max(
                1, math.ceil((window + dt.timedelta(minutes=1) - now).total_seconds())
            )
            raise RateLimited(
                f"lookup budget of {settings.LOOKUP_RATE_PER_MINUTE} hashes per minute used",
                retry_after=retry_after,
            )


def _record_matches(*, organisation: Organisation, matches: int) -> None:
    if matches:
        window = timezone.now().replace(second=0, microsecond=0)
        LookupVolume.objects.filter(organisation=organisation, window_start=window).update(
            matches=F("matches") + matches
        )


def parse_queries(items: list[Any], *, default_max_distance: int) -> list[LookupQuery]:
    """Validate each query on its own: a malformed one gets an error naming its field, the
    others are answered."""
    parsed = []
    for index, item in enumerate(items):
        query = LookupQuery(index=index)
        parsed.append(query)
        if not isinstance(item, dict):
            query.error = {
                "code": "invalid",
                "message": "a query is an object",
                "field": f"queries.{index}",
            }
            continue
        try:
            signal_type = signal_types.get_signal_type(str(item.get("signal_type", "")))
            query.signal_type = signal_type.name
            query.value = signal_types.normalise_value(signal_type.name, item.get("value", ""))
        except signal_types.SignalValueError as exc:
            field = "signal_type" if exc.code == "unknown_signal_type" else "value"
            query.error = {
                "code": exc.code,
                "message": exc.message,
                "field": f"queries.{index}.{field}",
            }
            continue
        if query.signal_type in ("pdq", "vpdq"):
            # For vpdq the distance applies to each frame.
            distance = item.get("max_distance", default_max_distance)
            limit = signal_types.PDQ_MAX_DISTANCE_THRESHOLD
            if (
                isinstance(distance, bool)
                or not isinstance(distance, int)
                or not (0 <= distance <= limit)
            ):
                query.error = {
                    "code": "invalid",
                    "field": f"queries.{index}.max_distance",
                    "message": f"max_distance is a whole number from 0 to {limit}",
                }
                continue
            query.max_distance = distance
        elif "max_distance" in item:
            query.error = {
                "code": "invalid",
                "field": f"queries.{index}.max_distance",
                "message": f"{query.signal_type} matches exactly",
            }
    return parsed


def _signal_view(
    signal: Signal, distance: int | None, shares: vpdq.Comparison | None = None
) -> dict[str, Any]:
    seen = signal_as_listed(
        signal,
        contributors=(
            s.organisation.slug
            for s in signal.submissions.all()  # prefetched with the signals
            if s.review_state == ReviewState.APPROVED
        ),
    )
    seen["distance"] = distance
    # A match says whether the signal is disputed rather than its status (it is listed).
    seen["disputed"] = signal.status == SignalStatus.DISPUTED
    if shares is not None:
        seen["query_match_percent"] = round(shares.query_match_percent, 3)
        seen["index_match_percent"] = round(shares.index_match_percent, 3)
    return {key: seen[key] for key in _MATCH_FIELDS if key in seen}


# The fields of a match, in the order a lookup response gives them.
_MATCH_FIELDS = (
    "signal",
    "bank",
    "signal_type",
    "value",
    "distance",
    "query_match_percent",
    "index_match_percent",
    "labels",
    "confidence",
    "disputed",
    "incident",
    "contributors",
)


def _confirm_hits(
    queries: list[LookupQuery],
    found: dict[int, list[tuple[int, int | None]]],
    signals: dict[int, Signal],
) -> tuple[dict[int, list[tuple[int, int | None]]], list[int]]:
    """Check every hit against its row: the query's signal type, the same value (exact types)
    or a Hamming distance, recomputed from the stored value, within the query's (PDQ). Hits
    whose row is not readable or not listed are left out as the caller may not see them.
    Returns the confirmed hits by query, with the recomputed distances, and the ids of PDQ
    hits no row confirms (a signal that does not exist, or is not that PDQ hash)."""
    confirmed: dict[int, list[tuple[int, int | None]]] = {index: [] for index in found}
    hidden_pdq: dict[int, list[tuple[LookupQuery, int | None]]] = {}
    unconfirmed: list[int] = []
    for query in queries:
        if query.error is not None:
            continue
        for pk, distance in found[query.index]:
            signal = signals.get(pk)
            if signal is None:
                if query.signal_type == "pdq":
                    hidden_pdq.setdefault(pk, []).append((query, distance))
                continue
            if signal.signal_type != query.signal_type:
                unconfirmed.append(pk)
            elif query.signal_type == "vpdq":
                # Compared with this very row's value, read in this request (_vpdq_hits).
                confirmed[query.index].append((pk, None))
            elif query.signal_type == "pdq":
                actual = signal_types.hamming_distance_hex(signal.value, query.value)
                if actual == distance and actual <= (query.max_distance or 0):
                    confirmed[query.index].append((pk, actual))
                else:
                    unconfirmed.append(pk)
            elif signal.value == query.value:
                confirmed[query.index].append((pk, None))
            else:
                unconfirmed.append(pk)
    # Hits the caller may not see still say whether the index is sound: each must be a PDQ
    # signal at the distance the index gave (one query, only when some were left out).
    hidden = list(hidden_pdq)
    for start in range(0, len(hidden), _EXACT_CHUNK):
        rows = dict(
            Signal.objects.filter(
                pk__in=hidden[start : start + _EXACT_CHUNK], signal_type="pdq"
            ).values_list("pk", "value")
        )
        for pk in hidden[start : start + _EXACT_CHUNK]:
            value = rows.get(pk)
            if value is None or any(
                signal_types.hamming_distance_hex(value, query.value) != distance
                for query, distance in hidden_pdq[pk]
            ):
                unconfirmed.append(pk)
    return confirmed, unconfirmed


def _vpdq_hits(
    queries: list[LookupQuery], readable: list[int]
) -> list[list[tuple[int, vpdq.Comparison]]]:
    """The listed vpdq signals each query matches, by the reference's rule (hashfed_wire.vpdq):
    at least 80 % of the query's frames matched by frames of the listed value, each frame
    within the query's distance. Every listed vpdq value in the readable banks is read,
    parsed and its frames indexed for each batch that holds vpdq queries
    (hashbank.matching.vpdq); each query then searches its frames in that index."""
    from hashbank.matching.vpdq import ListedValues, compare_many

    rows = (
        Signal.objects.filter(signal_type="vpdq", bank_id__in=readable)
        .exclude(status=SignalStatus.REMOVED)
        .values_list("pk", "value")
        .iterator(chunk_size=_EXACT_CHUNK)
    )
    listed = ListedValues.build(rows)
    results = []
    for query in queries:
        frames = vpdq.comparable_hashes(vpdq.parse(query.value))
        distance = query.max_distance if query.max_distance is not None else 0
        results.append(
            [
                (pk, comparison)
                for pk, comparison in compare_many(frames, listed, distance)
                if comparison.is_match()
            ]
        )
    return results


def lookup_batch(
    *,
    organisation: Organisation,
    items: list[Any],
    default_max_distance: int = signal_types.PDQ_DISTANCE_THRESHOLD,
) -> list[dict[str, Any]]:
    """Answer each query with the listed signals it matches in the banks the organisation may
    read: exact for cryptographic types, Hamming distance for PDQ, the reference's shares of
    matched frames for vPDQ. Consumes the rate budget first, one per query and one per vpdq
    frame past the first (RateLimited). Raises Invalid for a batch that is not a list of
    1–10,000 items."""
    from hashbank.matching.matcher import matcher

    if not isinstance(items, list) or not items:
        raise Invalid.for_field("queries", "a non-empty list of queries", code="required")
    if len(items) > MAX_LOOKUP_BATCH:
        raise Invalid.for_field(
            "queries", f"at most {MAX_LOOKUP_BATCH} queries per request", code="batch_too_large"
        )
    limit = signal_types.PDQ_MAX_DISTANCE_THRESHOLD
    if (
        isinstance(default_max_distance, bool)
        or not isinstance(default_max_distance, int)
        or not 0 <= default_max_distance <= limit
    ):
        raise Invalid.for_field("max_distance", f"a whole number from 0 to {limit}")
    lookup_rate_consume(organisation=organisation, queries=len(items))
    queries = parse_queries(items, default_max_distance=default_max_distance)
    # Each frame of a vpdq query is a hash compared with the list: the frames past the first
    # count against the budget too.
    frames = sum(
        len(vpdq.parse(q.value)) - 1 for q in queries if q.error is None and q.signal_type == "vpdq"
    )
    if frames:
        lookup_rate_consume(organisation=organisation, queries=frames)
    readable = list(banks_readable_by(organisation=organisation).values_list("pk", flat=True))

    found: dict[int, list[tuple[int, int | None]]] = {q.index: [] for q in queries}
    pdq = [q for q in queries if q.error is None and q.signal_type == "pdq"]
    if pdq:
        hits = matcher().search_many([q.value for q in pdq], [q.max_distance or 0 for q in pdq])
        for query, query_hits in zip(pdq, hits, strict=True):
            found[query.index] = list(query_hits)
    shares: dict[tuple[int, int], vpdq.Comparison] = {}
    video = [q for q in queries if q.error is None and q.signal_type == "vpdq"]
    if video:
        for query, video_hits in zip(video, _vpdq_hits(video, readable), strict=True):
            for pk, comparison in video_hits:
                found[query.index].append((pk, None))
                shares[(query.index, pk)] = comparison
    exact: dict[tuple[str, str], list[int]] = {}
    for q in queries:
        if q.error is None and q.signal_type not in ("pdq", "vpdq"):
            exact.setdefault((q.signal_type, q.value), []).append(q.index)
    by_type: dict[str, list[str]] = {}
    for signal_type, value in exact:
        by_type.setdefault(signal_type, []).append(value)
    for signal_type, values in by_type.items():
        for start in range(0, len(values), _EXACT_CHUNK):
            rows = (
                Signal.objects.filter(
                    signal_type=signal_type,
                    value__in=values[start : start + _EXACT_CHUNK],
                    bank_id__in=readable,
                )
                .exclude(status=SignalStatus.REMOVED)
                .values_list("pk", "value")
            )
            for pk, value in rows:
                for index in exact[(signal_type, value)]:
                    found[index].append((pk, None))

    # One query resolves every candidate: readable banks and listed status are checked here,
    # so nothing the caller may not see, and nothing removed, can come back.
    candidate_ids = {pk for matches in found.values() for pk, _ in matches}
    signals = {}
    for start in range(0, len(candidate_ids), _EXACT_CHUNK):
        chunk = list(candidate_ids)[start : start + _EXACT_CHUNK]
        for signal in (
            Signal.objects.filter(pk__in=chunk, bank_id__in=readable)
            .exclude(status=SignalStatus.REMOVED)
            .select_related("bank")
            .prefetch_related("labels", "submissions__organisation")
        ):
            signals[signal.pk] = signal

    confirmed, unconfirmed = _confirm_hits(queries, found, signals)
    if unconfirmed:
        # The index answered with something its database does not hold: it was built from
        # another database or another log. Those hits are gone; the index is rebuilt.
        logger.warning(
            "PDQ index answered %d hits the database does not confirm (e.g. signal %s); "
            "dropped, rebuilding the index",
            len(unconfirmed),
            unconfirmed[0],
        )
        matcher().rebuild()

    results: list[dict[str, Any]] = []
    total = 0
    for query in queries:
        if query.error is not None:
            results.append({"index": query.index, "matches": [], "error": query.error})
            continue
        seen: set[int] = set()
        matches: list[dict[str, Any]] = []
        if query.signal_type == "vpdq":
            # The closest first: the most query frames matched, then the most listed frames.
            ranked = [(shares[(query.index, pk)], pk, d) for pk, d in confirmed[query.index]]
            ranked.sort(key=lambda r: (-r[0].query_match_percent, -r[0].index_match_percent, r[1]))
            ordered = [(pk, d) for _, pk, d in ranked]
        else:
            ordered = sorted(confirmed[query.index], key=lambda m: (m[1] or 0, m[0]))
        for pk, distance in ordered:
            if pk not in seen:
                seen.add(pk)
                matches.append(_signal_view(signals[pk], distance, shares.get((query.index, pk))))
        total += len(matches)
        results.append(
            {
                "index": query.index,
                "signal_type": query.signal_type,
                "matches": matches,
                "error": None,
            }
        )
    _record_matches(organisation=organisation, matches=total)
    return results
