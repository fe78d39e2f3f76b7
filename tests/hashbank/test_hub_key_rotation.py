"""Rotating the hub key: a next key signs beside the current one, then replaces it; both
are published, and what either signed stays verifiable."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from accounts.hub_identity import hub_identity, hub_keys
from accounts.models import HubInstance
from hashbank.models import Bank, Snapshot
from hashbank.services import transparency
from hashbank.services.snapshots import snapshots_create
from hashfed_wire import ed25519, hub_signatures, key_transition, merkle, note
from tests.hashbank.test_transparency_log import fill


def verifier(public_key_raw: bytes) -> note.Verifier:
    return note.Verifier(django_settings.HUB_ORIGIN, public_key_raw)


def hub_key_lines(checkpoint_note: str) -> list[str]:
    return [line for line in checkpoint_note.splitlines() if line.startswith("\u2014 hub.test ")]


def well_known(anonymous) -> dict:
    response = anonymous.get("/.well-known/hashfed")
    assert response.status_code == 200
    return response.json()


def test_the_current_note_verifier_key_is_published(cast, anonymous):
    published = well_known(anonymous)
    identity = hub_identity()
    assert published["note_verifier_key"] == verifier(identity.public_key_raw).vkey
    [key] = published["keys"]
    assert key["status"] == "current" and key["key_id"] == identity.key_id
    assert note.parse_verifier_key(key["note_verifier_key"]) == verifier(identity.public_key_raw)
    # The first key has no rotation's begin: it signs since the hub's identity was created.
    created = HubInstance.objects.get().created_at
    assert dt.datetime.fromisoformat(key["valid_from"]) == created
    assert key["valid_until"] is None
    assert published["key_transitions"] == []


def test_a_rotation_publishes_a_transition_signed_by_both_keys(cast, anonymous):
    old = hub_identity()
    call_command("rotate_hub_key", "--begin")
    new = hub_keys().next
    assert new is not None
    published = well_known(anonymous)
    [item] = published["key_transitions"]
    assert (item["old_key_id"], item["new_key_id"]) == (old.key_id, new.key_id)
    # Anyone holding the old key's verifier key checks it with the published format alone.
    transition = key_transition.verify_transition(item["note"])
    assert transition.old == verifier(old.public_key_raw)
    assert transition.new == verifier(new.public_key_raw)
    assert transition.time == int(dt.datetime.fromisoformat(item["issued_at"]).timestamp())
    for key in (old, new):
        assert note.open_note(item["note"], [verifier(key.public_key_raw)]).key_names == [
            "hub.test"
        ]
    # The first key, retired by the finish, keeps a true start.
    call_command("rotate_hub_key", "--finish")
    keys = well_known(anonymous)["keys"]
    assert all(key["valid_from"] for key in keys)
    assert len(well_known(anonymous)["key_transitions"]) == 1


def test_during_a_rotation_both_keys_sign_and_either_alone_verifies(cast, alice, anonymous):
    fill([("TVEC", 3)])
    old = hub_identity()
    call_command("rotate_hub_key", "--begin")
    keys = hub_keys()
    assert keys.current.key_id == old.key_id and keys.next is not None
    new = keys.next
    assert HubInstance.objects.get().next_signing_key_id == new.key_id

    # A checkpoint: two signature lines by the hub's name; each key alone opens it.
    fill([("TVEC", 2)])
    served = alice.client().get("/api/v1/banks/TVEC/checkpoint").content.decode()
    assert len(hub_key_lines(served)) == 2
    for public_key in (old.public_key_raw, new.public_key_raw):
        opened = note.open_checkpoint(served, [verifier(public_key)])
        assert opened.checkpoint.size == 5 and opened.key_names == ["hub.test"]

    # A sync page: X-Hashfed-Signature is still the current key's; X-Hashfed-Signatures
    # holds both, and a client knowing only the new key verifies the page.
    page = alice.client().get("/api/v1/sync/?cursor=0&limit=1000")
    hub_signatures.verify_page(
        old.public_key_raw, page.content, page[hub_signatures.SIGNATURE_HEADER]
    )
    assert page[hub_signatures.KEY_ID_HEADER] == old.key_id
    header = page[hub_signatures.SIGNATURES_HEADER]
    assert list(hub_signatures.parse_signatures_header(header)) == [old.key_id, new.key_id]
    for public_key in (old.public_key_raw, new.public_key_raw):
        assert hub_signatures.verify_page_by_any(
            [public_key], page.content, header
        ) == hub_signatures.ed25519.key_id_for(public_key)
    with pytest.raises(hub_signatures.HubSignatureError):
        hub_signatures.verify_page_by_any([new.public_key_raw], page.content + b" ", header)
    for checkpoint in page.json()["checkpoints"].values():
        note.open_checkpoint(checkpoint["checkpoint"]["note"], [verifier(new.public_key_raw)])

    # The well-known document: the current key at its top level, both in `keys`.
    published = well_known(anonymous)
    assert published["key_id"] == old.key_id
    assert [(k["status"], k["key_id"]) for k in published["keys"]] == [
        ("current", old.key_id),
        ("next", new.key_id),
    ]
    assert published["keys"][1]["note_verifier_key"] == verifier(new.public_key_raw).vkey
    assert published["keys"][1]["valid_from"] is not None

    with pytest.raises(CommandError, match="in progress"):
        call_command("rotate_hub_key", "--begin")


def test_after_the_finish_only_the_new_key_signs_and_the_old_stays_published_as_retired(
    cast, alice, anonymous, settings
):
    fill([("TVEC", 3)])
    snapshots_create()
    old = hub_identity()
    before = alice.client().get("/api/v1/banks/TVEC/checkpoint").content.decode()
    call_command("rotate_hub_key", "--begin")
    new = hub_keys().next
    assert new is not None
    call_command("rotate_hub_key", "--finish")

    assert hub_keys().current.key_id == new.key_id and hub_keys().next is None
    assert HubInstance.objects.get().signing_key_id == new.key_id
    # The new key took the hub key's file; the old private key is gone.
    key_file = settings.HUB_SIGNING_KEY_FILE
    assert not (key_file.parent / "hub-ed25519.next.pem").exists()
    on_disk = ed25519.load_private_key_pem(key_file.read_bytes())
    assert ed25519.public_key_raw(on_disk) == new.public_key_raw
    hub_identity.cache_clear()
    assert hub_identity().key_id == new.key_id

    fill([("TVEC", 4)])
    after = alice.client().get("/api/v1/banks/TVEC/checkpoint").content.decode()
    assert len(hub_key_lines(after)) == 1
    assert note.open_checkpoint(after, [verifier(new.public_key_raw)]).checkpoint.size == 7
    with pytest.raises(note.NoteError, match="no known key"):
        note.open_checkpoint(after, [verifier(old.public_key_raw)])
    page = alice.client().get("/api/v1/sync/?cursor=0&limit=1000")
    hub_signatures.verify_page(
        new.public_key_raw, page.content, page[hub_signatures.SIGNATURE_HEADER]
    )
    assert list(hub_signatures.parse_signatures_header(page[hub_signatures.SIGNATURES_HEADER])) == [
        new.key_id
    ]

    # The checkpoint the old key signed and the new key's are of one tree.
    old_checkpoint = note.open_checkpoint(before, [verifier(old.public_key_raw)]).checkpoint
    new_checkpoint = note.open_checkpoint(after, [verifier(new.public_key_raw)]).checkpoint
    proof = alice.client().get(
        f"/api/v1/banks/TVEC/proof/consistency?from={old_checkpoint.size}&to={new_checkpoint.size}"
    )
    merkle.verify_consistency(
        old_checkpoint.size,
        new_checkpoint.size,
        old_checkpoint.root_hash,
        new_checkpoint.root_hash,
        [bytes.fromhex(h) for h in proof.json()["proof"]],
    )

    published = well_known(anonymous)
    assert published["key_id"] == new.key_id
    assert published["public_key"] == base64.b64encode(new.public_key_raw).decode()
    assert published["note_verifier_key"] == verifier(new.public_key_raw).vkey
    assert [(k["status"], k["key_id"]) for k in published["keys"]] == [
        ("current", new.key_id),
        ("retired", old.key_id),
    ]
    retired = published["keys"][1]
    assert retired["valid_until"] is not None
    assert retired["note_verifier_key"] == verifier(old.public_key_raw).vkey
    # What the old key signed still checks against its published key.
    note.open_checkpoint(before, [note.parse_verifier_key(retired["note_verifier_key"])])

    # Snapshots made before the finish are signed again by the new key.
    listing = alice.client().get("/api/v1/sync/snapshots/").json()
    assert listing and Snapshot.objects.count() == len(listing)
    for snapshot in listing:
        hub_signatures.verify_snapshot(
            new.public_key_raw,
            snapshot["signature"],
            origin=django_settings.HUB_ORIGIN,
            bank=snapshot["bank"],
            up_to_sequence=snapshot["up_to_sequence"],
            sha256=snapshot["sha256"],
        )

    with pytest.raises(CommandError, match="no rotation"):
        call_command("rotate_hub_key", "--finish")


def test_between_the_finish_and_the_file_moves_the_new_key_is_found_beside(cast, settings):
    """Another process reading the hub row after the finish's commit and before its file
    moves loads the new key from the next key's file, and signs with it alone."""
    fill([("TVEC", 1)])
    call_command("rotate_hub_key", "--begin")
    new = hub_keys().next
    assert new is not None
    HubInstance.objects.update(signing_key_id=new.key_id, next_signing_key_id="")
    keys = hub_keys()
    assert keys.current.key_id == new.key_id and keys.next is None
    checkpoint = transparency.checkpoint_latest(Bank.objects.get(name="TVEC"))
    assert note.open_checkpoint(checkpoint.note, [verifier(new.public_key_raw)])


