"""This hub as a witness of the peer hubs it follows (C2SP tlog-witness): it cosigns a
peer's checkpoint only after checking the peer's signature and a consistency proof from the
last checkpoint it cosigned for that log, so the peer cannot show two different histories
to two audiences without one witness refusing.

A peer log's origin is `<peer origin>/banks/<bank>` (hashbank.services.transparency
.log_origin at the peer), signed by the key of the peering agreement. The latest cosigned
size and root of each log are a WitnessedLog row, updated under a row lock: concurrent
requests never move it back, nor to a tree that does not extend it.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from urllib.parse import quote

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status

from accounts.hub_identity import witness_key
from core.errors import Invalid, ServiceError
from federation.peering.models import AgreementState, PeeringAgreement, ReceivedBank, WitnessedLog
from federation.peering.remote import peer_post
from federation.peering.services import PeerApi, PeerUnavailable
from hashfed_wire import merkle, note

# tlog-witness bounds a proof by the tree's height: 64 levels for 2**64 leaves.
MAX_PROOF_LINES = 63
SIZE_MEDIA_TYPE = "text/x.tlog.size"


class WitnessRefused(ServiceError):
    """The checkpoint's signature does not verify with the peer's key, or the caller has no
    active peering agreement here (tlog-witness 403)."""

    status_code = status.HTTP_403_FORBIDDEN
    default_code = "checkpoint_refused"


class UnknownLog(ServiceError):
    """The checkpoint's origin is not a log this hub witnesses for the caller: not one of its
    banks, another peer's log, or this hub's own (tlog-witness 404)."""

    status_code = status.HTTP_404_NOT_FOUND
    default_code = "unknown_log"


class SizeConflict(ServiceError):
    """The old size is not the size this hub last cosigned for the log, or the checkpoint
    has that size with another root (tlog-witness 409, answered with the current size)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "size_conflict"

    def __init__(self, message: str, *, current_size: int) -> None:
        super().__init__(message)
        self.current_size = current_size


class ProofRefused(ServiceError):
    """The consistency proof does not lead from the last cosigned tree to the checkpoint's
    (tlog-witness 422)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "bad_proof"


@dataclass(frozen=True)
class AddCheckpoint:
    """A tlog-witness add-checkpoint request, parsed."""

    old_size: int
    proof: list[bytes]
    checkpoint: str


def add_checkpoint_parse(body: bytes) -> AddCheckpoint:
    """`old <size>\\n`, up to 63 base64 proof hashes one a line, a blank line, then the
    signed checkpoint. Raises Invalid (400) naming the part that is malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid.for_field("body", "the request is not UTF-8", code="malformed") from None
    head, separator, checkpoint = text.partition("\n\n")
    if not separator:
        raise Invalid.for_field(
            "body", "old <size>, the proof, a blank line, then the checkpoint", code="malformed"
        )
    lines = head.split("\n")
    old = lines[0]
    if not old.startswith("old ") or not old[4:].isascii() or not old[4:].isdigit():
        raise Invalid.for_field("old", "the first line is old <size>", code="malformed")
    if len(old) > 4 + 20 or (old[4:] != "0" and old[4] == "0"):
        raise Invalid.for_field("old", "the old size is a decimal number", code="malformed")
    old_size = int(old[4:])
    if old_size > note.MAX_TREE_SIZE:
        raise Invalid.for_field("old", "the old size is too large", code="malformed")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise Invalid.for_field("proof", "the proof has too many lines", code="malformed")
    proof = []
    for position, line in enumerate(lines[1:]):
        try:
            value = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            value = b""
        if len(value) != merkle.HASH_SIZE:
            raise Invalid.for_field(
                f"proof.{position}", "each proof line is a base64 SHA-256 hash", code="malformed"
            )
        proof.append(value)
    return AddCheckpoint(old_size, proof, checkpoint)


def _peer_verifier(agreement: PeeringAgreement) -> note.Verifier:
    try:
        return note.parse_verifier_key(agreement.public_key)
    except note.NoteError:
        raise WitnessRefused("the peer's key is not a usable verifier key") from None


def _checkpoint_of(agreement: PeeringAgreement, checkpoint_text: str) -> note.Checkpoint:
    """The checkpoint, its origin one of the peer's banks (else UnknownLog) and its signature
    checked with the peer's key (else WitnessRefused). Raises Invalid when malformed."""
    if agreement.state != AgreementState.ACTIVE:
        raise WitnessRefused(f"the peering agreement is {agreement.state}")
    try:
        text = note.split_text(checkpoint_text)
        checkpoint = note.parse_checkpoint(text.encode())
    except (note.NoteError, note.CheckpointError) as error:
        raise Invalid.for_field(
            "checkpoint", f"not a signed checkpoint: {error}", code="malformed"
        ) from None
    prefix = f"{agreement.origin}/banks/"
    bank = checkpoint.origin.removeprefix(prefix)
    if not checkpoint.origin.startswith(prefix) or not bank or "/" in bank:
        raise UnknownLog(f"{checkpoint.origin} is not a log of {agreement.origin}")
    try:
        note.open_note(checkpoint_text, [_peer_verifier(agreement)])
    except note.NoteError:
        raise WitnessRefused(f"the checkpoint is not signed by {agreement.origin}'s key") from None
    return checkpoint


