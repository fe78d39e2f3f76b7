"""PDQ matching: the hub's index against faiss's exhaustive search and python-threatexchange.

    .venv/bin/python bench/matching.py [--sizes 100000,1000000,10000000] [--queries 200]
        [--cluster-sizes 1000000] [--methods ours,faiss_flat,threatexchange]

For each size N: N random PDQ hashes under ids 1..N, and queries planted around them, half
within distance 0-31 of a known row (each must be found, at its exact distance), a quarter
at 32-40 (must not be found) and a quarter unrelated. Three indexes answer the same
queries, each given the query as a hex string as the hub receives it:

* ours: hashbank.matching.pdq_index.PdqIndex;
* faiss IndexBinaryFlat, an exhaustive scan: the exactness reference (every other index
  must return exactly its answers); `range_search` keeps distances strictly below the
  radius, so radius 32 means distance <= 31;
* python-threatexchange's PDQ index, the class `PdqSignal.get_index_cls()` returns and the
  hasher-matcher-actioner matches with (faiss IndexBinaryMultiHash, 16 maps of 16 bits,
  wrapped with Python id maps).

The cluster case (--cluster-sizes, each size N): the same N random hashes, except that
20,000 rows are copies of one picture, each with 0 to 16 of its bits flipped (one viral
image and its re-encodings). Queries near it (the picture with 0 to 15 bits flipped: each
matches thousands of copies, found through up to 16 chunks each) and queries far from it
(planted around rows outside the cluster, as above, and unrelated ones) are timed apart,
ours against faiss's exhaustive scan, whose answers (ids and distances, in order) ours must
equal for every query.

Each index runs in a process of its own, so that the resident memory it adds (VmRSS before
and after the build) and the peak during the build (VmHWM) are its own. Everything runs on
one thread. A baseline whose run at a size would take more than about ten minutes (scaled
from the size before) is skipped, and the table says so. Results: a table on stdout, ratios
against the baselines of the same run, and bench/results/matching.json.
"""

from __future__ import annotations

import os

# One thread everywhere, set before numpy or faiss load their thread pools.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RESULTS_FILE = REPO / "bench" / "results" / "matching.json"
METHODS = ("ours", "faiss_flat", "threatexchange")
LABELS = {
    "ours": "ours (PdqIndex)",
    "faiss_flat": "faiss IndexBinaryFlat",
    "threatexchange": "threatexchange PDQIndex",
}
THRESHOLD = 31
BATCH = 1_000
CHANGES = 5_000  # adds, and as many removes
SEED = 20_240_611
# A run of one index at one size is given up past this (a baseline it would exceed is
# skipped beforehand when the size before says so).
RUN_BUDGET_S = 600
WORKER_TIMEOUT_S = 1_500
CLUSTER = 20_000  # copies of one picture in the cluster case
CLUSTER_BITS = 16  # each copy differs from the picture in 0 to CLUSTER_BITS bits
CLUSTER_QUERY_BITS = 15  # a query near the cluster: the picture with 0 to 15 bits flipped
CLUSTER_METHODS = ("ours", "faiss_flat")
# Above this size the index is only built and searched: the hub-as-it-runs extras build a
# second, compacted index and write the files, doubling the memory.
EXTRAS_MAX_SIZE = 10_000_000


# Workload.


