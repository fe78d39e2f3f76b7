"""The verifiable list: one RFC 6962 Merkle tree per bank over that bank's change-log
entries, and the signed checkpoints of those trees (docs/transparency-log.md).

The tree is stored as the hashes of its complete, aligned subtrees (MerkleNode, level 1
up; the leaves are the entries' leaf hashes). They are written as entries are appended,
inside changelog_append's transaction and lock, and never change: every root, proof and
checkpoint is computed from them."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework import status

from accounts.hub_identity import hub_identity
from core.errors import ServiceError
from hashbank.models import Bank, ChangeLogEntry, Checkpoint, MerkleNode
from hashbank.selectors import bank_sizes_before
from hashfed_wire import merkle, note, tiles

logger = logging.getLogger(__name__)

Key = tuple[int, int]  # (level, index)


class TreeInconsistent(ServiceError):
    """The stored tree does not extend the bank's last checkpoint, or lacks nodes: it was
    altered. Nothing is signed or served from it; callers get a 503 in the API's error
    shape and the detail goes to the hub's log, not to them."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "log_inconsistent"

    @classmethod
    def detected(cls, detail: str) -> TreeInconsistent:
        logger.error("transparency log inconsistent: %s", detail)
        return cls("this bank's log failed the hub's own consistency check; it is not served")


def _hashes(bank_id: int, keys: Iterable[Key]) -> dict[Key, bytes]:
    """The stored hashes of these complete subtrees of one bank's tree, in one read of the
    leaves and one of the nodes."""
    keys = set(keys)
    found: dict[Key, bytes] = {}
    leaves = [index for level, index in keys if level == 0]
    if leaves:
        for index, value in ChangeLogEntry.objects.filter(
            bank_id=bank_id, bank_index__in=leaves
        ).values_list("bank_index", "leaf_hash"):
            found[(0, index)] = bytes.fromhex(value)
    nodes = [key for key in keys if key[0] > 0]
    if nodes:
        condition = Q()
        for level, index in nodes:
            condition |= Q(level=level, index=index)
        for level, index, value in MerkleNode.objects.filter(
            condition, bank_id=bank_id
        ).values_list("level", "index", "hash"):
            found[(level, index)] = bytes.fromhex(value)
    missing = keys - found.keys()
    if missing:
        raise TreeInconsistent.detected(f"bank {bank_id}: the tree lacks nodes {sorted(missing)}")
    return found


def _lookup(bank_id: int, keys: Iterable[Key]) -> merkle.HashAt:
    stored = _hashes(bank_id, keys)
    return lambda level, index: stored[(level, index)]


def tree_size(bank_id: int) -> int:
    """How many entries the bank's tree holds (committed ones)."""
    last = (
        ChangeLogEntry.objects.filter(bank_id=bank_id)
        .order_by("-bank_index")
        .values_list("bank_index", flat=True)
        .first()
    )
    return 0 if last is None else last + 1


def tree_right_edge(bank_id: int, size: int) -> list[bytes]:
    """The hashes of the complete subtrees the bank's tree of `size` leaves is made of,
    largest first: what appending to it works from."""
    nodes = merkle.compact_range_nodes(size)
    stored = _hashes(bank_id, nodes)
    return [stored[node] for node in nodes]


def tree_root(bank_id: int, size: int) -> bytes:
    return merkle.root_from(size, _lookup(bank_id, merkle.root_nodes(size)))


def tree_append(rows: list[ChangeLogEntry]) -> list[MerkleNode]:
    """Number the new entries in their banks' trees (`bank_index`) and store the complete
    subtrees they complete. Runs inside changelog_append, under its lock: nothing else
    appends meanwhile. O(log n) per entry, one insert for the whole batch."""
    by_bank: dict[int, list[ChangeLogEntry]] = {}
    for row in rows:
        by_bank.setdefault(row.bank_id, []).append(row)
    made: list[MerkleNode] = []
    for bank_id, bank_rows in by_bank.items():
        size = tree_size(bank_id)
        appended = merkle.append_leaves(
            size,
            tree_right_edge(bank_id, size),
            [bytes.fromhex(row.leaf_hash) for row in bank_rows],
        )
        for offset, row in enumerate(bank_rows):
            row.bank_index = size + offset
        made += [
            MerkleNode(bank_id=bank_id, level=level, index=index, hash=value.hex())
            for level, index, value in appended.nodes
            if level > 0  # leaves are the entries' own leaf hashes
        ]
    return MerkleNode.objects.bulk_create(made)


def inclusion_proof(*, bank: Bank, index: int, size: int) -> list[bytes]:
    hash_at = _lookup(bank.pk, merkle.needed_nodes(size, index=index))
    return merkle.inclusion_proof(index, size, hash_at)


def consistency_proof(*, bank: Bank, old: int, new: int) -> list[bytes]:
    hash_at = _lookup(bank.pk, merkle.needed_nodes(new, old_size=old))
    return merkle.consistency_proof(old, new, hash_at)


# Checkpoints


def note_key_name() -> str:
    """The name the hub's key signs every bank's checkpoints under: the hub's host, so one
    verifier key (`<host>+<key id>+<key>`) checks them all."""
    return settings.HUB_ORIGIN.split("://", 1)[-1].rstrip("/")


def log_origin(bank: Bank) -> str:
    """The checkpoint origin line: the hub and the bank."""
    return f"{note_key_name()}/banks/{bank.name}"


