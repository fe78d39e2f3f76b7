"""Signed notes, tree-head checkpoints and cosignatures, as C2SP specifies them.

- c2sp.org/signed-note: a UTF-8 text ending in a newline, a blank line, then one line per
  signature, ``— <key name> <base64(4-byte key id || signature)>``. An Ed25519 key's id is
  ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``; a verifier key is written
  ``<name>+<hex key id>+<base64(0x01 || public key)>``.
- c2sp.org/tlog-checkpoint: the note text ``<origin>\\n<tree size>\\n<base64 root hash>\\n``,
  then optional extension lines. A Hashfed checkpoint carries one: ``time <unix seconds>``,
  when the hub issued it (``Checkpoint.issued_at``).
- c2sp.org/tlog-cosignature: a cosigner's (witness's) signature line, key id type 0x04,
  signing ``cosignature/v1\\ntime <t>\\n`` followed by the checkpoint text; the signature
  bytes are the key id (4), the timestamp (8, big endian) and the Ed25519 signature (64).

Opening a note is strict: malformed lines, two signatures by the same key, more than
``MAX_SIGNATURES`` signatures or ``MAX_NOTE_SIZE`` bytes are refused; a signature by a
known key that fails to verify rejects the note, and a note with no verified signature
from a known key is refused. Signatures by unknown keys are ignored, as the spec requires,
which is what lets a hub rotate keys (sign with both for a while) and witnesses cosign.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import crypto_sign

ED25519 = 0x01
COSIGNATURE_ED25519 = 0x04
SIGNATURE_TYPES = (ED25519, COSIGNATURE_ED25519)

# The spec asks verifiers to accept at least 16 signatures; Go's reference stops at 100.
MAX_SIGNATURES = 100
MAX_NOTE_SIZE = 64 * 1024

SIGNATURE_PREFIX = "\u2014 "
COSIGNATURE_HEADER = b"cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
MAX_TREE_SIZE = 2**64 - 1
HASH_SIZE = 32
TIME_EXTENSION = "time "

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A note is malformed, unsigned by any known key, or carries a bad signature."""


class CheckpointError(ValueError):
    """A checkpoint's text is not a well-formed tlog-checkpoint."""


def _check_text(text: str, what: str) -> None:
    for char in text:
        if char < " " and char != "\n":
            raise NoteError(f"the {what} holds a control character")


def _check_key_name(name: str) -> None:
    if not name or "+" in name or any(char.isspace() for char in name):
        raise NoteError(f"not a key name: {name!r} (non-empty, no spaces, no '+')")
    _check_text(name, "key name")


