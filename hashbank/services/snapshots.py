"""Signed snapshots: a compressed NDJSON copy of each bank's list at one log position, so
a member's first sync downloads a file instead of replaying the whole log.

A snapshot line is the last entry the log holds for one listed signal, without its
`sequence` and `op`, in RFC 8785 bytes, in the order of the signals' ids. On PostgreSQL
the lines are streamed out of the database with COPY, cut from the stored entry bytes
(`_COPY_LINES`); elsewhere each entry is parsed and written again. Both give the same
bytes, and the same lines give the same file: it is compressed in fixed blocks, in a
thread beside the reading."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import rfc8785
from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery

from accounts.hub_identity import hub_id, hub_keys
from core.errors import NotFound
from hashbank.models import Bank, ChangeLogEntry, ChangeOp, Signal, Snapshot
from hashbank.selectors import changelog_next_sequence
from hashfed_wire import hub_signatures

# gzip level 1: on these lines (a hash of random hex each, the rest repeated) its files
# are about 8% larger than level 6's, made nearly twice as fast; compression is the
# longest part of a build.
COMPRESS_LEVEL = 1
# The compressor is fed blocks of exactly this size (the last one shorter), however the
# lines arrive: the file's bytes depend on the lines alone, never on how they were read.
COMPRESS_BLOCK = 1 << 22
# Rows of the ORM path parsed and joined at a time.
ORM_CHUNK = 2000

# Signal ids per chunk of the COPY path: each chunk's entries are sorted in memory (a few
# MB at most) and arrive as one row, so neither the database nor this process handles the
# lines one by one, and nothing is sorted on disk.
COPY_CHUNK_IDS = 4096

# A listed signal's last entry before the head, as its snapshot line. The entries are RFC
# 8785 bytes, so removing two top-level members leaves RFC 8785 bytes of the rest:
# `"op"` and `"sequence"` are never the first member (`"at"` sorts before them) and appear
# nowhere else in an entry (the nested objects, `envelopes`, hold digests and key ids).
# The signals are read in chunks of COPY_CHUNK_IDS ids, in order (`start`, checked by the
# reader): a chunk's lines, each ending with a newline, come as one bytea value of a
# binary COPY (no escaping), with how many they are; a chunk without a listed signal gives
# no row. One statement, so one view of the log for every chunk.
_COPY_LINES = """
COPY (
    SELECT start, chunk.lines, chunk.count
    FROM (SELECT min(id) AS low, max(id) AS high FROM {signals}) AS span
    CROSS JOIN LATERAL generate_series(span.low, span.high, {width}) AS start
    CROSS JOIN LATERAL (
        SELECT
            convert_to(
                string_agg(
                    replace(
                        replace(
                            convert_from(last.entry, 'UTF8'),
                            ',"op":"' || last.op || '",',
                            ','
                        ),
                        ',"sequence":' || last.sequence || ',',
                        ','
                    ) || chr(10),
                    '' ORDER BY last.signal_id
                ),
                'UTF8'
            ) AS lines,
            count(*) AS count
        FROM (
            SELECT DISTINCT ON (signal_id) signal_id, sequence, op, entry
            FROM {log}
            WHERE bank_id = {bank} AND sequence < {head}
                AND signal_id BETWEEN start AND start + {width} - 1
            ORDER BY signal_id, sequence DESC
        ) AS last
        WHERE last.op IN ('add', 'update')
    ) AS chunk
    WHERE chunk.count > 0
) TO STDOUT (FORMAT binary)
"""


def snapshot_directory() -> Path:
    """This database's snapshot folder: MEDIA_ROOT may be shared by several hubs, and a hub
    never serves a file another one wrote."""
    path = Path(settings.MEDIA_ROOT) / "snapshots" / hub_id()
    path.mkdir(parents=True, exist_ok=True)
    return path


def snapshot_open(snapshot: Snapshot) -> BinaryIO:
    """The snapshot's file, once its content is confirmed to be the one the hub signed.
    Raises NotFound when the file is missing or holds something else."""
    path = snapshot_directory() / Path(snapshot.file_name).name
    digest = hashlib.sha256()
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise NotFound("the snapshot's file is gone; sync from the change log") from None
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    if digest.hexdigest() != snapshot.sha256:
        handle.close()
        raise NotFound("the snapshot's file is not the one signed; sync from the change log")
    handle.seek(0)
    return handle


class _HashingFile:
    """The file under the gzip stream: writes through and hashes what it writes."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


