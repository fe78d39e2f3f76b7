"""Signed snapshots: the lines are each listed signal's last entry without `sequence` and
`op`; PostgreSQL's COPY path and the ORM path write the same bytes; during a key rotation
both keys sign them, as they sign sync pages."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.hub_identity import hub_identity, hub_keys
from hashbank.models import Bank, ChangeLogEntry, ChangeOp, Signal, Snapshot
from hashbank.selectors import changelog_next_sequence
from hashbank.services import snapshots as snapshot_service
from hashbank.services.changelog import Change, EnvelopeRef, changelog_append
from hashbank.services.snapshots import (
    SnapshotWriter,
    snapshot_lines_copy,
    snapshot_lines_orm,
    snapshot_write,
    snapshots_create,
)
from hashfed_wire import ed25519, hub_signatures

_values = itertools.count(1)

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="COPY is PostgreSQL's"
)


def new_signal(bank: str, value: str | None = None, **fields) -> Signal:
    return Signal.objects.create(
        bank=Bank.objects.get(name=bank),
        signal_type="md5",
        value=value or f"{next(_values):032x}",
        first_listed_at=timezone.now(),
        **fields,
    )


def append(*changes: Change) -> None:
    changelog_append(changes=list(changes))


def mixed_log() -> dict[str, list[Signal]]:
    """Adds, updates (with and without a reason), removes, re-adds, an incident
    commitment, envelopes with contributors, and values needing escapes in JSON and in
    COPY: backslashes, quotes, non-ASCII and a control character."""
    odd = [
        "back\\slash",
        'a "quoted" \\\\ value',
        "caf\u00e9 \u2603 \U0001f600",
        "tab\there",
        "ends with \\",
    ]
    signals = {
        "TVEC": [new_signal("TVEC") for _ in range(6)] + [new_signal("TVEC", v) for v in odd],
        "HATE": [new_signal("HATE", incident="a live incident") for _ in range(3)],
        "CSAM": [],
    }
    envelopes = [
        EnvelopeRef(digest=f"{n:064x}", organisation="northwind", key_id=f"k{n}") for n in (2, 1)
    ]
    append(*(Change(signal=s, op=ChangeOp.ADD, labels=[]) for s in signals["TVEC"]))
    append(*(Change(signal=s, op=ChangeOp.ADD, envelopes=envelopes) for s in signals["HATE"]))
    tvec = signals["TVEC"]
    append(
        Change(signal=tvec[0], op=ChangeOp.UPDATE, labels=["tvec-glorification"]),
        Change(signal=tvec[1], op=ChangeOp.UPDATE, reason="relabelled", labels=[]),
        Change(signal=tvec[2], op=ChangeOp.REMOVE, reason="withdrawn"),
        Change(signal=tvec[3], op=ChangeOp.REMOVE, reason="rejected"),
        Change(signal=tvec[3], op=ChangeOp.ADD, labels=[]),
        Change(signal=signals["HATE"][0], op=ChangeOp.REMOVE, reason="withdrawn"),
    )
    return signals


def expected_lines(bank: str, head: int) -> list[bytes]:
    """What a snapshot holds, worked out from the log alone."""
    last: dict[int, dict] = {}
    for entry in ChangeLogEntry.objects.filter(bank__name=bank, sequence__lt=head).order_by(
        "sequence"
    ):
        last[entry.signal_id] = json.loads(bytes(entry.entry))
    lines = []
    for signal_id in sorted(last):
        material = last[signal_id]
        if material.pop("op") in ("add", "update"):
            del material["sequence"]
            lines.append(rfc8785.dumps(material))
    return lines


def file_lines(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines()


def test_each_line_is_a_listed_signals_last_entry_without_sequence_and_op(cast):
    mixed_log()
    head = changelog_next_sequence()
    created = {snapshot.bank.name: snapshot for snapshot in snapshots_create()}
    # Appended after the snapshot: in none of its files.
    append(Change(signal=new_signal("TVEC"), op=ChangeOp.ADD, labels=[]))
    directory = snapshot_service.snapshot_directory()
    for bank in ("TVEC", "HATE", "CSAM"):
        snapshot = created[bank]
        path = directory / snapshot.file_name
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == snapshot.sha256
        assert file_lines(path) == expected_lines(bank, head)
        assert snapshot.signal_count == len(expected_lines(bank, head))
        assert snapshot.up_to_sequence == head
    assert created["TVEC"].signal_count == 10 and created["HATE"].signal_count == 2
    assert created["CSAM"].signal_count == 0
    assert b"a live incident" not in gzip.decompress(
        (directory / created["HATE"].file_name).read_bytes()
    )


@postgresql_only
@pytest.mark.parametrize("chunk_ids", [1, 3, 4096])
def test_copy_and_orm_write_the_same_bytes(cast, tmp_path, monkeypatch, chunk_ids):
    # One signal a chunk, a few (some chunks empty for a bank), all of them in one.
    monkeypatch.setattr(snapshot_service, "COPY_CHUNK_IDS", chunk_ids)
    mixed_log()
    middle = changelog_next_sequence() - 3
    for bank in Bank.objects.all():
        for head in (middle, changelog_next_sequence()):
            copied = snapshot_write(snapshot_lines_copy(bank, head), tmp_path, "copy")
            parsed = snapshot_write(snapshot_lines_orm(bank, head), tmp_path, "orm")
            assert copied[0].read_bytes() == parsed[0].read_bytes()
            assert copied[1:] == parsed[1:]
            assert file_lines(copied[0]) == expected_lines(bank.name, head)
    odd = [json.loads(line)["value"] for line in file_lines(copied[0])]
    assert "back\\slash" in odd and "tab\there" in odd and "ends with \\" in odd


def test_the_file_depends_on_the_lines_not_on_how_they_arrive(tmp_path, monkeypatch):
    monkeypatch.setattr(snapshot_service, "COMPRESS_BLOCK", 1000)
    lines = b"".join(rfc8785.dumps({"n": n, "v": "x" * (n % 50)}) + b"\n" for n in range(2000))
    digests = set()
    for size in (1, 7, 999, 1000, 4096, len(lines)):
        writer = SnapshotWriter(tmp_path / f"by-{size}")
        for start in range(0, len(lines), size):
            writer.write(lines[start : start + size])
        digests.add(writer.close())
        assert gzip.decompress((tmp_path / f"by-{size}").read_bytes()) == lines
    assert len(digests) == 1


def test_a_failed_build_leaves_no_partial_file(cast, tmp_path):
    def broken():
        yield b"{}\n" * 10
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        snapshot_write(broken(), tmp_path, "TVEC-1")
    assert list(tmp_path.iterdir()) == []


def listed_signatures(item: dict, keys: list[bytes]) -> list[str]:
    """The key ids whose signature over the listed snapshot verifies, each key alone."""
    return [
        hub_signatures.verify_snapshot_by_any(
            [key],
            item["signatures"],
            origin=hub_identity().origin,
            bank=item["bank"],
            up_to_sequence=item["up_to_sequence"],
            sha256=item["sha256"],
        )
        for key in keys
    ]


def test_during_a_rotation_snapshots_are_signed_by_both_keys(cast, alice):
    mixed_log()
    old = hub_identity()
    before = snapshots_create()
    assert {s.signatures for s in before} == {f"{old.key_id}:{s.signature}" for s in before}, (
        "outside a rotation, one signature"
    )

    call_command("rotate_hub_key", "--begin")
    new = hub_keys().next
    assert new is not None
    # The snapshots made before the rotation now carry the next key's signature too.
    for snapshot in Snapshot.objects.all():
        signatures = hub_signatures.parse_signatures_header(snapshot.signatures)
        assert list(signatures) == [old.key_id, new.key_id]
        assert snapshot.signature == signatures[old.key_id]

    append(Change(signal=new_signal("TVEC"), op=ChangeOp.ADD, labels=[]))
    during = snapshots_create()
    listing = alice.client().get("/api/v1/sync/snapshots/").json()
    assert len(listing) >= 2 and {item["id"] for item in listing} <= {s.pk for s in during}
    keys = [old.public_key_raw, new.public_key_raw]
    for item in listing:
        assert listed_signatures(item, keys) == [old.key_id, new.key_id]
        hub_signatures.verify_snapshot(
            old.public_key_raw,
            item["signature"],
            origin=old.origin,
            bank=item["bank"],
            up_to_sequence=item["up_to_sequence"],
            sha256=item["sha256"],
        )
        download = alice.client().get(item["download"])
        data = b"".join(download.streaming_content)
        assert hashlib.sha256(data).hexdigest() == item["sha256"]
        assert download[hub_signatures.SIGNATURES_HEADER] == item["signatures"]
        assert download[hub_signatures.SIGNATURE_HEADER] == item["signature"]
        # Another bank, position or file: neither key's signature holds.
        for changed in ({"bank": "X"}, {"up_to_sequence": 1}, {"sha256": "0" * 64}):
            with pytest.raises(hub_signatures.HubSignatureError):
                listed_signatures({**item, **changed}, [new.public_key_raw])

    # A third key the snapshot does not name proves nothing.
    stranger = ed25519.public_key_raw(Ed25519PrivateKey.generate())
    with pytest.raises(hub_signatures.HubSignatureError, match="no known hub key"):
        listed_signatures(listing[0], [stranger])

    call_command("rotate_hub_key", "--finish")
    for item in alice.client().get("/api/v1/sync/snapshots/").json():
        assert list(hub_signatures.parse_signatures_header(item["signatures"])) == [new.key_id]
        assert listed_signatures(item, [new.public_key_raw]) == [new.key_id]
        with pytest.raises(hub_signatures.HubSignatureError, match="no known hub key"):
            listed_signatures(item, [old.public_key_raw])


def test_a_build_with_nothing_new_replaces_the_last_one(cast, alice):
    mixed_log()
    first = {s.bank.name: s for s in snapshots_create()}
    second = {s.bank.name: s for s in snapshots_create()}
    assert Snapshot.objects.count() == 3
    for bank, snapshot in second.items():
        assert (snapshot.sha256, snapshot.file_name) == (
            first[bank].sha256,
            first[bank].file_name,
        )
    listing = alice.client().get("/api/v1/sync/snapshots/").json()
    banks = [item["bank"] for item in listing]
    assert len(banks) == len(set(banks)) and {i["id"] for i in listing} <= {
        s.pk for s in second.values()
    }
