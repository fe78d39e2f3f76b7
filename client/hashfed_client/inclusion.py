"""``hashfed inclusion``: check that the hub kept the promise of a submission's receipt
(docs/transparency-log.md, "Receipts"): the receipt and the checkpoint verify with the hub's
key, and the inclusion proof puts the submission's entry in the checkpoint's tree."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hashfed_client import key_pinning
from hashfed_client.commands import (
    EXIT_MISBEHAVIOUR,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_UNVERIFIED,
    hub_client_from,
)
from hashfed_client.errors import HubError, InputError
from hashfed_client.hub import HubClient
from hashfed_wire import hub_signatures, merkle, note
from hashfed_wire import receipt as wire_receipt

# States in which the submission is not (yet) in the log, and the hub is not at fault.
NOT_INCLUDED = ("pending_review", "awaiting_checkpoint", "not_listed", "rejected", "withdrawn")
# Listed in a bank the member contributes to but may not read: the hub gives no proof.
LISTED_UNREADABLE = "listed_unreadable"


class InclusionFailure(Exception):
    """What the hub answered does not verify, or the hub broke its promise."""


class InclusionUnsigned(InclusionFailure):
    """A receipt or checkpoint that the pinned hub key did not sign (or that is not a
    well-formed signed note): nothing the hub can be held to."""


def hub_verifier(client: HubClient, pinned: str | None) -> note.Verifier:
    """The hub's key: the pinned verifier key (``<host>+<key id>+<base64 key>``), else the
    one ``/.well-known/hashfed`` publishes now (with a warning: not pinned)."""
    if pinned:
        try:
            return note.parse_verifier_key(pinned)
        except note.NoteError as exc:
            raise InputError(f"--hub-key: {exc}") from exc
    identity = client.hub_identity()
    try:
        raw = hub_signatures.hub_public_key(identity)
    except hub_signatures.HubSignatureError as exc:
        raise HubError(200, "bad_response", str(exc)) from exc
    host = str(identity.get("origin", "")).split("://", 1)[-1].rstrip("/")
    verifier = note.Verifier(host, raw)
    print(
        f"warning: the hub key was not pinned; using {verifier.vkey} as the hub publishes it "
        "(pass --hub-key or set HASHFED_HUB_KEY)",
        file=sys.stderr,
    )
    return verifier


def _field(document: Mapping[str, Any], name: str, kind: type) -> Any:
    value = document.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InclusionFailure(f"the answer's {name} is not a {kind.__name__}")
    return value


def _hex(text: object, what: str) -> bytes:
    try:
        value = bytes.fromhex(str(text))
    except ValueError:
        raise InclusionFailure(f"the {what} is not hex") from None
    if len(value) != merkle.HASH_SIZE:
        raise InclusionFailure(f"the {what} is not a {merkle.HASH_SIZE}-byte hash")
    return value


def _verify_included(
    answer: Mapping[str, Any], receipt: wire_receipt.Receipt, keys: Sequence[note.Verifier]
) -> None:
    entry = _field(answer, "entry", dict)
    checkpoint = _field(answer, "checkpoint", dict)
    proof = _field(answer, "proof", list)
    opened = note.open_checkpoint(_field(checkpoint, "note", str), keys).checkpoint
    if opened.origin != receipt.origin:
        raise InclusionFailure(f"the checkpoint is of {opened.origin}, not {receipt.origin}")
    leaf = _hex(entry.get("leaf_hash"), "leaf hash")
    content = entry.get("content")
    if content is not None:
        if not isinstance(content, str):
            raise InclusionFailure("the entry's content is not text")
        if hashlib.sha256(b"\x00" + content.encode()).digest() != leaf:
            raise InclusionFailure("the entry's leaf hash is not the hash of its content")
    merkle.verify_inclusion(
        leaf,
        _field(entry, "bank_index", int),
        opened.size,
        [_hex(node, "proof element") for node in proof],
        opened.root_hash,
    )


def _verify_receipt(
    signed: str, keys: Sequence[note.Verifier], submission_id: str
) -> wire_receipt.Receipt:
    """The receipt, signed by one of ``keys`` (the first whose signature is on it)."""
    for key in keys[:-1]:
        if key_pinning.note_signed_by(signed)(key):
            return wire_receipt.verify_receipt(signed, key, submission_id=submission_id)
    return wire_receipt.verify_receipt(signed, keys[-1], submission_id=submission_id)


def check_inclusion(
    answer: Mapping[str, Any],
    key: note.Verifier | Sequence[note.Verifier],
    submission_id: str,
    *,
    stored_receipt: str | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Verify the hub's inclusion answer for one submission; returns its state. ``key``:
    the hub's key, or the pinned key followed by the keys it replaced through verified key
    transitions (what the hub signed before a rotation stays signed by the key of its
    time). Raises InclusionFailure when the receipt, the checkpoint or the proof does not
    verify, the receipt differs from the one stored at submission, or no checkpoint covers
    an approved submission's entry by the promised time."""
    keys = [key] if isinstance(key, note.Verifier) else list(key)
    signed = answer.get("receipt")
    if not isinstance(signed, str):
        raise InclusionFailure("the hub gave no receipt for this submission")
    if stored_receipt is not None and signed != stored_receipt:
        raise InclusionFailure("the receipt differs from the one the hub gave on submission")
    try:
        receipt = _verify_receipt(signed, keys, submission_id)
        if receipt.bank != answer.get("bank"):
            raise InclusionFailure(f"the receipt is for the bank {receipt.bank}")
        state: str = _field(answer, "state", str)
        if state == "included":
            _verify_included(answer, receipt, keys)
        elif state == "awaiting_checkpoint":
            due = dt.datetime.fromisoformat(_field(answer, "promised_by", str))
            if (now or dt.datetime.now(dt.UTC)) > due:
                raise InclusionFailure(f"no checkpoint covers the entry, promised by {due}")
        elif state not in (*NOT_INCLUDED, LISTED_UNREADABLE):
            raise InclusionFailure(f"unknown state {state!r}")
    except (note.NoteError, note.CheckpointError, wire_receipt.ReceiptError) as exc:
        raise InclusionUnsigned(str(exc)) from exc
    except merkle.ProofError as exc:
        raise InclusionFailure(f"the inclusion proof does not verify: {exc}") from exc
    except ValueError as exc:
        raise InclusionFailure(f"malformed answer: {exc}") from exc
    return state


