"""Following the hub's key rotations from a pinned key (``docs/transparency-log.md``, "Key
transitions").

A member pins the hub's checkpoint key once. When the hub rotates its key, the old key signs
a statement naming the new one, which the new key signs too, and ``/.well-known/hashfed``
publishes every statement (``key_transitions``). When what the hub signs now (a sync page, a
receipt) is not signed by the pinned key, the client walks the statements from the pinned
key (``hashfed_wire.key_transition.follow``) to the first key that did sign it, and pins
that key instead. The keys left behind stay trusted for what they signed before (older
checkpoints and receipts); nothing else moves a pin.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from hashfed_client.errors import HubError
from hashfed_client.hub import HubClient
from hashfed_client.verify import Unverified
from hashfed_wire import hub_signatures, key_transition, note

SIGNING_STATUSES = ("current", "next")


def published_signing_keys(identity: Mapping[str, Any]) -> list[str]:
    """The verifier keys ``/.well-known/hashfed`` says sign now: the current key and, during
    a rotation, the next one."""
    keys = identity.get("keys")
    found = [
        str(key.get("note_verifier_key"))
        for key in (keys if isinstance(keys, list) else [])
        if isinstance(key, dict) and key.get("status") in SIGNING_STATUSES
    ]
    top = identity.get("note_verifier_key")
    if not isinstance(top, str):
        # A hub that publishes only its public key: its notes are signed under its host.
        try:
            raw = hub_signatures.hub_public_key(identity)
        except hub_signatures.HubSignatureError:
            return found
        host = str(identity.get("origin", "")).split("://", 1)[-1].rstrip("/")
        try:
            top = note.verifier_key(host, raw)
        except note.NoteError:
            return found
    if top not in found:
        found.append(top)
    return found


def published_transitions(identity: Mapping[str, Any]) -> list[str]:
    """The signed statements of ``key_transitions``, oldest first. Raises HubError for a
    list that is not one of objects with a ``note``."""
    items = identity.get("key_transitions", [])
    if not isinstance(items, list):
        raise HubError(200, "bad_response", "the hub's key_transitions is not a list")
    notes = []
    for item in items:
        text = item.get("note") if isinstance(item, dict) else None
        if not isinstance(text, str):
            raise HubError(200, "bad_response", "a key transition without its signed note")
        notes.append(text)
    return notes


def follow(
    client: HubClient,
    pinned: note.Verifier,
    signs: Callable[[note.Verifier], bool],
    what: str,
) -> list[key_transition.KeyTransition]:
    """The verified statements from ``pinned`` to the first key that ``signs`` what the hub
    signs now (``what`` names it in messages); empty when the hub still names the pinned
    key as a signing key. Raises Unverified naming what failed: a statement that does not
    verify (not signed by the pinned key, or by its new key), a broken chain, or a chain
    whose keys never sign."""
    identity = client.hub_identity()
    if pinned.vkey in published_signing_keys(identity) or signs(pinned):
        return []
    try:
        chain = key_transition.follow(pinned, published_transitions(identity))
    except key_transition.KeyTransitionError as error:
        raise Unverified(
            f"the hub no longer signs with the pinned key {pinned.vkey}, and its key "
            f"transitions do not verify: {error}"
        ) from None
    for end, transition in enumerate(chain, start=1):
        if signs(transition.new):
            return chain[:end]
    if not chain:
        raise Unverified(
            f"the {what} is not signed by the pinned hub key {pinned.vkey}, and the hub "
            f"publishes no key transition from it: if the hub changed its key, check the "
            f"new one out of band"
        )
    raise Unverified(
        f"the key transitions from the pinned hub key {pinned.vkey} lead to "
        f"{chain[-1].new.vkey}, and no key on the way signed the {what}"
    )


def report(chain: list[key_transition.KeyTransition]) -> None:
    """Tell the user the pin moved, and along which statements."""
    steps = " -> ".join([chain[0].old.vkey, *(t.new.vkey for t in chain)])
    print(
        f"the hub rotated its key: followed {len(chain)} signed key transition(s) "
        f"{steps}; now pinned to {chain[-1].new.vkey}",
        file=sys.stderr,
    )


def page_signed_by(
    fetch: Callable[[], tuple[bytes, str | None, str | None]],
) -> Callable[[note.Verifier], bool]:
    """Whether a key's signature verifies over a sync page: in ``X-Hashfed-Signatures``,
    or, from a hub that sends only ``X-Hashfed-Signature``, that one. ``fetch`` returns the
    page's bytes and the two headers; it is called once, when first needed."""
    fetched: list[tuple[bytes, str | None, str | None]] = []

    def signs(key: note.Verifier) -> bool:
        if not fetched:
            fetched.append(fetch())
        raw, signatures, signature = fetched[0]
        try:
            if signatures is None:
                hub_signatures.verify_page(key.public_key, raw, signature)
            else:
                hub_signatures.verify_page_by_any([key.public_key], raw, signatures)
        except hub_signatures.HubSignatureError:
            return False
        return True

    return signs


def note_signed_by(text: str) -> Callable[[note.Verifier], bool]:
    """Whether a key's signature on the signed note verifies."""

    def signs(key: note.Verifier) -> bool:
        try:
            note.open_note(text, [key])
        except note.NoteError:
            return False
        return True

    return signs
