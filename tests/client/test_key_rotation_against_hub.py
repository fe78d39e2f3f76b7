"""A member that pinned the hub's key follows the hub's key rotations over HTTP: during a
rotation the pinned key keeps verifying, after its finish the client walks the hub's signed
key transitions to the new key, pins it and goes on, one rotation or several at once. A
transition the pinned key did not sign, one the new key did not sign, a chain to a key that
signs nothing the hub serves, or no transition at all: refused (exit 5), the state kept."""

import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from hashfed_client import key_pinning, main
from hashfed_client import sync as sync_module
from hashfed_client.hub import HubClient
from hashfed_client.sync import SyncState
from hashfed_client.verify import CheckpointPolicy, LogVerifier

from accounts.hub_identity import hub_identity, hub_keys
from accounts.models import HubKeyTransition
from hashbank.models import Bank
from hashbank.services import transparency
from hashbank.tasks import issue_checkpoints
from hashfed_wire import key_transition, note
from tests.client.test_inclusion_against_hub import submitted
from tests.client.test_verify_against_hub import listed


@pytest.fixture
def hub(live_server, transactional_db, settings, monkeypatch, cast):
    monkeypatch.setenv("HASHFED_URL", live_server.url)
    monkeypatch.setenv("HASHFED_API_KEY", cast["lakeside/analyst"].account.api_key)
    monkeypatch.delenv("HASHFED_HUB_KEY", raising=False)
    return live_server


def vkey(private_key: Ed25519PrivateKey) -> str:
    name = transparency.note_key_name()
    return note.Verifier(name, private_key.public_key().public_bytes_raw()).vkey


def rotate() -> tuple[Ed25519PrivateKey, Ed25519PrivateKey]:
    """A whole rotation; the old and the new private key."""
    old = hub_identity().private_key
    call_command("rotate_hub_key", "--begin")
    call_command("rotate_hub_key", "--finish")
    return old, hub_identity().private_key


def sync(out) -> int:
    return main(["sync", "--out", str(out), "--limit", "3"])


def test_a_member_follows_one_rotation_then_two_in_a_row(
    hub, alice, signer_for, tmp_path, capsys, monkeypatch
):
    listed(alice, signer_for, 4)
    out, state_path = tmp_path / "list.ndjson", tmp_path / "list.state.json"
    first = hub_identity().private_key
    # Pinned on the command line, as a member that checked the key out of band does.
    monkeypatch.setenv("HASHFED_HUB_KEY", vkey(first))
    assert sync(out) == 0
    assert SyncState.load(state_path).hub_key == vkey(first)

    # During the rotation both keys sign: the pinned key keeps verifying, nothing moves.
    call_command("rotate_hub_key", "--begin")
    second = hub_keys().next.private_key
    listed(alice, signer_for, 2)
    capsys.readouterr()
    assert sync(out) == 0
    assert "rotated" not in capsys.readouterr().err
    assert SyncState.load(state_path).hub_key == vkey(first)

    # After the finish only the new key signs: the client follows the signed transition.
    call_command("rotate_hub_key", "--finish")
    listed(alice, signer_for, 3)
    assert sync(out) == 0
    err = capsys.readouterr().err
    assert f"followed 1 signed key transition(s) {vkey(first)} -> {vkey(second)}" in err
    state = SyncState.load(state_path)
    assert (state.hub_key, state.hub_keys_followed) == (vkey(second), [vkey(first)])
    assert len(out.read_text().splitlines()) == 9
    tvec_size = state.trees["TVEC"].checkpoint_size
    assert state.trees["TVEC"].edge.size == tvec_size >= 9

    # Two rotations before the next sync, and no entry since: the latest checkpoint is
    # still the one the retired key signed, which the keys left behind still verify.
    _, third = rotate()
    _, fourth = rotate()
    assert sync(out) == 0
    err = capsys.readouterr().err
    assert (
        f"followed 2 signed key transition(s) {vkey(second)} -> {vkey(third)} -> "
        f"{vkey(fourth)}; now pinned to {vkey(fourth)}"
    ) in err
    state = SyncState.load(state_path)
    assert state.hub_key == vkey(fourth)
    assert state.hub_keys_followed == [vkey(first), vkey(second), vkey(third)]

    # The list goes on under the new key; the old key given again is one of the chain.
    listed(alice, signer_for, 2)
    assert sync(out) == 0
    assert "rotated" not in capsys.readouterr().err
    assert SyncState.load(state_path).trees["TVEC"].checkpoint_size == tvec_size + 2
    assert len(out.read_text().splitlines()) == 11

    # A key the chain never led to is still refused.
    monkeypatch.setenv("HASHFED_HUB_KEY", vkey(Ed25519PrivateKey.generate()))
    assert sync(out) == 5
    assert "no signed key transition leads" in capsys.readouterr().err