def test_a_missing_next_key_file_stops_signing(cast, settings, anonymous):
    call_command("rotate_hub_key", "--begin")
    (settings.HUB_SIGNING_KEY_FILE.parent / "hub-ed25519.next.pem").unlink()
    hub_identity.cache_clear()
    response = anonymous.get("/.well-known/hashfed")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "hub_state_mismatch"


def test_a_second_rotation_retires_the_first_rotations_key_too(cast, anonymous):
    first = hub_identity()
    call_command("rotate_hub_key", "--begin")
    call_command("rotate_hub_key", "--finish")
    second = hub_identity()
    call_command("rotate_hub_key", "--begin")
    call_command("rotate_hub_key", "--finish")
    third = hub_identity()
    assert len({first.key_id, second.key_id, third.key_id}) == 3
    published = well_known(anonymous)
    assert [(k["status"], k["key_id"]) for k in published["keys"]] == [
        ("current", third.key_id),
        ("retired", second.key_id),
        ("retired", first.key_id),
    ]
    # The second key's validity runs from its rotation's begin to the next one's finish.
    second_key = published["keys"][1]
    assert dt.datetime.fromisoformat(second_key["valid_from"]) < dt.datetime.fromisoformat(
        second_key["valid_until"]
    )
    assert published["keys"][0]["valid_from"] is not None
    # Each key named the next: the chain from the first key leads to the third.
    chain = key_transition.follow(
        verifier(first.public_key_raw), [item["note"] for item in published["key_transitions"]]
    )
    assert [t.new for t in chain] == [
        verifier(second.public_key_raw),
        verifier(third.public_key_raw),
    ]
