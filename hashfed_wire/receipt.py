"""Submission receipts: the hub's signed promise to put an accepted submission in its bank's
verifiable log (docs/transparency-log.md, "Receipts").

A receipt is a C2SP signed note, signed with the hub's key under the same name as its
checkpoints (the hub's host), whose text is exactly these lines::

    hashfed receipt v1
    <origin: hub host>/banks/<bank>
    organisation <slug>
    submission <uuid, lowercase, hyphenated>
    payload-digest <SHA-256 of the canonical payload, 64 lowercase hex digits>
    received <unix seconds>
    review-state approved | pending
    max-delay <seconds>

The promise: once the submission is approved (at once when `review-state` is `approved`),
the change-log entry listing its value is covered by a signed checkpoint of the origin's
bank within `max-delay` seconds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hashfed_wire import note

FORMAT_LINE = "hashfed receipt v1"
REVIEW_STATES = ("approved", "pending")
MAX_DELAY_LIMIT = 86_400 * 365

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_SLUG = re.compile(r"[A-Za-z0-9_-]+")
_FIELDS = ("organisation", "submission", "payload-digest", "received", "review-state", "max-delay")


class ReceiptError(ValueError):
    """A receipt's text is not exactly the format above."""


@dataclass(frozen=True)
class Receipt:
    origin: str
    organisation: str
    submission_id: str
    payload_digest: str
    received_at: int
    review_state: str
    max_delay: int

    @property
    def bank(self) -> str:
        """The bank's name: the origin's last path segment."""
        return self.origin.rsplit("/banks/", 1)[-1]

    @property
    def host(self) -> str:
        return self.origin.rsplit("/banks/", 1)[0]


def _decimal(text: str, what: str, maximum: int) -> int:
    if not _DECIMAL.fullmatch(text) or int(text) > maximum:
        raise ReceiptError(f"the {what} is not a decimal number without leading zeroes")
    return int(text)


def _check(receipt: Receipt) -> None:
    host, sep, bank = receipt.origin.partition("/banks/")
    if not sep or not host or not bank or "/" in bank or any(c.isspace() for c in receipt.origin):
        raise ReceiptError("the origin is <hub host>/banks/<bank>")
    if not _SLUG.fullmatch(receipt.organisation):
        raise ReceiptError("the organisation is a slug")
    try:
        canonical = str(uuid.UUID(receipt.submission_id))
    except ValueError:
        raise ReceiptError("the submission id is not a UUID") from None
    if canonical != receipt.submission_id:
        raise ReceiptError("the submission id is a lowercase hyphenated UUID")
    if not _HEX_DIGEST.fullmatch(receipt.payload_digest):
        raise ReceiptError("the payload digest is 64 lowercase hex digits")
    if not 0 <= receipt.received_at <= note.MAX_TIMESTAMP:
        raise ReceiptError("the receive time is between 0 and 2**63 - 1")
    if receipt.review_state not in REVIEW_STATES:
        raise ReceiptError(f"the review state is one of {', '.join(REVIEW_STATES)}")
    if not 0 < receipt.max_delay <= MAX_DELAY_LIMIT:
        raise ReceiptError(f"the maximum delay is between 1 and {MAX_DELAY_LIMIT} seconds")


def receipt_body(receipt: Receipt) -> bytes:
    """The receipt's note text."""
    _check(receipt)
    values = (
        receipt.organisation,
        receipt.submission_id,
        receipt.payload_digest,
        str(receipt.received_at),
        receipt.review_state,
        str(receipt.max_delay),
    )
    lines = [FORMAT_LINE, receipt.origin]
    lines += [f"{name} {value}" for name, value in zip(_FIELDS, values, strict=True)]
    return "".join(line + "\n" for line in lines).encode()


def parse_receipt(body: bytes) -> Receipt:
    """The receipt in a note text, refusing anything but exactly the format above."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ReceiptError("the receipt is not UTF-8") from None
    if not text.endswith("\n"):
        raise ReceiptError("the receipt text ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) != 2 + len(_FIELDS) or lines[0] != FORMAT_LINE:
        raise ReceiptError(f"a receipt is {2 + len(_FIELDS)} lines, the first {FORMAT_LINE!r}")
    values: list[str] = []
    for line, name in zip(lines[2:], _FIELDS, strict=True):
        prefix = name + " "
        if not line.startswith(prefix) or not line[len(prefix) :]:
            raise ReceiptError(f"expected the line {name!r}, got {line[:80]!r}")
        values.append(line[len(prefix) :])
    organisation, submission, digest, received, state, delay = values
    receipt = Receipt(
        origin=lines[1],
        organisation=organisation,
        submission_id=submission,
        payload_digest=digest,
        received_at=_decimal(received, "receive time", note.MAX_TIMESTAMP),
        review_state=state,
        max_delay=_decimal(delay, "maximum delay", MAX_DELAY_LIMIT),
    )
    _check(receipt)
    if receipt_body(receipt) != body:
        raise ReceiptError("the receipt is not in its canonical form")
    return receipt


def sign_receipt(receipt: Receipt, *, name: str, private_key: Ed25519PrivateKey) -> str:
    """The receipt as a signed note, signed by one Ed25519 key (the hub's, named its host)."""
    return note.sign_note(receipt_body(receipt), name=name, private_key=private_key)


def open_receipt(signed: str | bytes, verifiers: Iterable[note.Verifier]) -> Receipt:
    """Check the note's signature against known keys, then parse it. Raises note.NoteError
    (malformed, not signed by a known key, or a bad signature) or ReceiptError."""
    body, _ = note.open_note(signed, verifiers)
    return parse_receipt(body)


def verify_receipt(
    signed: str | bytes,
    verifier: note.Verifier,
    *,
    submission_id: str | None = None,
    organisation: str | None = None,
) -> Receipt:
    """``open_receipt`` with the hub's one verifier, also checking that the receipt is signed
    under the hub's host name, names that host in its origin and, when given, is for this
    submission of this organisation. Raises note.NoteError or ReceiptError."""
    body, names = note.open_note(signed, [verifier])
    receipt = parse_receipt(body)
    if receipt.host != verifier.name or names != [verifier.name]:
        raise ReceiptError(f"the receipt is for {receipt.host}, not {verifier.name}")
    if submission_id is not None and receipt.submission_id != submission_id.lower():
        raise ReceiptError(f"the receipt is for submission {receipt.submission_id}")
    if organisation is not None and receipt.organisation != organisation:
        raise ReceiptError(f"the receipt is for organisation {receipt.organisation}")
    return receipt
