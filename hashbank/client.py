"""Member-side client for a Hashfed hub: a small library and a command line.

Run as ``python -m hashbank.client`` (``docs/client.md`` is the user guide). It talks to
the hub only through the public HTTP API (``docs/api.md``), with the standard library's
``urllib``; it signs submissions with ``hashbank.signing`` (``docs/signing.md``) and
imports no Django, so a platform can run it anywhere with ``cryptography`` and
``rfc8785`` installed.

The library part:

- ``HubClient``: one method per API call, raising ``HubError`` with the hub's error body;
- ``parse_csv`` / ``parse_ndjson`` and ``build_envelopes``: rows of a member's file to
  signed envelopes, with every problem reported per line before anything is sent;
- ``SyncState`` and ``sync_list``: a local copy of the shared list kept up to date from
  the change-log feed, resumable after any interruption;
- ``write_atomically``: replace a file so that a crash leaves the old or the new one.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import hashlib
import http.client
import json
import os
import stat
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib import error as urllib_error
from urllib import parse as urllib_parse
from urllib import request as urllib_request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hashbank import signing

__all__ = [
    "MAX_BATCH",
    "HubClient",
    "HubError",
    "InputError",
    "Row",
    "RowError",
    "SyncError",
    "SyncState",
    "build_envelopes",
    "load_private_key",
    "main",
    "parse_csv",
    "parse_ndjson",
    "public_key_b64",
    "row_submission_id",
    "sync_list",
    "write_atomically",
]

DEFAULT_HUB = "http://127.0.0.1:8000"
MAX_BATCH = 1000
MAX_SYNC_LIMIT = 1000
USER_AGENT = "hashfed-client/1"
# Worth another try: rate limited, or a proxy in front of the hub that is restarting.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_WAIT = 60.0
STATE_FORMAT = 1

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_HUB = 3
EXIT_INTERRUPTED = 130

ROW_FIELDS = ("signal_type", "value", "labels", "note", "incident")
REQUIRED_ROW_FIELDS = ("signal_type", "value", "labels")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class HubError(Exception):
    """The hub refused a request, or did not answer.

    ``status`` is the HTTP status, or 0 when no answer arrived. ``code``, ``message``
    and ``fields`` come from the hub's error body ``{"error": {"code", "message",
    "fields"}}``; when the answer is not in that shape ``code`` is ``http_<status>``
    (``bad_response`` for a success body that breaks the contract, ``unreachable``
    when the hub could not be reached, ``redirect`` when it answered with one).
    ``fields`` maps a field path to a list of ``{"code", "message"}``.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        super().__init__(f"{status} {code}: {message}" if status else f"{code}: {message}")


class InputError(Exception):
    """A local problem the user must fix: arguments, key file, input file, state file."""


class SyncError(Exception):
    """The change-log feed broke its contract (unknown op, sequences out of order, a
    cursor that does not advance). The local state is left as it was before the page."""


