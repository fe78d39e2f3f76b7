"""The PDQ index against an exhaustive scan: same matches, same distances, same order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hashbank.matching import pdq_index
from hashbank.matching.pdq_index import PdqIndex, hash_to_hex, hashes_from_hex

THRESHOLDS = [0, 1, 15, 16, 31, 32, 47, 63]


class ExhaustiveModel:
    """What the index must answer: a dict of id -> hash, scanned in full."""

    def __init__(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        self.entries = {int(i): h.copy() for i, h in zip(ids, hashes, strict=True)}

    def add(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        for i, h in zip(ids, hashes, strict=True):
            self.entries[int(i)] = h.copy()

    def remove(self, ids: list[int]) -> None:
        for i in ids:
            self.entries.pop(i, None)

    def search(self, query: np.ndarray, max_distance: int) -> list[tuple[int, int]]:
        if not self.entries:
            return []
        ids = np.array(list(self.entries), dtype=np.int64)
        hashes = np.array(list(self.entries.values()), dtype=np.uint8)
        distances = np.unpackbits(hashes ^ query, axis=1).sum(axis=1)
        close = np.flatnonzero(distances <= max_distance)
        return sorted(((int(ids[i]), int(distances[i])) for i in close), key=lambda m: (m[1], m[0]))


def random_hashes(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.integers(0, 256, size=(count, 32), dtype=np.uint8)


def flip(hash_row: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    """A copy of the hash with exactly `bits` distinct bits flipped."""
    flipped = np.unpackbits(hash_row)
    positions = rng.choice(256, size=bits, replace=False)
    flipped[positions] ^= 1
    return np.packbits(flipped)


def queries_near(rng: np.random.Generator, hashes: np.ndarray, count: int) -> np.ndarray:
    """Queries at every distance from 0 to 70 of rows of `hashes`, and unrelated ones."""
    near = [flip(hashes[rng.integers(len(hashes))], bits % 71, rng) for bits in range(count)]
    return np.concatenate([np.array(near), random_hashes(rng, 5)])


def assert_same_answers(
    index: PdqIndex, model: ExhaustiveModel, queries: np.ndarray, thresholds: list[int]
) -> None:
    for threshold in thresholds:
        expected = [model.search(q, threshold) for q in queries]
        assert index.search_many(queries, max_distance=threshold) == expected, threshold
        assert [index.search(q, threshold) for q in queries] == expected, threshold
        assert [index.search(q.tobytes(), threshold) for q in queries] == expected


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


@pytest.fixture
def banked(rng):
    """20,000 random hashes under scattered ids, and the model of them."""
    hashes = random_hashes(rng, 20_000)
    ids = rng.permutation(1_000_000)[:20_000].astype(np.int64)
    return hashes, ids, PdqIndex.build(hashes, ids), ExhaustiveModel(hashes, ids)


def test_it_matches_an_exhaustive_scan_at_every_threshold(banked, rng):
    hashes, _, index, model = banked
    assert_same_answers(index, model, queries_near(rng, hashes, 80), THRESHOLDS)


def test_planted_neighbours_within_31_are_found_and_those_beyond_are_not(banked, rng):
    hashes, ids, index, _ = banked
    for distance in range(41):
        row = int(rng.integers(len(hashes)))
        matches = index.search(flip(hashes[row], distance, rng))
        if distance <= 31:
            assert matches == [(int(ids[row]), distance)]
        else:
            assert matches == []


def test_a_distance_of_256_is_not_mistaken_for_0():
    zeros = np.zeros((1, 32), dtype=np.uint8)
    ones = np.full((1, 32), 255, dtype=np.uint8)
    index = PdqIndex.build(np.concatenate([zeros, ones]), np.array([1, 2]))
    assert index.search(zeros[0], 63) == [(1, 0)]
    assert index.search(ones[0], 63) == [(2, 0)]
    index.add(ones, np.array([3]))
    assert index.search(zeros[0], 63) == [(1, 0)]


def test_all_zero_and_all_one_hashes_among_random_ones(rng):
    hashes = np.concatenate(
        [
            np.zeros((300, 32), dtype=np.uint8),
            np.full((300, 32), 255, dtype=np.uint8),
            random_hashes(rng, 3_000),
        ]
    )
    ids = np.arange(len(hashes), dtype=np.int64) * 7
    index, model = PdqIndex.build(hashes, ids), ExhaustiveModel(hashes, ids)
    queries = np.concatenate(
        [
            hashes[:1],
            hashes[300:301],
            np.array([flip(hashes[0], bits, rng) for bits in (1, 16, 31, 32, 47, 63)]),
            np.array([flip(hashes[300], bits, rng) for bits in (1, 16, 31, 32, 47, 63)]),
            queries_near(rng, hashes[600:], 20),
        ]
    )
    assert_same_answers(index, model, queries, THRESHOLDS)


def test_many_hashes_in_one_bucket_of_every_chunk(rng):
    # Every hash has the same first 12 chunks: those buckets hold the whole index.
    hashes = random_hashes(rng, 6_000)
    hashes[:, :24] = 0xA5
    hashes[:2_000, 24:] = 0x5A
    ids = np.arange(6_000, dtype=np.int64)
    index, model = PdqIndex.build(hashes, ids), ExhaustiveModel(hashes, ids)
    assert_same_answers(index, model, queries_near(rng, hashes, 30), THRESHOLDS)


def near_duplicates(rng: np.random.Generator, center: np.ndarray, count: int) -> np.ndarray:
    """`count` copies of `center` with 0 to 12 bits flipped (re-encodings of one picture),
    then one at every distance from 13 to 64 so that every threshold has a neighbour on
    each side of it."""
    copies = [flip(center, int(bits), rng) for bits in rng.integers(0, 13, size=count)]
    copies += [flip(center, bits, rng) for bits in range(13, 65)]
    return np.array(copies)


def cluster_queries(rng: np.random.Generator, center: np.ndarray, others: np.ndarray):
    """The center, copies of it 1 to 12 bits away, and queries elsewhere."""
    around = [flip(center, bits, rng) for bits in range(1, 13)]
    return np.concatenate([center.reshape(1, 32), np.array(around), queries_near(rng, others, 20)])


def test_a_dense_cluster_of_near_duplicates_matches_an_exhaustive_scan(rng, tmp_path: Path):
    # One picture re-encoded 4,000 times among 20,000 random hashes: a query near it finds
    # each copy through up to 16 chunks, and every copy must come back once.
    center = random_hashes(rng, 1)[0]
    others = random_hashes(rng, 20_000)
    hashes = np.concatenate([others, near_duplicates(rng, center, 4_000)])
    ids = rng.permutation(10_000_000)[: len(hashes)].astype(np.int64)
    index, model = PdqIndex.build(hashes, ids), ExhaustiveModel(hashes, ids)
    queries = cluster_queries(rng, center, others)
    assert_same_answers(index, model, queries, [*THRESHOLDS, 8, 30, 48])
    # The copies at exactly the threshold are in, those one bit beyond are out.
    for threshold in (15, 16, 31, 32, 47):
        found = index.search(center, threshold)
        assert found[-1][1] == threshold
        assert len(found) == len({identifier for identifier, _ in found})
        assert len(found) == len(model.search(center, threshold))

    # Tombstones and a delta on top of the cluster.
    removed = [int(i) for i in ids[20_000:22_000:3]]
    added = near_duplicates(rng, center, 300)
    added_ids = np.arange(20_000_000, 20_000_000 + len(added), dtype=np.int64)
    for target in (index, model):
        target.remove(removed)
        target.add(added, added_ids)
    assert_same_answers(index, model, queries, [0, 31, 63])
    # The same from the files, memory-mapped as every web process reads them.
    index.save(tmp_path / "pdq")
    assert_same_answers(PdqIndex.load(tmp_path / "pdq"), model, queries, [31])


@pytest.mark.parametrize("long_bucket", [64, 1 << 40])
@pytest.mark.parametrize("cluster", [1_200, 18_000])
def test_queries_near_a_cluster_are_scanned_when_that_costs_less(
    monkeypatch, rng, cluster, long_bucket
):
    # 1,200 copies among 24,000: fewer entries than rows to read, but (with a scan made to
    # look cheap) more distinct candidates than a scan is worth. 18,000 copies: more
    # entries than rows, scanned before reading them. Tiny limits mix, in one pass,
    # queries answered from the buckets with and without the map of the base; queries
    # near the copies are answered on their own (long buckets) or in the passes.
    monkeypatch.setattr(pdq_index, "_SCAN_SHARE", 25)
    monkeypatch.setattr(pdq_index, "_LONG_BUCKET", long_bucket)
    monkeypatch.setattr(pdq_index, "_PASS_ENTRIES", 50_000)
    monkeypatch.setattr(pdq_index, "_FEW_CANDIDATES", 16)
    monkeypatch.setattr(pdq_index, "_MAP_MIN", 64)
    monkeypatch.setattr(pdq_index, "_SCAN_ROWS", 1_000)
    center = random_hashes(rng, 1)[0]
    others = random_hashes(rng, 24_000 - cluster)
    hashes = np.concatenate([near_duplicates(rng, center, cluster), others])
    ids = np.arange(len(hashes), dtype=np.int64) * 3
    index, model = PdqIndex.build(hashes, ids), ExhaustiveModel(hashes, ids)
    queries = cluster_queries(rng, center, others)
    rng.shuffle(queries)
    assert_same_answers(index, model, queries, [0, 16, 31, 32])


def test_the_same_hash_under_several_ids_matches_under_each(rng):
    hashes = random_hashes(rng, 1_000)
    shared = hashes[10].copy()
    hashes[500] = shared
    hashes[900] = shared
    ids = np.arange(1_000, dtype=np.int64) + 40
    index = PdqIndex.build(hashes, ids)
    assert index.search(shared) == [(50, 0), (540, 0), (940, 0)]
    index.add(shared.reshape(1, 32), np.array([5]))
    index.remove([540])
    assert index.search(flip(shared, 3, rng)) == [(5, 3), (50, 3), (940, 3)]


def test_adds_removals_and_re_adds_are_seen_at_once(banked, rng):
    hashes, ids, index, model = banked
    queries = queries_near(rng, hashes, 40)
    # New hashes near the queries, so that the delta takes part in the answers.
    added = np.array([flip(q, int(rng.integers(0, 40)), rng) for q in queries[:30]])
    added_ids = np.arange(2_000_000, 2_000_030, dtype=np.int64)
    index.add(added, added_ids)
    model.add(added, added_ids)
    removed = [int(i) for i in ids[:5_000]] + [int(i) for i in added_ids[:10]] + [123_456_789]
    index.remove(removed)
    model.remove(removed)
    assert_same_answers(index, model, queries, [0, 31, 47])

    # Re-added ids match again, some with their old hash and some with a new one.
    readded_ids = np.concatenate([ids[:20], added_ids[:5]])
    readded = np.concatenate([hashes[:10], added[10:15], random_hashes(rng, 10)])
    index.add(readded, readded_ids)
    model.add(readded, readded_ids)
    # A live base entry given a new hash no longer matches under the old one.
    moved = np.array([flip(hashes[7_000], 40, rng)])
    index.add(moved, ids[7_000:7_001])
    model.add(moved, ids[7_000:7_001])
    queries = np.concatenate([queries, hashes[:10], hashes[7_000:7_001], moved])
    assert_same_answers(index, model, queries, [0, 31, 63])
    assert len(index) == len(model.entries)


def test_changes_one_at_a_time_as_the_change_log_delivers_them(banked, rng):
    hashes, ids, index, model = banked
    for step in range(600):
        if step % 3 == 2:
            victim = int(ids[step]) if step % 2 else 3_000_000 + step - 2
            index.remove([victim])
            model.remove([victim])
        else:
            new = flip(hashes[step], step % 33, rng).reshape(1, 32)
            identifier = np.array([3_000_000 + step])
            index.add(new, identifier)
            model.add(new, identifier)
    assert len(index) == len(model.entries)
    assert index.delta_size == 400 - 200 // 2
    assert_same_answers(index, model, hashes[:600:7], [31])


def test_replaying_a_hash_the_base_already_holds_changes_nothing(banked):
    hashes, ids, index, _ = banked
    index.add(hashes[:100], ids[:100])
    assert index.delta_size == 0
    assert len(index) == len(ids)
    assert index.search(hashes[0]) == [(int(ids[0]), 0)]


def test_compact_folds_the_delta_and_tombstones_into_a_new_base(banked, rng):
    hashes, ids, index, model = banked
    added = random_hashes(rng, 500)
    added_ids = np.arange(5_000_000, 5_000_500, dtype=np.int64)
    index.add(added, added_ids)
    model.add(added, added_ids)
    removed = [int(i) for i in ids[::3]] + [int(i) for i in added_ids[::5]]
    index.remove(removed)
    model.remove(removed)
    compacted = index.compact()
    assert compacted.delta_size == 0
    assert len(compacted) == len(index) == len(model.entries)
    queries = np.concatenate([queries_near(rng, hashes, 30), queries_near(rng, added, 20)])
    assert_same_answers(compacted, model, queries, [0, 31, 63])
    assert_same_answers(index, model, queries, [31])


def test_save_and_load_with_mmap_give_identical_results(banked, rng, tmp_path: Path):
    hashes, ids, index, _ = banked
    added = random_hashes(rng, 50)
    index.add(added, np.arange(9_000_000, 9_000_050, dtype=np.int64))
    index.remove([int(i) for i in ids[:300]] + [9_000_001])
    queries = np.concatenate([queries_near(rng, hashes, 40), added[:5], hashes[:5]])
    expected = {t: index.search_many(queries, t) for t in (0, 31, 63)}

    index.save(tmp_path / "pdq")
    for mmap in (True, False):
        loaded = PdqIndex.load(tmp_path / "pdq", mmap=mmap)
        assert len(loaded) == len(index)
        assert loaded.delta_size == index.delta_size
        for threshold, answers in expected.items():
            assert loaded.search_many(queries, threshold) == answers
    # The base is mapped read-only; changes still go to the delta.
    # An id hidden in the base and back in the delta with its base hash stays findable.
    index.add(hashes[500:501] ^ 1, ids[500:501])
    index.add(hashes[500:501], ids[500:501])
    index.save(tmp_path / "pdq")
    assert PdqIndex.load(tmp_path / "pdq").search(hashes[500]) == [(int(ids[500]), 0)]
    loaded = PdqIndex.load(tmp_path / "pdq")
    loaded.remove([int(ids[400])])
    loaded.add(hashes[:1], ids[:1])
    assert loaded.search(hashes[0]) == [(int(ids[0]), 0)]
    assert loaded.search(hashes[400]) == []


def test_saving_over_an_index_replaces_it_and_leaves_no_temporary_files(tmp_path, rng):
    first = PdqIndex.build(random_hashes(rng, 100), np.arange(100))
    second_hashes = random_hashes(rng, 200)
    second = PdqIndex.build(second_hashes, np.arange(200) + 1_000)
    first.save(tmp_path / "pdq")
    second.save(tmp_path / "pdq")
    loaded = PdqIndex.load(tmp_path / "pdq")
    assert len(loaded) == 200
    assert loaded.search(second_hashes[3]) == [(1_003, 0)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pdq"]


def test_loading_something_else_raises_value_error(tmp_path):
    directory = tmp_path / "not-an-index"
    directory.mkdir()
    (directory / "pdq-index.json").write_text('{"format": "other", "version": 1}')
    with pytest.raises(ValueError):
        PdqIndex.load(directory)


def test_large_batches_and_crowded_buckets_take_the_other_code_paths(monkeypatch, rng):
    # Tiny pass and scan sizes force several passes per batch and several scan blocks.
    monkeypatch.setattr(pdq_index, "_PASS_ENTRIES", 500)
    monkeypatch.setattr(pdq_index, "_SCAN_ROWS", 1_000)
    monkeypatch.setattr(pdq_index, "_QUERY_GROUP", 7)
    hashes = np.concatenate(
        [np.repeat(random_hashes(rng, 1), 2_500, axis=0), random_hashes(rng, 2_500)]
    )
    ids = np.arange(5_000, dtype=np.int64)
    index, model = PdqIndex.build(hashes, ids), ExhaustiveModel(hashes, ids)
    added = random_hashes(rng, 300)
    index.add(added, np.arange(10_000, 10_300))
    model.add(added, np.arange(10_000, 10_300))
    queries = np.concatenate([hashes[:2], added[:3], queries_near(rng, hashes[2_500:], 30)])
    assert_same_answers(index, model, queries, [0, 31, 63])


def test_an_empty_index_matches_nothing_until_something_is_added(rng):
    index = PdqIndex.build(np.zeros((0, 32), dtype=np.uint8), np.zeros(0, dtype=np.int64))
    query = random_hashes(rng, 1)
    assert len(index) == 0
    assert index.search(query[0]) == []
    assert index.search_many(query) == [[]]
    assert index.search_many(np.zeros((0, 32), dtype=np.uint8)) == []
    index.add(query, np.array([42]))
    assert index.search(query[0]) == [(42, 0)]
    assert index.compact().search(query[0]) == [(42, 0)]


def test_ids_may_come_in_any_order_but_only_once(rng):
    hashes = random_hashes(rng, 50)
    index = PdqIndex.build(hashes, np.arange(50)[::-1].copy())
    assert index.search(hashes[0]) == [(49, 0)]
    with pytest.raises(ValueError, match="unique"):
        PdqIndex.build(hashes, np.array([1, 2] * 25))


def test_len_and_delta_size_count_live_entries(rng):
    index = PdqIndex.build(random_hashes(rng, 10), np.arange(10))
    index.add(random_hashes(rng, 3), np.array([100, 101, 3]))
    assert (len(index), index.delta_size) == (12, 3)
    index.remove([100, 4, 4, 999])
    assert (len(index), index.delta_size) == (10, 2)
    index.remove([3])
    assert (len(index), index.delta_size) == (9, 1)


@pytest.mark.parametrize(
    "call",
    [
        lambda i: PdqIndex.build(np.zeros((3, 31), dtype=np.uint8), np.arange(3)),
        lambda i: PdqIndex.build(np.zeros((3, 32), dtype=np.int64), np.arange(3)),
        lambda i: PdqIndex.build(np.zeros(32, dtype=np.uint8), np.arange(1)),
        lambda i: PdqIndex.build(np.zeros((3, 32), dtype=np.uint8), np.arange(4)),
        lambda i: PdqIndex.build(np.zeros((3, 32), dtype=np.uint8), np.zeros(3)),
        lambda i: PdqIndex.build([[0] * 32], np.arange(1)),
        lambda i: i.search(b"\x00" * 31),
        lambda i: i.search(np.zeros(32, dtype=np.int16)),
        lambda i: i.search(np.zeros((1, 32), dtype=np.uint8)),
        lambda i: i.search("00" * 32),
        lambda i: i.search(b"\x00" * 32, max_distance=64),
        lambda i: i.search(b"\x00" * 32, max_distance=-1),
        lambda i: i.search(b"\x00" * 32, max_distance=31.0),
        lambda i: i.search_many(np.zeros(32, dtype=np.uint8)),
        lambda i: i.search_many(np.zeros((2, 32), dtype=np.uint8), max_distance=100),
        lambda i: i.add(np.zeros((2, 32), dtype=np.uint8), np.arange(3)),
        lambda i: i.add(np.zeros((2, 16), dtype=np.uint16), np.arange(2)),
        lambda i: hashes_from_hex(["00" * 31]),
        lambda i: hashes_from_hex(["zz" * 32]),
        lambda i: hashes_from_hex(["00" * 31 + " 0"]),
        lambda i: hash_to_hex(b"\x00" * 33),
    ],
)
def test_invalid_input_raises_value_error(call, rng):
    index = PdqIndex.build(random_hashes(rng, 10), np.arange(10))
    with pytest.raises(ValueError):
        call(index)


def test_hex_helpers_round_trip_and_accept_either_case():
    values = ["f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22", "00" * 32]
    hashes = hashes_from_hex([values[0].upper(), values[1]])
    assert hashes.shape == (2, 32)
    assert hashes.dtype == np.uint8
    assert [hash_to_hex(row) for row in hashes] == values
    assert hash_to_hex(hashes[0].tobytes()) == values[0]
    assert hashes_from_hex([]).shape == (0, 32)
