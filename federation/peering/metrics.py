"""Counters of peering, kept where the work happens and served at /metrics."""

from __future__ import annotations

from prometheus_client import Counter

PEER_PULLED_ENTRIES = Counter(
    "hashfed_peer_pulled_entries",
    "Log entries pulled from peer hubs, verified and imported.",
    ["origin"],
)
PEER_QUARANTINES = Counter(
    "hashfed_peer_quarantines",
    "Peer hubs quarantined for serving a log that contradicts itself.",
    ["origin"],
)
