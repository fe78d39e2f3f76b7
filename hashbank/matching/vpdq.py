"""vPDQ comparison of one query against many listed values.

The semantics are hashfed_wire.vpdq's (the reference's): per side, frames below quality 50
dropped and repeated hashes kept once; a frame is matched when some frame of the other side is
within the distance; the query-matched and indexed-matched shares in percent. Here the listed
values' frames are laid end to end, and the pairs of frames within the distance are found by
the hub's PDQ index over those frames (hashbank.matching.pdq_index, exact: the same pairs as
an exhaustive scan), or, past the index's distances or with `use_index=False`, by XOR and
popcount of the query's frames against all of them, a block of columns at a time (n × M
frame comparisons). The shares are counted from those pairs alike (bench/vpdq_lookup.py
compares the two).

Pure numpy, no Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from hashbank.matching.pdq_index import PdqIndex
from hashbank.signal_types import PDQ_MAX_DISTANCE_THRESHOLD
from hashfed_wire import vpdq

# Columns compared at once: n × BLOCK × 32 bytes of XOR results (about 10 MB for 300 frames).
BLOCK = 1024


def hash_words(hashes: Sequence[int]) -> np.ndarray:
    """256-bit integers as an (n, 4) uint64 array, most significant word first."""
    raw = b"".join(value.to_bytes(32, "big") for value in hashes)
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(len(hashes), 4)


@dataclass
class ListedValues:
    """Listed vPDQ values, each reduced to its comparable frames."""

    keys: list[int]
    words: np.ndarray  # (M, 4) uint64: every value's frames, end to end
    starts: np.ndarray  # (len(keys),) int64: where each value's frames begin in `words`
    counts: np.ndarray  # (len(keys),) int64: how many frames each value has
    # The frames under their row numbers in `words`; None when there are none.
    index: PdqIndex | None = None

    @classmethod
    def build(cls, values: Iterable[tuple[int, str]]) -> ListedValues:
        keys: list[int] = []
        hashes: list[int] = []
        counts: list[int] = []
        for key, value in values:
            frames = vpdq.comparable_hashes(vpdq.parse(value))
            if not frames:
                continue  # no frame of usable quality: matches nothing (0 % of nothing)
            keys.append(key)
            counts.append(len(frames))
            hashes.extend(frames)
        count_array = np.array(counts, dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(count_array)[:-1])).astype(np.int64)
        words = hash_words(hashes)
        index = None
        if hashes:
            rows = np.arange(len(hashes), dtype=np.int64)
            index = PdqIndex.build(_hash_bytes(words), rows)
        return cls(keys, words, starts, count_array, index)


def _hash_bytes(words: np.ndarray) -> np.ndarray:
    """(n, 4) uint64 words, most significant first, as the (n, 32) bytes PdqIndex takes."""
    return words.astype(">u8").view(np.uint8).reshape(len(words), 32)


def compare_many(
    query: Sequence[int],
    listed: ListedValues,
    distance_threshold: int = vpdq.DISTANCE_THRESHOLD,
    *,
    use_index: bool = True,
) -> list[tuple[int, vpdq.Comparison]]:
    """Every listed value's comparison with `query` (hashes from vpdq.comparable_hashes), in
    the order of `listed.keys`."""
    if not query or not listed.keys:
        return []
    q = hash_words(query)
    if use_index and listed.index is not None and distance_threshold <= PDQ_MAX_DISTANCE_THRESHOLD:
        query_rows, listed_rows = _near_pairs_indexed(q, listed.index, distance_threshold)
    else:
        query_rows, listed_rows = _near_pairs_scanned(q, listed.words, distance_threshold)
    # For each listed frame: matched by some query frame. For each (query frame, value):
    # matched by some frame of that value.
    index_hit = np.zeros(len(listed.words), dtype=bool)
    index_hit[listed_rows] = True
    owner = np.repeat(np.arange(len(listed.keys)), listed.counts)
    query_hit = np.zeros((len(query), len(listed.keys)), dtype=bool)
    query_hit[query_rows, owner[listed_rows]] = True
    matched_listed = np.add.reduceat(index_hit.astype(np.int64), listed.starts)
    matched_query = query_hit.sum(axis=0)
    return [
        (
            key,
            vpdq.Comparison(
                100.0 * float(matched_query[i]) / len(query),
                100.0 * float(matched_listed[i]) / float(listed.counts[i]),
            ),
        )
        for i, key in enumerate(listed.keys)
    ]


def _near_pairs_indexed(
    q: np.ndarray, index: PdqIndex, distance_threshold: int
) -> tuple[np.ndarray, np.ndarray]:
    """(query frame, listed frame) of every pair within the distance, by the PDQ index."""
    query_rows: list[int] = []
    listed_rows: list[int] = []
    for row, found in enumerate(index.search_many(_hash_bytes(q), distance_threshold)):
        query_rows.extend([row] * len(found))
        listed_rows.extend(frame for frame, _ in found)
    return np.array(query_rows, dtype=np.int64), np.array(listed_rows, dtype=np.int64)


def _near_pairs_scanned(
    q: np.ndarray, words: np.ndarray, distance_threshold: int
) -> tuple[np.ndarray, np.ndarray]:
    """The same pairs by comparing every query frame with every listed frame."""
    query_rows = []
    listed_rows = []
    for start in range(0, len(words), BLOCK):
        block = words[start : start + BLOCK]
        distances = np.bitwise_count(q[:, None, :] ^ block[None, :, :]).sum(axis=2)
        rows, cols = np.nonzero(distances <= distance_threshold)
        query_rows.append(rows)
        listed_rows.append(cols + start)
    return np.concatenate(query_rows), np.concatenate(listed_rows)
