import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_core_ed25519_is_valid_point

from hashfed_wire.envelope import (
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    EnvelopeError,
    SignedEnvelope,
    canonical_bytes,
    envelope_from_obj,
    key_id_for,
    load_public_key,
    parse_json_strict,
    sign_payload,
    verify,
)

VECTORS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "signing"
# RFC 8032 section 7.1, tests 1 and 2: the same keys the published vectors use.
ALICE_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
ALICE_PUBLIC_HEX = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
BOB_SEED = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")

FIELD_PRIME = 2**255 - 19
ORDER_8_Y = 2707385501144840649318225287225658788936804267575313519463743609750303402022
REMOVE = object()


def raw_public(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


@pytest.fixture
def alice_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(ALICE_SEED)


@pytest.fixture
def bob_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(BOB_SEED)


def make_payload(**changes: Any) -> dict[str, Any]:
    """A valid payload from Alice's key; REMOVE as a value drops that field."""
    alice_public = Ed25519PrivateKey.from_private_bytes(ALICE_SEED).public_key()
    payload: dict[str, Any] = {
        "version": 1,
        "audience": "hub.example.org",
        "id": "0b1e7a52-3c4d-4e8f-9a6b-1c2d3e4f5a6b",
        "created_at": "2026-11-25T12:00:00Z",
        "organisation": "example-platform",
        "key_id": hashlib.sha256(
            alice_public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        ).hexdigest(),
        "bank": "TVEC",
        "signal_type": "pdq",
        "value": "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
        "labels": ["glorification-of-terrorist-acts"],
    }
    for name, value in changes.items():
        if value is REMOVE:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def make_envelope(**changes: Any) -> dict[str, Any]:
    return sign_payload(Ed25519PrivateKey.from_private_bytes(ALICE_SEED), make_payload(**changes))


def rejection(obj: object, **kwargs: Any) -> EnvelopeError:
    with pytest.raises(EnvelopeError) as caught:
        envelope_from_obj(obj, **kwargs)
    return caught.value


def load_vectors() -> list[dict[str, Any]]:
    return json.loads((VECTORS_DIR / "vectors.json").read_text(encoding="utf-8"))["vectors"]


def test_envelope_error_carries_code_field_and_message():
    error = EnvelopeError("missing_field", "missing required field 'id'", field="payload.id")

    assert (error.code, error.field, error.message) == (
        "missing_field",
        "payload.id",
        "missing required field 'id'",
    )
    assert str(error) == "payload.id: missing required field 'id'"


def test_envelope_error_has_a_default_message():
    assert EnvelopeError("malformed_json").message == "malformed json"


def test_it_parses_json_from_bytes_and_text():
    document = '{"a": [1, 2.5, "é", null, true], "b": {}}'

    assert parse_json_strict(document) == parse_json_strict(document.encode("utf-8"))
    assert parse_json_strict(document) == {"a": [1, 2.5, "é", None, True], "b": {}}


def test_it_rejects_duplicate_keys_at_the_top_level():
    with pytest.raises(EnvelopeError) as caught:
        parse_json_strict('{"payload": {}, "payload": {}}')

    assert (caught.value.code, caught.value.field) == ("duplicate_key", "payload")


def test_it_rejects_duplicate_keys_at_any_depth():
    document = '{"payload": {"labels": [{"a": 1}, {"b": {"c": 1, "c": 1}}]}}'

    with pytest.raises(EnvelopeError) as caught:
        parse_json_strict(document)

    assert (caught.value.code, caught.value.field) == ("duplicate_key", "payload.labels[1].b.c")


def test_it_rejects_a_duplicate_even_when_both_values_are_equal():
    with pytest.raises(EnvelopeError) as caught:
        parse_json_strict(b'{"payload": {"id": "x", "id": "x"}, "signature": ""}')

    assert caught.value.field == "payload.id"


def test_it_reports_the_first_duplicate_in_document_order():
    with pytest.raises(EnvelopeError) as caught:
        parse_json_strict('{"a": {"x": 1, "x": 2}, "b": {"y": 1, "y": 2}}')

    assert caught.value.field == "a.x"


def test_it_rejects_a_duplicate_inside_a_top_level_array():
    with pytest.raises(EnvelopeError) as caught:
        parse_json_strict('[{"ok": 1}, {"k": 1, "k": 2}]')

    assert caught.value.field == "[1].k"


@pytest.mark.parametrize("document", ["NaN", "[Infinity]", '{"a": -Infinity}'])
def test_it_rejects_nan_and_infinity(document):
    with pytest.raises(EnvelopeError) as caught:
        parse_json_strict(document)

    assert caught.value.code == "malformed_json"


def test_it_rejects_numbers_that_overflow_a_double():
    with pytest.raises(EnvelopeError) as caught:
        parse_json_strict('{"n": 1e400}')

    assert caught.value.code == "malformed_json"


def test_it_rejects_bytes_that_are_not_utf8():
    with pytest.raises(EnvelopeError) as caught:
        parse_json_strict(b'{"note": "caf\xe9"}')

    assert caught.value.code == "malformed_json"


@pytest.mark.parametrize(
    "document",
    ["", "{", "[1,]", "{'a': 1}", '{"a": 1} trailing', '{"a" 1}', "\ufeff{}", "1" * 5000],
)
def test_it_rejects_malformed_json(document):
    with pytest.raises(EnvelopeError) as caught:
        parse_json_strict(document)

    assert (caught.value.code, caught.value.field) == ("malformed_json", None)


def test_it_rejects_absurdly_deep_nesting():
    with pytest.raises(EnvelopeError) as caught:
        parse_json_strict("[" * 100_000 + "]" * 100_000)

    assert caught.value.code == "malformed_json"


def test_it_accepts_a_minimal_envelope_and_exposes_typed_fields():
    envelope = envelope_from_obj(make_envelope())

    assert envelope.version == 1
    assert envelope.audience == "hub.example.org"
    assert envelope.id == uuid.UUID("0b1e7a52-3c4d-4e8f-9a6b-1c2d3e4f5a6b")
    assert envelope.created_at == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert envelope.organisation == "example-platform"
    assert envelope.key_id == hashlib.sha256(bytes.fromhex(ALICE_PUBLIC_HEX)).hexdigest()
    assert envelope.bank == "TVEC"
    assert envelope.signal_type == "pdq"
    assert envelope.value.startswith("f8f8")
    assert envelope.labels == ("glorification-of-terrorist-acts",)
    assert envelope.incident is None
    assert envelope.note is None
    assert len(envelope.signature) == 64


def test_it_accepts_every_optional_field():
    envelope = envelope_from_obj(
        make_envelope(
            incident="example-crisis-2026-11",
            note="Vidéo « revendication » 🚩",
            labels=["imminent-credible-threat", "graphic-violence"],
        )
    )

    assert envelope.incident == "example-crisis-2026-11"
    assert envelope.note == "Vidéo « revendication » 🚩"
    assert envelope.labels == ("imminent-credible-threat", "graphic-violence")


def test_it_accepts_null_for_the_optional_fields():
    envelope = envelope_from_obj(make_envelope(incident=None, note=None))

    assert (envelope.incident, envelope.note) == (None, None)
    assert b'"incident":null' in envelope.canonical


def test_it_accepts_fractional_seconds_down_to_nanoseconds():
    envelope = envelope_from_obj(make_envelope(created_at="2026-11-25T12:00:00.123456789Z"))

    assert envelope.created_at == datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
    assert envelope.payload["created_at"] == "2026-11-25T12:00:00.123456789Z"


def test_it_accepts_a_note_of_exactly_500_characters_counted_as_code_points():
    envelope = envelope_from_obj(make_envelope(note="🚩" * 500))

    assert envelope.note == "🚩" * 500


@pytest.mark.parametrize("obj", [[], "envelope", None, 42])
def test_it_rejects_an_envelope_that_is_not_an_object(obj):
    error = rejection(obj)

    assert (error.code, error.field) == ("invalid_field", None)


def test_it_rejects_unknown_top_level_fields():
    envelope = make_envelope()
    envelope["algorithm"] = "ed25519"

    error = rejection(envelope)

    assert (error.code, error.field) == ("unknown_field", "algorithm")


@pytest.mark.parametrize("name", ["payload", "signature"])
def test_it_rejects_an_envelope_missing_payload_or_signature(name):
    envelope = make_envelope()
    del envelope[name]

    error = rejection(envelope)

    assert (error.code, error.field) == ("missing_field", name)


@pytest.mark.parametrize("payload", [[], "{}", None])
def test_it_rejects_a_payload_that_is_not_an_object(payload):
    error = rejection({"payload": payload, "signature": make_envelope()["signature"]})

    assert (error.code, error.field) == ("invalid_field", "payload")


@pytest.mark.parametrize("name", REQUIRED_FIELDS)
def test_it_rejects_each_missing_required_field(name):
    error = rejection(make_envelope(**{name: REMOVE}))

    assert (error.code, error.field) == ("missing_field", f"payload.{name}")


@pytest.mark.parametrize("name", OPTIONAL_FIELDS)
def test_it_accepts_each_optional_field_being_absent(name):
    envelope = envelope_from_obj(make_envelope(**{name: REMOVE}))

    assert name not in envelope.payload


def test_it_rejects_unknown_payload_fields_by_name():
    error = rejection(make_envelope(confidence=0.9))

    assert (error.code, error.field) == ("unknown_field", "payload.confidence")
    assert "confidence" in error.message


UPPER_UUID = "0B1E7A52-3C4D-4E8F-9A6B-1C2D3E4F5A6B"
INVALID_VALUES = [
    ("version", True, "invalid_field"),
    ("version", 1.0, "invalid_field"),
    ("version", "1", "invalid_field"),
    ("version", 2, "unsupported_version"),
    ("version", 0, "unsupported_version"),
    ("audience", "", "invalid_field"),
    ("audience", "Hub.Example.org", "invalid_field"),
    ("audience", "https://hub.example.org", "invalid_field"),
    ("audience", "hub.example.org/", "invalid_field"),
    ("audience", "hub example", "invalid_field"),
    ("audience", ["hub.example.org"], "invalid_field"),
    ("id", "not-a-uuid", "invalid_field"),
    ("id", UPPER_UUID, "invalid_field"),
    ("id", "0b1e7a523c4d4e8f9a6b1c2d3e4f5a6b", "invalid_field"),
    ("id", "{0b1e7a52-3c4d-4e8f-9a6b-1c2d3e4f5a6b}", "invalid_field"),
    ("id", "urn:uuid:0b1e7a52-3c4d-4e8f-9a6b-1c2d3e4f5a6b", "invalid_field"),
    ("id", 42, "invalid_field"),
    ("created_at", "2026-11-25T12:00:00+00:00", "invalid_field"),
    ("created_at", "2026-11-25T13:00:00+01:00", "invalid_field"),
    ("created_at", "2026-11-25 12:00:00Z", "invalid_field"),
    ("created_at", "2026-11-25t12:00:00z", "invalid_field"),
    ("created_at", "2026-11-25T12:00:00", "invalid_field"),
    ("created_at", "2026-11-25T12:00Z", "invalid_field"),
    ("created_at", "2026-11-25T12:00:00.Z", "invalid_field"),
    ("created_at", "2026-11-25T12:00:00.1234567890Z", "invalid_field"),
    ("created_at", "2026-02-30T12:00:00Z", "invalid_field"),
    ("created_at", "2026-11-25T24:00:00Z", "invalid_field"),
    ("created_at", "2026-11-25T12:00:60Z", "invalid_field"),
    ("created_at", "2026-11-25", "invalid_field"),
    ("created_at", 1764072000, "invalid_field"),
    ("organisation", "Example Platform", "invalid_field"),
    ("organisation", "", "invalid_field"),
    ("organisation", "a" * 101, "invalid_field"),
    ("organisation", None, "invalid_field"),
    ("key_id", "A" * 64, "invalid_field"),
    ("key_id", "a" * 63, "invalid_field"),
    ("key_id", "g" * 64, "invalid_field"),
    ("key_id", None, "invalid_field"),
    ("bank", "", "invalid_field"),
    ("bank", " TVEC", "invalid_field"),
    ("bank", "TV\nEC", "invalid_field"),
    ("bank", "x" * 101, "invalid_field"),
    ("bank", 5, "invalid_field"),
    ("signal_type", "PDQ", "invalid_field"),
    ("signal_type", "", "invalid_field"),
    ("signal_type", "pd q", "invalid_field"),
    ("signal_type", None, "invalid_field"),
    ("value", "", "invalid_field"),
    ("value", 123, "invalid_field"),
    ("value", "x" * 65_537, "invalid_field"),
    ("value", "ab\ud800", "invalid_field"),
    ("labels", [], "invalid_field"),
    ("labels", "graphic-violence", "invalid_field"),
    ("labels", {"graphic-violence": True}, "invalid_field"),
    ("labels", [f"label-{n}" for n in range(33)], "invalid_field"),
    ("incident", "crisis incident", "invalid_field"),
    ("incident", 5, "invalid_field"),
    ("incident", "", "invalid_field"),
    ("note", 5, "invalid_field"),
    ("note", "x" * 501, "invalid_field"),
    ("note", ["a note"], "invalid_field"),
    ("note", "lone \udc00 surrogate", "invalid_field"),
]


@pytest.mark.parametrize(("name", "value", "code"), INVALID_VALUES)
def test_it_rejects_invalid_field_values(name, value, code):
    payload = make_payload(**{name: value})
    envelope = {"payload": payload, "signature": make_envelope()["signature"]}

    error = rejection(envelope)

    assert (error.code, error.field) == (code, f"payload.{name}")


@pytest.mark.parametrize(
    ("labels", "path"),
    [
        (["graphic-violence", "graphic-violence"], "payload.labels[1]"),
        (["graphic-violence", 7], "payload.labels[1]"),
        (["bad label"], "payload.labels[0]"),
        ([None], "payload.labels[0]"),
    ],
)
def test_it_names_the_offending_label(labels, path):
    envelope = {"payload": make_payload(labels=labels), "signature": make_envelope()["signature"]}

    error = rejection(envelope)

    assert (error.code, error.field) == ("invalid_field", path)


def test_it_prefixes_error_paths_with_the_index_path():
    error = rejection(make_envelope(bank=""), index_path="submissions[3]")

    assert error.field == "submissions[3].payload.bank"


def test_it_uses_the_index_path_for_an_item_that_is_not_an_object():
    error = rejection("nope", index_path="submissions[0]")

    assert error.field == "submissions[0]"


@pytest.mark.parametrize("signature", [None, 42, ["abc"], {"sig": "abc"}])
def test_it_rejects_a_signature_that_is_not_a_string(signature):
    error = rejection({"payload": make_payload(), "signature": signature})

    assert (error.code, error.field) == ("invalid_field", "signature")


def standard_signature() -> str:
    return make_envelope()["signature"]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s.rstrip("="),
        lambda s: "-_" + s[2:],
        lambda s: s[:40] + "\n" + s[40:],
        lambda s: " " + s,
        lambda s: s[:-3] + "B==",
        lambda s: "é" + s[1:],
        lambda s: "not base64 at all!",
    ],
    ids=["no-padding", "url-safe", "newline", "space", "unused-bits-set", "non-ascii", "garbage"],
)
def test_it_rejects_a_signature_that_is_not_canonical_standard_base64(mangle):
    signature = standard_signature()
    # 64 bytes leave 4 unused bits in the last character: canonical only as A, Q, g or w.
    assert signature[-3] in "AQgw"

    error = rejection({"payload": make_payload(), "signature": mangle(signature)})

    assert (error.code, error.field) == ("bad_base64", "signature")


