"""The verifiable list: one RFC 6962 Merkle tree per bank over that bank's change-log
entries, and the signed checkpoints of those trees (docs/transparency-log.md).

The tree is stored as the hashes of its complete, aligned subtrees (MerkleNode, level 1
up; the leaves are the entries' leaf hashes). They are written as entries are appended,
inside changelog_append's transaction and lock, and never change: every root, proof and
checkpoint is computed from them."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework import status

from accounts.audit import AuditContext, audit_record
from accounts.hub_identity import hub_keys, hub_keys_published, note_key_name
from accounts.models import Organisation
from core.bulk_insert import values_insert
from core.db_routing import ReplicaBehind, reading_from_replica
from core.errors import Invalid, ServiceError
from hashbank.models import Bank, ChangeLogEntry, Checkpoint, Cosignature, MerkleNode, Witness
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


def tree_append(rows: list[ChangeLogEntry]) -> None:
    """Number the new entries in their banks' trees (`bank_index`) and store the complete
    subtrees they complete. Runs inside changelog_append, under its lock: nothing else
    appends meanwhile. O(log n) per entry, one insert for the whole batch."""
    by_bank: dict[int, list[ChangeLogEntry]] = {}
    for row in rows:
        by_bank.setdefault(row.bank_id, []).append(row)
    for bank_id, bank_rows in by_bank.items():
        size = tree_extend(bank_id, [bytes.fromhex(row.leaf_hash) for row in bank_rows])
        for offset, row in enumerate(bank_rows):
            row.bank_index = size + offset


def tree_extend(bank_id: int, leaves: list[bytes]) -> int:
    """Append these leaf hashes to the bank's tree: store the complete subtrees they
    complete, and return the place of the first (the tree's size before). Under
    changelog_append's lock, as tree_append."""
    size = tree_size(bank_id)
    appended = merkle.append_leaves(size, tree_right_edge(bank_id, size), leaves)
    # Leaves are the entries' own leaf hashes; nothing refers to a node by its key: no
    # model instances, no ids taken from the sequence.
    values_insert(
        MerkleNode,
        [
            {"bank_id": bank_id, "level": level, "index": index, "hash": value.hex()}
            for level, index, value in appended.nodes
            if level > 0
        ],
        set_ids=False,
    )
    return size


def inclusion_proof(*, bank: Bank, index: int, size: int) -> list[bytes]:
    hash_at = _lookup(bank.pk, merkle.needed_nodes(size, index=index))
    return merkle.inclusion_proof(index, size, hash_at)


def consistency_proof(*, bank: Bank, old: int, new: int) -> list[bytes]:
    hash_at = _lookup(bank.pk, merkle.needed_nodes(new, old_size=old))
    return merkle.consistency_proof(old, new, hash_at)


# Checkpoints


def log_origin(bank: Bank) -> str:
    """The checkpoint origin line: the hub and the bank."""
    return f"{note_key_name()}/banks/{bank.name}"


def hub_checkpoint_verifiers() -> list[note.Verifier]:
    """Every key a checkpoint of this hub may be signed with, as note verifiers under the
    name checkpoints are signed with: the current key, the next one during a rotation and
    the retired ones (older checkpoints stay signed by the key of their time)."""
    return [note.Verifier(note_key_name(), key.public_key_raw) for key in hub_keys_published()]


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
    # During a key rotation both keys sign: the current key's line, then the next key's.
    now = timezone.now()
    text = hub_keys().sign_note(
        note.checkpoint_body(
            note.Checkpoint(log_origin(bank), size, root, issued_at=int(now.timestamp()))
        )
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
    if checkpoint is None and reading_from_replica():
        # Signing is the primary's: the replica has not received the covering checkpoint yet.
        raise ReplicaBehind
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


# Witnesses' cosignatures

# How far ahead of the hub's clock a witness's cosignature time may be.
COSIGNATURE_CLOCK_SKEW = dt.timedelta(seconds=60)


def checkpoint_notes(checkpoints: Iterable[Checkpoint]) -> dict[int, str]:
    """Each checkpoint's note as the hub serves it: the hub's signature line(s), then the
    cosignature lines of the active witnesses configured for its bank, by witness name.
    One query for all of them."""
    checkpoints = list(checkpoints)
    lines: dict[int, list[str]] = {}
    for checkpoint_id, line in (
        Cosignature.objects.filter(
            checkpoint__in=[c.pk for c in checkpoints],
            witness__active=True,
            witness__banks=F("checkpoint__bank"),
        )
        .order_by("checkpoint_id", "witness__name")
        .values_list("checkpoint_id", "line")
    ):
        lines.setdefault(checkpoint_id, []).append(line)
    return {c.pk: c.note + "".join(lines.get(c.pk, ())) for c in checkpoints}


def checkpoint_note(checkpoint: Checkpoint) -> str:
    return checkpoint_notes([checkpoint])[checkpoint.pk]


def _note_text(checkpoint: Checkpoint) -> str:
    """The checkpoint's text, without its signatures: what the hub and witnesses sign."""
    return checkpoint.note[: checkpoint.note.rfind("\n\n") + 1]


def _refused(field: str, code: str, message: str) -> Invalid:
    return Invalid(message, code=code, fields={field: [{"code": code, "message": message}]})


def cosignature_add(
    *,
    bank: Bank,
    organisation: Organisation,
    size: int,
    root_hash: str,
    line: str,
    context: AuditContext,
) -> tuple[Cosignature, bool]:
    """Record a witness's tlog-cosignature of the bank's checkpoint of `size` entries and
    `root_hash`. The line must be by an active witness the organisation runs, configured for
    this bank, and verify over the exact text the hub issued; its time may not be ahead of
    the hub's clock by more than COSIGNATURE_CLOCK_SKEW, nor before the checkpoint was
    issued. A witness's first cosignature of a checkpoint is kept: posting again answers
    the stored one. Returns (cosignature, created); raises Invalid naming the field."""
    checkpoint = Checkpoint.objects.filter(bank=bank, size=size).first()
    if checkpoint is None:
        raise _refused(
            "size", "checkpoint_unknown", f"the hub issued no checkpoint of {bank.name} at {size}"
        )
    if checkpoint.root_hash != root_hash:
        raise _refused(
            "root_hash",
            "checkpoint_unknown",
            f"the hub's checkpoint of {bank.name} at {size} has another root hash",
        )
    try:
        signature = note.parse_signature_line(line)
    except note.NoteError as error:
        raise _refused("cosignature", "invalid", f"not a signature line: {error}") from None
    witness, verifier = None, None
    for candidate in Witness.objects.filter(
        organisation=organisation, organisation__isnull=False, active=True, banks=bank
    ):
        key = note.parse_verifier_key(candidate.verifier_key)
        if (key.name, key.key_id) == (signature.name, signature.key_id):
            witness, verifier = candidate, key
            break
    if witness is None or verifier is None:
        raise _refused(
            "cosignature",
            "witness_unknown",
            f"the key {signature.name}+{signature.key_id.hex()} is not an active witness of "
            f"{bank.name} run by your organisation",
        )
    stored = Cosignature.objects.filter(checkpoint=checkpoint, witness=witness).first()
    if stored is not None:
        return stored, False
    text = _note_text(checkpoint)
    try:
        timestamp = note.verify_cosignature(text + "\n" + line.removesuffix("\n") + "\n", verifier)
    except note.NoteError:
        raise _refused(
            "cosignature",
            "signature_invalid",
            f"the cosignature by {verifier.vkey} does not verify over the checkpoint's text",
        ) from None
    now = timezone.now()
    if timestamp > (now + COSIGNATURE_CLOCK_SKEW).timestamp():
        raise _refused(
            "cosignature",
            "cosignature_time",
            f"the cosignature's time {timestamp} is ahead of the hub's clock "
            f"({int(now.timestamp())})",
        )
    if timestamp < (checkpoint.issued_at - COSIGNATURE_CLOCK_SKEW).timestamp():
        raise _refused(
            "cosignature",
            "cosignature_time",
            f"the cosignature's time {timestamp} is before the checkpoint was issued "
            f"({int(checkpoint.issued_at.timestamp())})",
        )
    signed_at = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    try:
        with transaction.atomic():
            cosignature = Cosignature.objects.create(
                checkpoint=checkpoint,
                witness=witness,
                line=line.removesuffix("\n") + "\n",
                signed_at=signed_at,
            )
            audit_record(
                action="hashbank.log.cosigned",
                context=context,
                target=cosignature,
                detail={"bank": bank.name, "size": size, "witness": witness.name},
            )
    except IntegrityError:
        # The same witness's other request got there first.
        return Cosignature.objects.get(checkpoint=checkpoint, witness=witness), False
    return cosignature, True


def leaf_hash_at(*, bank: Bank, index: int) -> bytes:
    return _hashes(bank.pk, [(0, index)])[(0, index)]


def leaf_index_of(*, bank: Bank, leaf_hash: str, size: int) -> int | None:
    """The index of the bank's first entry with this leaf hash (lowercase hex) among its
    first `size`, or None."""
    return (
        ChangeLogEntry.objects.filter(bank=bank, leaf_hash=leaf_hash, bank_index__lt=size)
        .order_by("bank_index")
        .values_list("bank_index", flat=True)
        .first()
    )


def sync_checkpoints(*, banks: Iterable[Bank], cursor: int) -> dict[str, dict[str, Any]]:
    """For a sync page ending at `cursor`, per bank: the size of the bank's tree the client
    holds once it applied the log up to there (`tree_size`), and a signed checkpoint of at
    least that size its copy is a prefix of (issued now if none is)."""
    covering = [
        (bank, size, checkpoint_covering(bank, size))
        for bank, size in bank_sizes_before(banks=banks, sequence=cursor).items()
    ]
    # The notes carry their witnesses' cosignatures: one query for the whole page.
    notes = checkpoint_notes(checkpoint for _, _, checkpoint in covering)
    return {
        bank.name: {
            "tree_size": size,
            "checkpoint": {
                "size": checkpoint.size,
                "root_hash": checkpoint.root_hash,
                "note": notes[checkpoint.pk],
            },
        }
        for bank, size, checkpoint in covering
    }


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
