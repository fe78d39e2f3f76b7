"""This hub as a witness of its peers' logs (C2SP tlog-witness): a peer's checkpoint is
cosigned only when its signature, its origin and a consistency proof from the last
cosigned tree all hold. The peer here is a log kept by the test with its own Ed25519 key,
as another hub would keep it."""

from __future__ import annotations

import base64
import hashlib
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection

from accounts.models import Organisation
from federation.peering import witnessing
from federation.peering.models import PeeringAgreement, WitnessedLog
from hashfed_wire import merkle, note

URL = "/api/v1/witness/add-checkpoint"


class PeerLog:
    """A peer hub's bank log: its leaves, its key, its signed checkpoints and proofs."""

    def __init__(
        self,
        origin: str,
        bank: str = "TVEC",
        key: Ed25519PrivateKey | None = None,
        history: str = "",
    ):
        self.origin = origin
        self.bank = bank
        self.key = key or Ed25519PrivateKey.generate()
        self.leaves = [
            merkle.leaf_hash(f"{origin} {history} entry {n}".encode()) for n in range(40)
        ]

    @property
    def vkey(self) -> str:
        return note.verifier_key(self.origin, self.key.public_key().public_bytes_raw())

    def _hash_at(self, level: int, index: int) -> bytes:
        return merkle.root_hash(self.leaves[index << level : (index + 1) << level])

    def checkpoint(self, size: int, *, log_origin: str | None = None, root: bytes | None = None):
        body = note.Checkpoint(
            log_origin or f"{self.origin}/banks/{self.bank}",
            size,
            root if root is not None else merkle.root_hash(self.leaves[:size]),
            issued_at=1_800_000_000,
        )
        return note.sign_checkpoint(body, name=self.origin, private_key=self.key)

    def proof(self, old: int, new: int) -> list[bytes]:
        if old in (0, new):
            return []
        return merkle.consistency_proof(old, new, self._hash_at)


def request_body(old: int, proof: list[bytes], checkpoint: str) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(p).decode() for p in proof)]
    return ("\n".join(lines) + "\n\n" + checkpoint).encode()


def add(client, old: int, proof: list[bytes], checkpoint: str):
    return client.post(URL, request_body(old, proof, checkpoint), content_type="text/plain")


@pytest.fixture
def peer(cast) -> PeerLog:
    log = PeerLog("southern.example")
    PeeringAgreement.objects.create(
        organisation=Organisation.objects.get(slug="southern-hub"),
        origin=log.origin,
        base_url="https://southern.example",
        public_key=log.vkey,
    )
    return log


def witness_verifier(client) -> note.Verifier:
    published = client.get("/.well-known/hashfed").json()["witness_verifier_key"]
    verifier = note.parse_verifier_key(published)
    assert verifier.signature_type == note.COSIGNATURE_ED25519
    return verifier


def test_the_hub_cosigns_a_peer_log_as_it_grows_and_the_cosignature_verifies(cast, peer, anonymous):
    client = cast["southern-hub/peer"].client()
    first = peer.checkpoint(5)
    response = add(client, 0, [], first)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    line = response.content.decode()
    verifier = witness_verifier(anonymous)
    assert note.verify_cosignature(first + line, verifier) > 0

    grown = peer.checkpoint(13)
    response = add(client, 5, peer.proof(5, 13), grown)
    assert response.status_code == 200, response.content
    assert note.verify_cosignature(grown + response.content.decode(), verifier) > 0
    log = WitnessedLog.objects.get()
    assert (log.log_origin, log.size, log.root_hash) == (
        "southern.example/banks/TVEC",
        13,
        merkle.root_hash(peer.leaves[:13]).hex(),
    )
    assert log.checkpoint_text == grown
    # The same checkpoint again is cosigned again (a retry), the log unchanged.
    assert add(client, 13, [], grown).status_code == 200
    assert WitnessedLog.objects.get().size == 13


