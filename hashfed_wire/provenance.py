"""What ties a change-log entry to the signed envelopes behind it, and what keeps free text
out of the log's leaves (``docs/signing.md``, ``docs/log-formats.md``).

An entry commits to each supporting envelope by its *envelope digest*::

    SHA-256( "hashfed-envelope:v1" ‖ 0x00
             ‖ uint64-be(len(payload)) ‖ payload      (the RFC 8785 canonical payload bytes)
             ‖ signature                               (the raw 64-byte Ed25519 signature)
             ‖ key_id )                                (the raw 32 bytes of the hex key id)

as 64 lowercase hex digits. The length prefix makes the split between payload and the
fixed-length fields unambiguous.

Free text an entry needs (``incident``) is not in the entry: the entry holds a salted
*commitment* and the text travels beside it, so erasing the text never changes a leaf::

    SHA-256( "hashfed-commitment:v1" ‖ 0x00 ‖ field name (ASCII) ‖ 0x00
             ‖ salt (exactly 32 bytes) ‖ text (UTF-8) )

The salt is sent as 64 lowercase hex digits; its fixed length makes the split between salt
and text unambiguous, so one commitment opens to one (salt, text) only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = [
    "SALT_LENGTH",
    "ProvenanceError",
    "commitment",
    "envelope_digest",
    "is_digest",
    "new_salt",
    "open_commitment",
]

ENVELOPE_DOMAIN = b"hashfed-envelope:v1\x00"
COMMITMENT_DOMAIN = b"hashfed-commitment:v1\x00"
SALT_LENGTH = 32
SIGNATURE_LENGTH = 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FIELD = re.compile(r"[a-z_]{1,64}")


class ProvenanceError(ValueError):
    """A digest or commitment could not be computed or did not open."""


def is_digest(text: object) -> bool:
    """True for 64 lowercase hex digits (an envelope digest, a commitment, a key id)."""
    return isinstance(text, str) and _HEX64.fullmatch(text) is not None


def envelope_digest(canonical_payload: bytes, signature: bytes, key_id: str) -> str:
    """The envelope digest (module docstring) of one signed envelope."""
    if len(signature) != SIGNATURE_LENGTH:
        raise ProvenanceError(f"a signature is {SIGNATURE_LENGTH} bytes, not {len(signature)}")
    if not is_digest(key_id):
        raise ProvenanceError("a key id is 64 lowercase hex digits")
    return hashlib.sha256(
        ENVELOPE_DOMAIN
        + len(canonical_payload).to_bytes(8, "big")
        + canonical_payload
        + signature
        + bytes.fromhex(key_id)
    ).hexdigest()


def new_salt() -> str:
    """A fresh random salt, as hex."""
    return secrets.token_hex(SALT_LENGTH)


def commitment(field: str, salt: str, text: str) -> str:
    """The salted commitment (module docstring) to `text` as the value of `field`."""
    if _FIELD.fullmatch(field) is None:
        raise ProvenanceError(f"not a field name: {field!r}")
    if not is_digest(salt):
        raise ProvenanceError(f"a salt is {SALT_LENGTH} bytes as 64 lowercase hex digits")
    return hashlib.sha256(
        COMMITMENT_DOMAIN
        + field.encode("ascii")
        + b"\x00"
        + bytes.fromhex(salt)
        + text.encode("utf-8")
    ).hexdigest()


def open_commitment(field: str, expected: object, disclosure: object) -> str:
    """The text of a disclosure ``{field: text, "salt": hex}`` once it is checked to open
    the commitment `expected`. Raises ProvenanceError for a malformed disclosure or one that
    does not match."""
    if not isinstance(disclosure, dict) or set(disclosure) != {field, "salt"}:
        raise ProvenanceError(f'a disclosure is {{"{field}": text, "salt": hex}}')
    text, salt = disclosure[field], disclosure["salt"]
    if not isinstance(text, str) or not isinstance(salt, str):
        raise ProvenanceError(f"a disclosure's {field} and salt are strings")
    if not is_digest(expected):
        raise ProvenanceError(f"the entry has no {field}_commitment to open")
    if not hmac.compare_digest(commitment(field, salt, text), str(expected)):
        raise ProvenanceError(f"the disclosed {field} does not match the entry's commitment")
    return text
