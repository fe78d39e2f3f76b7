"""The hash bank's own Prometheus counters, counted where the work happens (federation.metrics
serves them, with the gauges read from the database at each scrape)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter

INGEST_ITEMS = Counter(
    "hashfed_ingest_items",
    "Signed submissions received through the API, by result: status is accepted, replayed "
    "or rejected; code is the rejection code (empty unless rejected).",
    ["status", "code"],
)
INGEST_BATCHES = Counter("hashfed_ingest_batches", "Submission batches received through the API.")


def ingest_count(results: Iterable[tuple[str, str | None]]) -> None:
    """Count one batch: `(status, rejection code or None)` per item."""
    tally = Tally((status, code or "") for status, code in results)
    for (status, code), count in tally.items():
        INGEST_ITEMS.labels(status=status, code=code).inc(count)
    INGEST_BATCHES.inc()
