"""The PDQ matcher of one process: an index memory-mapped from files that a background job
builds, plus the changes since, caught up from the change log before every search.

Every web process maps the same files, so the operating system's page cache holds one copy
of the index however many processes serve lookups; each process keeps only its small delta.
Removed or overturned signals stop matching at once: the catch-up reads every change-log
entry up to the head before searching, and results are checked against the database.

Index files belong to one database. Generations live under the hub id of the database they
were built from, and each one's manifest records the change-log position and the leaf hash
of the entry just before it. A generation whose hub id, position or leaf hash the database
does not confirm (the database was replaced, restored from an older backup, or emptied) is
rebuilt, never searched.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import threading
from itertools import islice
from pathlib import Path

import numpy as np
from django.conf import settings

from accounts.hub_identity import hub_id
from hashbank.matching.pdq_index import PdqIndex, hashes_from_hex
from hashbank.models import ChangeLogEntry, ChangeOp, Signal, SignalStatus
from hashbank.selectors import changelog_last_entry

logger = logging.getLogger(__name__)

MANIFEST = "hashfed-index.json"
# Signals read from the database and decoded together when the index is built.
_BUILD_CHUNK = 50_000


class IndexMismatch(Exception):
    """A generation the database does not confirm."""


def index_root() -> Path:
    """This database's index folder: PDQ_INDEX_DIR may be shared, its hub folders are not."""
    return Path(settings.PDQ_INDEX_DIR) / hub_id()


def _current_link() -> Path:
    return index_root() / "current"


def _leaf_hash_before(position: int) -> str:
    """The leaf hash of the entry just before `position` ("" at 0): with the position, it
    names one state of one change log."""
    if position == 0:
        return ""
    found = (
        ChangeLogEntry.objects.filter(sequence=position - 1)
        .values_list("leaf_hash", flat=True)
        .first()
    )
    return found or "missing"


def pdq_index_build() -> Path:
    """Build the index of every listed PDQ signal and make it current (atomically: a new
    generation directory, then the `current` link swapped with a rename). Returns its path.
    The log position is read first, so changes racing the build are replayed by catch-up."""
    root = index_root()
    owner = root.name
    root.mkdir(parents=True, exist_ok=True)
    last = changelog_last_entry().values_list("sequence", "leaf_hash").first()
    head, head_leaf = (0, "") if last is None else (last[0] + 1, last[1])
    # Decoded a chunk at a time: 40 bytes a row held, not the Python tuple and string of
    # every row at once (about 200 bytes a row, 20 GB at 100M).
    id_parts = [np.zeros(0, dtype=np.int64)]
    hash_parts = [np.zeros((0, 32), dtype=np.uint8)]
    rows = (
        Signal.objects.filter(signal_type="pdq")
        .exclude(status=SignalStatus.REMOVED)
        .values_list("pk", "value")
        .iterator(chunk_size=_BUILD_CHUNK)
    )
    while chunk := list(islice(rows, _BUILD_CHUNK)):
        id_parts.append(np.array([pk for pk, _ in chunk], dtype=np.int64))
        hash_parts.append(hashes_from_hex([value for _, value in chunk]))
    ids = np.concatenate(id_parts)
    hashes = np.concatenate(hash_parts)
    del id_parts, hash_parts
    index = PdqIndex.build(hashes, ids)
    # A name of its own: a rebuild at the same position never writes over files a process
    # may still have mapped.
    generation = root / f"gen-{head:012d}-{secrets.token_hex(8)}"
    index.save(generation)
    (generation / MANIFEST).write_text(
        json.dumps(
            {
                "hub_id": owner,
                "up_to_sequence": head,
                "leaf_hash_before": head_leaf,
                "size": int(ids.shape[0]),
            }
        )
    )
    link_tmp = root / f".current-{os.getpid()}-{threading.get_ident()}"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    link_tmp.symlink_to(generation.name)
    os.replace(link_tmp, _current_link())
    _remove_old_generations(root, keep=generation)
    return generation


