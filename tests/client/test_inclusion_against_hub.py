"""``hashfed submit --receipts`` and ``hashfed inclusion`` against a real hub over HTTP: the
receipt, the checkpoint and the inclusion proof verify with the pinned hub key, and what
does not verify exits 5 when the hub key did not sign it (another key, a checkpoint
changed) and 4 when it is signed and still wrong (a receipt other than the one given on
submission, a node of the tree altered); an organisation asking about another's
submission gets the hub's 404 (exit 3)."""

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as django_settings
from hashfed_client import main

from accounts.hub_identity import hub_identity
from hashbank.models import ChangeLogEntry, Checkpoint, MerkleNode
from hashbank.tasks import issue_checkpoints
from hashfed_wire import note


@pytest.fixture
def hub(live_server, transactional_db, settings, monkeypatch, cast):
    monkeypatch.setenv("HASHFED_URL", live_server.url)
    return live_server


def run(*argv: str) -> int:
    return main(list(argv))


def hub_vkey() -> str:
    return note.Verifier(django_settings.HUB_ORIGIN, hub_identity().public_key_raw).vkey


def submitted(cast, label, tmp_path, rows: str) -> tuple[list[str], str]:
    """Submit the rows with the CLI as `label`'s organisation; its receipts file and ids."""
    slug = label.split("/")[0]
    key_file = tmp_path / f"{slug}.pem"
    if not key_file.exists():
        assert run("keygen", "--out", str(key_file)) == 0
        assert run("register-key", "--key", str(key_file)) == 0
    data = tmp_path / f"{slug}.csv"
    data.write_text("signal_type,value,labels\n" + rows)
    receipts = tmp_path / f"{slug}.receipts.ndjson"
    args = ["submit", "--key", str(key_file), "--bank", "TVEC", "--file", str(data)]
    assert run(*args, "--receipts", str(receipts)) == 0
    ids = [json.loads(line)["id"] for line in receipts.read_text().splitlines()]
    return ids, str(receipts)


def test_a_receipt_is_checked_against_a_signed_checkpoint(hub, cast, tmp_path, monkeypatch, capsys):
    # Lakeside is a trusted contributor: approved on arrival.
    monkeypatch.setenv("HASHFED_API_KEY", cast["lakeside/admin"].account.api_key)
    monkeypatch.setenv("HASHFED_HUB_KEY", hub_vkey())
    (first, second), receipts = submitted(
        cast,
        "lakeside/admin",
        tmp_path,
        f"md5,{'1a' * 16},tvec-instruction\nmd5,{'2b' * 16},tvec-instruction\n",
    )
    capsys.readouterr()
    # Approved, but no checkpoint yet: the receipt verifies, the entry is not proved yet.
    assert run("inclusion", first, "--receipts", receipts) == 1
    assert "awaiting_checkpoint (receipt verified)" in capsys.readouterr().err

    issue_checkpoints()
    assert run("inclusion", first, "--receipts", receipts) == 0
    out = capsys.readouterr().out
    assert f"{first}: included, verified against the checkpoint of size" in out
    assert run("inclusion", second) == 0

    answer = json.loads(out[: out.rindex("}") + 1])
    proof = answer["proof"]

    # Another key pinned under the hub's name: nothing verifies.
    other = note.Verifier(
        django_settings.HUB_ORIGIN, Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    )
    capsys.readouterr()
    assert run("inclusion", first, "--hub-key", other.vkey) == 5
    assert f"not signed by the pinned hub key {other.vkey}" in capsys.readouterr().err

    # A stored receipt that is not the one the hub gives.
    record = json.loads(Path(receipts).read_text().splitlines()[0])
    record["receipt"] = record["receipt"].replace("review-state approved", "review-state pending")
    changed = tmp_path / "changed.ndjson"
    changed.write_text(json.dumps(record) + "\n")
    assert run("inclusion", first, "--receipts", str(changed)) == 4
    assert "differs from the one" in capsys.readouterr().err

    # A hash on the proof's path altered in the hub's database (a stored node, or another
    # entry's leaf hash): the proof no longer verifies.
    stored = MerkleNode.objects.filter(bank__name="TVEC", hash__in=proof)
    if not stored.exists():
        stored = ChangeLogEntry.objects.filter(bank__name="TVEC", leaf_hash__in=proof)
    row = stored.first()
    saved = row.hash if isinstance(row, MerkleNode) else row.leaf_hash
    field = "hash" if isinstance(row, MerkleNode) else "leaf_hash"
    type(row).objects.filter(pk=row.pk).update(**{field: "00" * 32})
    assert run("inclusion", first) == 4
    assert "the inclusion proof does not verify" in capsys.readouterr().err
    type(row).objects.filter(pk=row.pk).update(**{field: saved})
    assert run("inclusion", first) == 0

    # The checkpoint's note altered: its signature no longer verifies.
    checkpoint = Checkpoint.objects.filter(bank__name="TVEC").order_by("-size").first()
    lines = checkpoint.note.split("\n")
    lines[1] = str(int(lines[1]) + 1)
    Checkpoint.objects.filter(pk=checkpoint.pk).update(note="\n".join(lines))
    capsys.readouterr()
    assert run("inclusion", first) == 5
    assert "does not verify" in capsys.readouterr().err


def test_a_pending_submission_is_not_included_yet_and_others_cannot_ask(
    hub, cast, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("HASHFED_API_KEY", cast["northwind/admin"].account.api_key)
    (pending,), receipts = submitted(
        cast, "northwind/admin", tmp_path, f"md5,{'3c' * 16},tvec-instruction\n"
    )
    capsys.readouterr()
    assert run("inclusion", pending, "--receipts", receipts, "--hub-key", hub_vkey()) == 1
    assert "pending_review (receipt verified)" in capsys.readouterr().err
    # Without a pinned key it warns, and still checks against the published one.
    assert run("inclusion", pending) == 1
    assert "not pinned" in capsys.readouterr().err

    monkeypatch.setenv("HASHFED_API_KEY", cast["lakeside/admin"].account.api_key)
    assert run("inclusion", pending, "--hub-key", hub_vkey()) == 3
    assert "404 not_found" in capsys.readouterr().err
