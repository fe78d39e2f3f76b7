"""Webhook mechanics with no database in them: which URLs may receive deliveries, how a
delivery is signed, and how long to wait before the next try."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

SIGNATURE_VERSION = "v1"


def _secrets_cipher():  # type: ignore[no-untyped-def]
    """Fernet keyed from WEBHOOK_SECRETS_KEY (or, by default, SECRET_KEY) through HKDF, so
    a copy of the database alone does not let anyone forge deliveries."""
    import base64

    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


class UnsafeWebhookUrl(ValueError):
    pass


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnsafeWebhookUrl(f"the host {host!r} does not resolve") from exc
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def webhook_url_check(url: str) -> None:
    """Refuse a URL the hub must not call: anything but https (http only where loopback is
    allowed, i.e. tests), and any host resolving to a loopback, link-local, private,
    multicast, reserved or unspecified address. Otherwise a member could make the hub
    probe its own network (SSRF). Every address the name resolves to is checked, since the
    HTTP client may pick any of them."""
    parts = urlsplit(url)
    allow_loopback = settings.WEBHOOK_ALLOW_LOOPBACK
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeWebhookUrl("a webhook URL is https://host/path")
    if parts.username or parts.password:
        raise UnsafeWebhookUrl("credentials do not belong in a webhook URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for address in _addresses(parts.hostname, port):
        mapped = getattr(address, "ipv4_mapped", None)
        address = mapped or address
        if address.is_loopback and allow_loopback:
            continue
        if (
            address.is_loopback
            or address.is_link_local
            or address.is_private
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        ):
            raise UnsafeWebhookUrl(
                f"{parts.hostname} resolves to {address}, a loopback, link-local or private "
                "address; webhooks go to public addresses only"
            )
    if parts.scheme == "http" and not allow_loopback:
        raise UnsafeWebhookUrl("webhooks are sent over https only")


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
