"""Signed submission envelopes: parsing, validation, canonicalisation, Ed25519.

A member signs each submission with its Ed25519 key. On the wire::

    {"payload": {...}, "signature": "<standard base64 of the 64-byte signature>"}

The signature covers the RFC 8785 (JCS) canonical JSON bytes of ``payload``.
``docs/signing.md`` is the normative description; ``fixtures/signing/vectors.json``
holds test vectors.

This module checks the *shape* of an envelope and the signature. Whether the bank,
signal type, labels, incident, organisation and key exist, whether the key was valid
at ``created_at`` and whether the audience is this hub are decided by the caller.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, NoReturn

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from hashfed_wire import ed25519, strict_json

__all__ = [
    "ENVELOPE_VERSION",
    "EnvelopeError",
    "SignedEnvelope",
    "canonical_bytes",
    "envelope_from_obj",
    "key_id_for",
    "load_public_key",
    "parse_json_strict",
    "sign_payload",
    "verify",
]

ENVELOPE_VERSION = 1
PUBLIC_KEY_LENGTH = 32
SIGNATURE_LENGTH = 64
MAX_NOTE_LENGTH = 500
MAX_LABELS = 32
MAX_SLUG_LENGTH = 100
MAX_NAME_LENGTH = 100
MAX_AUDIENCE_LENGTH = 253
# Large enough for the longest signal types (vPDQ carries one hash per frame),
# small enough that one envelope cannot be used to store arbitrary blobs.
MAX_VALUE_LENGTH = 65_536

REQUIRED_FIELDS = (
    "version",
    "audience",
    "id",
    "created_at",
    "organisation",
    "key_id",
    "bank",
    "signal_type",
    "value",
    "labels",
)
OPTIONAL_FIELDS = ("incident", "note")
ENVELOPE_FIELDS = ("payload", "signature")

# Django's SlugField alphabet, so slugs here match organisation, label and
# incident slugs stored by the models.
_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
_SIGNAL_TYPE = re.compile(r"[a-z0-9_]+")
_KEY_ID = re.compile(r"[0-9a-f]{64}")
# A host name (lowercase, as DNS compares case-insensitively and we compare
# exactly) with an optional port, e.g. "hub.example.org" or "localhost:8000".
_AUDIENCE = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RFC3339_UTC = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,9}))?Z"
)


class EnvelopeError(Exception):
    """A submission envelope (or a public key) was refused.

    ``code`` is machine-readable and stable (``malformed_json``, ``duplicate_key``,
    ``missing_field``, ``unknown_field``, ``invalid_field``, ``unsupported_version``,
    ``bad_base64``, ``bad_signature``, ``invalid_public_key``); ``field`` is the
    dotted path of the offending value (``payload.created_at``, ``payload.labels[1]``,
    ``signature``) or None when the whole document is at fault; ``message`` is
    for people.
    """

    def __init__(self, code: str, message: str | None = None, *, field: str | None = None):
        self.code = code
        self.field = field
        self.message = message or code.replace("_", " ")
        super().__init__(f"{field}: {self.message}" if field else self.message)

    def __repr__(self) -> str:
        return f"EnvelopeError(code={self.code!r}, field={self.field!r}, message={self.message!r})"


def _signing_path(path: strict_json.Path) -> str:
    """A strict_json path as this format names fields: ``payload.labels[1]``."""
    text = ""
    for part in path:
        text = f"{text}[{part}]" if isinstance(part, int) else _join(text, part)
    return text


def parse_json_strict(raw: bytes | str) -> object:
    """Parse one JSON document, refusing what would make signatures ambiguous.

    Bytes must be UTF-8 (RFC 8259 section 8.1). Refuses duplicate object keys at
    any depth (``duplicate_key``, ``field`` = the key's path), ``NaN``,
    ``Infinity`` and numbers that overflow a double, and anything else
    that is not JSON (``malformed_json``). Returns plain dicts, lists,
    strings, ints, floats, bools and None. The hub's API reads request bodies
    with the same rules (hashfed_wire.strict_json).
    """
    try:
        return strict_json.loads(raw)
    except strict_json.JSONRefused as exc:
        if exc.code == "duplicate_key":
            raise EnvelopeError(
                "duplicate_key", "duplicate object key", field=_signing_path(exc.path)
            ) from exc
        raise EnvelopeError("malformed_json", exc.message) from exc


def canonical_bytes(payload: dict[str, Any]) -> bytes:
    """The RFC 8785 (JCS) canonical UTF-8 bytes of ``payload``: what is signed.

    Raises EnvelopeError("invalid_field", field="payload") for values JCS
    cannot represent (lone surrogates, integers beyond 2**53, non-finite floats).
    """
    try:
        return rfc8785.dumps(payload)
    except rfc8785.CanonicalizationError as exc:
        raise EnvelopeError(
            "invalid_field", f"cannot canonicalise: {exc}", field="payload"
        ) from exc


def _canonical_bytes_checked(payload: dict[str, Any]) -> bytes:
    """``canonical_bytes`` of a payload that passed ``_PayloadChecker``, without re-walking it.

    After the checks its keys are the ASCII field names, its values strings without lone
    surrogates, the integer 1, ``None`` or a list of strings. For exactly these, sorted keys
    and the standard encoder are RFC 8785: JCS sorts keys by UTF-16 code units (ASCII
    names sort the same by code point), writes integers in their shortest form, and escapes
    strings as ECMAScript's JSON.stringify does, which is what ``ensure_ascii=False`` writes
    (``\\b \\t \\n \\f \\r \\" \\\\``, other controls as lowercase ``\\u00xx``,
    everything else literal). tests/hashfed_wire/test_envelope.py holds the two to each other.
    """
    return _JCS_ENCODER.encode(payload).encode("utf-8")


_JCS_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def key_id_for(public_key_raw: bytes) -> str:
    """Lowercase hex SHA-256 of the raw 32-byte Ed25519 public key."""
    try:
        return ed25519.key_id_for(public_key_raw)
    except ed25519.PublicKeyError as exc:
        raise EnvelopeError("invalid_public_key", str(exc), field="public_key") from exc


def _decode_base64_strict(text: str) -> bytes:
    """Standard-alphabet base64 with padding, in its one canonical spelling.

    Raises ValueError otherwise; refusing alternative spellings (unused bits
    set, missing padding, whitespace) keeps one signature to one string.
    """
    decoded = base64.b64decode(text.encode("ascii"), validate=True)
    if base64.b64encode(decoded).decode("ascii") != text:
        raise ValueError("non-canonical base64")
    return decoded


def load_public_key(text: str) -> bytes:
    """Raw 32 bytes of an Ed25519 public key given as PEM or as base64 (the rules of
    hashfed_wire.ed25519.parse_public_key). Raises EnvelopeError("invalid_public_key",
    field="public_key") for anything else."""
    try:
        return ed25519.parse_public_key(text)
    except ed25519.PublicKeyError as exc:
        raise EnvelopeError("invalid_public_key", str(exc), field="public_key") from exc


def _parse_created_at(text: str) -> datetime:
    match = _RFC3339_UTC.fullmatch(text)
    if match is None:
        raise ValueError("not an RFC 3339 UTC timestamp")
    parts = match.groupdict()
    # Python keeps microseconds; finer digits are allowed on the wire (they are
    # signed as sent) but cannot matter for key validity.
    microsecond = int((parts["fraction"] or "").ljust(6, "0")[:6])
    return datetime(
        int(parts["year"]),
        int(parts["month"]),
        int(parts["day"]),
        int(parts["hour"]),
        int(parts["minute"]),
        int(parts["second"]),
        microsecond,
        tzinfo=UTC,
    )


@dataclass(frozen=True)
class SignedEnvelope:
    """A structurally valid envelope whose signature has NOT necessarily been checked.

    ``payload`` is a private copy of the submitted payload (treat it as
    read-only), ``signature`` the 64 decoded bytes and ``canonical`` the JCS
    bytes the signature must cover. Two envelopes are equal when their
    canonical bytes and signatures are.
    """

    payload: dict[str, Any] = field(compare=False)
    signature: bytes
    canonical: bytes

    @property
    def version(self) -> int:
        return int(self.payload["version"])

    @property
    def audience(self) -> str:
        return str(self.payload["audience"])

    # The two values parsed from text are parsed once: a batch asks for each several times.
    @cached_property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self.payload["id"])

    @cached_property
    def created_at(self) -> datetime:
        return _parse_created_at(self.payload["created_at"])

    @property
    def organisation(self) -> str:
        return str(self.payload["organisation"])

    @property
    def key_id(self) -> str:
        return str(self.payload["key_id"])

    @property
    def bank(self) -> str:
        return str(self.payload["bank"])

    @property
    def signal_type(self) -> str:
        return str(self.payload["signal_type"])

    @property
    def value(self) -> str:
        return str(self.payload["value"])

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.payload["labels"])

    @property
    def incident(self) -> str | None:
        return self.payload.get("incident")

    @property
    def note(self) -> str | None:
        return self.payload.get("note")

    @property
    def signature_b64(self) -> str:
        return base64.b64encode(self.signature).decode("ascii")

    def to_obj(self) -> dict[str, Any]:
        """The envelope as a JSON-ready dict, as it came in."""
        return {"payload": copy.deepcopy(self.payload), "signature": self.signature_b64}


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class _PayloadChecker:
    """Checks one payload's fields; errors carry the field's full path."""

    def __init__(self, payload: dict[str, Any], prefix: str):
        self.payload = payload
        self.prefix = prefix

    def fail(self, name: str, message: str, code: str = "invalid_field") -> NoReturn:
        raise EnvelopeError(code, message, field=_join(self.prefix, name))

    def text(self, name: str, value: object, *, max_length: int) -> str:
        if not isinstance(value, str):
            self.fail(name, "must be a string")
        if len(value) > max_length:
            self.fail(name, f"must be at most {max_length} characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (from "\ud800" escapes) have no UTF-8 form to sign.
            self.fail(name, "contains a lone surrogate")
        return value

    def matching(
        self, name: str, value: object, pattern: re.Pattern[str], what: str, *, max_length: int
    ) -> str:
        text = self.text(name, value, max_length=max_length)
        if not pattern.fullmatch(text):
            self.fail(name, f"must be {what}")
        return text

    def slug(self, name: str, value: object) -> str:
        return self.matching(
            name, value, _SLUG, "a slug (letters, digits, - and _)", max_length=MAX_SLUG_LENGTH
        )

    def check(self) -> None:
        payload = self.payload
        unknown = sorted(set(payload) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
        if unknown:
            self.fail(unknown[0], f"unknown field {unknown[0]!r}", code="unknown_field")
        for name in REQUIRED_FIELDS:
            if name not in payload:
                self.fail(name, f"missing required field {name!r}", code="missing_field")

        version = payload["version"]
        # bool is an int in Python, and 1.0 is a float: neither is the integer 1.
        if not isinstance(version, int) or isinstance(version, bool):
            self.fail("version", "must be an integer")
        if version != ENVELOPE_VERSION:
            self.fail(
                "version",
                f"unsupported version {version}; this hub accepts {ENVELOPE_VERSION}",
                code="unsupported_version",
            )

        self.matching(
            "audience",
            payload["audience"],
            _AUDIENCE,
            "the hub's lowercase host name, with an optional port",
            max_length=MAX_AUDIENCE_LENGTH,
        )

        submission_id = self.text("id", payload["id"], max_length=36)
        try:
            canonical_id = str(uuid.UUID(submission_id))
        except ValueError:
            self.fail("id", "must be a UUID")
        if canonical_id != submission_id:
            # One spelling per id, or the same submission could be replayed
            # under an equivalent but different string.
            self.fail("id", "must be a UUID in lowercase hyphenated form")

        created_at = self.text("created_at", payload["created_at"], max_length=64)
        try:
            _parse_created_at(created_at)
        except ValueError:
            self.fail("created_at", "must be an RFC 3339 UTC time such as 2026-11-25T12:00:00Z")

        self.slug("organisation", payload["organisation"])
        self.matching(
            "key_id", payload["key_id"], _KEY_ID, "64 lowercase hex characters", max_length=64
        )

        bank = self.text("bank", payload["bank"], max_length=MAX_NAME_LENGTH)
        if not bank or bank != bank.strip() or _CONTROL.search(bank):
            self.fail("bank", "must be a non-empty name without surrounding spaces")
        self.matching(
            "signal_type",
            payload["signal_type"],
            _SIGNAL_TYPE,
            "a signal type name such as pdq or video_md5",
            max_length=MAX_NAME_LENGTH,
        )
        if not self.text("value", payload["value"], max_length=MAX_VALUE_LENGTH):
            self.fail("value", "must not be empty")

        labels = payload["labels"]
        if not isinstance(labels, list) or not labels:
            self.fail("labels", "must be a non-empty list of label slugs")
        if len(labels) > MAX_LABELS:
            self.fail("labels", f"must hold at most {MAX_LABELS} labels")
        seen: set[str] = set()
        for index, label in enumerate(labels):
            slug = self.slug(f"labels[{index}]", label)
            if slug in seen:
                self.fail(f"labels[{index}]", f"repeats label {slug!r}")
            seen.add(slug)

        if payload.get("incident") is not None:
            self.slug("incident", payload["incident"])
        if payload.get("note") is not None:
            self.text("note", payload["note"], max_length=MAX_NOTE_LENGTH)


def envelope_from_obj(obj: object, *, index_path: str = "") -> SignedEnvelope:
    """Validate a parsed envelope's structure and compute its canonical bytes.

    Checks field presence, types and formats as ``docs/signing.md`` specifies.
    Does NOT verify the signature (see ``verify``) nor look anything up
    (bank, signal type, labels, incident, organisation, key, audience).
    ``index_path`` prefixes every error's ``field``, e.g. ``submissions[3]``
    for one item of a batch. Raises EnvelopeError.
    """
    if not isinstance(obj, dict):
        raise EnvelopeError(
            "invalid_field",
            "an envelope must be a JSON object",
            field=index_path or None,
        )
    unknown = sorted(set(obj) - set(ENVELOPE_FIELDS))
    if unknown:
        raise EnvelopeError(
            "unknown_field", f"unknown field {unknown[0]!r}", field=_join(index_path, unknown[0])
        )
    for name in ENVELOPE_FIELDS:
        if name not in obj:
            raise EnvelopeError(
                "missing_field", f"missing required field {name!r}", field=_join(index_path, name)
            )

    payload_path = _join(index_path, "payload")
    payload = obj["payload"]
    if not isinstance(payload, dict):
        raise EnvelopeError("invalid_field", "must be a JSON object", field=payload_path)
    _PayloadChecker(payload, payload_path).check()

    signature_path = _join(index_path, "signature")
    signature_text = obj["signature"]
    if not isinstance(signature_text, str):
        raise EnvelopeError("invalid_field", "must be a base64 string", field=signature_path)
    try:
        signature = _decode_base64_strict(signature_text)
    except (ValueError, UnicodeEncodeError) as exc:
        raise EnvelopeError(
            "bad_base64", "must be standard base64 with padding", field=signature_path
        ) from exc
    if len(signature) != SIGNATURE_LENGTH:
        raise EnvelopeError(
            "invalid_field",
            f"an Ed25519 signature is {SIGNATURE_LENGTH} bytes, got {len(signature)}",
            field=signature_path,
        )

    # The checks above leave only strings, the integer 1, None and one list of strings:
    # a private copy needs no deep copy, and the canonical form no second walk.
    private = dict(payload)
    private["labels"] = list(payload["labels"])
    return SignedEnvelope(
        payload=private, signature=signature, canonical=_canonical_bytes_checked(private)
    )


def verify(public_key_raw: bytes, envelope: SignedEnvelope) -> bool:
    """Whether ``envelope`` is signed by the key whose raw bytes are given.

    True only if the payload's ``key_id`` is this key's id and the Ed25519
    signature over the canonical bytes verifies. Never raises for a bad
    signature; raises EnvelopeError("invalid_public_key") if the key is not
    32 bytes.
    """
    if key_id_for(public_key_raw) != envelope.key_id:
        return False
    # libsodium (through PyNaCl) verifies about 1.7 times as fast as OpenSSL. It is the
    # stricter of the two: beyond a canonical S (which both require) it refuses small-order
    # public keys, which registration refuses too (ed25519.parse_public_key), and small-order
    # R points, which an honest signer produces with negligible probability.
    try:
        crypto_sign_open(envelope.signature + envelope.canonical, public_key_raw)
    except BadSignatureError:
        return False
    return True


def sign_payload(private_key: Ed25519PrivateKey, payload: dict[str, Any]) -> dict[str, Any]:
    """Sign ``payload`` and return the envelope dict ``{"payload", "signature"}``.

    Signs whatever it is given (it does not validate the payload), so tests
    can produce well-signed but invalid envelopes; members should build the
    payload as ``docs/signing.md`` describes.
    """
    signature = private_key.sign(canonical_bytes(payload))
    return {
        "payload": copy.deepcopy(payload),
        "signature": base64.b64encode(signature).decode("ascii"),
    }
