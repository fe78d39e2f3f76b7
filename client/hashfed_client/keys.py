"""The member's Ed25519 signing key in its file."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hashfed_client.errors import InputError
from hashfed_wire import ed25519, files


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Read an unencrypted Ed25519 private key in PEM (as ``keygen`` writes it).
    Raises InputError for a missing, unreadable or non-Ed25519 key."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the key file {path}: {exc.strerror}") from exc
    try:
        return ed25519.load_private_key_pem(data)
    except ed25519.PrivateKeyError as exc:
        raise InputError(f"{path} is {exc}") from exc


def public_key_b64(private_key: Ed25519PrivateKey) -> str:
    """Standard base64 of the raw 32-byte public key, as the hub registers it."""
    return ed25519.public_key_b64(ed25519.public_key_raw(private_key))


def key_id_of(private_key: Ed25519PrivateKey) -> str:
    """The key id the hub knows the key by (``docs/signing.md`` section 4)."""
    return ed25519.key_id_for(ed25519.public_key_raw(private_key))


def write_new_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Generate an Ed25519 key and write it as unencrypted PKCS#8 PEM, mode 0600.
    Raises InputError if ``path`` exists: overwriting a registered key would lose it
    for good."""
    try:
        return files.write_new_private_key(path)
    except FileExistsError as exc:
        raise InputError(f"{path} exists; refusing to overwrite a key") from exc
    except OSError as exc:
        raise InputError(f"cannot create {path}: {exc.strerror}") from exc