def witness_add_checkpoint(
    agreement: PeeringAgreement,
    checkpoint_text: str,
    old_size: int,
    consistency_proof: list[bytes],
) -> str:
    """Cosign a peer's checkpoint (tlog-witness add-checkpoint): returns this hub's
    cosignature line. The checkpoint's origin must be one of the peer's banks (else
    UnknownLog) and it must be signed by the peer's key (else WitnessRefused); `old_size`
    must be the size this hub last cosigned for that log, 0 at first (else SizeConflict
    carrying the current size); the proof must lead from that tree to the checkpoint's
    (else ProofRefused); an old size above the checkpoint's is Invalid. The log's record
    moves forward in the same transaction."""
    checkpoint = _checkpoint_of(agreement, checkpoint_text)
    if old_size > checkpoint.size:
        raise Invalid.for_field(
            "old", "the old size is larger than the checkpoint's", code="malformed"
        )
    try:
        with transaction.atomic():
            WitnessedLog.objects.get_or_create(
                log_origin=checkpoint.origin, defaults={"agreement": agreement}
            )
    except IntegrityError:
        pass  # created meanwhile by a concurrent request
    with transaction.atomic():
        log = WitnessedLog.objects.select_for_update().get(log_origin=checkpoint.origin)
        if log.agreement_id != agreement.pk:
            raise UnknownLog(f"{checkpoint.origin} is not a log of {agreement.origin}")
        if old_size != log.size:
            raise SizeConflict(
                f"this hub last cosigned {checkpoint.origin} at size {log.size}",
                current_size=log.size,
            )
        old_root = bytes.fromhex(log.root_hash) if log.root_hash else merkle.EMPTY_ROOT
        if old_size == checkpoint.size and old_root != checkpoint.root_hash:
            raise SizeConflict(
                f"this hub cosigned {checkpoint.origin} at size {log.size} with another root",
                current_size=log.size,
            )
        try:
            merkle.verify_consistency(
                old_size, checkpoint.size, old_root, checkpoint.root_hash, consistency_proof
            )
        except merkle.ProofError as error:
            raise ProofRefused(f"the consistency proof does not verify: {error}") from None
        text = note.split_text(checkpoint_text)
        line = witness_key().cosignature_line(text, timestamp=int(time.time()))
        log.size = checkpoint.size
        log.root_hash = checkpoint.root_hash.hex()
        log.checkpoint_text = checkpoint_text
        log.updated_at = timezone.now()
        log.save(update_fields=["size", "root_hash", "checkpoint_text", "updated_at"])
    return line


def peer_log_witness(agreement: PeeringAgreement, bank: str) -> str:
    """Witness one of a peer's logs: fetch its latest checkpoint and a consistency proof
    from the size this hub last cosigned, cosign it (`witness_add_checkpoint`) and post the
    cosignature to the peer's cosignatures endpoint, where this hub is configured as a
    witness (its organisation there is this hub's peer organisation; the key is
    `witness_key().verifier_key`). Returns the cosignature line; raises PeerUnavailable or
    the refusals of witness_add_checkpoint. Safe to repeat: an unchanged checkpoint is
    cosigned again and the peer keeps the first cosignature."""
    api = PeerApi(agreement)
    text = api.checkpoint(bank)
    checkpoint = _checkpoint_of(agreement, text)
    if checkpoint.origin != f"{agreement.origin}/banks/{bank}":
        raise UnknownLog(f"the peer served a checkpoint of {checkpoint.origin} for {bank}")
    log = WitnessedLog.objects.filter(log_origin=checkpoint.origin).first()
    old_size = log.size if log is not None else 0
    proof = (
        api.consistency(bank, old_size, checkpoint.size) if 0 < old_size < checkpoint.size else []
    )
    line = witness_add_checkpoint(agreement, text, old_size, proof)
    peer_post(
        agreement,
        f"/api/v1/banks/{quote(bank, safe='')}/checkpoint/cosignatures",
        {"size": checkpoint.size, "root_hash": checkpoint.root_hash.hex(), "cosignature": line},
        expect=(200, 201),
    )
    return line


def peer_logs_witness() -> dict[str, str]:
    """Witness every log this hub follows (each bank received from an active peer). Returns
    each log's outcome, `cosigned` or why not; a failure is recorded on the log's row and
    retried at the next run."""
    outcomes: dict[str, str] = {}
    for received in ReceivedBank.objects.filter(
        agreement__state=AgreementState.ACTIVE
    ).select_related("agreement"):
        agreement = received.agreement
        origin = f"{agreement.origin}/banks/{received.remote_name}"
        with transaction.atomic():
            WitnessedLog.objects.get_or_create(log_origin=origin, defaults={"agreement": agreement})
        try:
            peer_log_witness(agreement, received.remote_name)
        except (PeerUnavailable, ServiceError) as error:
            outcome = f"{type(error).__name__}: {error}"
        else:
            outcome = "cosigned"
        WitnessedLog.objects.filter(log_origin=origin).update(
            last_error="" if outcome == "cosigned" else outcome[:2000]
        )
        outcomes[origin] = outcome
    return outcomes