def hub_checkpoint_verifiers() -> list[note.Verifier]:
    """Every key a checkpoint of this hub may be signed with, as note verifiers: the hub's
    signing key, under the name checkpoints are signed with."""
    identity = hub_identity()
    return [note.Verifier(note_key_name(), identity.public_key_raw)]


def checkpoint_last(bank: Bank) -> Checkpoint | None:
    return Checkpoint.objects.filter(bank=bank).order_by("-size").first()


def checkpoint_issue(bank: Bank) -> Checkpoint:
    """A checkpoint of the bank's tree as it is now; the last one when the tree has not
    grown. The new root must extend the last checkpoint's (a consistency proof from the
    stored tree verifies), or nothing is signed."""
    previous = checkpoint_last(bank)
    size = tree_size(bank.pk)
    if previous is not None and previous.size >= size:
        return previous
    root = tree_root(bank.pk, size)
    if previous is not None:
        proof = consistency_proof(bank=bank, old=previous.size, new=size)
        try:
            merkle.verify_consistency(
                previous.size, size, bytes.fromhex(previous.root_hash), root, proof
            )
        except merkle.ProofError as exc:
            raise TreeInconsistent.detected(
                f"bank {bank.name}: the tree at size {size} is not consistent with the "
                f"checkpoint at size {previous.size}: {exc}"
            ) from exc
    identity = hub_identity()
    now = timezone.now()
    text = note.sign_checkpoint(
        note.Checkpoint(log_origin(bank), size, root, issued_at=int(now.timestamp())),
        name=note_key_name(),
        private_key=identity.private_key,
    )
    try:
        with transaction.atomic():
            return Checkpoint.objects.create(
                bank=bank, size=size, root_hash=root.hex(), note=text, issued_at=now
            )
    except IntegrityError:
        # Another process issued the same size first: same tree, same root.
        return Checkpoint.objects.get(bank=bank, size=size)


def checkpoint_covering(bank: Bank, size: int) -> Checkpoint:
    """The first checkpoint of at least `size` entries, issued now if none covers it."""
    checkpoint = Checkpoint.objects.filter(bank=bank, size__gte=size).order_by("size").first()
    return checkpoint if checkpoint is not None else checkpoint_issue(bank)


def checkpoint_latest(bank: Bank) -> Checkpoint:
    """The newest checkpoint, issued now if none covers the tree's current size."""
    previous = checkpoint_last(bank)
    if previous is not None and previous.size >= tree_size(bank.pk):
        return previous
    return checkpoint_issue(bank)


def checkpoints_issue() -> list[Checkpoint]:
    """A new checkpoint for every bank whose tree grew since its last one."""
    issued = []
    for bank in Bank.objects.all():
        previous = checkpoint_last(bank)
        if tree_size(bank.pk) > (previous.size if previous else 0):
            issued.append(checkpoint_issue(bank))
    return issued


def leaf_hash_at(*, bank: Bank, index: int) -> bytes:
    return _hashes(bank.pk, [(0, index)])[(0, index)]


def sync_checkpoints(*, banks: Iterable[Bank], cursor: int) -> dict[str, dict[str, Any]]:
    """For a sync page ending at `cursor`, per bank: the size of the bank's tree the client
    holds once it applied the log up to there (`tree_size`), and a signed checkpoint of at
    least that size its copy is a prefix of (issued now if none is)."""
    out: dict[str, dict[str, Any]] = {}
    for bank, size in bank_sizes_before(banks=banks, sequence=cursor).items():
        checkpoint = checkpoint_covering(bank, size)
        out[bank.name] = {
            "tree_size": size,
            "checkpoint": {
                "size": checkpoint.size,
                "root_hash": checkpoint.root_hash,
                "note": checkpoint.note,
            },
        }
    return out


def _level_range(bank_id: int, level: int, begin: int, count: int) -> list[bytes]:
    """The stored hashes of the complete subtrees (level, begin) … (level, begin+count-1)."""
    if level == 0:
        values = list(
            ChangeLogEntry.objects.filter(
                bank_id=bank_id, bank_index__gte=begin, bank_index__lt=begin + count
            )
            .order_by("bank_index")
            .values_list("leaf_hash", flat=True)
        )
    else:
        values = list(
            MerkleNode.objects.filter(
                bank_id=bank_id, level=level, index__gte=begin, index__lt=begin + count
            )
            .order_by("index")
            .values_list("hash", flat=True)
        )
    if len(values) != count:
        raise TreeInconsistent.detected(f"bank {bank_id}: level {level} lacks nodes from {begin}")
    return [bytes.fromhex(value) for value in values]


def tile_content(*, bank: Bank, tile: tiles.Tile, size: int) -> bytes | None:
    """A C2SP tlog-tiles resource of the bank's tree of `size` entries: a tile of hashes or
    an entry bundle. None when that tree does not have it."""
    level = 0 if tile.level is None else tiles.TILE_HEIGHT * tile.level
    begin = tile.index * tiles.TILE_WIDTH
    if begin + tile.width > size >> level:
        return None
    if tile.level is not None:
        return tiles.tile_bytes(_level_range(bank.pk, level, begin, tile.width))
    entries = ChangeLogEntry.objects.filter(
        bank=bank, bank_index__gte=begin, bank_index__lt=begin + tile.width
    ).order_by("bank_index")
    return tiles.entry_bundle_bytes(
        [bytes(entry) for entry in entries.values_list("entry", flat=True)]
    )
