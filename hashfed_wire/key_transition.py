"""The hub's key-transition statements: how a member that pinned one hub key comes to trust
the next one without asking anyone out of band.

When the hub begins a key rotation it signs, as a C2SP signed note (``note.py``), the text

    <key name>/key-transition
    old <verifier key of the old key>
    new <verifier key of the new key>
    time <unix seconds>

with the old key (the key members trust says which key comes next) and then with the new
key (the new key's holder made the statement: proof of possession). ``<key name>`` is the
name both keys sign the hub's notes under (the hub's host), and both verifier keys carry
it. A statement is accepted only with both signatures valid.

A member that pinned key K follows the statements published at ``/.well-known/hashfed``
(``key_transitions``): the one whose old key is K, then the one whose old key is that
statement's new key, and so on (``follow``). Anything unclear stops the walk with a
``KeyTransitionError``: a statement from K that does not verify, two statements from one key,
a walk that comes back to a key it left.

The first line cannot open a checkpoint (``<host>/banks/<bank>``, then a decimal size) nor a
receipt, so the hub's signature on one can never be taken for the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hashfed_wire import note

ORIGIN_SUFFIX = "/key-transition"


class KeyTransitionError(ValueError):
    """A statement is malformed or not signed by both its keys, or the statements do not
    make one chain from the pinned key."""


@dataclass(frozen=True)
class KeyTransition:
    """One statement: ``old`` hands over to ``new`` at ``time`` (unix seconds)."""

    old: note.Verifier
    new: note.Verifier
    time: int
    signed: str
    """The signed note as published."""


def transition_body(old: note.Verifier, new: note.Verifier, time: int) -> str:
    """The statement's note text. Raises KeyTransitionError for keys of two names, keys
    that are not Ed25519 note keys, the same key twice or a time out of range."""
    if old.signature_type != note.ED25519 or new.signature_type != note.ED25519:
        raise KeyTransitionError("a key transition is between two Ed25519 note keys (0x01)")
    if old.name != new.name:
        raise KeyTransitionError(f"the keys are of two names: {old.name} and {new.name}")
    if old.public_key == new.public_key:
        raise KeyTransitionError("a key transition is between two different keys")
    if not 0 <= time <= note.MAX_TIMESTAMP:
        raise KeyTransitionError("the time is between 0 and 2**63 - 1")
    return f"{old.name}{ORIGIN_SUFFIX}\nold {old.vkey}\nnew {new.vkey}\ntime {time}\n"


def sign_transition(*, name: str, old: Ed25519PrivateKey, new: Ed25519PrivateKey, time: int) -> str:
    """The statement signed by the old key, then by the new key."""
    body = transition_body(
        note.Verifier(name, old.public_key().public_bytes_raw()),
        note.Verifier(name, new.public_key().public_bytes_raw()),
        time,
    )
    signed = note.sign_note(body, name=name, private_key=old)
    return note.add_signature(signed, name=name, private_key=new)


def _parse_body(body: str) -> tuple[note.Verifier, note.Verifier, int]:
    lines = body[:-1].split("\n") if body.endswith("\n") else []
    if len(lines) != 4 or not lines[0].endswith(ORIGIN_SUFFIX):
        raise KeyTransitionError(
            "a key transition is four lines: <name>/key-transition, old, new, time"
        )
    values = []
    for line, prefix in zip(lines[1:], ("old ", "new ", "time "), strict=True):
        if not line.startswith(prefix):
            raise KeyTransitionError(f"expected the line {prefix.strip()!r}, got {line[:80]!r}")
        values.append(line[len(prefix) :])
    try:
        old, new = note.parse_verifier_key(values[0]), note.parse_verifier_key(values[1])
    except note.NoteError as error:
        raise KeyTransitionError(f"a key of the transition: {error}") from None
    if not values[2].isascii() or not values[2].isdigit() or str(int(values[2])) != values[2]:
        raise KeyTransitionError("the time is a decimal number without leading zeroes")
    time = int(values[2])
    if transition_body(old, new, time) != body:
        raise KeyTransitionError("the key transition is not in its canonical form")
    return old, new, time


def parse_transition(signed: str | bytes) -> KeyTransition:
    """The statement's content, its signatures not checked. Raises KeyTransitionError."""
    try:
        text = signed.decode("utf-8") if isinstance(signed, bytes) else signed
        body = note.split_text(text)
    except (UnicodeDecodeError, note.NoteError) as error:
        raise KeyTransitionError(f"not a signed note: {error}") from None
    old, new, time = _parse_body(body)
    return KeyTransition(old, new, time, text)


def verify_transition(signed: str | bytes) -> KeyTransition:
    """The statement, once the old key's and the new key's signatures both verify. Raises
    KeyTransitionError naming the key whose signature is missing or wrong."""
    transition = parse_transition(signed)
    for role, key in (("old", transition.old), ("new", transition.new)):
        try:
            note.open_note(transition.signed, [key])
        except note.NoteError as error:
            raise KeyTransitionError(
                f"the key transition from {transition.old.vkey} to {transition.new.vkey} is "
                f"not signed by its {role} key {key.vkey}: {error}"
            ) from None
    return transition


def follow(pinned: note.Verifier, statements: Iterable[str | bytes]) -> list[KeyTransition]:
    """The chain of verified statements from ``pinned``: the statement whose old key is
    ``pinned``, then the one whose old key is its new key, and so on until none follows
    (empty when none leaves ``pinned``). Statements that leave no key of the chain are
    not looked at beyond their parsing. Raises KeyTransitionError for a malformed
    statement, one on the chain that does not verify, two leaving one key, or a loop."""
    by_old: dict[note.Verifier, list[str | bytes]] = {}
    for number, statement in enumerate(statements, start=1):
        try:
            parsed = parse_transition(statement)
        except KeyTransitionError as error:
            raise KeyTransitionError(f"key transition {number}: {error}") from None
        by_old.setdefault(parsed.old, []).append(statement)
    chain: list[KeyTransition] = []
    seen = {pinned}
    key = pinned
    while True:
        leaving = by_old.get(key, [])
        if not leaving:
            return chain
        if len(leaving) > 1:
            raise KeyTransitionError(f"{len(leaving)} key transitions leave the key {key.vkey}")
        transition = verify_transition(leaving[0])
        if transition.new in seen:
            raise KeyTransitionError(
                f"the key transitions from {pinned.vkey} come back to {transition.new.vkey}"
            )
        if chain and transition.time < chain[-1].time:
            raise KeyTransitionError(
                f"the key transition to {transition.new.vkey} is dated before the one to {key.vkey}"
            )
        chain.append(transition)
        seen.add(transition.new)
        key = transition.new