@pytest.mark.parametrize("length", [0, 32, 63, 65])
def test_it_rejects_a_signature_of_the_wrong_length(length):
    error = rejection(
        {"payload": make_payload(), "signature": base64.b64encode(b"\x01" * length).decode()}
    )

    assert (error.code, error.field) == ("invalid_field", "signature")


def test_it_copies_the_payload_so_later_changes_do_not_alter_the_envelope():
    obj = make_envelope()
    envelope = envelope_from_obj(obj)

    obj["payload"]["labels"].append("graphic-violence")
    obj["payload"]["bank"] = "CSAM"

    assert envelope.labels == ("glorification-of-terrorist-acts",)
    assert envelope.bank == "TVEC"


def test_envelopes_are_equal_and_hashable_by_canonical_bytes_and_signature():
    first = envelope_from_obj(make_envelope())
    again = envelope_from_obj(json.loads(json.dumps(make_envelope())))

    assert first == again
    assert len({first, again}) == 1
    assert first != envelope_from_obj(make_envelope(note="different"))


def test_to_obj_gives_back_the_envelope_as_sent():
    obj = make_envelope(note="a note")

    assert envelope_from_obj(obj).to_obj() == obj


def test_canonical_bytes_sort_keys_and_keep_non_ascii_as_utf8():
    payload = {"b": "Vidéo 🚩", "a": 1, "c": {"z": None, "y": [True, False]}}

    assert canonical_bytes(payload) == (
        '{"a":1,"b":"Vidéo 🚩","c":{"y":[true,false],"z":null}}'.encode()
    )


