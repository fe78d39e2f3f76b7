"""The banks' Merkle trees: what keeping them costs changelog_append, how long a checkpoint
takes to issue, and how fast the proof endpoints answer on a large tree. Import after
django.setup().

- Appends: batches of `changelog_append` into the bench bank, whose tree is maintained, in
  turn with the same appends into another bank with tree maintenance switched off
  (`tree_append` replaced by numbering the entries only, `bank_index`, which the schema
  requires): the baseline. Both go on top of the large log built by bench/sync.py's
  changelog_fill (COPY), so the tree being appended to has `log_size` leaves.
- Checkpoints: `checkpoint_issue` after each appended batch, as the beat task does for a
  tree that grew (root, consistency proof against the previous checkpoint, signature).
- Proofs: inclusion proofs of random entries and consistency proofs from random sizes to
  the latest checkpoint, through the API (django.test.Client), against GET checkpoint (a
  stored note behind the same authentication and bank lookup) as the baseline.
"""

from __future__ import annotations

import random
import secrets
import statistics
from collections.abc import Callable
from functools import partial
from unittest import mock

from django.db import transaction
from django.test import Client
from django.utils import timezone

from bench.measure import BANK, BenchError, Row, api_client, rotated, timed
from bench.sync import changelog_fill
from hashbank.models import Bank, ChangeLogEntry, ChangeOp, Checkpoint, MerkleNode, Signal
from hashbank.selectors import changelog_next_sequence
from hashbank.services import changelog, transparency
from hashfed_wire import merkle

# The bank the baseline appends to: its tree is not maintained during the run, and is
# rebuilt at the end so that later readers of the bench database find it whole.
BASELINE_BANK = "HATE"
APPEND_BATCH = 1_000


def signals_create(bank: Bank, count: int) -> list[Signal]:
    now = timezone.now()
    return Signal.objects.bulk_create(
        [
            Signal(bank=bank, signal_type="pdq", value=secrets.token_hex(32), first_listed_at=now)
            for _ in range(count)
        ]
    )


def append(signals: list[Signal]) -> None:
    changelog.changelog_append(
        changes=[
            changelog.Change(signal=s, op=ChangeOp.ADD, labels=[], contributors=[]) for s in signals
        ]
    )


def number_only(rows: list[ChangeLogEntry]) -> list[MerkleNode]:
    """tree_append without the tree: each entry still takes the next place in its bank."""
    sizes: dict[int, int] = {}
    for row in rows:
        if row.bank_id not in sizes:
            sizes[row.bank_id] = transparency.tree_size(row.bank_id)
        row.bank_index = sizes[row.bank_id]
        sizes[row.bank_id] += 1
    return []


def append_without_tree(signals: list[Signal]) -> None:
    with mock.patch.object(changelog, "tree_append", number_only):
        append(signals)


def tree_rebuild(bank: Bank) -> None:
    """Store the nodes the baseline's appends did not."""
    leaves = [
        bytes.fromhex(value)
        for value in ChangeLogEntry.objects.filter(bank=bank)
        .order_by("bank_index")
        .values_list("leaf_hash", flat=True)
    ]
    with transaction.atomic():
        MerkleNode.objects.filter(bank=bank).delete()
        MerkleNode.objects.bulk_create(
            [
                MerkleNode(bank=bank, level=level, index=index, hash=value.hex())
                for level, index, value in merkle.append_leaves(0, [], leaves).nodes
                if level > 0
            ],
            batch_size=10_000,
        )


def latencies(call: Callable[[int], None], count: int) -> list[float]:
    return [timed(partial(call, turn))[0] for turn in range(count)]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def latency_row(scenario: str, name: str, times: list[float], *, baseline: bool = False) -> Row:
    return Row(
        scenario,
        name,
        n=len(times),
        seconds=sum(times),
        unit="requests/s",
        baseline=baseline,
        p50_seconds=statistics.median(times),
        note=f"p95 {p95(times) * 1000:.1f} ms",
    )


def get_json(client: Client, path: str) -> dict:
    response = client.get(path)
    if response.status_code != 200:
        raise BenchError(f"GET {path}: {response.status_code} {response.content[:200]!r}")
    return response.json()