def key_id(name: str, public_key: bytes, signature_type: int = ED25519) -> bytes:
    """The 4-byte key id: ``SHA-256(name || 0x0A || type || public key)[:4]``."""
    _check_key_name(name)
    if signature_type not in SIGNATURE_TYPES or len(public_key) != 32:
        raise NoteError("only Ed25519 keys (types 0x01 and 0x04) with 32-byte public keys")
    message = name.encode() + b"\n" + bytes([signature_type]) + public_key
    return hashlib.sha256(message).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A public key notes can be checked against: a log's (``ED25519``) or a cosigner's
    (``COSIGNATURE_ED25519``)."""

    name: str
    public_key: bytes
    signature_type: int = ED25519
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_id", key_id(self.name, self.public_key, self.signature_type))

    @property
    def vkey(self) -> str:
        """The verifier key string, ``<name>+<hex key id>+<base64(type || public key)>``."""
        material = base64.b64encode(bytes([self.signature_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"


def verifier_key(name: str, public_key: bytes, signature_type: int = ED25519) -> str:
    """The verifier key string for a raw 32-byte Ed25519 public key."""
    return Verifier(name, public_key, signature_type).vkey


def parse_verifier_key(vkey: str) -> Verifier:
    """A ``Verifier`` from its key string; the key id must match the key."""
    parts = vkey.split("+", 2)  # the name has no "+", the base64 key may
    if len(parts) != 3:
        raise NoteError("a verifier key is <name>+<hex key id>+<base64 key>")
    name, hex_id, material_b64 = parts
    material = _strict_b64(material_b64, "verifier key")
    if len(hex_id) != 8 or hex_id != hex_id.lower() or not material:
        raise NoteError("a verifier key is <name>+<8 hex digits>+<base64 key>")
    try:
        verifier = Verifier(name, material[1:], material[0])
    except NoteError as error:
        raise NoteError(f"unusable verifier key: {error}") from None
    if verifier.key_id.hex() != hex_id:
        raise NoteError("the verifier key's id does not match its key")
    return verifier


def _strict_b64(text: str, what: str) -> bytes:
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"the {what} is not base64") from None
    if base64.b64encode(decoded).decode() != text:
        raise NoteError(f"the {what} is not canonical base64")
    return decoded


def _public_key_of(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes_raw()


def _note_text(body: bytes | str) -> str:
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if not text.endswith("\n"):
        raise NoteError("a note's text ends with a newline")
    _check_text(text, "note text")
    return text


def _signature_line(name: str, signature: bytes) -> str:
    return f"{SIGNATURE_PREFIX}{name} {base64.b64encode(signature).decode()}\n"


class _SodiumSigner(NamedTuple):
    key: Ed25519PrivateKey  # held, so that its id() is not reused while cached
    secret: bytes  # libsodium's 64-byte secret key: seed, then public key
    public: bytes


# The hub signs a receipt per accepted submission with one or two keys: each key's raw bytes
# are read once. Ed25519 signatures are deterministic (RFC 8032), so libsodium's are the
# very bytes OpenSSL would give, in about 60% of the time.
_sodium_signers: dict[int, _SodiumSigner] = {}


def _sodium_signer(private_key: Ed25519PrivateKey) -> _SodiumSigner:
    signer = _sodium_signers.get(id(private_key))
    if signer is None or signer.key is not private_key:
        if len(_sodium_signers) >= 16:
            _sodium_signers.clear()
        public = _public_key_of(private_key)
        signer = _SodiumSigner(private_key, private_key.private_bytes_raw() + public, public)
        _sodium_signers[id(private_key)] = signer
    return signer


def _signed_line(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    signer = _sodium_signer(private_key)
    message = text.encode()
    signature = crypto_sign(message, signer.secret)[:64]
    return _signature_line(name, key_id(name, signer.public) + signature)


def signature_line(body: bytes | str, *, name: str, private_key: Ed25519PrivateKey) -> str:
    """The Ed25519 signature line ``— <name> <base64>\\n`` over a note text."""
    return _signed_line(_note_text(body), name, private_key)


def sign_note(body: bytes | str, *, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note: the text, a blank line and one Ed25519 signature line."""
    text = _note_text(body)
    return text + "\n" + _signed_line(text, name, private_key)


class _Signature(NamedTuple):
    name: str
    key_id: bytes
    signature: bytes


def _split(note: str | bytes) -> tuple[str, list[_Signature]]:
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_SIZE:
            raise NoteError(f"the note is over {MAX_NOTE_SIZE} bytes")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("the note is not UTF-8") from None
    try:
        size = len(note.encode("utf-8"))
    except UnicodeEncodeError:
        raise NoteError("the note is not UTF-8") from None
    if size > MAX_NOTE_SIZE:
        raise NoteError(f"the note is over {MAX_NOTE_SIZE} bytes")
    _check_text(note, "note")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("the note has no signature block after a blank line")
    text, block = note[: split + 1], note[split + 2 :]
    lines = block.split("\n")[:-1]
    if not lines:
        raise NoteError("the note has no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"the note has more than {MAX_SIGNATURES} signatures")
    signatures: list[_Signature] = []
    seen: set[tuple[str, bytes]] = set()
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"not a signature line: {line[:80]!r}")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        _check_key_name(name)
        raw = _strict_b64(encoded, f"signature by {name}")
        if len(raw) < 5:
            raise NoteError(f"the signature by {name} is too short")
        signature = _Signature(name, raw[:4], raw[4:])
        if (name, signature.key_id) in seen:
            raise NoteError(f"two signatures by the key {name}+{signature.key_id.hex()}")
        seen.add((name, signature.key_id))
        signatures.append(signature)
    return text, signatures


def split_text(note: str | bytes) -> str:
    """The text of a signed note (with its final newline), the note's form checked but
    none of its signatures. Raises NoteError."""
    text, _ = _split(note)
    return text


class SignatureLine(NamedTuple):
    name: str
    key_id: bytes
    signature: bytes