@pytest.mark.parametrize(
    "note",
    [
        "".join(chr(code) for code in range(0x80)),  # every control and ASCII escape
        "\u2028\u2029 line separators, \u00e9\u0301 combining, \U0001f6a9 astral",
        '\\u0041 is six characters, "quoted", \\ and / stay as they are',
        "\ufeff\ufffe\uffff\U0010ffff edges of the code space",
    ],
)
def test_the_canonical_bytes_of_an_envelope_are_rfc_8785(note):
    envelope = envelope_from_obj(make_envelope(note=note, incident="flood-2026"))

    assert envelope.canonical == rfc8785.dumps(envelope.payload)


@pytest.mark.parametrize("value", [2**60, float("nan"), "lone \ud800"])
def test_canonical_bytes_refuse_values_jcs_cannot_represent(value):
    with pytest.raises(EnvelopeError) as caught:
        canonical_bytes({"x": value})

    assert (caught.value.code, caught.value.field) == ("invalid_field", "payload")


def test_a_signed_envelope_round_trips_through_the_wire_and_verifies(alice_key):
    wire = json.dumps(sign_payload(alice_key, make_payload(note="Vidéo 🚩")))

    envelope = envelope_from_obj(parse_json_strict(wire.encode("utf-8")))

    assert verify(raw_public(alice_key), envelope) is True