def test_a_stale_old_size_is_answered_with_the_current_size(cast, peer):
    client = cast["southern-hub/peer"].client()
    assert add(client, 0, [], peer.checkpoint(8)).status_code == 200
    for old in (0, 5, 9):
        response = add(client, old, peer.proof(old, 20), peer.checkpoint(20))
        assert response.status_code == 409
        assert response["Content-Type"] == "text/x.tlog.size"
        assert response.content == b"8\n"
    # The same size with another root: a fork, refused with the size too.
    forked = peer.checkpoint(8, root=hashlib.sha256(b"fork").digest())
    response = add(client, 8, [], forked)
    assert (response.status_code, response.content) == (409, b"8\n")
    # A smaller checkpoint than the old size is malformed.
    response = add(client, 8, [], peer.checkpoint(5))
    assert response.status_code == 400
    assert "old" in response.json()["error"]["fields"]
    assert WitnessedLog.objects.get().size == 8


def test_a_bad_consistency_proof_is_unprocessable(cast, peer):
    client = cast["southern-hub/peer"].client()
    assert add(client, 0, [], peer.checkpoint(6)).status_code == 200
    proof = peer.proof(6, 15)
    tampered = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    for bad in (tampered, proof[:-1], [], peer.proof(7, 15)):
        response = add(client, 6, bad, peer.checkpoint(15))
        assert response.status_code == 422, response.content
        assert response.json()["error"]["code"] == "bad_proof"
    # A checkpoint of another tree of 15 leaves: no proof from the cosigned one leads there.
    other = PeerLog(peer.origin, key=peer.key, history="rewritten")
    response = add(client, 6, peer.proof(6, 15), other.checkpoint(15))
    assert response.status_code == 422
    assert WitnessedLog.objects.get().size == 6


def test_a_checkpoint_not_signed_by_the_peers_key_is_forbidden(cast, peer):
    client = cast["southern-hub/peer"].client()
    impostor = PeerLog(peer.origin)  # the peer's name, another key
    response = add(client, 0, [], impostor.checkpoint(5))
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "checkpoint_refused"
    assert not WitnessedLog.objects.exists()


def test_an_origin_that_is_not_a_log_of_the_caller_is_not_found(cast, peer):
    """tlog-witness: an unknown origin is 404, checked before the signature (so a foreign
    origin signed by any key is answered the same way)."""
    client = cast["southern-hub/peer"].client()
    impostor = PeerLog(peer.origin)
    for checkpoint in (
        peer.checkpoint(5, log_origin="northern.example/banks/TVEC"),
        peer.checkpoint(5, log_origin=f"{peer.origin}/banks/"),
        peer.checkpoint(5, log_origin=f"{peer.origin}/other/TVEC"),
        peer.checkpoint(5, log_origin=f"{peer.origin}/banks/TVEC/x"),
        peer.checkpoint(5, log_origin="hub.test/banks/TVEC"),  # this hub's own bank
        impostor.checkpoint(5, log_origin="hub.test/banks/TVEC"),
    ):
        response = add(client, 0, [], checkpoint)
        assert response.status_code == 404, (checkpoint, response.content)
        assert response.json()["error"]["code"] == "unknown_log"
    assert not WitnessedLog.objects.exists()


def test_the_schema_lists_the_witness_answers(anonymous, db):
    schema = anonymous.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    responses = schema["paths"][URL]["post"]["responses"]
    assert {"200", "400", "401", "403", "404", "409", "413", "415", "422"} <= set(responses)
    assert "text/x.tlog.size" in responses["409"]["content"]
    assert "unknown_log" in responses["404"]["description"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 0\n",
        b"old x\n\nsouthern.example/banks/TVEC\n1\n",
        b"old 01\n\n",
        b"new 0\n\n",
        b"old 0\nnot base64!\n\n",
        b"old 0\n" + base64.b64encode(b"short") + b"\n\n",
        b"old 0\n\nnot a checkpoint\n",
        b"\xff\xfe",
        b"old 0\n" + b"\n".join([base64.b64encode(b"a" * 32)] * 64) + b"\n\n",
    ],
)
def test_malformed_requests_are_bad_requests(cast, peer, body):
    response = cast["southern-hub/peer"].client().post(URL, body, content_type="text/plain")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]


def test_json_is_not_the_witness_protocol(cast, peer):
    response = cast["southern-hub/peer"].client().post(URL, {"old": 0}, format="json")
    assert response.status_code == 415


