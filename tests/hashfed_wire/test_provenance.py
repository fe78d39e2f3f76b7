"""Envelope digests and salted commitments, byte for byte as docs/log-formats.md defines
them ("Commitments")."""

from __future__ import annotations

import hashlib

import pytest

from hashfed_wire import provenance

PAYLOAD = b'{"bank":"TVEC","value":"ab"}'
SIGNATURE = bytes(range(64))
KEY_ID = "0f" * 32
SALT = "11" * 32


def test_the_envelope_digest_is_the_documented_hash():
    expected = hashlib.sha256(
        b"hashfed-envelope:v1\x00"
        + len(PAYLOAD).to_bytes(8, "big")
        + PAYLOAD
        + SIGNATURE
        + bytes.fromhex(KEY_ID)
    ).hexdigest()
    assert provenance.envelope_digest(PAYLOAD, SIGNATURE, KEY_ID) == expected
    # Every part counts.
    assert provenance.envelope_digest(PAYLOAD + b" ", SIGNATURE, KEY_ID) != expected
    assert provenance.envelope_digest(PAYLOAD, bytes(64), KEY_ID) != expected
    assert provenance.envelope_digest(PAYLOAD, SIGNATURE, "0e" * 32) != expected


@pytest.mark.parametrize(
    ("signature", "key_id"), [(bytes(63), KEY_ID), (SIGNATURE, "0F" * 32), (SIGNATURE, "0f")]
)
def test_a_malformed_signature_or_key_id_is_refused(signature, key_id):
    with pytest.raises(provenance.ProvenanceError):
        provenance.envelope_digest(PAYLOAD, signature, key_id)


def test_the_commitment_is_the_documented_hash_and_opens_to_its_text_only():
    text = "crisis-2026 é"
    expected = hashlib.sha256(
        b"hashfed-commitment:v1\x00incident\x00" + bytes.fromhex(SALT) + text.encode()
    ).hexdigest()
    assert provenance.commitment("incident", SALT, text) == expected
    assert provenance.open_commitment("incident", expected, {"incident": text, "salt": SALT}) == (
        text
    )
    # Moving bytes between salt and text, another text, another field: none opens it.
    for disclosure in (
        {"incident": text[1:], "salt": SALT},
        {"incident": "other", "salt": SALT},
        {"incident": text, "salt": "22" * 32},
    ):
        with pytest.raises(provenance.ProvenanceError, match="does not match"):
            provenance.open_commitment("incident", expected, disclosure)
    assert provenance.commitment("note", SALT, text) != expected


@pytest.mark.parametrize(
    "disclosure",
    [None, {"incident": "x"}, {"incident": 1, "salt": SALT}, {"incident": "x", "salt": "ab"}],
)
def test_a_malformed_disclosure_is_refused(disclosure):
    commitment = provenance.commitment("incident", SALT, "x")
    with pytest.raises(provenance.ProvenanceError):
        provenance.open_commitment("incident", commitment, disclosure)


def test_salts_are_fresh_and_32_bytes():
    salts = {provenance.new_salt() for _ in range(10)}
    assert len(salts) == 10
    assert all(provenance.is_digest(s) for s in salts)
