"""What the hub signs, checked as a member checks it."""

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hashfed_wire import ed25519, hub_signatures
from hashfed_wire.hub_signatures import HubSignatureError


@pytest.fixture
def hub_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_a_page_verifies_only_with_its_exact_bytes_and_the_hubs_key(hub_key):
    raw = ed25519.public_key_raw(hub_key)
    body = b'{"entries":[],"next_cursor":0,"head":0}'
    signature = hub_signatures.sign(hub_key, body)
    hub_signatures.verify_page(raw, body, signature)
    with pytest.raises(HubSignatureError, match="does not verify"):
        hub_signatures.verify_page(raw, body.replace(b"0}", b"1}"), signature)
    impostor = hub_signatures.sign(Ed25519PrivateKey.generate(), body)
    with pytest.raises(HubSignatureError, match="does not verify"):
        hub_signatures.verify_page(raw, body, impostor)
    with pytest.raises(HubSignatureError, match="not signed"):
        hub_signatures.verify_page(raw, body, None)
    with pytest.raises(HubSignatureError):
        hub_signatures.verify_page(raw, body, "not base64!")


def test_a_snapshot_signature_covers_origin_bank_position_and_hash(hub_key):
    raw = ed25519.public_key_raw(hub_key)
    fields = {"origin": "hub.test", "bank": "TVEC", "up_to_sequence": 12, "sha256": "ab" * 32}
    message = hub_signatures.snapshot_signed_message(**fields)
    assert message == (
        b'{"bank":"TVEC","origin":"hub.test","sha256":"' + b"ab" * 32 + b'",'
        b'"type":"hashfed-snapshot","up_to_sequence":12}'
    )
    signature = hub_signatures.sign(hub_key, message)
    hub_signatures.verify_snapshot(raw, signature, **fields)
    with pytest.raises(HubSignatureError):
        hub_signatures.verify_snapshot(raw, signature, **{**fields, "up_to_sequence": 13})


def test_the_published_key_must_match_its_key_id(hub_key):
    raw = ed25519.public_key_raw(hub_key)
    identity = {
        "origin": "hub.test",
        "key_id": hashlib.sha256(raw).hexdigest(),
        "public_key": ed25519.public_key_b64(raw),
        "algorithm": "ed25519",
    }
    assert hub_signatures.hub_public_key(identity) == raw
    with pytest.raises(HubSignatureError, match="key id"):
        hub_signatures.hub_public_key({**identity, "key_id": "00" * 32})
    with pytest.raises(HubSignatureError, match="base64"):
        hub_signatures.hub_public_key({**identity, "public_key": "%%%"})
    with pytest.raises(HubSignatureError, match="key id"):
        hub_signatures.hub_public_key({**identity, "public_key": ed25519.public_key_b64(b"x")})
