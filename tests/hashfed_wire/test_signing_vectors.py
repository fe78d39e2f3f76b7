"""The published signing vectors, checked with PyNaCl (libsodium) and rfc8785 only.

Deliberately independent of the hub's code: this is what any member can run
to check that the format in docs/signing.md is what the vectors say.
"""

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

VECTORS_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "signing" / "vectors.json"
DOCUMENT = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
VECTORS: list[dict[str, Any]] = DOCUMENT["vectors"]
EXAMPLES: list[dict[str, str]] = DOCUMENT["canonicalisation_examples"]


def nacl_verifies(vector: dict[str, Any]) -> bool:
    verify_key = VerifyKey(base64.b64decode(vector["public_key_b64"]))
    message = rfc8785.dumps(vector["payload"])
    try:
        verify_key.verify(message, base64.b64decode(vector["signature_b64"]))
    except BadSignatureError:
        return False
    return True


def by_description(vectors: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(vector, id=vector["description"]) for vector in vectors]


def test_there_are_valid_and_invalid_vectors():
    assert len(VECTORS) >= 4
    assert any(vector["valid"] for vector in VECTORS)
    assert any(not vector["valid"] for vector in VECTORS)


@pytest.mark.parametrize("vector", by_description(VECTORS))
def test_each_vector_verifies_exactly_when_marked_valid(vector):
    assert nacl_verifies(vector) is vector["valid"]


@pytest.mark.parametrize("vector", by_description(VECTORS))
def test_each_vector_gives_the_canonical_bytes_of_its_payload(vector):
    canonical = rfc8785.dumps(vector["payload"])

    assert canonical == base64.b64decode(vector["canonical_b64"])
    assert canonical == vector["canonical_utf8"].encode("utf-8")


@pytest.mark.parametrize("vector", by_description(VECTORS))
def test_each_public_key_derives_from_its_seed(vector):
    signing_key = SigningKey(bytes.fromhex(vector["seed_hex"]))

    assert bytes(signing_key.verify_key) == base64.b64decode(vector["public_key_b64"])


@pytest.mark.parametrize("vector", by_description(VECTORS))
def test_each_key_id_is_the_sha256_of_the_raw_public_key(vector):
    raw = base64.b64decode(vector["public_key_b64"])

    assert len(raw) == 32
    assert vector["key_id"] == hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize("vector", by_description(VECTORS))
def test_each_signature_is_64_bytes_of_standard_base64(vector):
    signature = base64.b64decode(vector["signature_b64"], validate=True)

    assert len(signature) == 64
    assert base64.b64encode(signature).decode() == vector["signature_b64"]


@pytest.mark.parametrize("vector", by_description([v for v in VECTORS if v["valid"]]))
def test_each_valid_vector_is_what_its_seed_signs(vector):
    signing_key = SigningKey(bytes.fromhex(vector["seed_hex"]))

    signed = signing_key.sign(rfc8785.dumps(vector["payload"]))

    assert base64.b64encode(signed.signature).decode() == vector["signature_b64"]
    assert vector["payload"]["key_id"] == vector["key_id"]


@pytest.mark.parametrize("vector", by_description([v for v in VECTORS if not v["valid"]]))
def test_each_invalid_vector_explains_why_and_fails_only_for_that_reason(vector):
    assert vector["explanation"]
    verify_key = VerifyKey(base64.b64decode(vector["public_key_b64"]))
    signature = base64.b64decode(vector["signature_b64"])
    if "signed_utf8" in vector:
        # The signature is genuine over the bytes the vector says were signed.
        verify_key.verify(vector["signed_utf8"].encode("utf-8"), signature)
    if "signer_seed_hex" in vector:
        signer = SigningKey(bytes.fromhex(vector["signer_seed_hex"])).verify_key
        signer.verify(rfc8785.dumps(vector["payload"]), signature)


@pytest.mark.parametrize("example", [pytest.param(e, id=e["description"]) for e in EXAMPLES])
def test_each_canonicalisation_example_matches_rfc8785(example):
    parsed = json.loads(example["input_json"])

    assert rfc8785.dumps(parsed) == example["canonical_utf8"].encode("utf-8")
