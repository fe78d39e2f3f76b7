"""What the hub signs, so a member can show any copy it holds came from that hub.

The hub publishes its Ed25519 public key at ``/.well-known/hashfed`` (``{"origin",
"key_id", "public_key", "algorithm"}``). It signs the exact bytes of every sync page (the
signature goes in the ``X-Hashfed-Signature`` header, standard base64) and, for each
snapshot, the RFC 8785 bytes of ``{"type": "hashfed-snapshot", "origin", "bank",
"up_to_sequence", "sha256"}``. ``docs/sync.md`` describes both.

During a key rotation the hub signs each sync page with both keys. ``X-Hashfed-Signature``
stays the current key's (the key ``/.well-known/hashfed`` names at its top level), and
``X-Hashfed-Signatures`` lists the signature of every key that signs,
``<key id>:<base64 signature>`` separated by commas, the current key first; it is present on
every page, with one item outside a rotation. A snapshot is signed the same way: its
``signature`` is the current key's, its ``signatures`` (in the listing, and the download's
``X-Hashfed-Signatures``) every signing key's.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hashfed_wire import ed25519

SIGNATURE_HEADER = "X-Hashfed-Signature"
KEY_ID_HEADER = "X-Hashfed-Key-Id"
SIGNATURES_HEADER = "X-Hashfed-Signatures"
SNAPSHOT_TYPE = "hashfed-snapshot"


class HubSignatureError(ValueError):
    """A signature is missing or does not verify, or the hub's published key is unusable."""


def sign(private_key: Ed25519PrivateKey, message: bytes) -> str:
    """The hub's signature over ``message``, as standard base64."""
    return base64.b64encode(private_key.sign(message)).decode("ascii")


def _verify(public_key_raw: bytes, message: bytes, signature: str | None, what: str) -> None:
    if not signature:
        raise HubSignatureError(f"the {what} is not signed")
    try:
        Ed25519PublicKey.from_public_bytes(public_key_raw).verify(
            base64.b64decode(signature), message
        )
    except (InvalidSignature, ValueError, binascii.Error) as exc:
        raise HubSignatureError(f"the {what}'s signature does not verify") from exc


def signatures_header(signatures: Iterable[tuple[str, str]]) -> str:
    """``X-Hashfed-Signatures``: ``<key id>:<base64 signature>`` items, comma-separated."""
    return ",".join(f"{key_id}:{signature}" for key_id, signature in signatures)


def parse_signatures_header(value: str | None) -> dict[str, str]:
    """The signatures of ``X-Hashfed-Signatures`` by key id. Raises HubSignatureError if
    the header is malformed or names a key twice."""
    signatures: dict[str, str] = {}
    for item in (value or "").split(","):
        key_id, colon, signature = item.strip().partition(":")
        if not colon or not key_id or not signature:
            raise HubSignatureError("X-Hashfed-Signatures is malformed")
        if key_id in signatures:
            raise HubSignatureError(f"X-Hashfed-Signatures names the key {key_id} twice")
        signatures[key_id] = signature
    return signatures


def _verify_by_any(
    public_keys_raw: Iterable[bytes], message: bytes, header: str | None, what: str
) -> str:
    signatures = parse_signatures_header(header)
    verified = None
    for public_key_raw in public_keys_raw:
        key_id = ed25519.key_id_for(public_key_raw)
        if key_id in signatures:
            _verify(public_key_raw, message, signatures[key_id], what)
            verified = verified or key_id
    if verified is None:
        raise HubSignatureError(f"no known hub key signed the {what}")
    return verified


def verify_page_by_any(public_keys_raw: Iterable[bytes], body: bytes, header: str | None) -> str:
    """The key id of a known key whose signature in ``X-Hashfed-Signatures`` verifies over
    the page; a known key whose signature fails refuses the page, as does a page no known
    key signed. Raises HubSignatureError."""
    return _verify_by_any(public_keys_raw, body, header, "sync page")


def verify_page(public_key_raw: bytes, body: bytes, signature: str | None) -> None:
    """Refuse a sync page whose exact bytes the hub did not sign: anything between the hub
    and the reader (a proxy, a cache, an attacker) could otherwise edit the list it holds.
    Raises HubSignatureError."""
    _verify(public_key_raw, body, signature, "sync page")


def snapshot_signed_message(*, origin: str, bank: str, up_to_sequence: int, sha256: str) -> bytes:
    """What the hub signs for a snapshot: RFC 8785 bytes of its identity and content hash."""
    return rfc8785.dumps(
        {
            "type": SNAPSHOT_TYPE,
            "origin": origin,
            "bank": bank,
            "up_to_sequence": up_to_sequence,
            "sha256": sha256,
        }
    )


def verify_snapshot(
    public_key_raw: bytes,
    signature: str | None,
    *,
    origin: str,
    bank: str,
    up_to_sequence: int,
    sha256: str,
) -> None:
    """Refuse a snapshot listing the hub did not sign. Raises HubSignatureError."""
    message = snapshot_signed_message(
        origin=origin, bank=bank, up_to_sequence=up_to_sequence, sha256=sha256
    )
    _verify(public_key_raw, message, signature, "snapshot")


def verify_snapshot_by_any(
    public_keys_raw: Iterable[bytes],
    signatures: str | None,
    *,
    origin: str,
    bank: str,
    up_to_sequence: int,
    sha256: str,
) -> str:
    """The key id of a known key whose signature in ``signatures`` (a snapshot's
    ``signatures``, the ``X-Hashfed-Signatures`` form) verifies over the snapshot's signed
    message; as verify_page_by_any, a known key whose signature fails refuses it. Raises
    HubSignatureError."""
    message = snapshot_signed_message(
        origin=origin, bank=bank, up_to_sequence=up_to_sequence, sha256=sha256
    )
    return _verify_by_any(public_keys_raw, message, signatures, "snapshot")


def hub_public_key(identity: Mapping[str, object]) -> bytes:
    """The raw public key from the hub's ``/.well-known/hashfed`` document, checked against
    the key id published beside it. Raises HubSignatureError."""
    try:
        raw = base64.b64decode(str(identity.get("public_key", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HubSignatureError("the hub's public key is not base64") from exc
    try:
        key_id = ed25519.key_id_for(raw)
    except ed25519.PublicKeyError:
        key_id = None
    if key_id is None or key_id != identity.get("key_id"):
        raise HubSignatureError("the hub's public key does not match its key id")
    return raw