def stored_receipt_of(path: str, submission_id: str) -> str | None:
    """The receipt ``hashfed submit --receipts`` stored for this submission, if any."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    found = None
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path} line {number}: not JSON") from exc
        if isinstance(record, dict) and record.get("id") == submission_id:
            found = record.get("receipt")
    return found if isinstance(found, str) else None


def _follow_hub_key(
    client: HubClient, pinned: note.Verifier, answer: Mapping[str, Any]
) -> list[note.Verifier]:
    """The keys to check the answer with: the pinned key, or, when the hub signs with
    another now, the key the hub's signed key transitions lead to, then the keys on the
    way (``key_pinning``). What shows the key in use is the newest note of the answer: its
    checkpoint, else its receipt. Raises Unverified."""
    checkpoint = answer.get("checkpoint")
    newest = checkpoint.get("note") if isinstance(checkpoint, dict) else None
    if not isinstance(newest, str):
        newest = answer.get("receipt")
    if not isinstance(newest, str):
        return [pinned]
    what = "checkpoint" if newest is not answer.get("receipt") else "receipt"
    chain = key_pinning.follow(client, pinned, key_pinning.note_signed_by(newest), what)
    if not chain:
        return [pinned]
    key_pinning.report(chain)
    return [chain[-1].new, pinned, *(transition.new for transition in chain[:-1])]


def inclusion_command(args: argparse.Namespace) -> int:
    try:
        submission_id = str(uuid.UUID(args.submission_id))
    except ValueError as exc:
        raise InputError(f"not a submission id (a UUID): {args.submission_id!r}") from exc
    stored = stored_receipt_of(args.receipts, submission_id) if args.receipts else None
    if args.receipts and stored is None:
        raise InputError(f"{args.receipts} holds no receipt for {submission_id}")
    client = hub_client_from(args)
    pinned = args.hub_key or os.environ.get("HASHFED_HUB_KEY")
    key = hub_verifier(client, pinned)
    answer = client.submission_inclusion(submission_id)
    keys = [key]
    if pinned:
        keys = _follow_hub_key(client, key, answer)
    try:
        state = check_inclusion(answer, keys, submission_id, stored_receipt=stored)
    except InclusionUnsigned as exc:
        print(f"error: {submission_id}: {exc}", file=sys.stderr)
        return EXIT_UNVERIFIED
    except InclusionFailure as exc:
        # Signed by the hub, and still wrong: the receipt, the checkpoint and the answer
        # printed are the evidence.
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        print(f"error: {submission_id}: {exc}", file=sys.stderr)
        return EXIT_MISBEHAVIOUR
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    if state == "included":
        size = answer["checkpoint"]["size"]
        print(f"{submission_id}: included, verified against the checkpoint of size {size}")
        return EXIT_OK
    if state == LISTED_UNREADABLE:
        print(
            f"{submission_id}: listed (receipt verified); this organisation may not read the "
            "bank's log, so the hub gives no inclusion proof",
            file=sys.stderr,
        )
        return EXIT_OK
    print(f"{submission_id}: {state} (receipt verified)", file=sys.stderr)
    return EXIT_REJECTED


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    add_hub_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    inclusion = commands.add_parser(
        "inclusion", help="verify that a submission is in its bank's signed log"
    )
    inclusion.add_argument("submission_id", metavar="SUBMISSION_ID")
    inclusion.add_argument(
        "--hub-key",
        metavar="VKEY",
        help="the hub's verifier key, <host>+<key id>+<base64 key> (default: "
        "$HASHFED_HUB_KEY, else the key the hub publishes, with a warning)",
    )
    inclusion.add_argument(
        "--receipts", metavar="FILE", help="the receipts file of hashfed submit --receipts"
    )
    add_hub_options(inclusion)
    inclusion.set_defaults(handler=inclusion_command)
