"""Signed snapshots: a compressed NDJSON copy of each bank's list at one log position, so
a member's first sync downloads a file instead of replaying the whole log."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path
from typing import BinaryIO

import rfc8785
from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery

from accounts.hub_identity import hub_id, hub_identity
from core.errors import NotFound
from hashbank.models import Bank, ChangeLogEntry, ChangeOp, Signal, Snapshot
from hashbank.selectors import changelog_next_sequence
from hashfed_wire import hub_signatures


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


def snapshots_create() -> list[Snapshot]:
    """Write one snapshot per bank, all at the same log position (read in one transaction,
    so the files and the position agree): a member downloads the banks it may read, then
    syncs from `up_to_sequence`. Each line is the last entry the log holds for one listed
    signal, without its `sequence` and `op`: leaf material only (commitments, never the
    disclosed text), so erasing a disclosure never leaves its text in a signed file."""
    created = []
    with transaction.atomic():
        head = changelog_next_sequence()
        for bank in Bank.objects.all():
            buffer = io.BytesIO()
            count = 0
            # mtime=0: the same list gives the same bytes, so the same hash.
            with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as archive:
                last = ChangeLogEntry.objects.filter(
                    signal=OuterRef("pk"), sequence__lt=head
                ).order_by("-sequence")
                latest = (
                    Signal.objects.filter(bank=bank)
                    .annotate(last_op=Subquery(last.values("op")[:1]))
                    .annotate(last_entry=Subquery(last.values("entry")[:1]))
                    .filter(last_op__in=[ChangeOp.ADD, ChangeOp.UPDATE])
                    .order_by("pk")
                    .values_list("last_entry", flat=True)
                )
                for entry in latest.iterator(chunk_size=2000):
                    material = json.loads(bytes(entry))
                    del material["sequence"], material["op"]
                    archive.write(rfc8785.dumps(material) + b"\n")
                    count += 1
            data = buffer.getvalue()
            sha256 = hashlib.sha256(data).hexdigest()
            name = f"{bank.name}-{head}-{sha256[:16]}.ndjson.gz"
            (snapshot_directory() / name).write_bytes(data)
            identity = hub_identity()
            signature = hub_signatures.sign(
                identity.private_key,
                hub_signatures.snapshot_signed_message(
                    origin=identity.origin, bank=bank.name, up_to_sequence=head, sha256=sha256
                ),
            )
            created.append(
                Snapshot.objects.create(
                    bank=bank,
                    up_to_sequence=head,
                    signal_count=count,
                    file_name=name,
                    sha256=sha256,
                    signature=signature,
                )
            )
    return created


def snapshots_resign() -> int:
    """Sign every snapshot again with the current hub key (after a key rotation, so members
    that check listings with the hub's current key accept the snapshots made before it).
    The signed message is unchanged. Returns how many were signed."""
    identity = hub_identity()
    snapshots = list(Snapshot.objects.select_related("bank"))
    for snapshot in snapshots:
        snapshot.signature = hub_signatures.sign(
            identity.private_key,
            hub_signatures.snapshot_signed_message(
                origin=identity.origin,
                bank=snapshot.bank.name,
                up_to_sequence=snapshot.up_to_sequence,
                sha256=snapshot.sha256,
            ),
        )
    Snapshot.objects.bulk_update(snapshots, ["signature"], batch_size=500)
    return len(snapshots)
