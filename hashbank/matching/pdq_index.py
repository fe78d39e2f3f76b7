"""An exact Hamming-distance index of 256-bit PDQ hashes, by multi-index hashing.

Pure numpy, no Django: a background job builds it from the database and saves it; every
process that serves lookups loads the files memory-mapped, so one copy in the page cache
serves them all, and keeps only its own small delta of later changes.

How a search stays exact (Norouzi, Punjani and Fleet, "Fast search in Hamming space with
multi-index hashing", CVPR 2012). A hash is cut into 16 chunks of 16 bits, chunk ``c`` being
bytes ``2c`` and ``2c + 1``; the chunks are paired, ``(0, 1), (2, 3), ... (14, 15)``, into 8
pairs of 32 bits. Let ``d(q, h) <= t`` and let ``d_c`` be the distance between chunk ``c``
of ``q`` and of ``h``:

* the 8 pair distances add up to at most ``t``, so by the pigeonhole principle some pair
  differs in at most ``R = t // 8`` bits: ``d_c + d_partner(c) <= R``;
* the two chunks of that pair add up to at most ``R``, so one of them, ``c``, differs in at
  most ``r = R // 2 = t // 16`` bits.

So every hash within ``t`` lies, for some chunk ``c``, in a bucket whose chunk value is
within ``r`` bits of the query's (``r = 1`` up to ``t = 31``: 17 buckets per chunk, 272 in
all), *and* its partner chunk is within ``R - d_c`` bits of the query's. The index keeps, per
chunk, the row ids sorted by chunk value (``order[c]``, with ``offsets[c]`` the 65,537 bucket
starts) and next to each of them the row's partner chunk value (``partner[c]``). A search
reads the probed buckets sequentially, drops every entry whose partner chunk is too far
(about 99.7% of random entries at ``t = 31``) without touching the hashes, and only then
reads the hashes of the survivors at random, each row once however many chunks found it,
and keeps those whose exact distance (XOR and popcount of four 64-bit words) is within
``t``. A query whose buckets hold more entries than the base has rows, or whose distinct
survivors are more than a scan is worth (thousands of copies of one picture near it), is
answered by scanning the hashes instead. Nothing within ``t`` is ever dropped by the
filters, nothing beyond ``t`` survives the check: results are exactly those of an
exhaustive scan, for every threshold from 0 to 63.

Memory per entry: the hash (32 bytes), its id (8), 16 row ids (64) and 16 partner chunks
(32): 136 bytes, about 1.27 GiB for 10,000,000 hashes; all of it can be memory-mapped.

Changes between builds go to an in-memory delta: added hashes are scanned exhaustively
(5,000 rows add about 30 µs to a query), removed ids are tombstones that hide base
entries. ``compact()`` folds both into a new base.
"""

from __future__ import annotations

import bisect
import json
import operator
import os
import secrets
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hashbank.signal_types import PDQ_DISTANCE_THRESHOLD, PDQ_MAX_DISTANCE_THRESHOLD
from hashfed_wire.files import fsync_directory

HASH_BYTES = 32
CHUNKS = 16
CHUNK_BITS = 16
BUCKETS = 1 << CHUNK_BITS

FORMAT = "hashfed-pdq-index"
FORMAT_VERSION = 1
MANIFEST_FILE = "pdq-index.json"
_BASE_ARRAYS = ("hashes", "ids", "order", "partner", "offsets")
_DELTA_ARRAYS = ("delta_hashes", "delta_ids", "removed_ids")

WORDS = HASH_BYTES // 8

# The partner of chunk c in its pair: 0 <-> 1, 2 <-> 3, ...
_PARTNER = np.arange(CHUNKS) ^ 1
# Where each chunk's bucket starts sit in the flattened offsets, shaped for broadcasting.
_BUCKET_ROWS = (np.arange(CHUNKS, dtype=np.int64) * (BUCKETS + 1))[:, None]
# Candidate entries handled in one vectorised pass: bounds the temporary arrays (about
# 24 bytes per entry) whatever the batch size or the radius.
_PASS_ENTRIES = 2_000_000
# Partner chunks (uint16) per cache line.
_ENTRIES_PER_LINE = 32
# Queries whose probes are prepared together in search_many.
_QUERY_GROUP = 256
# Base rows scanned together when a query is cheaper to answer exhaustively.
_SCAN_ROWS = 1 << 16
# A query is scanned instead when its distinct candidates times this reach the base's
# rows: reading a candidate's hash at random costs about twice scanning one row in order.
_SCAN_SHARE = 2
# Up to this many candidates in a pass, their hashes are read with the repeats (a row
# found through several chunks) and the repeats dropped among the matches.
_FEW_CANDIDATES = 512
# A bucket this large (or _LONG_FACTOR times the average, whichever is larger) makes its
# query crowded: copies of one picture fill it.
_LONG_BUCKET = 2048
_LONG_FACTOR = 8
# A query's candidates are deduplicated through a map of the base from this many on
# (or 1/256 of the base, whichever is larger), by a sort below it.
_MAP_MIN = 4096