@dataclass
class Queries:
    hashes: np.ndarray  # (Q, 32) uint8
    hexes: list[str]
    planted_rows: np.ndarray  # row the query was made from, -1 for unrelated queries
    planted_distances: np.ndarray  # bits flipped from that row

    @classmethod
    def around(cls, rng: np.random.Generator, base: np.ndarray, count: int) -> Queries:
        near, far = count // 2, count // 4
        rows = rng.integers(0, base.shape[0], size=count)
        distances = np.concatenate(
            [
                np.arange(near) % (THRESHOLD + 1),
                THRESHOLD + 1 + np.arange(far) % 9,
                np.zeros(count - near - far, dtype=np.int64),
            ]
        )
        queries = base[rows].copy()
        for i in range(near + far):
            bits = np.unpackbits(queries[i])
            bits[rng.choice(256, size=int(distances[i]), replace=False)] ^= 1
            queries[i] = np.packbits(bits)
        unrelated = slice(near + far, count)
        queries[unrelated] = rng.integers(0, 256, size=(count - near - far, 32), dtype=np.uint8)
        rows[unrelated] = -1
        return cls(queries, [q.tobytes().hex() for q in queries], rows, distances)


def workload(size: int, queries: int) -> tuple[np.ndarray, np.ndarray, Queries, Queries]:
    rng = np.random.default_rng(SEED + size)
    hashes = rng.integers(0, 256, size=(size, 32), dtype=np.uint8)
    ids = np.arange(1, size + 1, dtype=np.int64)
    return hashes, ids, Queries.around(rng, hashes, queries), Queries.around(rng, hashes, BATCH)