def bench_transparency(api_keys: dict[str, str], *, quick: bool, log_size: int) -> list[Row]:
    batches = 5 if quick else 20
    requests = 100 if quick else 400
    bank = Bank.objects.get(name=BANK)
    baseline_bank = Bank.objects.get(name=BASELINE_BANK)
    print(f"transparency: the log filled to {log_size:,} entries in {BANK} (COPY, not timed)")
    changelog_fill(log_size)
    transparency.checkpoint_issue(bank)  # not timed: the first one has nothing to extend
    start_size = transparency.tree_size(bank.pk)
    print(f"  {BANK}'s tree holds {start_size:,} leaves; signals for the appends (not timed)")
    with_tree = [signals_create(bank, APPEND_BATCH) for _ in range(batches)]
    without_tree = [signals_create(baseline_bank, APPEND_BATCH) for _ in range(batches)]

    times: dict[str, list[float]] = {"tree": [], "plain": [], "checkpoint": []}
    for index in range(batches):
        steps: list[tuple[str, Callable[[], object]]] = [
            ("tree", partial(append, with_tree[index])),
            ("plain", partial(append_without_tree, without_tree[index])),
        ]
        for name, step in rotated(steps, index):
            seconds, _ = timed(step)
            times[name].append(seconds)
        seconds, _ = timed(partial(transparency.checkpoint_issue, bank))
        times["checkpoint"].append(seconds)
        print(
            f"  batch {index + 1}/{batches}: with tree {times['tree'][-1]:.3f} s, "
            f"without {times['plain'][-1]:.3f} s, checkpoint {times['checkpoint'][-1]:.3f} s"
        )
    size = transparency.tree_size(bank.pk)
    if size != start_size + batches * APPEND_BATCH:
        raise BenchError(f"{BANK}'s tree holds {size:,} leaves after the appends")
    last = transparency.checkpoint_last(bank)
    if last is None or last.size != size:
        raise BenchError("the last checkpoint does not cover the appended entries")

    def append_row(scenario: str, name: str, key: str, *, baseline: bool = False) -> Row:
        return Row(
            scenario,
            name,
            n=APPEND_BATCH * batches,
            seconds=sum(times[key]),
            unit="entries/s",
            baseline=baseline,
            p50_seconds=statistics.median(times[key]),
        )

    plain = append_row(
        f"tlog: changelog_append, no tree (bank_index only), batches of {APPEND_BATCH:,}",
        "append without tree",
        "plain",
        baseline=True,
    )
    tree = append_row(
        f"tlog: changelog_append with tree, onto {start_size:,} leaves",
        "append with tree",
        "tree",
    ).compared_with(plain)
    checkpoint = Row(
        f"tlog: checkpoint_issue after each batch (root, consistency proof, sign), ~{size:,}",
        "checkpoint issue",
        n=batches,
        seconds=sum(times["checkpoint"]),
        unit="checkpoints/s",
        p50_seconds=statistics.median(times["checkpoint"]),
        note=f"p95 {p95(times['checkpoint']) * 1000:.1f} ms over {batches} checkpoints",
    )

    client = api_client(api_keys["northwind/admin"])
    base = f"/api/v1/banks/{BANK}"
    picks = random.Random(6962)
    indexes = [picks.randrange(size) for _ in range(requests)]
    olds = [picks.randrange(1, size) for _ in range(requests)]
    # One of each, checked, before any is timed: the figures are of proofs that verify.
    root = bytes.fromhex(Checkpoint.objects.get(bank=bank, size=size).root_hash)
    body = get_json(client, f"{base}/proof/inclusion?index={indexes[0]}&size={size}")
    merkle.verify_inclusion(
        bytes.fromhex(body["leaf_hash"]),
        indexes[0],
        size,
        [bytes.fromhex(p) for p in body["proof"]],
        root,
    )
    body = get_json(client, f"{base}/proof/consistency?from={olds[0]}&to={size}")
    merkle.verify_consistency(
        olds[0],
        size,
        transparency.tree_root(bank.pk, olds[0]),
        root,
        [bytes.fromhex(p) for p in body["proof"]],
    )

    def note_get(turn: int) -> None:
        response = client.get(f"{base}/checkpoint")
        if response.status_code != 200:
            raise BenchError(f"GET checkpoint: {response.status_code}")

    def inclusion_get(turn: int) -> None:
        get_json(client, f"{base}/proof/inclusion?index={indexes[turn]}&size={size}")

    def consistency_get(turn: int) -> None:
        get_json(client, f"{base}/proof/consistency?from={olds[turn]}&to={size}")

    print(f"  {requests} requests each: checkpoint, inclusion and consistency proofs at {size:,}")
    latency: dict[str, list[float]] = {"note": [], "inclusion": [], "consistency": []}
    calls = [("note", note_get), ("inclusion", inclusion_get), ("consistency", consistency_get)]
    slice_size = max(1, requests // 10)
    for turn in range(0, requests, slice_size):  # in turn, a slice each
        for name, call in rotated(calls, turn // slice_size):
            for offset in range(turn, min(turn + slice_size, requests)):
                latency[name].append(timed(partial(call, offset))[0])
    note_row = latency_row(
        "tlog: API GET checkpoint (stored note)", "GET checkpoint", latency["note"], baseline=True
    )
    inclusion = latency_row(
        f"tlog: API inclusion proof, random index, size {size:,}",
        "inclusion proof",
        latency["inclusion"],
    ).compared_with(note_row)
    consistency = latency_row(
        f"tlog: API consistency proof, random from, to {size:,}",
        "consistency proof",
        latency["consistency"],
    ).compared_with(note_row)

    tree_rebuild(baseline_bank)  # the baseline's bank whole again, for later readers
    if changelog_next_sequence() != ChangeLogEntry.objects.count():
        raise BenchError("the log has gaps")
    return [plain, tree, checkpoint, note_row, inclusion, consistency]