def parse_signature_line(line: str) -> SignatureLine:
    """One signature line, ``— <key name> <base64(key id || signature)>`` with or without
    its final newline, as a witness returns a cosignature. Raises NoteError."""
    text = line[:-1] if line.endswith("\n") else line
    if "\n" in text:
        raise NoteError("one signature line, not several")
    if len(text.encode("utf-8")) > MAX_NOTE_SIZE:
        raise NoteError(f"the line is over {MAX_NOTE_SIZE} bytes")
    _check_text(text, "signature line")
    if not text.startswith(SIGNATURE_PREFIX):
        raise NoteError(f"not a signature line: {text[:80]!r}")
    name, _, encoded = text[len(SIGNATURE_PREFIX) :].partition(" ")
    _check_key_name(name)
    raw = _strict_b64(encoded, f"signature by {name}")
    if len(raw) < 5:
        raise NoteError(f"the signature by {name} is too short")
    return SignatureLine(name, raw[:4], raw[4:])


def _cosigned_message(timestamp: int, text: bytes) -> bytes:
    return COSIGNATURE_HEADER + f"time {timestamp}\n".encode() + text


def _verifies(verifier: Verifier, text: bytes, signature: bytes) -> int | None:
    """Whether the signature verifies: None if not, else its timestamp (0 for a plain one)."""
    key = Ed25519PublicKey.from_public_bytes(verifier.public_key)
    timestamp = 0
    if verifier.signature_type == COSIGNATURE_ED25519:
        if len(signature) != 8 + 64:
            return None
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return None
        message, signature = _cosigned_message(timestamp, text), signature[8:]
    else:
        message = text
    if len(signature) != 64:
        return None
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return None
    return timestamp


class OpenedNote(NamedTuple):
    body: bytes
    """The note text (with its final newline), which the verified keys signed."""
    key_names: list[str]
    """The names of the known keys whose signatures verified, in note order."""


def open_note(note: str | bytes, verifiers: Iterable[Verifier]) -> OpenedNote:
    """Parse a signed note and check it against known keys (log keys and/or cosigners).
    Raises NoteError if it is malformed, if a known key's signature fails, or if no
    known key signed it."""
    text, signatures = _split(note)
    known: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        other = known.setdefault((verifier.name, verifier.key_id), verifier)
        if other != verifier:
            # Two keys with one name and id: the list of keys itself is not to be trusted.
            raise NoteError(f"two known keys are {verifier.name}+{verifier.key_id.hex()}")
    body = text.encode()
    verified: list[str] = []
    for signature in signatures:
        signer = known.get((signature.name, signature.key_id))
        if signer is None:
            continue
        if _verifies(signer, body, signature.signature) is None:
            raise NoteError(f"the signature by {signer.vkey} does not verify")
        verified.append(signature.name)
    if not verified:
        raise NoteError("no known key signed the note")
    return OpenedNote(body, verified)


def add_signature(note: str, *, name: str, private_key: Ed25519PrivateKey) -> str:
    """The note with one more Ed25519 signature line (say, the next key during a rotation).
    Raises NoteError if the note is malformed or that key already signed it."""
    text, signatures = _split(note)
    identifier = key_id(name, _public_key_of(private_key))
    if any((s.name, s.key_id) == (name, identifier) for s in signatures):
        raise NoteError(f"the key {name}+{identifier.hex()} already signed the note")
    return note + signature_line(text, name=name, private_key=private_key)


def cosignature_line(
    body: bytes | str, *, name: str, private_key: Ed25519PrivateKey, timestamp: int
) -> str:
    """A tlog-cosignature v1 line over a checkpoint text, as a witness returns it."""
    text = _note_text(body)
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError("a cosignature timestamp is between 0 and 2**63 - 1")
    identifier = key_id(name, _public_key_of(private_key), COSIGNATURE_ED25519)
    signature = private_key.sign(_cosigned_message(timestamp, text.encode()))
    return _signature_line(name, identifier + timestamp.to_bytes(8, "big") + signature)


