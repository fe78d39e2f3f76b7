"""vPDQ, the video form of PDQ: what hub and client agree on without decoding anything.

A vPDQ value is a JSON array with one string per hashed frame, ``"pdq_hex,quality,timestamp"``,
the format of python-threatexchange's vpdq extension (``vpdq_to_json``). The reference hasher
(facebook/ThreatExchange vpdq) hashes every ``int(seconds_per_hash × frame_rate)``-th decoded
frame (at least every frame), counting decoded frames from 0, at full size as RGB24, with
PDQ; a frame's timestamp is its number divided by the frame rate.

Two values are compared as the reference does: frames below quality 50 are dropped and
repeated hashes kept once, on each side; a frame of one side is matched when some frame of the
other is within 31 bits; the query-matched share is the matched share of the query's frames,
the indexed-matched share that of the listed value's. A match needs the first at 80 % or more
and the second at 0 % or more (python-threatexchange's VPDQ_QUERY_MATCH_THRESHOLD_PERCENT and
VPDQ_INDEX_MATCH_THRESHOLD_PERCENT).

Pure Python: the client carries this module without numpy or a video decoder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SECONDS_PER_HASH = 1.0
DISTANCE_THRESHOLD = 31
QUALITY_THRESHOLD = 50
QUERY_MATCH_THRESHOLD_PERCENT = 80.0
INDEX_MATCH_THRESHOLD_PERCENT = 0.0
TIMESTAMP_DECIMALS = 3


@dataclass(frozen=True)
class Frame:
    """One hashed frame: its PDQ hash (64 lowercase hex), the hash's quality, its time."""

    pdq_hex: str
    quality: int
    timestamp: float

    def __str__(self) -> str:
        # repr() of a float is its shortest round-tripping form ("0.0", "12.5", "600.0"); the
        # reference's 3-significant-digit form would lose time after 100 s.
        return f"{self.pdq_hex},{self.quality},{self.timestamp!r}"


def frame_interval(frame_rate: float, seconds_per_hash: float = SECONDS_PER_HASH) -> int:
    """Every how many decoded frames one is hashed: the reference truncates, and hashes every
    frame of a video slower than one frame per `seconds_per_hash`."""
    if not frame_rate > 0:
        raise ValueError("the frame rate must be positive")
    return max(1, int(seconds_per_hash * frame_rate))


def frame_timestamp(frame_number: int, frame_rate: float) -> float:
    """The time of decoded frame `frame_number` (from 0), in seconds, to the millisecond."""
    return round(frame_number / frame_rate, TIMESTAMP_DECIMALS)


def to_json(frames: Iterable[Frame]) -> str:
    """The value's text: json.dumps' default separators, as the reference writes it."""
    return json.dumps([str(frame) for frame in frames])


def parse(value: str) -> list[Frame]:
    """Read a value written by the hub, the client or the reference (timestamps such as
    ``1e+02`` included). Raises ValueError when it is not one; the hub's own checks
    (hashbank.signal_types) are stricter and say why."""
    items = json.loads(value)
    if not isinstance(items, list) or not items:
        raise ValueError("a vpdq value is a non-empty JSON array")
    frames = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError("each vpdq frame is a string")
        parts = [part.strip() for part in item.split(",")]
        if len(parts) != 3 or len(parts[0]) != 64:
            raise ValueError('each vpdq frame is "pdq_hex,quality,timestamp"')
        int(parts[0], 16)
        frames.append(
            Frame(parts[0].lower(), int(parts[1]), round(float(parts[2]), TIMESTAMP_DECIMALS))
        )
    return frames


def comparable_hashes(
    frames: Iterable[Frame], quality_threshold: int = QUALITY_THRESHOLD
) -> list[int]:
    """The hashes a comparison uses, as integers: frames of quality `quality_threshold` or more,
    each distinct hash once, in first-seen order (the reference dedupes, then filters)."""
    seen: set[str] = set()
    kept: list[int] = []
    for frame in frames:
        if frame.pdq_hex in seen:
            continue
        seen.add(frame.pdq_hex)
        if frame.quality >= quality_threshold:
            kept.append(int(frame.pdq_hex, 16))
    return kept


@dataclass(frozen=True)
class Comparison:
    query_match_percent: float
    index_match_percent: float

    def is_match(
        self,
        query_threshold: float = QUERY_MATCH_THRESHOLD_PERCENT,
        index_threshold: float = INDEX_MATCH_THRESHOLD_PERCENT,
    ) -> bool:
        return (
            self.query_match_percent >= query_threshold
            and self.index_match_percent >= index_threshold
        )


def compare_hashes(
    query: Sequence[int], indexed: Sequence[int], distance_threshold: int = DISTANCE_THRESHOLD
) -> Comparison:
    """Both shares for two lists from comparable_hashes(); an empty side shares 0 %."""
    query_hits = [False] * len(query)
    index_hits = [False] * len(indexed)
    for i, q in enumerate(query):
        for j, x in enumerate(indexed):
            if (q ^ x).bit_count() <= distance_threshold:
                query_hits[i] = True
                index_hits[j] = True
    return Comparison(
        100.0 * sum(query_hits) / len(query) if query else 0.0,
        100.0 * sum(index_hits) / len(indexed) if indexed else 0.0,
    )


def compare(
    query: Iterable[Frame],
    indexed: Iterable[Frame],
    distance_threshold: int = DISTANCE_THRESHOLD,
    quality_threshold: int = QUALITY_THRESHOLD,
) -> Comparison:
    """The reference comparison of two values' frames (see the module's text)."""
    return compare_hashes(
        comparable_hashes(query, quality_threshold),
        comparable_hashes(indexed, quality_threshold),
        distance_threshold,
    )