class SnapshotWriter:
    """NDJSON lines in, a gzip file out: the lines are cut into COMPRESS_BLOCK blocks that
    a thread compresses, hashes and writes while the caller reads the next ones (zlib and
    hashlib let go of the interpreter lock on large buffers)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = path.open("wb")
        self._file = _HashingFile(self._handle)
        self._pending = bytearray()
        self._blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._compress, name="snapshot-gzip", daemon=True)
        self._thread.start()

    def _compress(self) -> None:
        try:
            # mtime=0 and no file name in the header: the same lines, the same bytes.
            with gzip.GzipFile(
                fileobj=self._file, mode="wb", mtime=0, compresslevel=COMPRESS_LEVEL
            ) as archive:
                while (block := self._blocks.get()) is not None:
                    archive.write(block)
        except BaseException as error:  # raised again in the caller's thread
            self._error = error
            # Keep taking blocks so the caller never waits on a full queue.
            while self._blocks.get() is not None:
                pass

    def write(self, lines: bytes) -> None:
        self._pending += lines
        if len(self._pending) >= COMPRESS_BLOCK:
            view = memoryview(self._pending)
            whole = len(self._pending) - len(self._pending) % COMPRESS_BLOCK
            for start in range(0, whole, COMPRESS_BLOCK):
                self._blocks.put(bytes(view[start : start + COMPRESS_BLOCK]))
            view.release()
            del self._pending[:whole]

    def close(self) -> str:
        """Finish the file (flushed to disk); returns its SHA-256 in hex."""
        try:
            if self._pending:
                self._blocks.put(bytes(self._pending))
                self._pending.clear()
        finally:
            self._blocks.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        return self._file.digest.hexdigest()

    def abandon(self) -> None:
        """Stop and remove the partial file (after an error in the caller)."""
        self._pending.clear()
        self._blocks.put(None)
        self._thread.join()
        self._handle.close()
        self.path.unlink(missing_ok=True)


def snapshot_lines_orm(bank: Bank, head: int) -> Iterator[bytes]:
    """The bank's snapshot lines through the ORM, in blocks of whole lines: each listed
    signal's last entry before `head`, parsed, without `sequence` and `op`, in RFC 8785."""
    last = ChangeLogEntry.objects.filter(signal=OuterRef("pk"), sequence__lt=head).order_by(
        "-sequence"
    )
    latest = (
        Signal.objects.filter(bank=bank)
        .annotate(last_op=Subquery(last.values("op")[:1]))
        .annotate(last_entry=Subquery(last.values("entry")[:1]))
        .filter(last_op__in=[ChangeOp.ADD, ChangeOp.UPDATE])
        .order_by("pk")
        .values_list("last_entry", flat=True)
    )
    lines: list[bytes] = []
    for entry in latest.iterator(chunk_size=ORM_CHUNK):
        material = json.loads(bytes(entry))
        del material["sequence"], material["op"]
        lines.append(rfc8785.dumps(material))
        if len(lines) == ORM_CHUNK:
            yield b"\n".join(lines) + b"\n"
            lines = []
    if lines:
        yield b"\n".join(lines) + b"\n"


def snapshot_lines_copy(bank: Bank, head: int) -> Iterator[bytes]:
    """The same lines as snapshot_lines_orm, streamed out of PostgreSQL with COPY, in
    blocks of whole lines (one per chunk of signal ids). Runs in the caller's
    transaction."""
    statement = _COPY_LINES.format(
        log=connection.ops.quote_name(ChangeLogEntry._meta.db_table),
        signals=connection.ops.quote_name(Signal._meta.db_table),
        bank=int(bank.pk),
        head=int(head),
        width=int(COPY_CHUNK_IDS),
    )
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with raw.cursor() as cursor:
        # This process compresses while the database reads: parallel workers and JIT
        # compilation only take cores from it (for this transaction alone).
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cursor.execute("SET LOCAL jit = off")
    previous: int | None = None
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(["int8", "bytea", "int8"])
        for start, lines, count in copy.rows():
            # The chunks come in the order of their ids, as the nested loop reads them: a
            # file in another order would be another file, so the build stops instead.
            if previous is not None and start <= previous:
                raise RuntimeError("the snapshot's chunks came out of order")
            if lines.count(b"\n") != count:
                raise RuntimeError("a snapshot chunk's lines are not its signals")
            previous = start
            yield lines