def test_another_peer_cannot_have_a_log_it_does_not_own_cosigned(cast, peer):
    northern_log = PeerLog("northern.example")
    northern = Organisation.objects.create(
        slug="northern-hub", name="Northern Hub", kind="peer_hub", country="NO", status="active"
    )
    PeeringAgreement.objects.create(
        organisation=northern,
        origin=northern_log.origin,
        base_url="https://northern.example",
        public_key=northern_log.vkey,
    )
    from accounts import services
    from accounts.audit import AuditContext

    _, secret = services.api_key_issue(
        organisation=northern,
        name="witnessing",
        role="peer",
        scope="read_write",
        expires_at=None,
        context=AuditContext.system(),
    )
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    # Southern's own valid checkpoint, posted by Northern; Northern's key over Southern's origin.
    signed_by_northern = note.sign_checkpoint(
        note.parse_checkpoint(note.split_text(peer.checkpoint(5)).encode()),
        name=northern_log.origin,
        private_key=northern_log.key,
    )
    for checkpoint in (peer.checkpoint(5), signed_by_northern):
        response = add(client, 0, [], checkpoint)
        assert response.status_code == 404, response.content
        assert response.json()["error"]["code"] == "unknown_log"
    assert not WitnessedLog.objects.exists()
    # Its own log, though, it may have cosigned.
    assert add(client, 0, [], northern_log.checkpoint(3)).status_code == 200
    # Southern's log stays Southern's.
    assert add(cast["southern-hub/peer"].client(), 0, [], peer.checkpoint(5)).status_code == 200


def test_a_peer_hub_without_an_agreement_is_refused(cast):
    log = PeerLog("southern.example")
    response = add(cast["southern-hub/peer"].client(), 0, [], log.checkpoint(3))
    assert response.status_code == 403
    assert not WitnessedLog.objects.exists()


@pytest.mark.parametrize(
    "label",
    [
        "northwind/admin",
        "lakeside/analyst",
        "ruritania-ctu/liaison",
        "open-harms-lab/researcher",
        "consortium/governance_officer",
    ],
)
def test_no_other_kind_of_member_reaches_the_witness(cast, peer, label):
    response = add(cast[label].client(), 0, [], peer.checkpoint(5))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not WitnessedLog.objects.exists()


def test_anonymous_callers_are_unauthenticated(cast, peer, anonymous):
    response = add(anonymous, 0, [], peer.checkpoint(5))
    assert response.status_code == 401


def test_nothing_of_the_hash_bank_shows_through_the_witness(cast, peer):
    """The answers for a checkpoint naming this hub's banks are the same whether the bank
    exists, holds entries, or not: the witness reads nothing but its own records."""
    from tests.hashbank.test_transparency_log import fill

    fill([("TVEC", 4)])
    client = cast["southern-hub/peer"].client()
    answers = set()
    for bank in ("TVEC", "CSAM", "NOPE"):
        checkpoint = peer.checkpoint(4, log_origin=f"hub.test/banks/{bank}")
        response = add(client, 0, [], checkpoint)
        answers.add((response.status_code, response.content.replace(bank.encode(), b"B")))
    assert len(answers) == 1 and next(iter(answers))[0] == 404
    # A peer hub without an agreement is refused before its body is read: the same answer
    # for any bank, and never one that tells whether the bank exists.
    PeeringAgreement.objects.all().delete()
    refused = set()
    for bank in ("TVEC", "CSAM", "NOPE"):
        checkpoint = peer.checkpoint(4, log_origin=f"hub.test/banks/{bank}")
        response = add(client, 0, [], checkpoint)
        refused.add((response.status_code, response.content))
    assert len(refused) == 1 and next(iter(refused))[0] == 403