def _probe_masks(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """The 16-bit masks of at most ``radius`` bits (the buckets probed around a chunk
    value) and, for each, its bit count in unary above bit 16: XOR-ed into a partner
    chunk, the popcount then counts the probe's own distance too."""
    values = np.arange(BUCKETS, dtype=np.int64)
    weights = np.bitwise_count(values)
    masks = values[weights <= radius]
    masks = masks[np.argsort(np.bitwise_count(masks), kind="stable")]
    own = ((1 << np.bitwise_count(masks).astype(np.int64)) - 1) << CHUNK_BITS
    return masks, own.astype(np.uint32)


_PROBES = {
    radius: _probe_masks(radius) for radius in range(PDQ_MAX_DISTANCE_THRESHOLD // CHUNKS + 1)
}


def hashes_from_hex(values: Sequence[str]) -> np.ndarray:
    """PDQ hashes given as 64 hexadecimal characters (either case) as an (N, 32) uint8
    array. Raises ValueError for anything else."""
    values = list(values)
    for value in values:
        if not isinstance(value, str) or len(value) != 2 * HASH_BYTES:
            raise ValueError(f"a PDQ hash is 64 hexadecimal characters, not {value!r}")
    try:
        raw = bytes.fromhex("".join(values))
    except ValueError as error:
        raise ValueError(f"not hexadecimal: {error}") from None
    # fromhex skips whitespace, so a value padded with spaces comes out short.
    if len(raw) != HASH_BYTES * len(values):
        raise ValueError("a PDQ hash is 64 hexadecimal characters, without spaces")
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(values), HASH_BYTES).copy()


def hash_to_hex(value: bytes | np.ndarray) -> str:
    """The 64 lowercase hexadecimal characters of one hash (32 bytes or a (32,) uint8 row)."""
    return _query_row(value).tobytes().hex()


def _query_row(value: bytes | np.ndarray) -> np.ndarray:
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) != HASH_BYTES:
            raise ValueError(f"a PDQ hash is {HASH_BYTES} bytes, not {len(raw)}")
        return np.frombuffer(raw, dtype=np.uint8)
    if isinstance(value, np.ndarray):
        if value.dtype != np.uint8 or value.shape != (HASH_BYTES,):
            raise ValueError(
                f"a PDQ hash is a ({HASH_BYTES},) uint8 array, not {value.shape} {value.dtype}"
            )
        return np.ascontiguousarray(value)
    raise ValueError(f"a PDQ hash is 32 bytes or a uint8 array, not {type(value).__name__}")


def _hash_rows(hashes: Any, name: str = "hashes") -> np.ndarray:
    if not isinstance(hashes, np.ndarray) or hashes.dtype != np.uint8:
        raise ValueError(f"{name} must be a uint8 numpy array of shape (N, {HASH_BYTES})")
    if hashes.ndim != 2 or hashes.shape[1] != HASH_BYTES:
        raise ValueError(f"{name} must have shape (N, {HASH_BYTES}), not {hashes.shape}")
    return np.ascontiguousarray(hashes)


def _id_column(ids: Any, count: int) -> np.ndarray:
    if not isinstance(ids, np.ndarray) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError("ids must be an integer numpy array")
    if ids.shape != (count,):
        raise ValueError(f"ids must have shape ({count},), one per hash, not {ids.shape}")
    if ids.dtype == np.uint64 and count and int(ids.max()) > np.iinfo(np.int64).max:
        raise ValueError("ids must fit in int64")
    return ids.astype(np.int64)