def test_the_signature_does_not_depend_on_how_the_envelope_is_serialised(alice_key):
    obj = sign_payload(alice_key, make_payload(note="Vidéo 🚩"))
    reordered = {
        "signature": obj["signature"],
        "payload": dict(reversed(list(obj["payload"].items()))),
    }
    wire = json.dumps(reordered, indent=4, ensure_ascii=True)

    envelope = envelope_from_obj(parse_json_strict(wire))

    assert verify(raw_public(alice_key), envelope) is True


def test_sign_payload_signs_the_canonical_bytes(alice_key):
    payload = make_payload()

    envelope = sign_payload(alice_key, payload)

    alice_key.public_key().verify(base64.b64decode(envelope["signature"]), canonical_bytes(payload))
    assert envelope["payload"] == payload
    assert envelope["payload"] is not payload


def test_signing_is_deterministic(alice_key):
    assert sign_payload(alice_key, make_payload()) == sign_payload(alice_key, make_payload())


TAMPERINGS = [
    ("audience", "other-hub.example.org"),
    ("id", "0b1e7a52-3c4d-4e8f-9a6b-1c2d3e4f5a6c"),
    ("created_at", "2026-11-25T12:00:01Z"),
    ("organisation", "another-platform"),
    ("bank", "CSAM"),
    ("signal_type", "md5"),
    ("value", "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b23"),
    ("labels", ["glorification-of-terrorist-acts", "graphic-violence"]),
    ("incident", "example-crisis-2026-11"),
    ("note", "added later"),
]