class _RefuseRedirects(urllib_request.HTTPRedirectHandler):
    """Turn every redirect into an error instead of following it.

    urllib would resend the Authorization header to wherever the hub points, even
    another host, and would turn a POST into a GET; a hub that moved should be
    configured at its new address instead.
    """

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _normalise_base_url(base_url: str) -> str:
    parts = urllib_parse.urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"the hub address must be an http(s) URL, got {base_url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        # Credentials go in the Authorization header only; URLs end up in logs.
        raise InputError("the hub address must not carry credentials, a query or a fragment")
    return urllib_parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _error_from_http_error(exc: urllib_error.HTTPError) -> HubError:
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


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a ``Retry-After: <seconds>`` header (the HTTP-date form is rare for
    APIs and is treated as absent)."""
    value = (headers or {}).get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class HubClient:
    """The hub's public HTTP API, one method per call.

    Sends the API key only as ``Authorization: Bearer <key>``, never in a URL; refuses
    redirects (so the key cannot be forwarded elsewhere). GET requests and submissions
    are retried up to ``attempts`` times on a network failure or a 429/502/503/504
    answer, honouring ``Retry-After``: submissions are safe to resend because the hub
    treats the same envelope id with the same content as a replay. Every method raises
    ``HubError``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 60.0,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = _normalise_base_url(base_url)
        self.api_key = api_key
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self._sleep = sleep
        self._opener = urllib_request.build_opener(_RefuseRedirects())

    @property
    def is_plain_http_to_remote(self) -> bool:
        """Whether the API key would cross a network unencrypted."""
        parts = urllib_parse.urlsplit(self.base_url)
        return parts.scheme == "http" and (parts.hostname or "") not in LOOPBACK_HOSTS

    def _request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        query: Mapping[str, object] | None = None,
        retry: bool = True,
        with_raw: bool = False,
    ) -> Any:
        url = self.base_url + path
        if query:
            url += "?" + urllib_parse.urlencode(query)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        attempts = self.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            # The scheme is http or https: _normalise_base_url refuses anything else.
            req = urllib_request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
            try:
                with self._opener.open(req, timeout=self.timeout) as response:
                    raw = response.read()
                    parsed = _json_reply(response.status, raw, f"{method} {path}")
                    return (parsed, raw, response.headers) if with_raw else parsed
            except urllib_error.HTTPError as exc:
                failure = _error_from_http_error(exc)
                wait = _retry_after(exc.headers)
                if exc.code not in RETRYABLE_STATUSES:
                    raise failure from None
            except (urllib_error.URLError, OSError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", None) or exc
                failure = HubError(0, "unreachable", f"cannot reach {self.base_url}: {reason}")
                wait = None
            if attempt == attempts:
                raise failure
            self._sleep(min(MAX_RETRY_WAIT, wait if wait is not None else 2.0 ** (attempt - 1)))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def hub_identity(self) -> dict[str, Any]:
        """``GET /.well-known/hashfed``: ``{"origin", "key_id", "public_key", "algorithm"}``."""
        return _expect_object(self._request("GET", "/.well-known/hashfed"), "hub identity")

    def me(self) -> dict[str, Any]:
        """``GET /api/v1/me/``: the caller, with ``organisation.slug`` and ``role``."""
        return _expect_object(self._request("GET", "/api/v1/me/"), "/api/v1/me/")

    def register_signing_key(self, public_key_b64: str, name: str = "") -> dict[str, Any]:
        """Register an Ed25519 public key (base64 of the raw 32 bytes, or PEM) for the
        caller's organisation; returns the hub's record with its ``key_id``. Not retried:
        a second registration of the same key is a conflict, not a replay."""
        body = {"public_key": public_key_b64, "name": name}
        reply = self._request("POST", "/api/v1/signing-keys/", body, retry=False)
        return _expect_object(reply, "signing key")

    def submit_in_batches(self, envelopes: Sequence[dict[str, Any]]) -> Iterator[list[dict]]:
        """Post envelopes in batches of at most ``MAX_BATCH``, yielding each batch's
        results as soon as it is answered, with ``index`` counted from the start of
        ``envelopes`` (not of the batch). Raises HubError if a batch is refused as a
        whole; the batches yielded before stay submitted."""
        for start in range(0, len(envelopes), MAX_BATCH):
            batch = list(envelopes[start : start + MAX_BATCH])
            reply = self._request("POST", "/api/v1/submissions/", {"submissions": batch})
            results = reply.get("results") if isinstance(reply, dict) else None
            if not isinstance(results, list) or len(results) != len(batch):
                raise HubError(200, "bad_response", "the hub did not answer for every envelope")
            rebased = []
            for result in results:
                index = result.get("index") if isinstance(result, dict) else None
                if not isinstance(index, int) or not 0 <= index < len(batch):
                    raise HubError(200, "bad_response", f"result index {index!r} out of range")
                rebased.append({**result, "index": start + index})
            yield sorted(rebased, key=lambda result: result["index"])

    def submit(self, envelopes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Submit signed envelopes; one result per envelope, in order (see
        ``submit_in_batches``). Each result has ``index``, ``id``, ``status``
        (``accepted``, ``replayed`` or ``rejected``), ``review_state`` and ``error``."""
        return [result for batch in self.submit_in_batches(envelopes) for result in batch]

    def sync(
        self, cursor: int = 0, limit: int = MAX_SYNC_LIMIT, *, hub_public_key: bytes | None = None
    ) -> dict[str, Any]:
        """One page of the change log after ``cursor``: ``{"entries", "next_cursor",
        "head"}``. Raises HubError(code="bad_response") if the page lacks them. With
        ``hub_public_key`` (raw 32 bytes), the page's Ed25519 signature over its exact bytes
        must verify, or HubError(code="bad_signature") is raised."""
        query = {"cursor": cursor, "limit": limit}
        if hub_public_key is None:
            page = self._request("GET", "/api/v1/sync/", query=query)
        else:
            page, raw, headers = self._request("GET", "/api/v1/sync/", query=query, with_raw=True)
            _verify_page(hub_public_key, raw, headers.get("X-Hashfed-Signature"))
        if not (
            isinstance(page, dict)
            and isinstance(page.get("entries"), list)
            and _is_int(page.get("next_cursor"))
            and _is_int(page.get("head"))
        ):
            raise HubError(200, "bad_response", "a sync page needs entries, next_cursor, head")
        return page

    def snapshots(self) -> list[dict[str, Any]]:
        """``GET /api/v1/sync/snapshots/``: the newest signed snapshots of the banks the
        caller may read (``id``, ``bank``, ``up_to_sequence``, ``sha256``, ``signature``,
        ``download``...)."""
        reply = self._request("GET", "/api/v1/sync/snapshots/")
        if not isinstance(reply, list):
            raise HubError(200, "bad_response", "snapshots: expected a JSON list")
        return reply


def _json_reply(status: int, raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise HubError(status, "bad_response", f"{what}: the answer is not JSON") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _expect_object(reply: object, what: str) -> dict[str, Any]:
    if not isinstance(reply, dict):
        raise HubError(200, "bad_response", f"{what}: expected a JSON object")
    return reply


# Rows of a member's file


@dataclass(frozen=True)
class Row:
    """One signal to submit, as read from line ``line`` of the input file."""

    line: int
    signal_type: str
    value: str
    labels: tuple[str, ...]
    note: str | None = None
    incident: str | None = None

    def content(self, bank: str) -> dict[str, Any]:
        """What the row states, in payload field names; empty optional fields are
        left out (absent and ``null`` are different signed bytes)."""
        content: dict[str, Any] = {
            "bank": bank,
            "signal_type": self.signal_type,
            "value": self.value,
            "labels": list(self.labels),
        }
        if self.note is not None:
            content["note"] = self.note
        if self.incident is not None:
            content["incident"] = self.incident
        return content


@dataclass(frozen=True)
class RowError:
    """Why a row cannot be submitted; ``field`` names the column or payload path."""

    line: int
    code: str
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f" {self.field}" if self.field else ""
        return f"line {self.line}: {self.code}{where}: {self.message}"


def _optional_text(value: str | None) -> str | None:
    return value if value else None


def _labels_from_cell(cell: str) -> tuple[str, ...]:
    return tuple(label.strip() for label in cell.split(";") if label.strip())


def _row_from_cells(line: int, cells: Mapping[str, str]) -> Row | RowError:
    for name in ("signal_type", "value"):
        if not cells.get(name):
            return RowError(line, "missing_field", name, f"{name} is empty")
    labels = _labels_from_cell(cells.get("labels", ""))
    if not labels:
        return RowError(line, "missing_field", "labels", "at least one label is needed")
    return Row(
        line=line,
        signal_type=cells["signal_type"],
        value=cells["value"],
        labels=labels,
        note=_optional_text(cells.get("note")),
        incident=_optional_text(cells.get("incident")),
    )


def _header_problem(columns: Sequence[str]) -> str | None:
    unknown = [name for name in columns if name not in ROW_FIELDS]
    if unknown:
        return f"unknown column {unknown[0]!r}; columns are {', '.join(ROW_FIELDS)}"
    missing = [name for name in REQUIRED_ROW_FIELDS if name not in columns]
    if missing:
        return f"missing column {missing[0]!r}"
    if len(set(columns)) != len(columns):
        return "a column is named twice"
    return None


def parse_csv(lines: Iterable[str]) -> tuple[list[Row], list[RowError]]:
    """Read ``signal_type,value,labels[,note][,incident]`` rows.

    Labels are separated by ``;``. Every cell is stripped of surrounding spaces; an
    empty note or incident is left out. A first row starting with ``signal_type`` is
    a header naming the columns, in any order. Blank rows are skipped. Returns the
    good rows and one RowError per bad row (line numbers count from 1); after a
    header error or broken quoting nothing more is read.
    """
    rows: list[Row] = []
    errors: list[RowError] = []
    reader = csv.reader(lines)
    header: list[str] | None = None
    seen_content = False
    end_of_previous = 0
    try:
        for record in reader:
            # A quoted cell may span lines: report the line where the row starts.
            line, end_of_previous = end_of_previous + 1, reader.line_num
            cells = [cell.strip() for cell in record]
            if not any(cells):
                continue
            if not seen_content and cells[0] == "signal_type":
                seen_content = True
                problem = _header_problem(cells)
                if problem:
                    return [], [RowError(line, "invalid_header", None, problem)]
                header = cells
                continue
            seen_content = True
            columns = header or ROW_FIELDS
            # Trailing optional cells may be left out, as hand-written files do.
            if len(cells) > len(columns) or (header is None and len(cells) < 3):
                expected = f"at most {len(header)}" if header else "3 to 5"
                message = f"expected {expected} columns, got {len(cells)}"
                errors.append(RowError(line, "invalid_row", None, message))
                continue
            result = _row_from_cells(line, dict(zip(columns, cells, strict=False)))
            if isinstance(result, RowError):
                errors.append(result)
            else:
                rows.append(result)
    except csv.Error as exc:
        errors.append(RowError(end_of_previous + 1, "malformed_csv", None, str(exc)))
    return rows, errors


def _ndjson_row(line: int, obj: object) -> Row | RowError:
    if not isinstance(obj, dict):
        return RowError(line, "invalid_row", None, "each line must be a JSON object")
    unknown = sorted(set(obj) - set(ROW_FIELDS))
    if unknown:
        return RowError(line, "unknown_field", unknown[0], f"unknown field {unknown[0]!r}")
    for name in REQUIRED_ROW_FIELDS:
        if name not in obj:
            return RowError(line, "missing_field", name, f"missing field {name!r}")
    for name in ("signal_type", "value"):
        if not isinstance(obj[name], str) or not obj[name]:
            return RowError(line, "invalid_field", name, "must be a non-empty string")
    labels = obj["labels"]
    if not isinstance(labels, list) or not labels:
        return RowError(line, "invalid_field", "labels", "must be a non-empty list of strings")
    for index, label in enumerate(labels):
        if not isinstance(label, str):
            return RowError(line, "invalid_field", f"labels[{index}]", "must be a string")
    for name in ("note", "incident"):
        if obj.get(name) is not None and not isinstance(obj[name], str):
            return RowError(line, "invalid_field", name, "must be a string or null")
    return Row(
        line=line,
        signal_type=obj["signal_type"],
        value=obj["value"],
        labels=tuple(labels),
        note=_optional_text(obj.get("note")),
        incident=_optional_text(obj.get("incident")),
    )


def parse_ndjson(lines: Iterable[str]) -> tuple[list[Row], list[RowError]]:
    """Read one JSON object per line: ``{"signal_type", "value", "labels": [...],
    "note"?, "incident"?}``. Values are kept byte for byte; a null or empty note or
    incident is left out; blank lines are skipped. The JSON is parsed as strictly as
    the hub parses envelopes (no duplicate keys, NaN or overflowing numbers).
    Returns the good rows and one RowError per bad line."""
    rows: list[Row] = []
    errors: list[RowError] = []
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            obj = signing.parse_json_strict(text)
        except signing.EnvelopeError as exc:
            errors.append(RowError(line, exc.code, exc.field, exc.message))
            continue
        result = _ndjson_row(line, obj)
        if isinstance(result, RowError):
            errors.append(result)
        else:
            rows.append(result)
    return rows, errors


# Keys and envelopes


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Read an unencrypted Ed25519 private key in PEM (as ``keygen`` writes it).
    Raises InputError for a missing, unreadable or non-Ed25519 key."""
    try:
        data = Path(path).read_bytes()
        key = serialization.load_pem_private_key(data, password=None)
    except OSError as exc:
        raise InputError(f"cannot read the key file {path}: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path} is not an Ed25519 key")
    return key


def _public_key_raw(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def public_key_b64(private_key: Ed25519PrivateKey) -> str:
    """Standard base64 of the raw 32-byte public key, as the hub registers it."""
    return base64.b64encode(_public_key_raw(private_key)).decode("ascii")


def utc_now_rfc3339() -> str:
    """Now, in the form ``docs/signing.md`` requires: ``2026-11-25T12:00:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_created_at(text: str) -> str:
    """A user-given time as an RFC 3339 UTC string ending in ``Z``. Raises InputError
    for a time without an offset (it would be ambiguous)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InputError(f"not a time: {text!r} (example: 2026-11-25T12:00:00Z)") from exc
    if moment.tzinfo is None:
        raise InputError(f"give the time in UTC with a Z, e.g. {text.strip()}Z")
    moment = moment.astimezone(UTC)
    fraction = f".{moment.microsecond:06d}" if moment.microsecond else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def row_submission_id(row: Row, *, bank: str, namespace: uuid.UUID) -> str:
    """The row's deterministic submission id: UUID version 5 of ``namespace`` and the
    JCS canonical JSON of ``row.content(bank)``. The same statement in the same bank
    gets the same id whatever the file's format, order or spacing."""
    name = signing.canonical_bytes(row.content(bank)).decode("utf-8")
    return str(uuid.uuid5(namespace, name))


def build_envelopes(
    rows: Sequence[Row],
    *,
    private_key: Ed25519PrivateKey,
    bank: str,
    organisation: str,
    audience: str,
    created_at: str | None = None,
    id_namespace: uuid.UUID | None = None,
) -> tuple[list[tuple[Row, dict[str, Any]]], list[RowError]]:
    """Build and sign one version-1 envelope per row.

    ``id`` is a random UUID4, or ``row_submission_id`` when ``id_namespace`` is given;
    ``created_at`` defaults to now. Each envelope is checked with the hub's own
    structural rules (``signing.envelope_from_obj``), so a row the hub would refuse
    for its shape (a label that is not a slug, a note over 500 characters...) is
    reported here, with the payload path as ``field``, instead of being sent.
    """
    key_id = signing.key_id_for(_public_key_raw(private_key))
    created_at = created_at or utc_now_rfc3339()
    built: list[tuple[Row, dict[str, Any]]] = []
    errors: list[RowError] = []
    for row in rows:
        if id_namespace is None:
            submission_id = str(uuid.uuid4())
        else:
            submission_id = row_submission_id(row, bank=bank, namespace=id_namespace)
        payload = {
            "version": signing.ENVELOPE_VERSION,
            "audience": audience,
            "id": submission_id,
            "created_at": created_at,
            "organisation": organisation,
            "key_id": key_id,
            **row.content(bank),
        }
        try:
            envelope = signing.sign_payload(private_key, payload)
            signing.envelope_from_obj(envelope)
        except signing.EnvelopeError as exc:
            errors.append(RowError(row.line, exc.code, exc.field, exc.message))
            continue
        built.append((row, envelope))
    return built, errors


# Files


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomically(path: str | os.PathLike[str], chunks: bytes | Iterable[bytes]) -> None:
    """Replace ``path`` with ``chunks``: readers, and a crash at any moment, see either
    the old file or the complete new one, never a part. Writes a temporary file next
    to ``path`` (same file system, so ``os.replace`` is atomic), flushes it to disk,
    then renames it over ``path``. The new file is readable by its owner only, since
    hash lists and their state are not for every local user. If anything fails,
    ``path`` is untouched and the temporary file is removed."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            for chunk in [chunks] if isinstance(chunks, bytes) else chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def write_new_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Generate an Ed25519 key and write it as unencrypted PKCS#8 PEM, mode 0600.
    Raises InputError if ``path`` exists: overwriting a registered key would lose it
    for good. ``O_EXCL`` makes the check and the creation one step."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise InputError(f"{path} exists; refusing to overwrite a key") from exc
    except OSError as exc:
        raise InputError(f"cannot create {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as file:
        # The umask could have narrowed the mode further, never widened it; set it
        # exactly so the file is what the documentation promises.
        if hasattr(os, "fchmod"):
            os.fchmod(file.fileno(), 0o600)
        file.write(pem)
    return key


# Keeping a local copy of the list

SignalKey = tuple[str, str, str]


@dataclass
class SyncState:
    """A local copy of the shared list and where the change log was read up to.

    ``cursor`` is the hub's ``next_cursor`` to ask for next (opaque to the client);
    ``last_sequence`` the sequence of the last entry applied (-1 before any: the
    hub numbers entries from 0); ``signals`` the list
    keyed by (bank, signal_type, value), each record being the entry that last set
    it, without ``op``. ``hub`` is the address the state was built from.
    """

    hub: str | None = None
    cursor: int = 0
    last_sequence: int = -1
    head: int | None = None
    signals: dict[SignalKey, dict[str, Any]] = field(default_factory=dict)

    def apply(self, entries: Iterable[Mapping[str, Any]]) -> int:
        """Apply change-log entries in order: ``add`` and ``update`` set the record,
        ``remove`` deletes it (removing an absent record is a no-op). Entries at or
        below ``last_sequence`` are skipped, so a page that overlaps what was already
        applied is harmless. All or nothing: raises SyncError, changing nothing, for
        an unknown op, a malformed entry or sequences out of order. Returns how many
        entries were applied."""
        signals = dict(self.signals)
        last = self.last_sequence
        applied = 0
        for entry in entries:
            sequence = entry.get("sequence")
            if not _is_int(sequence):
                raise SyncError(f"an entry without an integer sequence: {entry!r}")
            if sequence <= last:
                if applied:
                    raise SyncError(f"sequence {sequence} comes after {last}")
                continue
            try:
                key = (str(entry["bank"]), str(entry["signal_type"]), str(entry["value"]))
            except KeyError as exc:
                raise SyncError(f"entry {sequence} has no {exc.args[0]}") from None
            op = entry.get("op")
            if op in ("add", "update"):
                signals[key] = {name: value for name, value in entry.items() if name != "op"}
            elif op == "remove":
                signals.pop(key, None)
            else:
                raise SyncError(f"entry {sequence} has an unknown op {op!r}")
            last = sequence
            applied += 1
        self.signals, self.last_sequence = signals, last
        return applied

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "hub": self.hub,
            "cursor": self.cursor,
            "last_sequence": self.last_sequence,
            "head": self.head,
            "signals": self.sorted_records(),
        }

    @classmethod
    def from_json(cls, data: object) -> SyncState:
        """Raises InputError for anything but a state this module wrote."""
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise InputError("not a sync state file (format 1)")
        try:
            signals = {
                (str(r["bank"]), str(r["signal_type"]), str(r["value"])): r for r in data["signals"]
            }
            return cls(
                hub=data.get("hub"),
                cursor=int(data["cursor"]),
                last_sequence=int(data["last_sequence"]),
                head=data.get("head"),
                signals=signals,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"the sync state file is damaged: {exc}") from exc

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SyncState:
        """The state saved at ``path``, or an empty one if there is no file yet."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            return cls.from_json(json.loads(text))
        except ValueError as exc:
            raise InputError(f"{path} is not valid JSON: {exc}") from exc

    def save(self, path: str | os.PathLike[str]) -> None:
        write_atomically(path, json.dumps(self.to_json(), ensure_ascii=False).encode("utf-8"))

    def sorted_records(self) -> list[dict[str, Any]]:
        return [self.signals[key] for key in sorted(self.signals)]

    def write_list(self, path: str | os.PathLike[str]) -> None:
        """Write the list as NDJSON, one signal per line, sorted by (bank, signal_type,
        value), keys sorted, atomically."""
        write_atomically(
            path,
            (
                json.dumps(
                    record, ensure_ascii=False, sort_keys=True, separators=(",", ":")
                ).encode("utf-8")
                + b"\n"
                for record in self.sorted_records()
            ),
        )


def hub_public_key_of(client: HubClient) -> bytes:
    """The hub's Ed25519 public key from /.well-known/hashfed, checked against its key id."""
    identity = client.hub_identity()
    try:
        raw = base64.b64decode(str(identity.get("public_key", "")), validate=True)
    except ValueError as exc:
        raise HubError(200, "bad_response", "the hub's public key is not base64") from exc
    if len(raw) != 32 or hashlib.sha256(raw).hexdigest() != identity.get("key_id"):
        raise HubError(200, "bad_response", "the hub's public key does not match its key id")
    return raw


def _verify_page(public_key: bytes, body: bytes, signature: str | None) -> None:
    """Refuse a page whose bytes the hub did not sign: anything between the hub and us
    (a proxy, a cache, an attacker) could otherwise edit the list we hold."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not signature:
        raise HubError(200, "bad_signature", "the sync page is not signed")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(base64.b64decode(signature), body)
    except (InvalidSignature, ValueError) as exc:
        raise HubError(200, "bad_signature", "the sync page's signature does not verify") from exc


def sync_list(
    client: HubClient,
    *,
    out: str | os.PathLike[str],
    state_path: str | os.PathLike[str],
    limit: int = MAX_SYNC_LIMIT,
    progress: Callable[[SyncState], None] | None = None,
    hub_public_key: bytes | None = None,
) -> SyncState:
    """Bring the local copy up to date and write it to ``out``.

    Resumes from the cursor in ``state_path`` and saves the state after every page,
    so an interruption (network, Ctrl-C, crash) costs at most one page. Reads pages
    while ``next_cursor < head`` and the page is not empty, then rewrites ``out``
    atomically. Raises InputError if the state belongs to another hub, SyncError if
    the feed breaks its contract, HubError if the hub refuses or cannot be reached.
    """
    state = SyncState.load(state_path)
    if state.hub is None:
        state.hub = client.base_url
    elif state.hub != client.base_url:
        raise InputError(
            f"{state_path} follows {state.hub}, not {client.base_url}; use another --state"
        )
    while True:
        page = client.sync(state.cursor, limit, hub_public_key=hub_public_key)
        entries = page["entries"]
        if entries and page["next_cursor"] == state.cursor:
            raise SyncError(f"the hub's cursor did not advance past {state.cursor}")
        state.apply(entries)
        state.cursor, state.head = page["next_cursor"], page["head"]
        state.save(state_path)
        if progress:
            progress(state)
        if not entries or page["next_cursor"] >= page["head"]:
            break
    state.write_list(out)
    return state


# Command line


def _default_state_path(out: Path) -> Path:
    return out.with_suffix(".state.json") if out.suffix else out.with_name(out.name + ".state.json")


def _resolve_api_key(args: argparse.Namespace) -> str:
    """The key from, in order: --api-key, --api-key-file, HASHFED_API_KEY,
    HASHFED_API_KEY_FILE."""
    candidates: list[tuple[str | None, bool]] = [
        (args.api_key, False),
        (args.api_key_file, True),
        (os.environ.get("HASHFED_API_KEY"), False),
        (os.environ.get("HASHFED_API_KEY_FILE"), True),
    ]
    for value, is_file in candidates:
        if not value:
            continue
        if not is_file:
            return value.strip()
        try:
            return Path(value).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"cannot read the API key file {value}: {exc.strerror}") from exc
    raise InputError("no API key: set HASHFED_API_KEY or pass --api-key")


def _client(args: argparse.Namespace) -> HubClient:
    client = HubClient(args.hub, _resolve_api_key(args))
    if client.is_plain_http_to_remote:
        print(
            f"warning: {client.base_url} is plain HTTP; the API key is not encrypted",
            file=sys.stderr,
        )
    return client


def _load_signing_key(path: str) -> Ed25519PrivateKey:
    with contextlib.suppress(OSError):
        mode = os.stat(path).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            print(f"warning: {path} is readable by other users; chmod 600 it", file=sys.stderr)
    return load_private_key(path)


def _command_keygen(args: argparse.Namespace) -> int:
    key = write_new_private_key(args.out)
    print(f"public_key: {public_key_b64(key)}")
    print(f"key_id: {signing.key_id_for(_public_key_raw(key))}")
    return EXIT_OK


def _command_register_key(args: argparse.Namespace) -> int:
    key = _load_signing_key(args.key)
    client = _client(args)
    record = client.register_signing_key(public_key_b64(key), args.name)
    expected = signing.key_id_for(_public_key_raw(key))
    if record.get("key_id") != expected:
        raise HubError(201, "bad_response", f"the hub answered key id {record.get('key_id')!r}")
    print(f"registered key_id: {expected}")
    return EXIT_OK


def _read_input_rows(path: str, fmt: str | None) -> tuple[list[Row], list[RowError]]:
    if fmt is None:
        fmt = "ndjson" if Path(path).suffix.lower() in (".ndjson", ".jsonl") else "csv"
    parse = parse_ndjson if fmt == "ndjson" else parse_csv
    try:
        if path == "-":
            return parse(sys.stdin)
        # utf-8-sig: spreadsheet exports often start with a byte order mark.
        with open(path, encoding="utf-8-sig", newline="") as file:
            return parse(file)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text") from exc


def _report_row_errors(errors: Sequence[RowError]) -> int:
    for error in errors:
        print(error, file=sys.stderr)
    print(f"{len(errors)} invalid row(s); nothing was sent", file=sys.stderr)
    return EXIT_USAGE


def _command_submit(args: argparse.Namespace) -> int:
    if args.id_namespace is not None and args.created_at is None:
        # A replay must be byte for byte the same envelope, signing time included.
        raise InputError("--id-namespace needs --created-at, so a re-run signs the same bytes")
    namespace = _parse_namespace(args.id_namespace)
    created_at = parse_created_at(args.created_at) if args.created_at else None
    key = _load_signing_key(args.key)
    rows, errors = _read_input_rows(args.file, args.format)
    if errors:
        return _report_row_errors(errors)
    client = _client(args)
    organisation = args.organisation or str(client.me()["organisation"]["slug"])
    audience = args.audience or str(client.hub_identity()["origin"])
    built, errors = build_envelopes(
        rows,
        private_key=key,
        bank=args.bank,
        organisation=organisation,
        audience=audience,
        created_at=created_at,
        id_namespace=namespace,
    )
    if errors:
        return _report_row_errors(errors)
    return _send(client, built)


def _parse_namespace(text: str | None) -> uuid.UUID | None:
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise InputError(f"--id-namespace must be a UUID, got {text!r}") from exc


def _send(client: HubClient, built: Sequence[tuple[Row, dict[str, Any]]]) -> int:
    counts = {"accepted": 0, "replayed": 0, "rejected": 0}
    done = 0
    try:
        for results in client.submit_in_batches([envelope for _, envelope in built]):
            for result in results:
                status = str(result.get("status"))
                counts[status] = counts.get(status, 0) + 1
                if status == "rejected":
                    _report_rejection(built[result["index"]][0], result.get("error") or {})
            done += len(results)
    except HubError:
        _print_summary(counts, done, len(built))
        print(f"stopped after {done} of {len(built)} rows", file=sys.stderr)
        raise
    _print_summary(counts, done, len(built))
    return EXIT_REJECTED if counts["rejected"] else EXIT_OK


def _report_rejection(row: Row, error: Mapping[str, Any]) -> None:
    rejection = RowError(
        row.line,
        str(error.get("code") or "rejected"),
        error.get("field"),
        str(error.get("message") or "rejected by the hub"),
    )
    print(rejection, file=sys.stderr)


def _print_summary(counts: Mapping[str, int], done: int, total: int) -> None:
    others = "".join(
        f", {name} {count}"
        for name, count in counts.items()
        if name not in ("accepted", "replayed", "rejected")
    )
    print(
        f"accepted {counts['accepted']}, replayed {counts['replayed']}, "
        f"rejected {counts['rejected']}{others} ({done} of {total} rows sent)"
    )


class _ProgressLine:
    """``synced N/M entries`` on stderr: rewritten in place on a terminal, one line
    per page otherwise (for logs)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.in_place = stream.isatty()
        self.shown = False

    def __call__(self, state: SyncState) -> None:
        text = f"synced {state.cursor}/{state.head} entries"
        self.stream.write(f"\r{text}" if self.in_place else f"{text}\n")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.in_place and self.shown:
            self.stream.write("\n")


def _command_sync(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_SYNC_LIMIT:
        raise InputError(f"--limit must be between 1 and {MAX_SYNC_LIMIT}")
    out = Path(args.out)
    state_path = Path(args.state) if args.state else _default_state_path(out)
    client = _client(args)
    progress = _ProgressLine(sys.stderr) if args.progress or sys.stderr.isatty() else None
    hub_public_key = None if args.no_verify else hub_public_key_of(client)
    try:
        state = sync_list(
            client,
            out=out,
            state_path=state_path,
            limit=args.limit,
            progress=progress,
            hub_public_key=hub_public_key,
        )
    finally:
        if progress:
            progress.finish()
    print(f"{len(state.signals)} signals in {out} (cursor {state.cursor}, head {state.head})")
    return EXIT_OK


def _add_hub_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hub",
        default=os.environ.get("HASHFED_URL", DEFAULT_HUB),
        help="the hub's address (default: $HASHFED_URL or %(default)s)",
    )
    parser.add_argument(
        "--api-key",
        help="the organisation's API key (default: $HASHFED_API_KEY); prefer the "
        "environment or --api-key-file, as other users can see command lines",
    )
    parser.add_argument(
        "--api-key-file", help="read the API key from this file (or $HASHFED_API_KEY_FILE)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hashbank.client",
        description="Submit signed hashes to a Hashfed hub and keep a local copy of its list.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keygen = commands.add_parser("keygen", help="create an Ed25519 signing key")
    keygen.add_argument("--out", required=True, metavar="KEYFILE", help="new private key file")
    keygen.set_defaults(handler=_command_keygen)

    register = commands.add_parser("register-key", help="register a key's public half")
    register.add_argument("--key", required=True, metavar="KEYFILE")
    register.add_argument("--name", default="", help="a name to recognise the key by")
    _add_hub_options(register)
    register.set_defaults(handler=_command_register_key)

    submit = commands.add_parser("submit", help="sign and submit the rows of a file")
    submit.add_argument("--key", required=True, metavar="KEYFILE")
    submit.add_argument("--bank", required=True, help="the bank's name, e.g. TVEC")
    submit.add_argument("--file", required=True, help="CSV or NDJSON rows; - for stdin")
    submit.add_argument(
        "--format", choices=("csv", "ndjson"), help="default: from the extension, else csv"
    )
    submit.add_argument("--audience", metavar="HOST", help="default: the hub's own origin")
    submit.add_argument("--organisation", metavar="SLUG", help="default: the API key's")
    submit.add_argument(
        "--id-namespace",
        metavar="UUID",
        help="derive each row's id from this namespace and the row, so re-runs replay",
    )
    submit.add_argument(
        "--created-at",
        metavar="TIME",
        help="signing time, RFC 3339 UTC (default: now; required with --id-namespace)",
    )
    _add_hub_options(submit)
    submit.set_defaults(handler=_command_submit)

    sync = commands.add_parser("sync", help="update a local copy of the list")
    sync.add_argument("--out", required=True, metavar="FILE.ndjson")
    sync.add_argument("--state", metavar="FILE.state.json", help="default: next to --out")
    sync.add_argument("--limit", type=int, default=MAX_SYNC_LIMIT, help="entries per page")
    sync.add_argument("--progress", action="store_true", help="show progress even off a TTY")
    sync.add_argument(
        "--no-verify",
        action="store_true",
        help="do not check the hub's signature on each page (checked by default)",
    )
    _add_hub_options(sync)
    sync.set_defaults(handler=_command_sync)
    return parser


def _print_hub_error(error: HubError) -> None:
    print(f"error: {error}", file=sys.stderr)
    for name, problems in error.fields.items():
        for problem in problems if isinstance(problems, list) else [problems]:
            message = problem.get("message") if isinstance(problem, dict) else problem
            print(f"  {name}: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code: 0 done, 1 some rows were rejected
    by the hub, 2 a usage or local input problem (nothing sent), 3 the hub refused a
    request or could not be reached, 130 interrupted."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HubError as exc:
        _print_hub_error(exc)
        return EXIT_HUB
    except SyncError as exc:
        print(f"error: the sync feed is inconsistent: {exc}", file=sys.stderr)
        return EXIT_HUB
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