def _max_distance(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("max_distance must be an integer")
    try:
        distance = operator.index(value)
    except TypeError:
        raise ValueError("max_distance must be an integer") from None
    if not 0 <= distance <= PDQ_MAX_DISTANCE_THRESHOLD:
        raise ValueError(
            f"max_distance must be between 0 and {PDQ_MAX_DISTANCE_THRESHOLD}, not {distance}"
        )
    return distance


def _distances(words: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Hamming distances between the rows of two (K, 4) uint64 arrays of the same shape
    (numpy XORs equal shapes several times faster than it broadcasts a 4-word row)."""
    counts = np.bitwise_count(words ^ queries)
    return _add_words(counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3])


def _add_words(*counts: np.ndarray) -> np.ndarray:
    """The sum of 4 per-word bit counts, each at most 64: two fit in uint8, all four (up
    to 256, when every bit differs) need uint16. Explicit adds, because numpy's sum over
    an axis of length 4 costs tens of times more."""
    first, second, third, fourth = counts
    return (first + second).astype(np.uint16) + (third + fourth)


class PdqIndex:
    """Exact search of PDQ hashes within a Hamming distance (0 to 63, 31 by default).

    Each entry is a hash and an int64 id (a signal id). Ids are unique: adding an id that
    is already present replaces its hash. ``search`` returns ``[(id, distance)]`` sorted
    by distance then id, for every live entry within the distance, exactly as an
    exhaustive scan would. The base built by ``build`` (or loaded by ``load``) is never
    written; ``add`` and ``remove`` change an in-memory delta and ``compact`` folds it into
    a new base. Not thread-safe for writes: callers serialise ``add``/``remove`` with
    searches.
    """

    def __init__(
        self,
        *,
        hashes: np.ndarray,
        ids: np.ndarray,
        order: np.ndarray,
        partner: np.ndarray,
        offsets: np.ndarray,
    ) -> None:
        # Use build() or load(): the arrays must agree with each other.
        self._hashes = hashes
        self._words = hashes.view(np.uint64)
        self._ids = ids
        self._order = order.reshape(-1)
        self._partner = partner.reshape(-1)
        self._offsets = offsets.reshape(-1)
        self._base_size = int(ids.shape[0])
        # Where each chunk's permutation starts in the flattened order and partner arrays.
        self._chunk_starts = (np.arange(CHUNKS, dtype=np.int64) * self._base_size)[:, None]
        # Base ids removed, or replaced by a newer hash in the delta.
        self._hidden: set[int] = set()
        self._hidden_array: np.ndarray | None = None
        # The delta: entries [0, _delta_used) of growable arrays, one per added id (a new
        # hash for the same id overwrites its entry); a removed entry is marked dead and
        # dropped when the arrays are repacked. The hashes are stored as 4 rows of 64-bit
        # words, one column per entry: a query's words then broadcast along contiguous
        # rows, the fast direction for numpy.
        self._delta_columns = np.zeros((WORDS, 0), dtype=np.uint64)
        self._delta_ids = np.zeros(0, dtype=np.int64)
        self._delta_live = np.zeros(0, dtype=bool)
        self._delta_used = 0
        self._delta_rows: dict[int, int] = {}

    # Building, saving, loading.

    @classmethod
    def build(cls, hashes: np.ndarray, ids: np.ndarray) -> PdqIndex:
        """An index of ``hashes`` ((N, 32) uint8) under ``ids`` ((N,) integers, unique).
        The arrays are copied. Raises ValueError for wrong shapes, dtypes or repeated ids."""
        hashes = _hash_rows(hashes)
        ids = _id_column(ids, hashes.shape[0])
        count = ids.shape[0]
        if count >= 1 << 32:
            raise ValueError("at most 2**32 - 1 hashes per index")
        # Rows are kept in id order so that membership is a binary search over the ids
        # themselves, without a second copy of them.
        if count > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            by_id = np.argsort(ids, kind="stable")
            ids = ids[by_id]
            if bool(np.any(ids[1:] == ids[:-1])):
                raise ValueError("ids must be unique")
            hashes = hashes[by_id]
        else:
            ids = ids.copy()
            hashes = hashes.copy()
        chunks = hashes.view(np.uint16)
        order = np.empty((CHUNKS, count), dtype=np.uint32)
        partner = np.empty((CHUNKS, count), dtype=np.uint16)
        offsets = np.zeros((CHUNKS, BUCKETS + 1), dtype=np.int64)
        for chunk in range(0, CHUNKS, 2):
            # Contiguous copies of the pair's columns: gathers from them are several
            # times faster than from strided views.
            pair = (
                np.ascontiguousarray(chunks[:, chunk]),
                np.ascontiguousarray(chunks[:, chunk + 1]),
            )
            for own, other in ((0, 1), (1, 0)):
                # A stable sort of 16-bit keys is a radix sort in numpy: linear time.
                by_value = np.argsort(pair[own], kind="stable")
                order[chunk + own] = by_value
                np.take(pair[other], by_value, out=partner[chunk + own])
                counts = np.bincount(pair[own], minlength=BUCKETS)
                np.cumsum(counts, out=offsets[chunk + own, 1:])
        return cls(hashes=hashes, ids=ids, order=order, partner=partner, offsets=offsets)

    def save(self, directory: Path) -> None:
        """Write the index (base, delta and tombstones) to ``directory`` as .npy files and
        a JSON manifest. The files are written to a temporary sibling directory and
        renamed into place, so a reader never sees a half-written index; an existing
        ``directory`` is replaced (moved aside first, then deleted)."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        staging = directory.parent / f".{directory.name}.tmp-{token}"
        staging.mkdir()
        try:
            delta_rows = self._delta_live[: self._delta_used].nonzero()[0]
            arrays = {
                "hashes": self._hashes,
                "ids": self._ids,
                "order": self._order.reshape(CHUNKS, self._base_size),
                "partner": self._partner.reshape(CHUNKS, self._base_size),
                "offsets": self._offsets.reshape(CHUNKS, BUCKETS + 1),
                "delta_hashes": self._delta_hashes(delta_rows),
                "delta_ids": self._delta_ids[delta_rows],
                "removed_ids": np.array(sorted(self._hidden), dtype=np.int64),
            }
            for name, array in arrays.items():
                with open(staging / f"{name}.npy", "wb") as file:
                    np.save(file, np.ascontiguousarray(array), allow_pickle=False)
                    file.flush()
                    os.fsync(file.fileno())
            manifest = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "size": self._base_size,
                "chunks": CHUNKS,
                "chunk_bits": CHUNK_BITS,
                "delta_size": int(delta_rows.shape[0]),
                "removed": len(self._hidden),
            }
            with open(staging / MANIFEST_FILE, "w") as file:
                json.dump(manifest, file)
                file.flush()
                os.fsync(file.fileno())
            if directory.exists():
                aside = directory.parent / f".{directory.name}.old-{token}"
                os.rename(directory, aside)
                os.rename(staging, directory)
                # Processes that mapped the old files keep reading them until they unmap.
                shutil.rmtree(aside, ignore_errors=True)
            else:
                os.rename(staging, directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_directory(directory.parent)

    @classmethod
    def load(cls, directory: Path, *, mmap: bool = True) -> PdqIndex:
        """The index saved in ``directory``. With ``mmap`` (the default) the base arrays are
        mapped read-only, so processes that load the same files share one copy in the page
        cache; the delta and tombstones are read into memory. Raises ValueError when the
        files are not an index of this format or disagree with each other."""
        directory = Path(directory).resolve()
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
        if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
            raise ValueError(f"{directory} does not hold a {FORMAT} v{FORMAT_VERSION} index")
        mode: Literal["r"] | None = "r" if mmap else None
        arrays = {
            name: np.load(directory / f"{name}.npy", mmap_mode=mode, allow_pickle=False)
            for name in _BASE_ARRAYS
        }
        count = int(manifest["size"])
        expected = {
            "hashes": ((count, HASH_BYTES), np.uint8),
            "ids": ((count,), np.int64),
            "order": ((CHUNKS, count), np.uint32),
            "partner": ((CHUNKS, count), np.uint16),
            "offsets": ((CHUNKS, BUCKETS + 1), np.int64),
        }
        for name, (shape, dtype) in expected.items():
            if arrays[name].shape != shape or arrays[name].dtype != dtype:
                raise ValueError(f"{directory}/{name}.npy is not {shape} {np.dtype(dtype)}")
        if not bool(np.all(arrays["offsets"][:, -1] == count)):
            raise ValueError(f"{directory}/offsets.npy does not match the index size")
        index = cls(**arrays)
        delta = {
            name: np.load(directory / f"{name}.npy", allow_pickle=False) for name in _DELTA_ARRAYS
        }
        # Restored as saved rather than replayed through add() and remove(): an id can be
        # both hidden in the base and live in the delta, even with its base hash.
        removed = _id_column(delta["removed_ids"], delta["removed_ids"].shape[0])
        if not bool(np.all(index._base_lookup(removed)[0])):
            raise ValueError(f"{directory}/removed_ids.npy names ids the index does not hold")
        index._hidden = set(removed.tolist())
        delta_hashes = _hash_rows(delta["delta_hashes"], "delta_hashes")
        delta_ids = _id_column(delta["delta_ids"], delta_hashes.shape[0])
        for identifier, words in zip(delta_ids.tolist(), delta_hashes.view(np.uint64), strict=True):
            index._delta_put(identifier, words)
        return index

    def compact(self) -> PdqIndex:
        """A new index whose base holds every live entry (the delta merged, tombstoned
        entries dropped) and whose delta is empty. This index is left unchanged."""
        live = np.ones(self._base_size, dtype=bool)
        if self._hidden:
            live[self._base_rows(self._hidden_ids())] = False
        delta_rows = self._delta_live[: self._delta_used].nonzero()[0]
        hashes = np.concatenate([self._hashes[live], self._delta_hashes(delta_rows)])
        ids = np.concatenate([self._ids[live], self._delta_ids[delta_rows]])
        return PdqIndex.build(hashes, ids)

    # Incremental changes.

    def add(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        """Add ``hashes`` ((M, 32) uint8) under ``ids`` ((M,) integers) to the delta, at
        once searchable. An id already present takes the new hash (within one call, the
        last one wins); re-adding the same hash an entry already has changes nothing.
        Raises ValueError for wrong shapes or dtypes."""
        hashes = _hash_rows(hashes)
        ids = _id_column(ids, hashes.shape[0])
        if ids.shape[0] == 0:
            return
        words = hashes.view(np.uint64)
        in_base, rows = self._base_lookup(ids)
        for position, identifier in enumerate(ids.tolist()):
            if in_base[position] and identifier not in self._hidden:
                # The same hash replayed (e.g. a change the build already included).
                if np.array_equal(self._words[rows[position]], words[position]):
                    continue
                self._hide(identifier)
            self._delta_put(identifier, words[position])

    def remove(self, ids: Iterable[int]) -> None:
        """Remove the entries with ``ids``: they never match again (until re-added). Ids
        not in the index are ignored."""
        identifiers = [operator.index(identifier) for identifier in ids]
        if not identifiers:
            return
        in_base, _ = self._base_lookup(np.array(identifiers, dtype=np.int64))
        for position, identifier in enumerate(identifiers):
            row = self._delta_rows.pop(identifier, None)
            if row is not None:
                self._delta_live[row] = False
            if in_base[position]:
                self._hide(identifier)

    def __len__(self) -> int:
        """Live entries: the base less its tombstones, plus the delta."""
        return self._base_size - len(self._hidden) + len(self._delta_rows)

    @property
    def delta_size(self) -> int:
        """Entries held in the in-memory delta (added since the base was built, still live)."""
        return len(self._delta_rows)

    def _hide(self, identifier: int) -> None:
        self._hidden.add(identifier)
        self._hidden_array = None

    def _hidden_ids(self) -> np.ndarray:
        if self._hidden_array is None:
            self._hidden_array = np.fromiter(self._hidden, dtype=np.int64, count=len(self._hidden))
            self._hidden_array.sort()
        return self._hidden_array

    def _base_lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each id: whether the base holds it, and its base row."""
        rows = np.searchsorted(self._ids, ids)
        rows = np.minimum(rows, max(self._base_size - 1, 0))
        found = self._ids[rows] == ids if self._base_size else np.zeros(ids.shape, dtype=bool)
        return found, rows

    def _base_rows(self, ids: np.ndarray) -> np.ndarray:
        found, rows = self._base_lookup(ids)
        return rows[found]

    def _delta_hashes(self, rows: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self._delta_columns[:, rows].T).view(np.uint8)

    def _delta_put(self, identifier: int, words: np.ndarray) -> None:
        row = self._delta_rows.get(identifier)
        if row is None:
            if self._delta_used == self._delta_ids.shape[0]:
                self._delta_make_room()
            row = self._delta_used
            self._delta_used += 1
            self._delta_rows[identifier] = row
        self._delta_columns[:, row] = words
        self._delta_ids[row] = identifier
        self._delta_live[row] = True

    def _delta_make_room(self) -> None:
        # Repack when at least half the rows are dead, else double: amortised O(1) per add.
        live = self._delta_live[: self._delta_used].nonzero()[0]
        capacity = max(
            64, self._delta_ids.shape[0] * (1 if live.shape[0] * 2 <= self._delta_used else 2)
        )
        columns = np.zeros((WORDS, capacity), dtype=np.uint64)
        ids = np.zeros(capacity, dtype=np.int64)
        alive = np.zeros(capacity, dtype=bool)
        columns[:, : live.shape[0]] = self._delta_columns[:, live]
        ids[: live.shape[0]] = self._delta_ids[live]
        alive[: live.shape[0]] = True
        self._delta_columns, self._delta_ids, self._delta_live = columns, ids, alive
        self._delta_used = int(live.shape[0])
        self._delta_rows = {
            int(identifier): row for row, identifier in enumerate(ids[: self._delta_used].tolist())
        }

    # Searching.

    def search(
        self, query: bytes | np.ndarray, max_distance: int = PDQ_DISTANCE_THRESHOLD
    ) -> list[tuple[int, int]]:
        """``[(id, distance)]`` of every live entry within ``max_distance`` (0 to 63) of
        ``query`` (32 bytes or a (32,) uint8 array), sorted by distance then id. Raises
        ValueError for a malformed query or a distance out of range."""
        row = _query_row(query).reshape(1, HASH_BYTES)
        return self._search_block(row, _max_distance(max_distance))[0]

    def search_many(
        self, queries: np.ndarray, max_distance: int = PDQ_DISTANCE_THRESHOLD
    ) -> list[list[tuple[int, int]]]:
        """``search`` for each row of ``queries`` ((Q, 32) uint8), vectorised over groups
        of queries. Raises ValueError as ``search`` does."""
        queries = _hash_rows(queries, "queries")
        distance = _max_distance(max_distance)
        results: list[list[tuple[int, int]]] = []
        for first in range(0, queries.shape[0], _QUERY_GROUP):
            results.extend(self._search_block(queries[first : first + _QUERY_GROUP], distance))
        return results

    def _search_block(self, queries: np.ndarray, distance: int) -> list[list[tuple[int, int]]]:
        found: list[_Matches] = []
        if self._base_size:
            query_rows, rows, distances = self._search_base(queries, distance)
            ids = self._ids.take(rows)
            if self._hidden and ids.shape[0]:
                live = self._not_hidden(ids)
                query_rows, ids, distances = query_rows[live], ids[live], distances[live]
            found.append((query_rows, ids, distances))
        if self._delta_rows:
            found.append(self._search_delta(queries.view(np.uint64), distance))
        return _group_by_query(queries.shape[0], found)

    def _not_hidden(self, ids: np.ndarray) -> np.ndarray:
        if ids.shape[0] <= 64:
            # A handful of matches: cheaper than keeping a sorted copy of the tombstones
            # current while changes keep arriving.
            hidden = self._hidden
            return np.array([identifier not in hidden for identifier in ids.tolist()])
        return ~np.isin(ids, self._hidden_ids())

    def _search_delta(self, words: np.ndarray, distance: int) -> _Matches:
        columns = self._delta_columns[:, : self._delta_used]
        live = self._delta_live[: self._delta_used]
        # Queries per pass, so that the (queries, 4, rows) temporaries stay bounded.
        step = max(1, _PASS_ENTRIES // max(1, columns.shape[1]))
        found: list[_Matches] = []
        for first in range(0, words.shape[0], step):
            counts = np.bitwise_count(columns ^ words[first : first + step, :, None])
            distances = _add_words(counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3])
            query_rows, rows = ((distances <= distance) & live).nonzero()
            found.append((query_rows + first, self._delta_ids[rows], distances[query_rows, rows]))
        return _concatenate(found)

    def _search_base(self, queries: np.ndarray, distance: int) -> _Matches:
        """(query row, base row, distance) of every base row within ``distance`` of a query,
        each pair once, tombstones not applied."""
        words = queries.view(np.uint64)
        chunks = queries.view(np.uint16).astype(np.int64)
        masks, own = _PROBES[distance // CHUNKS]
        pair_limit = distance // (CHUNKS // 2)
        probes_per_query = CHUNKS * masks.shape[0]
        # Probe (query i, chunk c, mask m) reads the bucket of chunk value q_ic ^ m.
        buckets = (chunks[:, :, None] ^ masks) + _BUCKET_ROWS
        bucket_starts = self._offsets.take(buckets)
        lengths = (self._offsets.take(buckets + 1) - bucket_starts).reshape(-1)
        starts = (bucket_starts + self._chunk_starts).reshape(-1)
        # The partner chunk an entry is compared with, and the probe's own distance in
        # unary above its 16 bits, so one popcount gives d_c + d_partner.
        expected = (chunks[:, _PARTNER, None].astype(np.uint32) | own).reshape(-1)
        per_query = lengths.reshape(-1, probes_per_query).sum(axis=1)

        found: list[_Matches] = []
        repeated: list[_Matches] = []
        scanned: list[int] = []
        # Reading an entry of a bucket costs about what scanning a row does: a query whose
        # buckets hold more entries than the base has rows (one hash repeated many times
        # fills the same bucket of every chunk) is scanned without reading them.
        for query in (per_query >= self._base_size).nonzero()[0].tolist():
            scanned.append(query)
            lengths[query * probes_per_query : (query + 1) * probes_per_query] = 0
            per_query[query] = 0

        # A query with a bucket many times the average size (it lies near many copies of one
        # picture) is answered on its own: its large buckets are read as slices, and its
        # candidates marked in a map of the base, each row once, before any hash is read.
        long_bucket = max(_LONG_BUCKET, (self._base_size >> CHUNK_BITS) * _LONG_FACTOR)
        long = lengths >= long_bucket
        for query in long.reshape(-1, probes_per_query).any(axis=1).nonzero()[0].tolist():
            window = slice(query * probes_per_query, (query + 1) * probes_per_query)
            rows = self._crowded_rows(
                starts[window], lengths[window], expected[window], long[window], pair_limit
            )
            lengths[window] = 0
            per_query[query] = 0
            if rows.shape[0] * _SCAN_SHARE >= self._base_size:
                # Decided on the rows left to read: more than a scan is worth.
                scanned.append(query)
                continue
            row_distances = _distances(
                self._words.take(rows, axis=0), np.tile(words[query], (rows.shape[0], 1))
            )
            close = row_distances <= distance
            found.append((np.full(int(close.sum()), query), rows[close], row_distances[close]))

        # Passes over consecutive queries that read at most _PASS_ENTRIES entries each
        # (or one query, however many it reads).
        cumulative = np.cumsum(per_query).tolist()
        first = 0
        while first < queries.shape[0]:
            before = cumulative[first - 1] if first else 0
            last = max(first + 1, bisect.bisect_right(cumulative, before + _PASS_ENTRIES))
            window = slice(first * probes_per_query, last * probes_per_query)
            counts, rows = self._probe(
                starts[window], lengths[window], expected[window], pair_limit, probes_per_query
            )
            if rows.shape[0] <= _FEW_CANDIDATES:
                # The usual case: a few dozen rows, read as they are; the repeats among
                # the (fewer) matches are dropped below.
                query_rows = np.repeat(np.arange(first, last), counts)
                row_distances = _distances(self._words.take(rows, axis=0), words[query_rows])
                close = row_distances <= distance
                repeated.append((query_rows[close], rows[close], row_distances[close]))
                first = last
                continue
            # A row within the distance is in the probed buckets of several chunks when more
            # than one chunk is close enough (every re-encoding of a picture is, near it):
            # each (query, row) is kept once before any hash is read.
            query_rows, rows = self._distinct(counts, rows)
            if rows.shape[0] * _SCAN_SHARE >= self._base_size:
                # Decided on the rows left to read: a query for which they are more than a
                # scan is worth is scanned instead.
                distinct = np.bincount(query_rows, minlength=last - first)
                crowded = distinct * _SCAN_SHARE >= self._base_size
                scanned.extend((crowded.nonzero()[0] + first).tolist())
                keep = ~crowded[query_rows]
                query_rows, rows = query_rows[keep], rows[keep]
            query_rows += first
            row_distances = _distances(self._words.take(rows, axis=0), words[query_rows])
            close = row_distances <= distance
            found.append((query_rows[close], rows[close], row_distances[close]))
            first = last

        if repeated:
            found.append(_first_of_each(self._base_size, *_concatenate(repeated)))
        for query in scanned:
            rows, row_distances = self._scan(words[query], distance)
            found.append((np.full(rows.shape[0], query), rows, row_distances))
        return _concatenate(found)

    def _probe(
        self,
        starts: np.ndarray,
        lengths: np.ndarray,
        expected: np.ndarray,
        pair_limit: int,
        probes_per_query: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Read the probed buckets (``starts`` and ``lengths`` in the flattened ``order``
        and ``partner``, ``probes_per_query`` per query) and keep the entries whose chunk
        pair is within ``pair_limit``. Returns, for each query, how many survivors it has,
        and the base rows of the survivors, grouped by query (a row may appear several
        times for one query)."""
        query_count = lengths.shape[0] // probes_per_query
        probes = lengths.nonzero()[0]
        if probes.shape[0] == 0:
            return np.zeros(query_count, dtype=np.int64), _NO_ROWS
        starts, lengths = starts[probes], lengths[probes]
        ends = np.cumsum(lengths)
        # The position of every entry of every probed bucket, as one cumulative sum: +1
        # within a bucket, a jump to the next bucket's start at each boundary.
        steps = np.ones(int(ends[-1]), dtype=np.int64)
        steps[0] = starts[0]
        steps[ends[:-1]] = starts[1:] - starts[:-1] - lengths[:-1] + 1
        positions = np.cumsum(steps, out=steps)
        # The buckets lie at random places (272 at t = 31) and the copy loop below stalls
        # at every jump. Reading one entry per 64-byte line first, in a gather whose loads
        # do not wait on each other, fetches those lines in parallel: measured 15% off a
        # query at 10M entries.
        self._partner.take(positions[::_ENTRIES_PER_LINE])
        differing = self._partner.take(positions) ^ expected[probes].repeat(lengths)
        kept = (np.bitwise_count(differing) <= pair_limit).nonzero()[0]
        # Entries are read query after query: where each query's entries end, counted in
        # survivors, splits the survivors by query.
        if query_count == 1:
            counts = np.array([kept.shape[0]])
        else:
            probe_bounds = probes.searchsorted(np.arange(1, query_count + 1) * probes_per_query)
            query_ends = np.concatenate([[0], ends])[probe_bounds]
            counts = np.diff(kept.searchsorted(query_ends), prepend=0)
        return counts, self._order.take(positions[kept]).astype(np.intp)

    def _crowded_rows(
        self,
        starts: np.ndarray,
        lengths: np.ndarray,
        expected: np.ndarray,
        long: np.ndarray,
        pair_limit: int,
    ) -> np.ndarray:
        """The distinct base rows that pass the pair filter in one query's probes (``long``
        marks the large buckets, read as slices), in ascending order."""
        seen = np.zeros(self._base_size, dtype=bool)
        probes_per_chunk = long.shape[0] // CHUNKS
        for probe in long.nonzero()[0].tolist():
            bucket = slice(int(starts[probe]), int(starts[probe] + lengths[probe]))
            wanted = int(expected[probe])
            # d_partner, compared in 16 bits with the limit less the probe's own distance.
            partner_distances = np.bitwise_count(self._partner[bucket] ^ np.uint16(wanted & 0xFFFF))
            keep = partner_distances <= pair_limit - (wanted >> CHUNK_BITS).bit_count()
            if (probe // probes_per_chunk) % 2:
                # Chunk 2k + 1: an entry whose chunk 2k is within r bits is found, with the
                # same pair distance, in the probes of chunk 2k. Marked once is enough.
                keep &= partner_distances > pair_limit // 2
            # (numpy indexes with intp far faster than with the uint32 stored.)
            seen[self._order[bucket][keep].astype(np.intp)] = True
        _, rows = self._probe(starts, np.where(long, 0, lengths), expected, pair_limit, len(long))
        seen[rows] = True
        return seen.nonzero()[0]

    def _distinct(self, counts: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (query, row) pairs of the candidates, each once: ``counts[i]`` rows for
        query ``i``, grouped by query. Returns the query numbers (counted from 0) and rows
        of the distinct pairs."""
        # Beyond this many candidates for one query, marking its rows in a map of the base
        # (pages the kernel hands out zeroed, read back in order) costs less than a sort.
        crowded = counts >= max(_MAP_MIN, self._base_size >> 8)
        light = ~crowded
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        if light.any():
            query_rows = np.repeat(light.nonzero()[0], counts[light])
            mine = rows[np.repeat(light, counts)] if crowded.any() else rows
            keys = np.unique(query_rows * self._base_size + mine)
            parts.append(np.divmod(keys, self._base_size))
        bounds = np.concatenate([[0], np.cumsum(counts)])
        for query in crowded.nonzero()[0].tolist():
            seen = np.zeros(self._base_size, dtype=bool)
            seen[rows[bounds[query] : bounds[query + 1]]] = True
            mine = seen.nonzero()[0]
            parts.append((np.full(mine.shape[0], query), mine))
        if len(parts) == 1:
            return parts[0]
        found_queries, found_rows = zip(*parts, strict=True)
        return np.concatenate(found_queries), np.concatenate(found_rows)

    def _scan(self, words: np.ndarray, distance: int) -> tuple[np.ndarray, np.ndarray]:
        """Every base row within ``distance`` of one query's ``words``, block by block."""
        tiled = np.tile(words, (min(_SCAN_ROWS, self._base_size), 1))
        rows_parts = []
        distance_parts = []
        for first in range(0, self._base_size, _SCAN_ROWS):
            block = self._words[first : first + _SCAN_ROWS]
            row_distances = _distances(block, tiled[: block.shape[0]])
            rows = (row_distances <= distance).nonzero()[0]
            rows_parts.append(rows + first)
            distance_parts.append(row_distances[rows])
        return np.concatenate(rows_parts), np.concatenate(distance_parts)


_Matches = tuple[np.ndarray, np.ndarray, np.ndarray]
_NO_ROWS = np.zeros(0, dtype=np.int64)


def _first_of_each(
    base_size: int, query_rows: np.ndarray, rows: np.ndarray, distances: np.ndarray
) -> _Matches:
    """The matches with each (query, row) pair once (a row found through several chunks)."""
    keys = query_rows * base_size + rows
    if keys.shape[0] <= 64:
        # A handful of matches (the usual case): a dict is cheaper than np.unique.
        seen: dict[int, int] = {}
        for position, key in enumerate(keys.tolist()):
            seen.setdefault(key, position)
        first_seen = np.fromiter(seen.values(), dtype=np.int64, count=len(seen))
    else:
        first_seen = np.unique(keys, return_index=True)[1]
    return query_rows[first_seen], rows[first_seen], distances[first_seen]


def _concatenate(found: list[_Matches]) -> _Matches:
    if len(found) == 1:
        return found[0]
    if not found:
        return _NO_ROWS, _NO_ROWS, np.zeros(0, dtype=np.uint16)
    query_rows, ids, distances = zip(*found, strict=True)
    return np.concatenate(query_rows), np.concatenate(ids), np.concatenate(distances)


def _group_by_query(query_count: int, found: list[_Matches]) -> list[list[tuple[int, int]]]:
    """Per query, [(id, distance)] sorted by distance then id."""
    query_rows, ids, distances = _concatenate(found)
    if ids.shape[0] == 0:
        return [[] for _ in range(query_count)]
    if query_count == 1 and ids.shape[0] > 1 and bool(np.all(ids[1:] >= ids[:-1])):
        # One query whose matches come in id order (from the map of the base): a stable
        # sort of the 16-bit distances (a radix sort in numpy) puts them in order.
        by_distance = np.argsort(distances.astype(np.uint16, copy=False), kind="stable")
        ids, distances = ids[by_distance], distances[by_distance]
    elif ids.shape[0] > 1:
        by_query = np.lexsort((ids, distances, query_rows))
        query_rows, ids, distances = query_rows[by_query], ids[by_query], distances[by_query]
    pairs = list(zip(ids.tolist(), distances.tolist(), strict=True))
    if query_count == 1:
        return [pairs]
    bounds = np.searchsorted(query_rows, np.arange(query_count + 1)).tolist()
    return [pairs[bounds[i] : bounds[i + 1]] for i in range(query_count)]