@pytest.mark.parametrize(("name", "value"), TAMPERINGS)
def test_it_detects_tampering_with_any_field(alice_key, name, value):
    obj = sign_payload(alice_key, make_payload())
    obj["payload"][name] = value

    envelope = envelope_from_obj(obj)

    assert verify(raw_public(alice_key), envelope) is False


def test_it_detects_a_reordered_label_list(alice_key):
    obj = sign_payload(alice_key, make_payload(labels=["graphic-violence", "hate"]))
    obj["payload"]["labels"].reverse()

    assert verify(raw_public(alice_key), envelope_from_obj(obj)) is False


def test_it_detects_a_flipped_signature_bit(alice_key):
    obj = sign_payload(alice_key, make_payload())
    signature = bytearray(base64.b64decode(obj["signature"]))
    signature[10] ^= 0x01
    obj["signature"] = base64.b64encode(bytes(signature)).decode()

    assert verify(raw_public(alice_key), envelope_from_obj(obj)) is False


def test_it_rejects_a_signature_made_with_another_key(alice_key, bob_key):
    bob_key_id = key_id_for(raw_public(bob_key))
    # Bob's key id in the payload, but signed with Alice's key.
    envelope = envelope_from_obj(sign_payload(alice_key, make_payload(key_id=bob_key_id)))

    assert verify(raw_public(bob_key), envelope) is False