def test_the_service_refuses_a_smaller_size_and_never_moves_back(cast, peer):
    agreement = PeeringAgreement.objects.get()
    witnessing.witness_add_checkpoint(agreement, peer.checkpoint(10), 0, [])
    with pytest.raises(witnessing.SizeConflict) as conflict:
        witnessing.witness_add_checkpoint(agreement, peer.checkpoint(12), 4, peer.proof(4, 12))
    assert conflict.value.current_size == 10
    with pytest.raises(witnessing.Invalid):
        witnessing.witness_add_checkpoint(agreement, peer.checkpoint(7), 10, [])
    assert WitnessedLog.objects.get().size == 10


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_move_the_log_back(cast, peer):
    """Two requests from the same old size: one is cosigned, the other answered 409 with
    the size the first reached; the record ends at that size, never below."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks between threads need PostgreSQL")
    agreement = PeeringAgreement.objects.get()
    witnessing.witness_add_checkpoint(agreement, peer.checkpoint(5), 0, [])
    outcomes: dict[int, object] = {}
    barrier = threading.Barrier(2)

    def attempt(size: int) -> None:
        barrier.wait()
        try:
            outcomes[size] = witnessing.witness_add_checkpoint(
                agreement, peer.checkpoint(size), 5, peer.proof(5, size)
            )
        except witnessing.SizeConflict as conflict:
            outcomes[size] = conflict.current_size
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(size,)) for size in (20, 30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [size for size, outcome in outcomes.items() if isinstance(outcome, str)]
    assert len(won) == 1
    lost = 50 - won[0]
    assert outcomes[lost] == won[0]
    assert WitnessedLog.objects.get().size == won[0]


@pytest.mark.django_db(transaction=True)
def test_the_witness_run_cosigns_over_http_and_a_member_can_require_the_cosignature(
    live_server, cast, settings
):
    """The run fetches a followed log's checkpoint and proof from the peer's API, cosigns
    and posts the cosignature back; the peer serves it beside its own signature and a
    member's CheckpointPolicy counts it. This hub plays the peer too (its own TVEC log,
    reached over HTTP as its peer organisation), as one hub would follow another."""
    from hashfed_client.verify import CheckpointPolicy, Unverified

    from accounts.hub_identity import hub_identity, note_key_name, witness_key
    from federation.peering.models import ReceivedBank
    from hashbank.models import Bank, Witness
    from tests.hashbank.test_transparency_log import fill

    settings.WEBHOOK_ALLOW_LOOPBACK = True
    fill([("TVEC", 5)])
    southern = Organisation.objects.get(slug="southern-hub")
    agreement = PeeringAgreement.objects.create(
        organisation=southern,
        origin=note_key_name(),
        base_url=live_server.url,
        public_key=hub_identity().note_verifier_key,
        pull_credential=cast["southern-hub/peer"].account.api_key,
    )
    received = Bank.objects.create(
        name="S-TVEC", title="TVEC of the peer", purpose="received", origin_hub=note_key_name()
    )
    ReceivedBank.objects.create(agreement=agreement, remote_name="TVEC", bank=received)
    ours = witness_key()
    configured = Witness.objects.create(
        name=ours.name, verifier_key=ours.verifier_key, organisation=southern
    )
    configured.banks.add(Bank.objects.get(name="TVEC"))

    hub_key = note.Verifier(note_key_name(), hub_identity().public_key_raw)
    other = note.Verifier("witness.example/other", b"\x01" * 32, note.COSIGNATURE_ED25519)
    member = cast["northwind/admin"].client()
    before = member.get("/api/v1/banks/TVEC/checkpoint").content.decode()
    with pytest.raises(Unverified):
        CheckpointPolicy(hub_key, [ours.verifier], threshold=1).open(before, "TVEC")

    assert witnessing.peer_logs_witness() == {"hub.test/banks/TVEC": "cosigned"}
    served = member.get("/api/v1/banks/TVEC/checkpoint").content.decode()
    assert ours.name in served
    CheckpointPolicy(hub_key, [ours.verifier, other], threshold=1).open(served, "TVEC")
    with pytest.raises(Unverified):
        CheckpointPolicy(hub_key, [ours.verifier, other], threshold=2).open(served, "TVEC")

    # The log grows: the next run proves consistency from size 5 and cosigns size 8.
    fill([("TVEC", 3)])
    assert witnessing.peer_logs_witness() == {"hub.test/banks/TVEC": "cosigned"}
    log = WitnessedLog.objects.get()
    assert (log.size, log.last_error) == (8, "")
    grown = member.get("/api/v1/banks/TVEC/checkpoint").content.decode()
    assert CheckpointPolicy(hub_key, [ours.verifier], 1).open(grown, "TVEC").checkpoint.size == 8
    # Running again changes nothing and is not an error.
    assert witnessing.peer_logs_witness() == {"hub.test/banks/TVEC": "cosigned"}

    # The peer no longer configures this hub as its witness: the failure is recorded.
    configured.active = False
    configured.save()
    fill([("TVEC", 1)])
    outcome = witnessing.peer_logs_witness()["hub.test/banks/TVEC"]
    assert outcome.startswith("PeerUnavailable") and "400" in outcome
    assert WitnessedLog.objects.get().last_error == outcome
