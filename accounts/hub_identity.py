"""The hub's own Ed25519 identity: it signs what the hub publishes (sync pages, snapshots,
checkpoints) so members can verify any copy they hold."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from accounts.ed25519 import key_id_for


@dataclass(frozen=True)
class HubIdentity:
    origin: str
    private_key: Ed25519PrivateKey
    public_key_raw: bytes

    @property
    def key_id(self) -> str:
        return key_id_for(self.public_key_raw)

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_key_raw).decode("ascii")

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def _load_or_create(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise RuntimeError(f"{path} does not hold an Ed25519 private key")
    return loaded


@lru_cache(maxsize=1)
def hub_identity() -> HubIdentity:
    private_key = _load_or_create(Path(settings.HUB_SIGNING_KEY_FILE))
    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return HubIdentity(origin=settings.HUB_ORIGIN, private_key=private_key, public_key_raw=raw)
