"""vPDQ comparison of one query against many listed values, vectorised with numpy.

The semantics are hashfed_wire.vpdq's (the reference's): per side, frames below quality 50
dropped and repeated hashes kept once; a frame is matched when some frame of the other side is
within the distance; the query-matched and indexed-matched shares in percent. Here the listed
values' frames are laid end to end in one (M, 4) array of 64-bit words, and the query's (n, 4)
frames are compared with all of them by XOR and popcount, a block of columns at a time: the
cost of a lookup is n × M frame comparisons (brute force; no index), about 5 ns each.

Pure numpy, no Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

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
        return cls(keys, hash_words(hashes), starts, count_array)


def compare_many(
    query: Sequence[int],
    listed: ListedValues,
    distance_threshold: int = vpdq.DISTANCE_THRESHOLD,
) -> list[tuple[int, vpdq.Comparison]]:
    """Every listed value's comparison with `query` (hashes from vpdq.comparable_hashes), in
    the order of `listed.keys`."""
    if not query or not listed.keys:
        return []
    q = hash_words(query)
    total = len(listed.words)
    # For each listed frame: matched by some query frame. For each (query frame, value):
    # matched by some frame of that value.
    index_hit = np.zeros(total, dtype=bool)
    owner = np.repeat(np.arange(len(listed.keys)), listed.counts)
    query_hit = np.zeros((len(query), len(listed.keys)), dtype=bool)
    for start in range(0, total, BLOCK):
        block = listed.words[start : start + BLOCK]
        distances = np.bitwise_count(q[:, None, :] ^ block[None, :, :]).sum(axis=2)
        near = distances <= distance_threshold  # (n, block)
        index_hit[start : start + len(block)] = near.any(axis=0)
        rows, cols = np.nonzero(near)
        query_hit[rows, owner[start + cols]] = True
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