def _synced_then_rotated(alice, signer_for, tmp_path):
    listed(alice, signer_for, 3)
    out, state_path = tmp_path / "list.ndjson", tmp_path / "list.state.json"
    assert sync(out) == 0
    old, new = rotate()
    listed(alice, signer_for, 2)
    return out, state_path, old, new


def _replace_transition(text: str) -> None:
    assert HubKeyTransition.objects.update(note=text) == 1


def _refused(out, state_path, capsys, message: str) -> None:
    before = state_path.read_bytes()
    capsys.readouterr()
    assert sync(out) == 5
    assert message in capsys.readouterr().err
    assert state_path.read_bytes() == before


def test_a_transition_the_pinned_key_did_not_sign_is_refused(
    hub, alice, signer_for, tmp_path, capsys
):
    out, state_path, old, new = _synced_then_rotated(alice, signer_for, tmp_path)
    name = transparency.note_key_name()
    old_key = note.parse_verifier_key(vkey(old))
    body = key_transition.transition_body(
        old_key, note.parse_verifier_key(vkey(new)), int(time.time())
    )
    # Signed by a key nobody pinned, then by the new key.
    forged = note.sign_note(body, name=name, private_key=Ed25519PrivateKey.generate())
    _replace_transition(note.add_signature(forged, name=name, private_key=new))
    _refused(out, state_path, capsys, f"not signed by its old key {old_key.vkey}")


def test_a_transition_without_the_new_keys_signature_is_refused(
    hub, alice, signer_for, tmp_path, capsys
):
    out, state_path, old, new = _synced_then_rotated(alice, signer_for, tmp_path)
    name = transparency.note_key_name()
    new_key = note.parse_verifier_key(vkey(new))
    body = key_transition.transition_body(
        note.parse_verifier_key(vkey(old)), new_key, int(time.time())
    )
    # The old key's signature is valid; the new key never proved it holds its key.
    _replace_transition(note.sign_note(body, name=name, private_key=old))
    _refused(out, state_path, capsys, f"not signed by its new key {new_key.vkey}")


def test_a_chain_to_a_key_that_does_not_sign_is_refused(hub, alice, signer_for, tmp_path, capsys):
    out, state_path, old, _ = _synced_then_rotated(alice, signer_for, tmp_path)
    # A valid statement by the old key, to a key that signs none of what the hub serves.
    elsewhere = Ed25519PrivateKey.generate()
    _replace_transition(
        key_transition.sign_transition(
            name=transparency.note_key_name(), old=old, new=elsewhere, time=int(time.time())
        )
    )
    _refused(out, state_path, capsys, f"lead to {vkey(elsewhere)}, and no key on the way signed")


def test_a_new_key_without_any_transition_is_refused(hub, alice, signer_for, tmp_path, capsys):
    out, state_path, *_ = _synced_then_rotated(alice, signer_for, tmp_path)
    HubKeyTransition.objects.all().delete()
    _refused(out, state_path, capsys, "publishes no key transition from it")