def pdq_index_verify(generation: Path) -> dict:
    """The generation's manifest, once the database confirms it: same hub, and the entry
    before its position is the one it was built after. Raises IndexMismatch."""
    try:
        manifest = json.loads((generation / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise IndexMismatch(f"{generation}: no readable manifest") from exc
    owner = hub_id()
    if manifest.get("hub_id") != owner:
        raise IndexMismatch(f"{generation} was built for hub {manifest.get('hub_id')}")
    position = manifest.get("up_to_sequence")
    if not isinstance(position, int) or position < 0:
        raise IndexMismatch(f"{generation}: no change-log position")
    if manifest.get("leaf_hash_before") != _leaf_hash_before(position):
        raise IndexMismatch(f"{generation} was built from another change log at {position}")
    return manifest


def _remove_old_generations(root: Path, *, keep: Path) -> None:
    # Processes that still map an older generation keep reading it: unlinked files stay
    # readable until unmapped, so removal is safe on POSIX.
    for path in root.glob("gen-*"):
        if path != keep and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


class Matcher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hub_id = ""
        self._generation: Path | None = None
        self._index: PdqIndex | None = None
        self._cursor = 0
        self._cursor_leaf = ""

    def _load_current(self) -> None:
        """Map the current generation of this database's index, rebuilding it when there is
        none or the database does not confirm it."""
        owner = hub_id()
        if owner != self._hub_id:
            # Another database under this process: nothing loaded for the last one holds.
            self._forget()
            self._hub_id = owner
        link = _current_link()
        if not link.exists():
            pdq_index_build()
        target = link.resolve()
        if target == self._generation and self._index is not None:
            return
        try:
            manifest = pdq_index_verify(target)
        except IndexMismatch as exc:
            logger.warning("PDQ index refused, rebuilding: %s", exc)
            target = pdq_index_build()
            manifest = pdq_index_verify(target)
        self._index = PdqIndex.load(target, mmap=True)
        self._generation = target
        self._cursor = manifest["up_to_sequence"]
        self._cursor_leaf = manifest["leaf_hash_before"]

    def _catch_up(self) -> bool:
        """Apply the log entries since the cursor. False when the log under the cursor is
        not the one the index followed (then nothing is applied)."""
        assert self._index is not None
        if _leaf_hash_before(self._cursor) != self._cursor_leaf:
            return False
        last = changelog_last_entry().values_list("sequence", "leaf_hash").first()
        if last is None or last[0] < self._cursor:
            return True
        head, head_leaf = last
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
        self._cursor_leaf = head_leaf
        return True

    def search_many(
        self, hashes_hex: list[str], max_distances: list[int]
    ) -> list[list[tuple[int, int]]]:
        """For each query, [(signal id, distance)] within its distance, nearest first."""
        with self._lock:
            self._load_current()
            if not self._catch_up():
                logger.warning("PDQ index cursor left the change log, rebuilding")
                self._rebuild()
                if not self._catch_up():
                    raise IndexMismatch("the change log moved under a fresh PDQ index")
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

    def _forget(self) -> None:
        self._hub_id = ""
        self._generation = None
        self._index = None
        self._cursor = 0
        self._cursor_leaf = ""

    def _rebuild(self) -> None:
        self._forget()
        pdq_index_build()
        self._load_current()

    def rebuild(self) -> None:
        """Build a new generation from the database and search it from now on (after a hit
        the database did not confirm)."""
        with self._lock:
            self._rebuild()

    def reset(self) -> None:
        """Forget the loaded generation (tests, and after a database is recreated)."""
        with self._lock:
            self._forget()


_matcher = Matcher()


def matcher() -> Matcher:
    return _matcher


def index_current_manifest() -> dict | None:
    """The current generation's manifest as written at build time, with `built_at` (when its
    manifest was written, as a Unix time), or None while there is none. Read for monitoring
    only: nothing checks it against the database, so nothing may be answered from it."""
    manifest_path = _current_link() / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        manifest["built_at"] = manifest_path.stat().st_mtime
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None