def flipped(rng: np.random.Generator, row: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Copies of one hash, copy i with counts[i] distinct random bits flipped."""
    bits = np.unpackbits(np.tile(row, (counts.shape[0], 1)), axis=1)
    # The counts[i] smallest of 256 random keys pick the bits, without replacement.
    ranks = rng.random((counts.shape[0], 256)).argsort(axis=1).argsort(axis=1)
    bits ^= (ranks < counts[:, None]).astype(np.uint8)
    return np.packbits(bits, axis=1)


def cluster_workload(size: int, count: int) -> tuple[np.ndarray, np.ndarray, Queries, Queries]:
    """N random hashes under ids 1..N, CLUSTER of them copies of one picture; `count`
    queries near the picture and `count` far from it."""
    rng = np.random.default_rng(SEED + size + 1)
    hashes = rng.integers(0, 256, size=(size, 32), dtype=np.uint8)
    picture = rng.integers(0, 256, size=32, dtype=np.uint8)
    members = rng.choice(size, size=min(CLUSTER, size), replace=False)
    hashes[members] = flipped(rng, picture, rng.integers(0, CLUSTER_BITS + 1, members.shape[0]))
    near_bits = np.arange(count) % (CLUSTER_QUERY_BITS + 1)
    near = flipped(rng, picture, near_bits)
    near_queries = Queries(near, [q.tobytes().hex() for q in near], np.full(count, -1), near_bits)
    outside = np.setdiff1d(np.arange(size), members)
    far = Queries.around(rng, hashes[outside], count)
    # Rows of the whole list, for check().
    far.planted_rows = np.where(far.planted_rows >= 0, outside[far.planted_rows], -1)
    ids = np.arange(1, size + 1, dtype=np.int64)
    return hashes, ids, near_queries, far


def check_fast(
    results: list[list[tuple[int, int]]], queries: Queries, hashes: np.ndarray
) -> dict[str, Any]:
    """Every returned pair checked against the exact distance, vectorised (a query near the
    cluster returns thousands), and a digest of each answer (ids and distances, in order)
    to compare indexes by."""
    beyond = wrong_distance = matches = 0
    digests = []
    for i, found in enumerate(results):
        pairs = np.array(found, dtype=np.int64).reshape(-1, 2)
        exact = np.unpackbits(hashes[pairs[:, 0] - 1] ^ queries.hashes[i], axis=1).sum(axis=1)
        beyond += int((exact > THRESHOLD).sum())
        wrong_distance += int((exact != pairs[:, 1]).sum())
        matches += pairs.shape[0]
        digests.append(hashlib.sha256(pairs.tobytes()).hexdigest()[:16])
    return {
        "false_matches": beyond,
        "wrong_distances": wrong_distance,
        "mean_matches": round(matches / max(len(results), 1), 1),
        "digests": digests,
    }


def check(
    results: list[list[tuple[int, int]]], queries: Queries, hashes: np.ndarray
) -> dict[str, Any]:
    """Recall of the planted neighbours within the threshold; every returned pair
    checked against the exact distance."""
    planted = found = far_found = beyond = wrong_distance = 0
    for i, matches in enumerate(results):
        row, distance = int(queries.planted_rows[i]), int(queries.planted_distances[i])
        for identifier, reported in matches:
            exact = int(np.unpackbits(hashes[identifier - 1] ^ queries.hashes[i]).sum())
            beyond += exact > THRESHOLD
            wrong_distance += exact != int(reported)
        if row >= 0 and distance <= THRESHOLD:
            planted += 1
            found += (row + 1, distance) in [(i_, int(d)) for i_, d in matches]
        elif row >= 0:
            far_found += any(i_ == row + 1 for i_, _ in matches)
    return {
        "planted": planted,
        "recall": found / planted if planted else None,
        "false_matches": beyond,
        "planted_beyond_found": far_found,
        "wrong_distances": wrong_distance,
    }


# Process measurements.


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def latencies_us(search: Callable[[str], Any], hexes: list[str]) -> tuple[list[Any], np.ndarray]:
    """Each query's wall-clock time (row 0) and this thread's CPU time (row 1), in µs. On a
    shared machine a query may wait for a core for a whole time slice (milliseconds): the
    CPU time leaves that wait out, which keeps tail latencies comparable between runs."""
    results = []
    spent = np.empty((2, len(hexes)))
    for i, value in enumerate(hexes):
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        results.append(search(value))
        spent[1, i] = (time.thread_time_ns() - started_cpu) / 1_000
        spent[0, i] = (time.perf_counter_ns() - started) / 1_000
    return results, spent


def percentile(spent: np.ndarray, q: int) -> float:
    return round(float(np.percentile(spent, q)), 1)


# The indexes, behind one small interface: build, one query from hex, a batch.


class Ours:
    def __init__(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        from hashbank.matching.pdq_index import PdqIndex

        self.index = PdqIndex.build(hashes, ids)

    def search(self, value: str) -> list[tuple[int, int]]:
        return self.index.search(bytes.fromhex(value), THRESHOLD)

    def search_batch(self, queries: Queries) -> list[list[tuple[int, int]]]:
        from hashbank.matching.pdq_index import hashes_from_hex

        return self.index.search_many(hashes_from_hex(queries.hexes), THRESHOLD)


class FaissFlat:
    def __init__(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        import faiss

        faiss.omp_set_num_threads(1)
        self.index = faiss.IndexBinaryFlat(256)
        self.index.add(hashes)
        # Rows are 0..N-1 and ids 1..N, as built by workload().
        assert int(ids[0]) == 1 and int(ids[-1]) == len(ids)

    def _answers(self, queries: np.ndarray) -> list[list[tuple[int, int]]]:
        # Strictly below the radius: THRESHOLD + 1 keeps distances up to THRESHOLD.
        limits, distances, rows = self.index.range_search(queries, THRESHOLD + 1)
        answers = []
        for i in range(queries.shape[0]):
            part = slice(limits[i], limits[i + 1])
            ids, found = rows[part] + 1, distances[part]
            # Sorted by distance then id in numpy, as ours is: a query near a cluster has
            # thousands of answers, and a Python sort of them would cost more than the scan.
            by_distance = np.lexsort((ids, found))
            pairs = zip(ids[by_distance].tolist(), found[by_distance].tolist(), strict=True)
            answers.append(list(pairs))
        return answers

    def search(self, value: str) -> list[tuple[int, int]]:
        return self._answers(np.frombuffer(bytes.fromhex(value), dtype=np.uint8).reshape(1, 32))[0]

    def search_batch(self, queries: Queries) -> list[list[tuple[int, int]]]:
        raw = bytes.fromhex("".join(queries.hexes))
        return self._answers(np.frombuffer(raw, dtype=np.uint8).reshape(-1, 32))


class ThreatExchange:
    def __init__(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        import faiss
        from threatexchange.signal_type.pdq.signal import PdqSignal

        faiss.omp_set_num_threads(1)
        # The index keeps these (hex, id) entries: they are part of its memory.
        entries = [(row.tobytes().hex(), int(i)) for row, i in zip(hashes, ids, strict=True)]
        self.index = PdqSignal.get_index_cls()(entries)

    def search(self, value: str) -> list[tuple[int, int]]:
        matches = self.index.query(value)
        pairs = [(int(m.metadata), int(m.similarity_info.distance)) for m in matches]
        return sorted(pairs, key=lambda m: (m[1], m[0]))

    def search_batch(self, queries: Queries) -> list[list[tuple[int, int]]]:
        # Its index answers one hash per call; the matcher calls it in a loop.
        return [self.search(value) for value in queries.hexes]


INDEXES: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
    "ours": Ours,
    "faiss_flat": FaissFlat,
    "threatexchange": ThreatExchange,
}


# One index at one size, in its own process.


def run_worker(method: str, size: int, query_count: int) -> dict[str, Any]:
    hashes, ids, single, batch = workload(size, query_count)
    gc.collect()
    rss_before = status_kib("VmRSS")
    index, build_s = timed(lambda: INDEXES[method](hashes, ids))
    gc.collect()
    rss_after = status_kib("VmRSS")
    peak = status_kib("VmHWM")

    # Warm up on queries that are not timed.
    for value in batch.hexes[:20]:
        index.search(value)
    single_results, spent = latencies_us(index.search, single.hexes)
    batch_results, batch_s = timed(lambda: index.search_batch(batch))
    report: dict[str, Any] = {
        "method": method,
        "size": size,
        "build_s": round(build_s, 3),
        "rss_added_mib": mib(rss_after - rss_before),
        "rss_peak_added_mib": mib(peak - rss_before),
        "p50_us": percentile(spent[0], 50),
        "p99_us": percentile(spent[0], 99),
        "mean_us": round(float(spent[0].mean()), 1),
        "cpu_p50_us": percentile(spent[1], 50),
        "cpu_p99_us": percentile(spent[1], 99),
        "batch_queries": BATCH,
        "batch_s": round(batch_s, 4),
        "batch_qps": round(BATCH / batch_s, 1),
        "single": check(single_results, single, hashes),
        "batch": check(batch_results, batch, hashes),
        "answers": [[i for i, _ in r] for r in single_results]
        + [[i for i, _ in r] for r in batch_results],
    }
    if method == "ours" and size <= EXTRAS_MAX_SIZE:
        report["ours"] = run_ours_extras(index.index, hashes, ids, single)
    return report


def run_ours_extras(
    index: Any, hashes: np.ndarray, ids: np.ndarray, single: Queries
) -> dict[str, Any]:
    """The index as the hub runs it: changes from the change log, compaction, files
    memory-mapped by each web process."""
    from hashbank.matching.pdq_index import PdqIndex

    size = hashes.shape[0]
    rng = np.random.default_rng(SEED)
    extras: dict[str, Any] = {}

    # Changes one call each, as the per-process matcher applies the change log. The first
    # added hashes sit one bit from each query, so the delta takes part in the answers.
    added = rng.integers(0, 256, size=(CHANGES, 32), dtype=np.uint8)
    added[: len(single.hexes)] = single.hashes
    added[: len(single.hexes), 0] ^= 1
    added_ids = np.arange(size + 1, size + 1 + CHANGES, dtype=np.int64)
    removed_ids = rng.choice(ids, size=CHANGES, replace=False)

    def one_at_a_time() -> None:
        for i in range(CHANGES):
            index.add(added[i : i + 1], added_ids[i : i + 1])
            index.remove([int(removed_ids[i])])

    _, extras["changes_one_by_one_s"] = timed(one_at_a_time)
    results, spent = latencies_us(lambda v: index.search(bytes.fromhex(v), THRESHOLD), single.hexes)
    removed = set(removed_ids.tolist())
    extras["p50_us_with_changes"] = percentile(spent[0], 50)
    extras["removed_returned"] = sum(i in removed for r in results for i, _ in r)
    extras["added_found"] = sum(
        any(i == int(added_ids[q]) for i, _ in r) for q, r in enumerate(results)
    )
    extras["added_planted"] = len(single.hexes)

    # The same number of changes again, in two calls.
    more_added = rng.integers(0, 256, size=(CHANGES, 32), dtype=np.uint8)
    more_ids = np.arange(size + 1 + CHANGES, size + 1 + 2 * CHANGES, dtype=np.int64)
    more_removed = rng.choice(np.setdiff1d(ids[: 4 * CHANGES], removed_ids), CHANGES, False)
    _, extras["changes_batched_s"] = timed(
        lambda: (index.add(more_added, more_ids), index.remove(more_removed.tolist()))
    )
    extras["delta_size"] = index.delta_size
    compacted, extras["compact_s"] = timed(index.compact)
    extras["compacted_matches_same"] = compacted.search_many(single.hashes) == index.search_many(
        single.hashes
    )

    # What a web process does: map the files a background job wrote (still in the page
    # cache, as they are for every process after the first).
    with tempfile.TemporaryDirectory(prefix="pdq-bench-") as scratch:
        _, extras["save_s"] = timed(lambda: compacted.save(Path(scratch) / "index"))
        anon_before, file_before = status_kib("RssAnon"), status_kib("RssFile")
        loaded, extras["load_mmap_s"] = timed(lambda: PdqIndex.load(Path(scratch) / "index"))
        for value in single.hexes[:20]:
            loaded.search(bytes.fromhex(value))
        results, spent = latencies_us(
            lambda v: loaded.search(bytes.fromhex(v), THRESHOLD), single.hexes
        )
        extras["mmap_p50_us"] = percentile(spent[0], 50)
        extras["mmap_p99_us"] = percentile(spent[0], 99)
        extras["mmap_cpu_p99_us"] = percentile(spent[1], 99)
        extras["mmap_private_added_mib"] = mib(status_kib("RssAnon") - anon_before)
        extras["mmap_shared_resident_mib"] = mib(status_kib("RssFile") - file_before)
        extras["mmap_matches_same"] = results == [
            compacted.search(bytes.fromhex(v), THRESHOLD) for v in single.hexes
        ]
        extras["files_mib"] = mib(
            sum(p.stat().st_size for p in (Path(scratch) / "index").iterdir()) // 1024
        )
    return extras


def run_cluster_worker(methods: list[str], size: int, query_count: int) -> dict[str, Any]:
    """Every index of the cluster case in one process, their queries interleaved: on a
    machine shared with other work, each query of one index runs next to the same query of
    the other, so the load weighs on both alike. Memory is measured per build, in turn."""
    hashes, ids, near, far = cluster_workload(size, query_count)
    report: dict[str, Any] = {"size": size, "cluster": CLUSTER, "methods": {}}
    indexes = {}
    for method in methods:
        gc.collect()
        rss_before = status_kib("VmRSS")
        indexes[method], build_s = timed(lambda m=method: INDEXES[m](hashes, ids))
        gc.collect()
        report["methods"][method] = {
            "build_s": round(build_s, 3),
            "rss_added_mib": mib(status_kib("VmRSS") - rss_before),
        }
    for index in indexes.values():
        for value in far.hexes[:10] + near.hexes[:10]:
            index.search(value)
    sets = {"near": near, "far": far}
    spent = {(m, n): np.empty((2, query_count)) for m in methods for n in sets}
    answers: dict[tuple[str, str], list[Any]] = {key: [None] * query_count for key in spent}
    for i in range(query_count):
        for name, queries in sets.items():
            # Which index goes first alternates from one query to the next.
            for method in methods[:: 1 if i % 2 else -1]:
                started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
                answers[method, name][i] = indexes[method].search(queries.hexes[i])
                spent[method, name][1, i] = (time.thread_time_ns() - started_cpu) / 1_000
                spent[method, name][0, i] = (time.perf_counter_ns() - started) / 1_000
    for (method, name), times in spent.items():
        report["methods"][method][name] = {
            "p50_us": percentile(times[0], 50),
            "p99_us": percentile(times[0], 99),
            "cpu_p50_us": percentile(times[1], 50),
            "cpu_p99_us": percentile(times[1], 99),
            **check_fast(answers[method, name], sets[name], hashes),
        }
    return report


# The run: every index at every size, then the table.


def spawn(method: str, size: int, query_count: int, workload: str = "uniform") -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", method, "--sizes", str(size)]
    command += ["--queries", str(query_count), "--workload", workload]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return {"method": method, "size": size, "skipped": f"gave up after {WORKER_TIMEOUT_S} s"}
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"method": method, "size": size, "skipped": f"failed: {' | '.join(tail)}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def estimate(previous: dict[str, Any] | None, size: int) -> tuple[float, float] | None:
    """Seconds and MiB a run at `size` would take, scaled linearly from a smaller size."""
    if previous is None or "skipped" in previous:
        return None
    scale = size / previous["size"]
    seconds = previous["wall_s"] * scale
    return seconds, previous["rss_peak_added_mib"] * scale


def available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def agreement(report: dict[str, Any], reference: dict[str, Any] | None) -> str:
    if reference is None or "answers" not in reference or "answers" not in report:
        return "n/a"
    same = sum(
        sorted(a) == sorted(b) for a, b in zip(report["answers"], reference["answers"], strict=True)
    )
    return f"{same}/{len(reference['answers'])}"


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    versions = {name: metadata.version(name) for name in ("numpy", "faiss-cpu", "threatexchange")}
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1),
        "python": platform.python_version(),
        **versions,
        "threads": 1,
    }


def print_table(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    header = (
        f"{'N':>10}  {'index':<24} {'build s':>8} {'RSS MiB':>8} {'peak MiB':>8} "
        f"{'p50 us':>9} {'p99 us':>9} {'p99 cpu':>9} {'batch q/s':>10} {'recall':>7} {'false':>5} "
        f"{'=faiss':>9}"
    )
    print(header)
    print("-" * len(header))
    ratios = []
    for size in sorted({r["size"] for r in reports}):
        at_size = {r["method"]: r for r in reports if r["size"] == size}
        reference = at_size.get("faiss_flat")
        for method in METHODS:
            report = at_size.get(method)
            if report is None:
                continue
            if "skipped" in report:
                print(f"{size:>10,}  {LABELS[method]:<24} skipped: {report['skipped']}")
                continue
            recall = report["single"]["recall"], report["batch"]["recall"]
            false = report["single"]["false_matches"] + report["batch"]["false_matches"]
            report["agrees_with_faiss"] = agreement(report, reference)
            print(
                f"{size:>10,}  {LABELS[method]:<24} {report['build_s']:>8.2f} "
                f"{report['rss_added_mib']:>8.0f} {report['rss_peak_added_mib']:>8.0f} "
                f"{report['p50_us']:>9.1f} {report['p99_us']:>9.1f} {report['cpu_p99_us']:>9.1f} "
                f"{report['batch_qps']:>10.0f} {min(recall):>7.1%} {false:>5} "
                f"{report['agrees_with_faiss']:>9}"
            )
        ours = at_size.get("ours")
        if ours is None or "skipped" in ours:
            continue
        for baseline in ("faiss_flat", "threatexchange"):
            other = at_size.get(baseline)
            if other is None or "skipped" in other:
                continue
            ratio = {
                "size": size,
                "baseline": baseline,
                "p50_speedup": round(other["p50_us"] / ours["p50_us"], 1),
                "p99_speedup": round(other["p99_us"] / ours["p99_us"], 1),
                "cpu_p99_speedup": round(other["cpu_p99_us"] / ours["cpu_p99_us"], 1),
                "batch_speedup": round(ours["batch_qps"] / other["batch_qps"], 1),
                "memory_ratio": round(other["rss_added_mib"] / max(ours["rss_added_mib"], 1), 2),
                "build_speedup": round(other["build_s"] / ours["build_s"], 1),
            }
            ratios.append(ratio)
    if ratios:
        print()
        print("ours against each baseline, same run (how many times faster / smaller):")
        for r in ratios:
            print(
                f"  N={r['size']:>10,}  vs {LABELS[r['baseline']]:<24} p50 {r['p50_speedup']:>6}x"
                f"  p99 {r['p99_speedup']:>6}x (cpu {r['cpu_p99_speedup']:>6}x)"
                f"  batch {r['batch_speedup']:>6}x"
                f"  memory {r['memory_ratio']:>5}x  build {r['build_speedup']:>6}x"
            )
    ours_reports = [r for r in reports if r["method"] == "ours" and "ours" in r]
    if ours_reports:
        print()
        print("ours as the hub runs it (10,000 changes = 5,000 adds + 5,000 removes):")
        for r in ours_reports:
            e = r["ours"]
            print(
                f"  N={r['size']:>10,}  changes one call each {e['changes_one_by_one_s']:.2f} s,"
                f" in two calls {e['changes_batched_s']:.3f} s; p50 with 5,000 adds and"
                f" 5,000 removes pending {e['p50_us_with_changes']} us; compact"
                f" {e['compact_s']:.2f} s; save {e['save_s']:.2f} s, load (mmap)"
                f" {e['load_mmap_s']:.3f} s, p50 mmap-loaded {e['mmap_p50_us']} us"
                f" (p99 {e['mmap_p99_us']} us), private memory of a loaded process"
                f" {e['mmap_private_added_mib']} MiB"
            )
    return ratios


def print_cluster_table(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cluster case: near and far queries apart, ours against faiss's exhaustive scan."""
    print(f"cluster case: {CLUSTER:,} copies of one picture ({CLUSTER_BITS} bits or fewer apart)")
    header = (
        f"{'N':>11}  {'index':<22} {'queries':<7} {'build s':>8} {'RSS MiB':>8} "
        f"{'p50 us':>9} {'p99 us':>9} {'cpu p50':>9} {'cpu p99':>9} {'matches':>8} "
        f"{'false':>5} {'=faiss':>8}"
    )
    print(header)
    print("-" * len(header))
    ratios = []
    for report in reports:
        size = report["size"]
        if "skipped" in report:
            print(f"{size:>11,}  skipped: {report['skipped']}")
            continue
        reference = report["methods"].get("faiss_flat")
        for method, result in report["methods"].items():
            for name in ("near", "far"):
                part = result[name]
                same = "n/a"
                if reference is not None:
                    theirs = reference[name]["digests"]
                    agree = sum(a == b for a, b in zip(part["digests"], theirs, strict=True))
                    same = f"{agree}/{len(theirs)}"
                part["agrees_with_faiss"] = same
                false = part["false_matches"] + part["wrong_distances"]
                print(
                    f"{size:>11,}  {LABELS[method]:<22} {name:<7} {result['build_s']:>8.2f} "
                    f"{result['rss_added_mib']:>8.0f} {part['p50_us']:>9.1f} "
                    f"{part['p99_us']:>9.1f} {part['cpu_p50_us']:>9.1f} "
                    f"{part['cpu_p99_us']:>9.1f} {part['mean_matches']:>8.1f} {false:>5} "
                    f"{same:>8}"
                )
        ours = report["methods"].get("ours")
        if reference is None or ours is None:
            continue
        for name in ("near", "far"):
            ratio: dict[str, Any] = {"size": size, "queries": name}
            for key in ("p50_us", "p99_us", "cpu_p50_us", "cpu_p99_us"):
                ratio[key.replace("_us", "_speedup")] = round(
                    reference[name][key] / ours[name][key], 2
                )
            ratios.append(ratio)
    if ratios:
        print()
        print("ours against faiss IndexBinaryFlat, same run, queries interleaved (times faster):")
        for r in ratios:
            print(
                f"  N={r['size']:>11,}  {r['queries']:<4}  p50 {r['p50_speedup']:>6}x"
                f"  p99 {r['p99_speedup']:>6}x  cpu p50 {r['cpu_p50_speedup']:>6}x"
                f"  cpu p99 {r['cpu_p99_speedup']:>6}x"
            )
    for report in reports:
        for result in report.get("methods", {}).values():
            for name in ("near", "far"):
                result[name].pop("digests", None)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    parser.add_argument(
        "--cluster-sizes",
        default="1000000",
        help="sizes of the cluster case (ours and faiss's exhaustive scan); empty for none",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=("uniform", "cluster"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    cluster_sizes = [int(s) for s in args.cluster_sizes.split(",") if s]
    if args.worker:
        if args.workload == "cluster":
            report = run_cluster_worker(args.worker.split(","), sizes[0], args.queries)
        else:
            report = run_worker(args.worker, sizes[0], args.queries)
        print(json.dumps(report))
        return

    methods = [m for m in args.methods.split(",") if m]
    load_before = load_average()
    reports: list[dict[str, Any]] = []
    last: dict[str, dict[str, Any]] = {}
    for size in sizes:
        for method in methods:
            guess = estimate(last.get(method), size)
            if guess is not None and guess[0] > RUN_BUDGET_S:
                reason = f"estimated {guess[0]:.0f} s from N={last[method]['size']:,}"
                report = {"method": method, "size": size, "skipped": reason}
            elif guess is not None and guess[1] > 0.85 * available_mib():
                reason = f"estimated {guess[1]:.0f} MiB, {available_mib():.0f} MiB available"
                report = {"method": method, "size": size, "skipped": reason}
            else:
                print(f"N={size:,} {LABELS[method]} ...", file=sys.stderr, flush=True)
                report, wall = timed(lambda m=method, s=size: spawn(m, s, args.queries))
                report["wall_s"] = round(wall, 1)
                last[method] = report
            reports.append(report)
    cluster_reports = []
    cluster_methods = ",".join(m for m in CLUSTER_METHODS if m in methods)
    for size in cluster_sizes:
        print(f"N={size:,} cluster case ...", file=sys.stderr, flush=True)
        report, wall = timed(
            lambda s=size: spawn(cluster_methods, s, args.queries, workload="cluster")
        )
        report["wall_s"] = round(wall, 1)
        cluster_reports.append(report)
    print()
    ratios = print_table(reports) if reports else []
    cluster_ratios = print_cluster_table(cluster_reports) if cluster_reports else []
    print(f"\nload average (1 min): {load_before} before, {load_average()} after")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for report in reports:
        report.pop("answers", None)
    document = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        # Other work on the machine shows here: above the number of cores, queries wait.
        "load_average_1min": {"before": load_before, "after": load_average()},
        "threshold": THRESHOLD,
        "queries": args.queries,
        "batch": BATCH,
        "results": reports,
        "ratios": ratios,
        "cluster": {"copies": CLUSTER, "copy_bits": CLUSTER_BITS, "query_bits": CLUSTER_QUERY_BITS},
        "cluster_results": cluster_reports,
        "cluster_ratios": cluster_ratios,
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
