"""Witnesses: independent parties that cosign the banks' checkpoints (C2SP
tlog-cosignature). Each witness holds its own Ed25519 key, here generated as an outside
party would; the hub verifies every cosignature against the exact checkpoint it issued and
serves the cosignatures beside its own signature."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.hub_identity import hub_identity
from accounts.models import Organisation
from hashbank.models import Bank, Checkpoint, Cosignature, Witness
from hashbank.services import transparency
from hashfed_wire import note
from tests.hashbank.test_transparency_log import fill

PEER = "southern-hub/peer"


class OutsideWitness:
    """A witness as it runs elsewhere: its own key, its own clock."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.private_key = Ed25519PrivateKey.generate()
        self.verifier = note.Verifier(
            name, self.private_key.public_key().public_bytes_raw(), note.COSIGNATURE_ED25519
        )

    def line(self, checkpoint_note: str, *, timestamp: int | None = None) -> str:
        text = checkpoint_note[: checkpoint_note.rfind("\n\n") + 1]
        return note.cosignature_line(
            text,
            name=self.name,
            private_key=self.private_key,
            timestamp=int(time.time()) if timestamp is None else timestamp,
        )


def configure(outside: OutsideWitness, *banks: str, organisation: str = "southern-hub") -> Witness:
    witness = Witness.objects.create(
        name=outside.name,
        verifier_key=outside.verifier.vkey,
        organisation=Organisation.objects.get(slug=organisation),
    )
    witness.banks.set(Bank.objects.filter(name__in=banks))
    return witness


def hub_verifier() -> note.Verifier:
    return note.Verifier(django_settings.HUB_ORIGIN, hub_identity().public_key_raw)


def post(client, bank: str, checkpoint_note: str, line: str, **overrides):
    opened = note.open_checkpoint(checkpoint_note, [hub_verifier()]).checkpoint
    body = {"size": opened.size, "root_hash": opened.root_hash.hex(), "cosignature": line}
    body.update(overrides)
    return client.post(f"/api/v1/banks/{bank}/checkpoint/cosignatures", body, format="json")


def refusal(response, status: int, field: str) -> str:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert field in error["fields"], error
    return error["code"]


@pytest.fixture
def tvec(cast):
    fill([("TVEC", 5), ("HATE", 3)])


def test_a_witness_fetches_cosigns_and_its_cosignature_is_served_beside_the_hub_signature(
    cast, tvec, alice
):
    witness = OutsideWitness("witness.example/w1")
    configure(witness, "TVEC")
    peer = cast[PEER].client()
    fetched = peer.get("/api/v1/banks/TVEC/checkpoint")
    assert fetched.status_code == 200
    line = witness.line(fetched.content.decode())

    response = post(peer, "TVEC", fetched.content.decode(), line)
    assert response.status_code == 201, response.content
    assert response.json()["witness"] == "witness.example/w1"
    assert response.json()["cosignature"] == line
    # Posting again answers the stored one.
    again = post(peer, "TVEC", fetched.content.decode(), witness.line(fetched.content.decode()))
    assert again.status_code == 200 and again.json()["cosignature"] == line
    assert Cosignature.objects.count() == 1

    # A member reads the checkpoint with the hub's signature then the witness's.
    served = alice.client().get("/api/v1/banks/TVEC/checkpoint").content.decode()
    assert served == fetched.content.decode() + line
    assert note.open_note(served, [hub_verifier()]).key_names == ["hub.test"]
    assert note.open_note(served, [witness.verifier]).key_names == [witness.name]
    assert note.verify_cosignature(served, witness.verifier) > 0
    # The same note in the sync feed.
    page = alice.client().get("/api/v1/sync/?cursor=0&limit=1000").json()
    assert page["checkpoints"]["TVEC"]["checkpoint"]["note"] == served
    assert witness.name not in page["checkpoints"]["HATE"]["checkpoint"]["note"]