def test_inclusion_with_a_key_pinned_before_a_rotation_follows_it(
    hub, cast, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("HASHFED_API_KEY", cast["lakeside/admin"].account.api_key)
    old = hub_identity().private_key
    monkeypatch.setenv("HASHFED_HUB_KEY", vkey(old))
    (before,), receipts = submitted(
        cast, "lakeside/admin", tmp_path, f"md5,{'3c' * 16},tvec-instruction\n"
    )
    issue_checkpoints()
    assert main(["inclusion", before, "--receipts", receipts]) == 0

    _, new = rotate()
    # The receipts file holds both submissions now.
    (_, after), receipts = submitted(
        cast, "lakeside/admin", tmp_path, f"md5,{'4d' * 16},tvec-instruction\n"
    )
    issue_checkpoints()
    capsys.readouterr()
    # The receipt and checkpoint of the new key, checked from the old pin.
    assert main(["inclusion", after, "--receipts", receipts]) == 0
    captured = capsys.readouterr()
    assert f"now pinned to {vkey(new)}" in captured.err
    assert f"{after}: included" in captured.out
    # A receipt the old key signed, proved in the newest checkpoint, the new key's.
    assert main(["inclusion", before]) == 0
    out = capsys.readouterr().out
    answer = json.loads(out[: out.rindex("}") + 1])
    signed_by = key_pinning.note_signed_by(answer["receipt"])
    assert signed_by(note.parse_verifier_key(vkey(old)))
    assert not signed_by(note.parse_verifier_key(vkey(new)))

    # A statement without the new key's signature: refused.
    body = key_transition.transition_body(
        note.parse_verifier_key(vkey(old)), note.parse_verifier_key(vkey(new)), int(time.time())
    )
    name = transparency.note_key_name()
    _replace_transition(note.sign_note(body, name=name, private_key=old))
    assert main(["inclusion", after]) == 5
    assert "not signed by its new key" in capsys.readouterr().err


def test_verify_with_a_key_pinned_before_a_rotation_follows_it(
    hub, alice, signer_for, tmp_path, capsys
):
    listed(alice, signer_for, 3)
    tvec = Bank.objects.get(name="TVEC")
    before = transparency.checkpoint_latest(tvec).note
    old, new = rotate()
    listed(alice, signer_for, 2)
    after = transparency.checkpoint_latest(tvec).note
    a, b = tmp_path / "a.note", tmp_path / "b.note"
    a.write_text(before)
    b.write_text(after)
    capsys.readouterr()
    # One checkpoint of the old key, one of the new: both checked from the old pin.
    assert main(["verify", str(a), str(b), "--hub-key", vkey(old)]) == 0
    captured = capsys.readouterr()
    assert f"now pinned to {vkey(new)}" in captured.err
    assert captured.out.startswith("OK: ")
    # Without a valid transition, the new key's checkpoint is not the hub's.
    HubKeyTransition.objects.all().delete()
    assert main(["verify", str(a), str(b), "--hub-key", vkey(old)]) == 5
    assert "publishes no key transition" in capsys.readouterr().err


def test_a_rotation_finished_during_a_sync_is_followed_in_the_same_run(
    hub, alice, signer_for, tmp_path, capsys, monkeypatch
):
    listed(alice, signer_for, 3)
    out, state_path = tmp_path / "list.ndjson", tmp_path / "list.state.json"
    assert sync(out) == 0
    first = hub_identity().private_key
    listed(alice, signer_for, 12)
    # Save after every page, and rotate the hub's key once the first page is saved: the
    # pages fetched after that are signed by the new key alone (the client reads one page
    # ahead, so the second page may still carry the old key's signature).
    monkeypatch.setattr(sync_module, "MAX_HELD_ENTRIES", 1)
    rotated: list[Ed25519PrivateKey] = []

    def progress(state: SyncState) -> None:
        if not rotated:
            rotated.append(rotate()[1])

    client = HubClient(hub.url, alice.account.api_key)
    policy = CheckpointPolicy(note.parse_verifier_key(vkey(first)))
    verifier = LogVerifier(policy, client.consistency_proof, hub=client.base_url)
    state = sync_module.sync_list(
        client,
        out=out,
        state_path=state_path,
        limit=3,
        progress=progress,
        hub_public_key=policy.hub_key.public_key,
        verifier=verifier,
    )
    assert rotated and state.hub_key == vkey(rotated[0])
    assert f"now pinned to {vkey(rotated[0])}" in capsys.readouterr().err
    assert SyncState.load(state_path).hub_keys_followed == [vkey(first)]
    assert len(out.read_text().splitlines()) == 15
