"""Key-transition statements: signed by the old and the new key, strict in form, never
readable as a checkpoint, and followed as one chain from a pinned key."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hashfed_wire import key_transition, note
from hashfed_wire.key_transition import KeyTransitionError

NAME = "hub.example"


def keys(count: int) -> list[Ed25519PrivateKey]:
    return [Ed25519PrivateKey.generate() for _ in range(count)]


def verifier(key: Ed25519PrivateKey, name: str = NAME) -> note.Verifier:
    return note.Verifier(name, key.public_key().public_bytes_raw())


def signed(old: Ed25519PrivateKey, new: Ed25519PrivateKey, time: int = 1_800_000_000) -> str:
    return key_transition.sign_transition(name=NAME, old=old, new=new, time=time)


def test_a_statement_names_both_keys_and_is_signed_by_both():
    old, new = keys(2)
    text = signed(old, new)
    body = note.split_text(text)
    assert body == (
        f"{NAME}/key-transition\nold {verifier(old).vkey}\nnew {verifier(new).vkey}\n"
        "time 1800000000\n"
    )
    transition = key_transition.verify_transition(text)
    assert (transition.old, transition.new, transition.time) == (
        verifier(old),
        verifier(new),
        1_800_000_000,
    )
    # Each key's signature line verifies on its own, as a C2SP verifier reads it.
    for key in (old, new):
        assert note.open_note(text, [verifier(key)]).key_names == [NAME]
    # Never a checkpoint: its second line is not a tree size.
    with pytest.raises(note.CheckpointError):
        note.parse_checkpoint(body.encode())


def test_a_statement_missing_either_signature_is_refused():
    old, new, other = keys(3)
    body = key_transition.transition_body(verifier(old), verifier(new), 1)
    only_old = note.sign_note(body, name=NAME, private_key=old)
    with pytest.raises(KeyTransitionError, match="not signed by its new key"):
        key_transition.verify_transition(only_old)
    by_other = note.add_signature(
        note.sign_note(body, name=NAME, private_key=other), name=NAME, private_key=new
    )
    with pytest.raises(KeyTransitionError, match="not signed by its old key"):
        key_transition.verify_transition(by_other)
    # A signature changed after the fact.
    text = signed(old, new)
    last = text.rstrip("\n").rsplit(" ", 1)
    tampered = last[0] + " " + last[1][:-4] + ("AAA=" if last[1][-4:] != "AAA=" else "BBB=") + "\n"
    with pytest.raises(KeyTransitionError):
        key_transition.verify_transition(tampered)


@pytest.mark.parametrize(
    "change",
    [
        lambda body: body.replace("time 1\n", "time 01\n"),
        lambda body: body.replace("/key-transition", "/banks/TVEC"),
        lambda body: body.replace("\nnew ", "\nnext "),
        lambda body: body + "extra\n",
        lambda body: body.replace(f"{NAME}/key", "other.example/key"),
    ],
)
def test_a_statement_not_in_its_canonical_form_is_refused(change):
    old, new = keys(2)
    body = change(key_transition.transition_body(verifier(old), verifier(new), 1))
    text = note.add_signature(
        note.sign_note(body, name=NAME, private_key=old), name=NAME, private_key=new
    )
    with pytest.raises(KeyTransitionError):
        key_transition.parse_transition(text)


def test_keys_of_two_names_or_one_key_twice_make_no_statement():
    old, new = keys(2)
    with pytest.raises(KeyTransitionError, match="two names"):
        key_transition.transition_body(verifier(old), verifier(new, "other.example"), 1)
    with pytest.raises(KeyTransitionError, match="two different keys"):
        key_transition.transition_body(verifier(old), verifier(old), 1)


def test_the_chain_is_followed_from_the_pinned_key_only():
    a, b, c, d = keys(4)
    statements = [signed(a, b, 1), signed(b, c, 2), signed(c, d, 3)]
    chain = key_transition.follow(verifier(a), statements)
    assert [t.new for t in chain] == [verifier(b), verifier(c), verifier(d)]
    assert [t.new for t in key_transition.follow(verifier(c), statements)] == [verifier(d)]
    assert key_transition.follow(verifier(d), statements) == []
    # A key nothing leads from: nothing to follow.
    assert key_transition.follow(verifier(Ed25519PrivateKey.generate()), statements) == []


def test_a_broken_or_ambiguous_chain_is_refused():
    a, b, c, x = keys(4)
    with pytest.raises(KeyTransitionError, match="2 key transitions leave"):
        key_transition.follow(verifier(a), [signed(a, b), signed(a, x)])
    with pytest.raises(KeyTransitionError, match="come back"):
        key_transition.follow(verifier(a), [signed(a, b, 1), signed(b, a, 2)])
    with pytest.raises(KeyTransitionError, match="dated before"):
        key_transition.follow(verifier(a), [signed(a, b, 5), signed(b, c, 4)])
    # A link of the chain without its new key's signature stops the walk there.
    body = key_transition.transition_body(verifier(b), verifier(c), 2)
    with pytest.raises(KeyTransitionError, match="not signed by its new key"):
        key_transition.follow(
            verifier(a), [signed(a, b, 1), note.sign_note(body, name=NAME, private_key=b)]
        )
    with pytest.raises(KeyTransitionError, match="key transition 1"):
        key_transition.follow(verifier(a), ["not a note\n"])
