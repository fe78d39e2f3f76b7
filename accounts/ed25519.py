"""Ed25519 key handling shared by members' signing keys and the hub's own key."""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

RAW_PUBLIC_KEY_LENGTH = 32


class PublicKeyError(ValueError):
    pass


def key_id_for(public_key_raw: bytes) -> str:
    """The key id: lowercase hex SHA-256 of the raw 32-byte public key."""
    if len(public_key_raw) != RAW_PUBLIC_KEY_LENGTH:
        raise PublicKeyError("an Ed25519 public key is 32 bytes")
    return hashlib.sha256(public_key_raw).hexdigest()


def parse_public_key(text: str) -> bytes:
    """Accept a PEM SubjectPublicKeyInfo or the standard base64 of the raw 32 bytes; return
    the raw 32 bytes. Raises PublicKeyError for anything else, other key types included."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise PublicKeyError("not a readable PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise PublicKeyError("the PEM key is not an Ed25519 key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PublicKeyError("neither PEM nor standard base64") from exc
    if len(raw) != RAW_PUBLIC_KEY_LENGTH:
        raise PublicKeyError(f"a raw Ed25519 public key is 32 bytes, this is {len(raw)}")
    # Loading rejects byte strings that are not a valid curve point encoding.
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise PublicKeyError("not a valid Ed25519 public key") from exc
    return raw


def public_key_pem(public_key_raw: bytes) -> str:
    key = Ed25519PublicKey.from_public_bytes(public_key_raw)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