def test_cosignatures_are_served_only_for_the_exact_checkpoint_and_while_the_witness_is_active(
    cast, tvec, alice
):
    witness = OutsideWitness("witness.example/w1")
    configured = configure(witness, "TVEC")
    peer = cast[PEER].client()
    first = peer.get("/api/v1/banks/TVEC/checkpoint").content.decode()
    assert post(peer, "TVEC", first, witness.line(first)).status_code == 201
    fill([("TVEC", 2)])
    newer = alice.client().get("/api/v1/banks/TVEC/checkpoint").content.decode()
    assert witness.name not in newer  # not cosigned yet
    assert witness.name in transparency.checkpoint_note(Checkpoint.objects.get(size=5))
    configured.active = False
    configured.save()
    assert witness.name not in transparency.checkpoint_note(Checkpoint.objects.get(size=5))
    configured.active = True
    configured.save()
    configured.banks.set(Bank.objects.filter(name="HATE"))
    assert witness.name not in transparency.checkpoint_note(Checkpoint.objects.get(size=5))


def test_sync_pages_read_the_cosignatures_of_all_their_checkpoints_in_one_query(cast, alice):
    fill([("TVEC", 3), ("HATE", 2), ("TVEC", 1)])
    witnesses = [OutsideWitness(f"witness.example/w{n}") for n in range(3)]
    for witness in witnesses:
        configure(witness, "TVEC", "HATE")
    peer = cast[PEER].client()
    for bank in ("TVEC", "HATE"):
        fetched = peer.get(f"/api/v1/banks/{bank}/checkpoint").content.decode()
        for witness in witnesses:
            assert post(peer, bank, fetched, witness.line(fetched)).status_code == 201
    alice.client().get("/api/v1/sync/?cursor=0&limit=1000")  # checkpoints issued
    with CaptureQueriesContext(connection) as queries:
        page = alice.client().get("/api/v1/sync/?cursor=0&limit=1000").json()
    assert sum("hashbank_cosignature" in q["sql"] for q in queries.captured_queries) == 1
    for bank in ("TVEC", "HATE"):
        served = page["checkpoints"][bank]["checkpoint"]["note"]
        for witness in witnesses:
            note.verify_cosignature(served, witness.verifier)


def test_bad_cosignatures_are_refused_naming_the_field(cast, tvec):
    witness = OutsideWitness("witness.example/w1")
    configure(witness, "TVEC")
    stranger = OutsideWitness("witness.example/stranger")
    peer = cast[PEER].client()
    fetched = peer.get("/api/v1/banks/TVEC/checkpoint").content.decode()

    # A key no one configured; the right name with another key.
    assert refusal(post(peer, "TVEC", fetched, stranger.line(fetched)), 400, "cosignature") == (
        "witness_unknown"
    )
    impostor = OutsideWitness("witness.example/w1")
    assert (
        refusal(post(peer, "TVEC", fetched, impostor.line(fetched)), 400, "cosignature")
        == "witness_unknown"
    )
    # Tampered text: the witness signed another root (or another time line).
    tampered = fetched.replace("\ntime ", "\ntime 1", 1)
    assert (
        refusal(post(peer, "TVEC", fetched, witness.line(tampered)), 400, "cosignature")
        == "signature_invalid"
    )
    # A flipped signature byte.
    line = witness.line(fetched)
    name, encoded = line[2:-1].split(" ")
    raw = bytearray(note._strict_b64(encoded, "x"))
    raw[-1] ^= 1
    flipped = f"— {name} {note.base64.b64encode(bytes(raw)).decode()}\n"
    assert refusal(post(peer, "TVEC", fetched, flipped), 400, "cosignature") == (
        "signature_invalid"
    )
    # Time far ahead of the hub's clock; before the checkpoint was issued.
    ahead = witness.line(fetched, timestamp=int(time.time()) + 3600)
    assert refusal(post(peer, "TVEC", fetched, ahead), 400, "cosignature") == "cosignature_time"
    before = witness.line(fetched, timestamp=int(time.time()) - 3600)
    assert refusal(post(peer, "TVEC", fetched, before), 400, "cosignature") == "cosignature_time"
    # Checkpoints the hub never issued.
    assert refusal(post(peer, "TVEC", fetched, line, size=4), 400, "size") == "checkpoint_unknown"
    assert (
        refusal(post(peer, "TVEC", fetched, line, root_hash="ab" * 32), 400, "root_hash")
        == "checkpoint_unknown"
    )
    # Not a signature line at all.
    assert refusal(post(peer, "TVEC", fetched, "hello"), 400, "cosignature") == "invalid"
    assert refusal(post(peer, "TVEC", fetched, line + line), 400, "cosignature") == "invalid"
    assert Cosignature.objects.count() == 0

    # A little ahead of the hub's clock is accepted (clock skew).
    slightly_ahead = witness.line(fetched, timestamp=int(time.time()) + 30)
    assert post(peer, "TVEC", fetched, slightly_ahead).status_code == 201


