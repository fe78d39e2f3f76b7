"""The PDQ matcher of one process: an index memory-mapped from files that a background job
builds, plus the changes since, caught up from the change log before every search.

Every web process maps the same files, so the operating system's page cache holds one copy
of the index however many processes serve lookups; each process keeps only its small delta.
Removed or overturned signals stop matching at once: the catch-up reads every change-log
entry up to the head before searching, and results are checked against the database.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
from django.conf import settings

from hashbank.matching.pdq_index import PdqIndex, hashes_from_hex
from hashbank.models import ChangeLogEntry, ChangeOp, Signal, SignalStatus

MANIFEST = "hashfed-index.json"


def index_root() -> Path:
    return Path(settings.PDQ_INDEX_DIR)


def _current_link() -> Path:
    return index_root() / "current"


def pdq_index_build() -> Path:
    """Build the index of every listed PDQ signal and make it current (atomically: a new
    generation directory, then the `current` link swapped with a rename). Returns its path.
    The log position is read first, so changes racing the build are replayed by catch-up."""
    root = index_root()
    root.mkdir(parents=True, exist_ok=True)
    last = ChangeLogEntry.objects.order_by("-sequence").values_list("sequence", flat=True).first()
    head = 0 if last is None else last + 1
    rows = list(
        Signal.objects.filter(signal_type="pdq")
        .exclude(status=SignalStatus.REMOVED)
        .values_list("pk", "value")
        .iterator(chunk_size=50_000)
    )
    ids = np.fromiter((pk for pk, _ in rows), dtype=np.int64, count=len(rows))
    hashes = (
        hashes_from_hex([value for _, value in rows]) if rows else np.zeros((0, 32), dtype=np.uint8)
    )
    index = PdqIndex.build(hashes, ids)
    generation = root / f"gen-{head:012d}-{os.getpid()}-{threading.get_ident()}"
    if generation.exists():
        shutil.rmtree(generation)
    index.save(generation)
    (generation / MANIFEST).write_text(json.dumps({"up_to_sequence": head, "size": len(rows)}))
    link_tmp = root / f".current-{os.getpid()}-{threading.get_ident()}"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    link_tmp.symlink_to(generation.name)
    os.replace(link_tmp, _current_link())
    _remove_old_generations(keep=generation)
    return generation


def _remove_old_generations(*, keep: Path) -> None:
    # Processes that still map an older generation keep reading it: unlinked files stay
    # readable until unmapped, so removal is safe on POSIX.
    for path in index_root().glob("gen-*"):
        if path != keep and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


class Matcher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation: Path | None = None
        self._index: PdqIndex | None = None
        self._cursor = 0

    def _load_current(self) -> None:
        link = _current_link()
        if not link.exists():
            pdq_index_build()
        target = link.resolve()
        if target == self._generation and self._index is not None:
            return
        manifest = json.loads((target / MANIFEST).read_text())
        self._index = PdqIndex.load(target, mmap=True)
        self._generation = target
        self._cursor = manifest["up_to_sequence"]

    def _catch_up(self) -> None:
        assert self._index is not None
        head = (
            ChangeLogEntry.objects.order_by("-sequence").values_list("sequence", flat=True).first()
        )
        if head is None or head < self._cursor:
            return
        changes = (
            ChangeLogEntry.objects.filter(
                sequence__gte=self._cursor,
                sequence__lte=head,
                signal__signal_type="pdq",
                op__in=[ChangeOp.ADD, ChangeOp.REMOVE],
            )
            .order_by("sequence")
            .values_list("op", "signal_id", "signal__value")
        )
        for op, signal_id, value in changes:
            if op == ChangeOp.ADD:
                self._index.add(hashes_from_hex([value]), np.array([signal_id], dtype=np.int64))
            else:
                self._index.remove([signal_id])
        self._cursor = head + 1

    def search_many(
        self, hashes_hex: list[str], max_distances: list[int]
    ) -> list[list[tuple[int, int]]]:
        """For each query, [(signal id, distance)] within its distance, nearest first."""
        with self._lock:
            self._load_current()
            self._catch_up()
            index = self._index
            assert index is not None
            results: list[list[tuple[int, int]]] = [[] for _ in hashes_hex]
            # Queries are grouped by threshold so each group is one vectorised search.
            for distance in sorted(set(max_distances)):
                positions = [i for i, d in enumerate(max_distances) if d == distance]
                found = index.search_many(
                    hashes_from_hex([hashes_hex[i] for i in positions]), max_distance=distance
                )
                for position, matches in zip(positions, found, strict=True):
                    results[position] = matches
            return results

    def reset(self) -> None:
        """Forget the loaded generation (tests, and after a database is recreated)."""
        with self._lock:
            self._generation = None
            self._index = None
            self._cursor = 0


_matcher = Matcher()


def matcher() -> Matcher:
    return _matcher