def cosign(note: str, *, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> str:
    """The signed checkpoint with one more line: a cosignature by ``name`` at ``timestamp``."""
    text, signatures = _split(note)
    identifier = key_id(name, _public_key_of(private_key), COSIGNATURE_ED25519)
    if any((s.name, s.key_id) == (name, identifier) for s in signatures):
        raise NoteError(f"the cosigner {name}+{identifier.hex()} already signed the note")
    return note + cosignature_line(text, name=name, private_key=private_key, timestamp=timestamp)


def verify_cosignature(note: str | bytes, cosigner: Verifier) -> int:
    """The timestamp of ``cosigner``'s valid cosignature on the note. Raises NoteError if
    the note is malformed or has no such cosignature, or it does not verify."""
    if cosigner.signature_type != COSIGNATURE_ED25519:
        raise NoteError("a cosigner's key has signature type 0x04")
    text, signatures = _split(note)
    for signature in signatures:
        if (signature.name, signature.key_id) == (cosigner.name, cosigner.key_id):
            timestamp = _verifies(cosigner, text.encode(), signature.signature)
            if timestamp is None:
                raise NoteError(f"the cosignature by {cosigner.vkey} does not verify")
            return timestamp
    raise NoteError(f"the note has no cosignature by {cosigner.vkey}")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin line, its size, its root hash, when it was issued
    (the ``time <unix seconds>`` extension line) and any other extension lines."""

    origin: str
    size: int
    root_hash: bytes
    issued_at: int | None = None
    extensions: tuple[str, ...] = ()


def _parse_decimal(text: str, what: str, maximum: int) -> int:
    if not _DECIMAL.fullmatch(text) or int(text) > maximum:
        raise CheckpointError(f"the {what} is not a decimal number without leading zeroes")
    return int(text)


def checkpoint_body(checkpoint: Checkpoint) -> bytes:
    """The checkpoint's note text; ``issued_at`` goes first among the extension lines."""
    lines = [checkpoint.origin, str(checkpoint.size)]
    if not checkpoint.origin or "\n" in checkpoint.origin:
        raise CheckpointError("the origin is one non-empty line")
    if not 0 <= checkpoint.size <= MAX_TREE_SIZE:
        raise CheckpointError("the tree size is between 0 and 2**64 - 1")
    if len(checkpoint.root_hash) != HASH_SIZE:
        raise CheckpointError(f"the root hash is {HASH_SIZE} bytes")
    lines.append(base64.b64encode(checkpoint.root_hash).decode())
    if checkpoint.issued_at is not None:
        if not 0 <= checkpoint.issued_at <= MAX_TIMESTAMP:
            raise CheckpointError("the issue time is between 0 and 2**63 - 1")
        lines.append(f"{TIME_EXTENSION}{checkpoint.issued_at}")
    for line in checkpoint.extensions:
        if not line or "\n" in line or line.startswith(TIME_EXTENSION):
            raise CheckpointError(f"not an extension line: {line!r}")
        lines.append(line)
    text = "".join(line + "\n" for line in lines)
    try:
        _check_text(text, "checkpoint")
    except NoteError as error:
        raise CheckpointError(str(error)) from None
    return text.encode()


def parse_checkpoint(body: bytes) -> Checkpoint:
    """The checkpoint in a note text, refusing anything but exactly the format above."""
    try:
        text = body.decode("utf-8")
        _check_text(text, "checkpoint")
    except (UnicodeDecodeError, NoteError):
        raise CheckpointError("the checkpoint is not UTF-8 without control characters") from None
    if not text.endswith("\n"):
        raise CheckpointError("the checkpoint text ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise CheckpointError("a checkpoint is at least three non-empty lines")
    origin, size_text, root_text, *extension_lines = lines
    size = _parse_decimal(size_text, "tree size", MAX_TREE_SIZE)
    try:
        root_hash = _strict_b64(root_text, "root hash")
    except NoteError as error:
        raise CheckpointError(str(error)) from None
    if len(root_hash) != HASH_SIZE:
        raise CheckpointError(f"the root hash is {HASH_SIZE} bytes")
    issued_at: int | None = None
    extensions: list[str] = []
    for line in extension_lines:
        if line.startswith(TIME_EXTENSION):
            if issued_at is not None:
                raise CheckpointError("the checkpoint has two time lines")
            issued_at = _parse_decimal(line[len(TIME_EXTENSION) :], "issue time", MAX_TIMESTAMP)
        else:
            extensions.append(line)
    return Checkpoint(origin, size, root_hash, issued_at, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, *, name: str, private_key: Ed25519PrivateKey) -> str:
    """The checkpoint as a note signed by one Ed25519 key (its name usually the origin)."""
    return sign_note(checkpoint_body(checkpoint), name=name, private_key=private_key)


class OpenedCheckpoint(NamedTuple):
    checkpoint: Checkpoint
    key_names: list[str]


def open_checkpoint(note: str | bytes, verifiers: Iterable[Verifier]) -> OpenedCheckpoint:
    """``open_note`` then ``parse_checkpoint``; raises NoteError or CheckpointError."""
    body, names = open_note(note, verifiers)
    return OpenedCheckpoint(parse_checkpoint(body), names)