def snapshot_lines(bank: Bank, head: int) -> Iterator[bytes]:
    if connection.vendor == "postgresql":
        return snapshot_lines_copy(bank, head)
    return snapshot_lines_orm(bank, head)


def snapshot_write(lines: Iterator[bytes], directory: Path, stem: str) -> tuple[Path, str, int]:
    """Write the lines as one gzip file in `directory`, named after its hash; returns its
    path, SHA-256 and how many lines it holds."""
    partial = directory / f".{stem}-{os.getpid()}-{threading.get_ident()}.partial"
    writer = SnapshotWriter(partial)
    count = 0
    try:
        for block in lines:
            count += block.count(b"\n")
            writer.write(block)
    except BaseException:
        writer.abandon()
        raise
    sha256 = writer.close()
    path = directory / f"{stem}-{sha256[:16]}.ndjson.gz"
    os.replace(partial, path)
    return path, sha256, count


def snapshot_signatures(*, bank: str, up_to_sequence: int, sha256: str) -> tuple[str, str]:
    """The current key's signature of a snapshot, and `X-Hashfed-Signatures` of every key
    that signs now (both during a key rotation, the current key first)."""
    keys = hub_keys()
    message = hub_signatures.snapshot_signed_message(
        origin=keys.current.origin, bank=bank, up_to_sequence=up_to_sequence, sha256=sha256
    )
    signatures = [
        (identity.key_id, hub_signatures.sign(identity.private_key, message))
        for identity in keys.signing
    ]
    return signatures[0][1], hub_signatures.signatures_header(signatures)


def snapshots_create() -> list[Snapshot]:
    """Write one snapshot per bank, all at the same log position: a member downloads the
    banks it may read, then syncs from `up_to_sequence`. Each line is the last entry the
    log holds for one listed signal, without its `sequence` and `op`: leaf material only
    (commitments, never the disclosed text), so erasing a disclosure never leaves its text
    in a signed file. Every entry read is below the head read first, so entries appended
    meanwhile wait for the next snapshot."""
    created = []
    directory = snapshot_directory()
    with transaction.atomic():
        head = changelog_next_sequence()
        for bank in Bank.objects.all():
            path, sha256, count = snapshot_write(
                snapshot_lines(bank, head), directory, f"{bank.name}-{head}"
            )
            signature, signatures = snapshot_signatures(
                bank=bank.name, up_to_sequence=head, sha256=sha256
            )
            snapshot = Snapshot.objects.create(
                bank=bank,
                up_to_sequence=head,
                signal_count=count,
                file_name=path.name,
                sha256=sha256,
                signature=signature,
                signatures=signatures,
            )
            # Nothing logged since the last build: the new row replaces the old one (the
            # same lines, so the same file), and members are never listed a bank twice.
            Snapshot.objects.filter(bank=bank, up_to_sequence=head).exclude(pk=snapshot.pk).delete()
            created.append(snapshot)
    return created


def snapshots_resign() -> int:
    """Sign every snapshot again with the keys that sign now: at a rotation's begin (the
    next key signs beside the current one) and its finish (the new key alone), so members
    that know either key accept the snapshots made before. The signed message is
    unchanged. Returns how many were signed."""
    snapshots = list(Snapshot.objects.select_related("bank"))
    for snapshot in snapshots:
        snapshot.signature, snapshot.signatures = snapshot_signatures(
            bank=snapshot.bank.name,
            up_to_sequence=snapshot.up_to_sequence,
            sha256=snapshot.sha256,
        )
    Snapshot.objects.bulk_update(snapshots, ["signature", "signatures"], batch_size=500)
    return len(snapshots)
