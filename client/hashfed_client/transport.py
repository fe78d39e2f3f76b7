"""The HTTP details under HubClient: the hub's address, its error shape, redirects,
``Retry-After`` and multipart bodies."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Mapping
from email.message import Message
from typing import Any, TypeGuard
from urllib import error as urllib_error
from urllib import parse as urllib_parse
from urllib import request as urllib_request

from hashfed_client.errors import HubError, InputError


class RefuseRedirects(urllib_request.HTTPRedirectHandler):
    """Turn every redirect into an error instead of following it.

    urllib would resend the Authorization header to wherever the hub points, even
    another host, and would turn a POST into a GET; a hub that moved should be
    configured at its new address instead.
    """

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def normalise_base_url(base_url: str) -> str:
    parts = urllib_parse.urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"the hub address must be an http(s) URL, got {base_url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        # Credentials go in the Authorization header only; URLs end up in logs.
        raise InputError("the hub address must not carry credentials, a query or a fragment")
    return urllib_parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def error_from_http_error(exc: urllib_error.HTTPError) -> HubError:
    try:
        raw = exc.read()
    except (OSError, http.client.HTTPException):
        raw = b""
    if 300 <= exc.code < 400:
        location = exc.headers.get("Location", "")
        return HubError(
            exc.code, "redirect", f"the hub redirected to {location!r}; use that address instead"
        )
    try:
        error = json.loads(raw)["error"]
        return HubError(
            exc.code, str(error["code"]), str(error["message"]), error.get("fields") or {}
        )
    except (ValueError, TypeError, KeyError):
        return HubError(exc.code, f"http_{exc.code}", str(exc.reason or "request failed"))


def retry_after(headers: Mapping[str, str] | Message[str, str] | None) -> float | None:
    """Seconds from a ``Retry-After: <seconds>`` header (the HTTP-date form is rare for
    APIs and is treated as absent)."""
    value = (headers or {}).get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def json_reply(status: int, raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise HubError(status, "bad_response", f"{what}: the answer is not JSON") from None


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def expect_object(reply: object, what: str) -> dict[str, Any]:
    if not isinstance(reply, dict):
        raise HubError(200, "bad_response", f"{what}: expected a JSON object")
    return reply


def multipart_form(fields: Mapping[str, str], files: Mapping[str, bytes]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its content type. Files go under a fixed file
    name: the hub needs none, and a local file name can say more than the member means to."""
    boundary = uuid.uuid4().hex
    while any(boundary.encode("ascii") in data for data in files.values()):
        boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode("utf-8")
            + b"\r\n"
        )
    for name, data in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="upload"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