def test_a_witness_cosigns_only_the_banks_it_witnesses(cast, tvec):
    witness = OutsideWitness("witness.example/w1")
    configure(witness, "TVEC")
    peer = cast[PEER].client()
    # HATE is not shared with peer hubs and this witness does not witness it: it does not
    # exist for the peer hub.
    response = peer.get("/api/v1/banks/HATE/checkpoint")
    assert response.status_code == 404
    hate = transparency.checkpoint_latest(Bank.objects.get(name="HATE"))
    line = witness.line(hate.note)
    response = peer.post(
        "/api/v1/banks/HATE/checkpoint/cosignatures",
        {"size": hate.size, "root_hash": hate.root_hash, "cosignature": line},
        format="json",
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    # A witness of HATE, though, fetches its checkpoints and consistency proofs, not its
    # entries.
    other = OutsideWitness("witness.example/w2")
    configure(other, "HATE")
    assert peer.get("/api/v1/banks/HATE/checkpoint").status_code == 200
    assert peer.get("/api/v1/banks/HATE/proof/consistency?from=1&to=3").status_code == 200
    assert peer.get("/api/v1/banks/HATE/proof/inclusion?index=0&size=3").status_code == 404
    assert peer.get("/api/v1/banks/HATE/tile/entries/000.p/3").status_code == 404
    sync = peer.get("/api/v1/sync/?cursor=0&limit=1000").json()
    assert "HATE" not in sync["checkpoints"]
    assert {entry["bank"] for entry in sync["entries"]} == {"TVEC"}
    # With the TVEC witness's key, on HATE: not a witness of that bank.
    response = peer.post(
        "/api/v1/banks/HATE/checkpoint/cosignatures",
        {"size": hate.size, "root_hash": hate.root_hash, "cosignature": line},
        format="json",
    )
    assert refusal(response, 400, "cosignature") == "witness_unknown"
    assert post(peer, "HATE", hate.note, other.line(hate.note)).status_code == 201


@pytest.mark.parametrize(
    "label, status",
    [
        ("northwind/admin", 403),  # platforms read the log but run no witness
        ("lakeside/analyst", 403),
        ("ruritania-ctu/liaison", 403),
        ("open-harms-lab/researcher", 403),
        ("consortium/governance_officer", 403),
    ],
)
def test_only_the_peer_hub_running_the_witness_may_post_its_cosignatures(cast, tvec, label, status):
    witness = OutsideWitness("witness.example/w1")
    configure(witness, "TVEC")
    checkpoint = transparency.checkpoint_latest(Bank.objects.get(name="TVEC"))
    body = {
        "size": checkpoint.size,
        "root_hash": checkpoint.root_hash,
        "cosignature": witness.line(checkpoint.note),
    }
    response = (
        cast[label].client().post("/api/v1/banks/TVEC/checkpoint/cosignatures", body, format="json")
    )
    assert response.status_code == status
    assert Cosignature.objects.count() == 0


def test_another_peer_hub_cannot_post_a_witness_it_does_not_run(cast, tvec, anonymous):
    witness = OutsideWitness("witness.example/w1")
    other_hub = Organisation.objects.create(
        slug="northern-hub", name="Northern Hub", kind="peer_hub", country="NO", status="active"
    )
    configure(witness, "TVEC", organisation=other_hub.slug)
    peer = cast[PEER].client()
    fetched = peer.get("/api/v1/banks/TVEC/checkpoint").content.decode()
    # The witness's own valid cosignature, posted by a peer hub that does not run it.
    response = post(peer, "TVEC", fetched, witness.line(fetched))
    assert refusal(response, 400, "cosignature") == "witness_unknown"
    response = anonymous.post(
        "/api/v1/banks/TVEC/checkpoint/cosignatures",
        {"size": 5, "root_hash": "00" * 32, "cosignature": witness.line(fetched)},
        format="json",
    )
    assert response.status_code == 401
    assert Cosignature.objects.count() == 0


def test_non_readers_learn_nothing_of_a_bank_through_the_witness_endpoints(cast, tvec):
    """A platform that may not read CSAM gets the same answer whether it exists or not and
    whatever it holds, on both witness endpoints."""
    fill([("CSAM", 2)])
    witness = OutsideWitness("witness.example/w1")
    configure(witness, "CSAM")
    pebble = cast["pebble/admin"].client()  # associate member: no CSAM, no TVEC
    for bank in ("CSAM", "NOPE", "TVEC"):
        assert pebble.get(f"/api/v1/banks/{bank}/checkpoint").json()["error"]["code"] == (
            "not_found"
        )
    for label in ("ruritania-ctu/liaison", "open-harms-lab/researcher"):
        assert cast[label].client().get("/api/v1/banks/CSAM/checkpoint").status_code == 403


def test_a_witness_key_must_be_a_cosignature_key(db):
    hub_key = note.Verifier(
        "witness.example", Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    )
    for value in (hub_key.vkey, "witness.example+00000000+AAAA", "nonsense"):
        with pytest.raises(ValidationError):
            Witness(name="w", verifier_key=value).full_clean()
    Witness(name="w", verifier_key=OutsideWitness("w").verifier.vkey).full_clean()
    platform = Organisation.objects.create(
        slug="p", name="P", kind="platform", country="FR", tier="full"
    )
    with pytest.raises(ValidationError):
        Witness(
            name="w", verifier_key=OutsideWitness("w").verifier.vkey, organisation=platform
        ).full_clean()


def test_staff_add_a_witness_in_admin_and_a_wrong_key_is_refused(cast):
    from django.test import Client

    from accounts.models import AuditEvent, User
    from tests.conftest import sign_in

    staff = sign_in(Client(), User.objects.get(email="governance@consortium.example"))
    southern = Organisation.objects.get(slug="southern-hub")
    tvec = Bank.objects.get(name="TVEC")
    hub_key = hub_verifier().vkey  # a log key (type 0x01), not a cosignature key
    form = {"name": "w1", "organisation": southern.pk, "active": "on", "banks": [tvec.pk]}
    response = staff.post("/admin/hashbank/witness/add/", {**form, "verifier_key": hub_key})
    assert response.status_code == 200  # the form again, with the error
    assert "cosignature key" in response.content.decode()
    platform = Organisation.objects.get(slug="northwind")
    key = OutsideWitness("witness.example/w1").verifier.vkey
    response = staff.post(
        "/admin/hashbank/witness/add/",
        {**form, "verifier_key": key, "organisation": platform.pk},
    )
    assert response.status_code == 200 and not Witness.objects.exists()
    response = staff.post("/admin/hashbank/witness/add/", {**form, "verifier_key": key})
    assert response.status_code == 302, response.content.decode()[:2000]
    witness = Witness.objects.get()
    assert (witness.verifier_key, witness.organisation, list(witness.banks.all())) == (
        key,
        southern,
        [tvec],
    )
    event = AuditEvent.objects.get(action="hashbank.witness.added")
    assert event.detail["verifier_key"] == key and event.detail["banks"] == ["TVEC"]
    member = cast["southern-hub/peer"].user
    assert Client().get("/admin/hashbank/witness/").status_code == 302
    assert sign_in(Client(), member).get("/admin/hashbank/witness/").status_code == 302
