"""Webhook mechanics with no database in them: how a delivery is signed and how long to
wait before the next try. Which URLs may receive deliveries is `core.outbound`'s policy,
shared with every other request the hub makes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

SIGNATURE_VERSION = "v1"


def _secrets_cipher() -> Fernet:
    """Fernet keyed from WEBHOOK_SECRETS_KEY (or, by default, SECRET_KEY) through HKDF, so
    a copy of the database alone does not let anyone forge deliveries."""
    material = (settings.WEBHOOK_SECRETS_KEY or settings.SECRET_KEY).encode("utf-8")
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"hashfed webhook endpoint secrets"
    ).derive(material)
    return Fernet(base64.urlsafe_b64encode(key))


def secret_seal(secret: str) -> str:
    """The form an endpoint secret is stored in."""
    return _secrets_cipher().encrypt(secret.encode("utf-8")).decode("ascii")


def secret_open(sealed: str) -> str:
    """The endpoint secret back, to sign a delivery. Raises ValueError if the key changed
    since it was sealed (the endpoint must then be registered again)."""
    from cryptography.fernet import InvalidToken

    try:
        return _secrets_cipher().decrypt(sealed.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise ValueError("the webhook secret cannot be opened with the current key") from exc


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """`v1=` + hex HMAC-SHA256 over `<timestamp>.<body>` with the endpoint's secret."""
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def retry_delay(attempts: int) -> dt.timedelta:
    """Exponential backoff after `attempts` failed tries: base, 2×base, 4×base, … capped."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    seconds = min(base * 2 ** max(attempts - 1, 0), settings.WEBHOOK_RETRY_MAX_SECONDS)
    return dt.timedelta(seconds=seconds)