def test_it_rejects_a_key_other_than_the_one_the_payload_names(alice_key, bob_key):
    # A valid signature by Alice does not count for Bob's key, nor does
    # Bob's signature count when the payload names Alice's key.
    envelope = envelope_from_obj(sign_payload(alice_key, make_payload()))
    bobs_signature = envelope_from_obj(sign_payload(bob_key, make_payload()))

    assert verify(raw_public(bob_key), envelope) is False
    assert verify(raw_public(alice_key), bobs_signature) is False


def test_it_returns_false_for_random_signature_bytes(alice_key):
    obj = make_envelope()
    obj["signature"] = base64.b64encode(os.urandom(64)).decode()

    assert verify(raw_public(alice_key), envelope_from_obj(obj)) is False


def test_verify_refuses_a_public_key_of_the_wrong_length():
    envelope = envelope_from_obj(make_envelope())

    with pytest.raises(EnvelopeError) as caught:
        verify(b"\x01" * 31, envelope)

    assert caught.value.code == "invalid_public_key"


def test_key_id_is_the_sha256_of_the_raw_public_key():
    assert key_id_for(bytes.fromhex(ALICE_PUBLIC_HEX)) == (
        "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"
    )


def test_key_id_for_refuses_anything_but_32_bytes():
    with pytest.raises(EnvelopeError) as caught:
        key_id_for(b"\x00" * 33)

    assert (caught.value.code, caught.value.field) == ("invalid_public_key", "public_key")


def test_it_loads_a_pem_public_key(alice_key):
    pem = (
        alice_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )

    assert load_public_key(pem) == bytes.fromhex(ALICE_PUBLIC_HEX)
    assert load_public_key("\n  " + pem + "\n\n") == bytes.fromhex(ALICE_PUBLIC_HEX)


def test_it_loads_a_raw_base64_public_key():
    text = base64.b64encode(bytes.fromhex(ALICE_PUBLIC_HEX)).decode()

    assert load_public_key(text) == bytes.fromhex(ALICE_PUBLIC_HEX)
    assert load_public_key(f"  {text}\n") == bytes.fromhex(ALICE_PUBLIC_HEX)


def assert_key_refused(text: object) -> None:
    with pytest.raises(EnvelopeError) as caught:
        load_public_key(text)  # type: ignore[arg-type]

    assert (caught.value.code, caught.value.field) == ("invalid_public_key", "public_key")


