"""The member client checking a real hub's list against its signed checkpoints, over HTTP:
an honest hub passes, a hub that truncates a bank's log and re-signs it at the smaller size
is caught with signed evidence, and two members shown different roots at one size prove
the split view with ``hashfed verify``."""

import json

import pytest
from hashfed_client import main
from hashfed_client.sync import SyncState

from accounts.hub_identity import hub_identity
from hashbank.models import Bank, ChangeLogEntry, Checkpoint, MerkleNode, Submission
from hashbank.services import transparency
from hashfed_wire import merkle, note
from tests.conftest import approve_all, random_pdq, submit


@pytest.fixture
def hub(live_server, transactional_db, settings, monkeypatch, cast):
    monkeypatch.setenv("HASHFED_URL", live_server.url)
    monkeypatch.setenv("HASHFED_API_KEY", cast["lakeside/analyst"].account.api_key)
    monkeypatch.delenv("HASHFED_HUB_KEY", raising=False)
    return live_server


def listed(alice, signer_for, count: int) -> None:
    signer = signer_for("northwind/admin")
    submit(alice, *[signer.envelope(signal_type="pdq", value=random_pdq()) for _ in range(count)])
    approve_all()


def hub_verifier() -> note.Verifier:
    identity = hub_identity()
    name = transparency.note_key_name()
    return note.Verifier(name, identity.private_key.public_key().public_bytes_raw())


def test_a_sync_verifies_every_page_and_the_next_one_extends_it(
    hub, alice, signer_for, tmp_path, capsys
):
    listed(alice, signer_for, 5)
    out = tmp_path / "list.ndjson"
    state_path = tmp_path / "list.state.json"
    assert main(["sync", "--out", str(out), "--limit", "2"]) == 0
    tvec = Bank.objects.get(name="TVEC")
    first = SyncState.load(state_path).trees["TVEC"]
    size = transparency.tree_size(tvec.pk)
    assert first.edge.size == size >= 5
    assert first.edge.root() == transparency.tree_root(tvec.pk, size) == first.checkpoint_root
    assert SyncState.load(state_path).hub_key == hub_verifier().vkey

    listed(alice, signer_for, 3)
    transparency.checkpoints_issue()
    assert main(["sync", "--out", str(out), "--limit", "2"]) == 0
    second = SyncState.load(state_path).trees["TVEC"]
    assert second.checkpoint_size == size + 3 == second.edge.size
    assert second.edge.root() == transparency.tree_root(tvec.pk, size + 3)
    # What the client accepted is consistent with what it held, by the hub's own proof.
    proof = transparency.consistency_proof(bank=tvec, old=size, new=size + 3)
    merkle.verify_consistency(size, size + 3, first.checkpoint_root, second.checkpoint_root, proof)
    assert len(out.read_text().splitlines()) == 8


def test_a_log_truncated_and_re_signed_at_a_smaller_size_is_caught_with_evidence(
    hub, alice, signer_for, tmp_path, capsys
):
    listed(alice, signer_for, 6)
    out = tmp_path / "list.ndjson"
    state_path = tmp_path / "list.state.json"
    assert main(["sync", "--out", str(out)]) == 0
    tvec = Bank.objects.get(name="TVEC")
    held = SyncState.load(state_path).trees["TVEC"]
    size = held.checkpoint_size
    assert size >= 6
    before = state_path.read_bytes()

    # The operator cuts the bank's last three entries and its tree, and signs the shorter
    # tree with the hub's real key.
    keep = size - 3
    cut_entries = ChangeLogEntry.objects.filter(bank=tvec, bank_index__gte=keep)
    Submission.objects.filter(log_entry__in=cut_entries).update(log_entry=None)
    cut_entries.delete()
    cut = [
        pk
        for pk, level, index in MerkleNode.objects.filter(bank=tvec).values_list(
            "pk", "level", "index"
        )
        if (index + 1) << level > keep
    ]
    MerkleNode.objects.filter(pk__in=cut).delete()
    Checkpoint.objects.filter(bank=tvec, size__gt=keep).delete()
    root = transparency.tree_root(tvec.pk, keep)
    text = note.sign_checkpoint(
        note.Checkpoint(transparency.log_origin(tvec), keep, root, issued_at=1_800_000_000),
        name=transparency.note_key_name(),
        private_key=hub_identity().private_key,
    )
    Checkpoint.objects.create(bank=tvec, size=keep, root_hash=root.hex(), note=text)

    evidence_path = tmp_path / "evidence.json"
    assert main(["sync", "--out", str(out), "--evidence", str(evidence_path)]) == 4
    assert "MISBEHAVIOUR (rollback)" in capsys.readouterr().err
    assert state_path.read_bytes() == before
    evidence = json.loads(evidence_path.read_text())
    assert (evidence["kind"], evidence["bank"]) == ("rollback", "TVEC")
    # Portable: both notes open under the hub's published key, the later one smaller.
    old, new = (
        note.open_checkpoint(text, [hub_verifier()]).checkpoint for text in evidence["checkpoints"]
    )
    assert (old.size, new.size) == (size, keep)
    assert evidence["checkpoints"][0] == held.checkpoint


def test_two_members_shown_different_roots_at_one_size_prove_a_split_view(
    hub, alice, signer_for, cast, tmp_path, monkeypatch, capsys
):
    listed(alice, signer_for, 4)
    tvec = Bank.objects.get(name="TVEC")
    honest = transparency.checkpoint_latest(tvec)
    # What the hub shows another member: the same size, another root, its real key.
    forged = note.sign_checkpoint(
        note.Checkpoint(
            honest_origin := transparency.log_origin(tvec),
            honest.size,
            merkle.leaf_hash(b"another list"),
            issued_at=1_800_000_000,
        ),
        name=transparency.note_key_name(),
        private_key=hub_identity().private_key,
    )
    a, b = tmp_path / "a.note", tmp_path / "b.note"
    a.write_text(honest.note)
    b.write_text(forged)
    assert main(["verify", str(a), str(b)]) == 4
    captured = capsys.readouterr()
    assert "split view" in captured.err
    printed = json.loads(captured.out)
    assert printed["kind"] == "fork" and printed["checkpoints"] == [honest.note, forged]
    assert honest_origin.endswith("/banks/TVEC")

    # Two honest checkpoints of different sizes: the hub's consistency proof joins them,
    # checked under a key given on the command line.
    listed(alice, signer_for, 2)
    later = transparency.checkpoint_latest(tvec)
    b.write_text(later.note)
    assert main(["verify", str(a), str(b), "--hub-key", hub_verifier().vkey]) == 0
    assert f"sizes {honest.size} and {later.size}" in capsys.readouterr().out
    # The forged one is no prefix of the later honest one either.
    a.write_text(forged)
    assert main(["verify", str(a), str(b)]) == 4
