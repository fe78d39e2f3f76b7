"""C2SP signed notes (tlog-checkpoint bodies signed with an Ed25519 key)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def note_key_hash(name: str, public_key_raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + public_key_raw).digest()[:4]


def sign_note(body: str, name: str, private_key: Ed25519PrivateKey) -> str:
    public_raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = private_key.sign(body.encode())
    blob = base64.b64encode(note_key_hash(name, public_raw) + signature).decode()
    return f"{body}\n\u2014 {name} {blob}\n"


def open_note(note: str, name: str, public_key_raw: bytes) -> str:
    """The body of `note` if it carries a valid signature by (name, key); else ValueError."""
    body, sep, signatures = note.rpartition("\n\n")
    if not sep:
        raise ValueError("not a signed note")
    body += "\n"
    key_hash = note_key_hash(name, public_key_raw)
    for line in signatures.splitlines():
        prefix = f"\u2014 {name} "
        if not line.startswith(prefix):
            continue
        blob = base64.b64decode(line[len(prefix) :])
        if blob[:4] != key_hash:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public_key_raw).verify(blob[4:], body.encode())
        except InvalidSignature:
            raise ValueError("bad signature") from None
        return body
    raise ValueError("no signature by this key")