def test_it_rejects_a_pem_key_of_another_algorithm():
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()

    assert_key_refused(
        p256.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
    )


def test_it_rejects_an_x25519_key_even_though_it_is_also_32_bytes():
    x_key = x25519.X25519PrivateKey.generate().public_key()

    assert_key_refused(
        x_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
    )


def test_it_rejects_a_private_key_given_as_the_public_key(alice_key):
    assert_key_refused(
        alice_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\n",
        "",
        "   ",
        "not base64!",
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        base64.b64encode(b"\x05" * 31).decode(),
        base64.b64encode(b"\x05" * 33).decode(),
        base64.b64encode(b"\x05" * 64).decode(),
        ALICE_PUBLIC_HEX,
        "ключ",
        None,
        b"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    ],
)
def test_it_rejects_text_that_is_not_an_ed25519_public_key(text):
    assert_key_refused(text)


SMALL_ORDER_Y = [0, 1, FIELD_PRIME - 1, ORDER_8_Y, FIELD_PRIME - ORDER_8_Y]


@pytest.mark.parametrize("y", SMALL_ORDER_Y)
@pytest.mark.parametrize("sign", [0, 1])
def test_it_rejects_small_order_points(y, sign):
    raw = (y | sign << 255).to_bytes(32, "little")

    assert_key_refused(base64.b64encode(raw).decode())


@pytest.mark.parametrize("y", [FIELD_PRIME, FIELD_PRIME + 1, 2**255 - 1])
def test_it_rejects_non_canonical_point_encodings(y):
    assert_key_refused(base64.b64encode(y.to_bytes(32, "little")).decode())


def test_it_never_refuses_a_key_that_libsodium_accepts_as_a_point():
    for seed in [ALICE_SEED, BOB_SEED, *(os.urandom(32) for _ in range(50))]:
        raw = raw_public(Ed25519PrivateKey.from_private_bytes(seed))
        assert load_public_key(base64.b64encode(raw).decode()) == raw
    # And what it refuses, libsodium refuses too: it is never the stricter one.
    for _ in range(500):
        raw = os.urandom(32)
        try:
            load_public_key(base64.b64encode(raw).decode())
        except EnvelopeError:
            assert not crypto_core_ed25519_is_valid_point(raw)


def test_the_hub_accepts_every_published_vector_and_verifies_it_as_marked():
    vectors = load_vectors()
    assert len(vectors) >= 4

    for vector in vectors:
        envelope = envelope_from_obj(
            {"payload": vector["payload"], "signature": vector["signature_b64"]}
        )
        public_key = load_public_key(vector["public_key_b64"])

        assert envelope.canonical == base64.b64decode(vector["canonical_b64"])
        assert envelope.canonical == vector["canonical_utf8"].encode("utf-8")
        assert key_id_for(public_key) == vector["key_id"]
        assert verify(public_key, envelope) is vector["valid"], vector["description"]


def test_the_published_vectors_match_their_generator():
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS_DIR / "make_vectors.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)

    assert generator.document() == (VECTORS_DIR / "vectors.json").read_text(encoding="utf-8")


def test_signed_envelope_is_immutable():
    envelope = envelope_from_obj(make_envelope())

    with pytest.raises(AttributeError):
        envelope.signature = b""  # type: ignore[misc]
    assert isinstance(envelope, SignedEnvelope)


def test_the_wire_package_imports_no_django_and_no_app():
    # Every module of the package, so a new one is checked too.
    code = (
        "import sys, importlib, pkgutil, hashfed_wire; "
        "names = [m.name for m in pkgutil.iter_modules(hashfed_wire.__path__)]; "
        "[importlib.import_module('hashfed_wire.' + name) for name in names]; "
        "assert {'envelope', 'merkle', 'note', 'tiles'} <= set(names), names; "
        "sys.exit(any(app in sys.modules for app in "
        "('django', 'core', 'accounts', 'hashbank', 'federation')))"
    )

    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], check=False
    )

    assert completed.returncode == 0
