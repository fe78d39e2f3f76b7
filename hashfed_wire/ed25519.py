"""Ed25519 key handling shared by members' signing keys, envelopes and the hub's own key:
public keys as members register them, key ids, and private keys as PEM files hold them."""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

RAW_PUBLIC_KEY_LENGTH = 32

# Edwards25519 public keys that must never be registered. A key whose point has small order
# lets anyone produce signatures that some verifiers accept for any message, so these are
# refused up front, as libsodium does.
_FIELD_PRIME = 2**255 - 19
_CURVE_D = (-121665 * pow(121666, -1, _FIELD_PRIME)) % _FIELD_PRIME
# The y-coordinate of two of the four points of order 8; the other two have p - y.
_Y_OF_ORDER_8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022
_SMALL_ORDER_Y = frozenset({0, 1, _FIELD_PRIME - 1, _Y_OF_ORDER_8, _FIELD_PRIME - _Y_OF_ORDER_8})


class PublicKeyError(ValueError):
    pass


class PrivateKeyError(ValueError):
    """Bytes that are not an unencrypted PEM Ed25519 private key."""


def key_id_for(public_key_raw: bytes) -> str:
    """The key id: lowercase hex SHA-256 of the raw 32-byte public key."""
    if len(public_key_raw) != RAW_PUBLIC_KEY_LENGTH:
        raise PublicKeyError("an Ed25519 public key is 32 bytes")
    return hashlib.sha256(public_key_raw).hexdigest()


def is_usable_point(public_key_raw: bytes) -> bool:
    """Whether 32 bytes are a canonical, on-curve Edwards25519 point of large order."""
    encoded = int.from_bytes(public_key_raw, "little")
    y = encoded & ((1 << 255) - 1)
    x_is_odd = encoded >> 255
    if y >= _FIELD_PRIME or y in _SMALL_ORDER_Y:
        return False
    # RFC 8032 section 5.1.3: the point exists iff x^2 = (y^2 - 1) / (d y^2 + 1) has a
    # solution, i.e. the right-hand side is zero or a quadratic residue.
    y_squared = y * y % _FIELD_PRIME
    x_squared = (y_squared - 1) * pow(_CURVE_D * y_squared + 1, -1, _FIELD_PRIME) % _FIELD_PRIME
    if x_squared == 0:
        return not x_is_odd
    return pow(x_squared, (_FIELD_PRIME - 1) // 2, _FIELD_PRIME) == 1


def parse_public_key(text: str) -> bytes:
    """Accept a PEM SubjectPublicKeyInfo or the standard base64 of the raw 32 bytes; return
    the raw 32 bytes. Raises PublicKeyError for anything else: other key types, private keys,
    points that are not canonical, not on the curve or of small order."""
    if not isinstance(text, str):
        raise PublicKeyError("the public key must be text")
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
            raise PublicKeyError("not a readable PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise PublicKeyError("the PEM key is not an Ed25519 key")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        try:
            raw = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
            raise PublicKeyError("expected a PEM block or the base64 of 32 raw bytes") from exc
        if len(raw) != RAW_PUBLIC_KEY_LENGTH:
            raise PublicKeyError(f"expected 32 bytes, got {len(raw)}")
    if not is_usable_point(raw):
        raise PublicKeyError("not a usable Ed25519 public key (invalid or small-order point)")
    return raw


def public_key_pem(public_key_raw: bytes) -> str:
    key = Ed25519PublicKey.from_public_bytes(public_key_raw)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_key_raw(private_key: Ed25519PrivateKey) -> bytes:
    """The raw 32 bytes of a private key's public half."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def public_key_b64(public_key_raw: bytes) -> str:
    """Standard base64 of the raw 32-byte public key, as the hub registers and publishes it."""
    return base64.b64encode(public_key_raw).decode("ascii")


def private_key_pem(private_key: Ed25519PrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM, the form key files hold."""
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key_pem(data: bytes) -> Ed25519PrivateKey:
    """Read an unencrypted PEM private key. Raises PrivateKeyError for anything that is not
    one, or not an Ed25519 key."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PrivateKeyError("not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise PrivateKeyError("not an Ed25519 key")
    return key
