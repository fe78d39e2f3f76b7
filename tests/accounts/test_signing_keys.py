import base64
import datetime as dt
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from accounts.models import SigningKey


def new_key() -> tuple[Ed25519PrivateKey, bytes]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return private, raw


def register(actor, public_key: str, **extra):
    return actor.client().post(
        "/api/v1/signing-keys/", {"public_key": public_key, **extra}, format="json"
    )


def test_it_registers_a_raw_base64_key_with_its_key_id(alice):
    _, raw = new_key()
    response = register(alice, base64.b64encode(raw).decode(), name="2026")
    assert response.status_code == 201, response.content
    assert response.json()["key_id"] == hashlib.sha256(raw).hexdigest()
    assert response.json()["state"] == "active"


def test_it_registers_a_pem_key(alice):
    private, raw = new_key()
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    response = register(alice, pem.decode())
    assert response.status_code == 201
    assert base64.b64decode(response.json()["public_key"]) == raw


def test_it_refuses_a_key_that_is_not_ed25519(alice):
    ec_pem = (
        generate_private_key(SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    for bad in [ec_pem, "bm90IGEga2V5", "!!!", base64.b64encode(b"x" * 31).decode()]:
        response = register(alice, bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]["fields"]["public_key"][0]["code"] == "invalid_public_key"
    assert not SigningKey.objects.exists()


def test_the_same_key_cannot_be_registered_twice(alice, bob):
    _, raw = new_key()
    assert register(alice, base64.b64encode(raw).decode()).status_code == 201
    response = register(bob, base64.b64encode(raw).decode())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_key"


def test_it_refuses_a_window_that_ends_before_it_starts(alice):
    _, raw = new_key()
    response = register(
        alice,
        base64.b64encode(raw).decode(),
        valid_from="2026-06-01T00:00:00Z",
        valid_until="2026-01-01T00:00:00Z",
    )
    assert response.status_code == 400
    assert "valid_until" in response.json()["error"]["fields"]


def test_rotation_keeps_old_signatures_verifiable(alice):
    _, raw = new_key()
    key_id = register(alice, base64.b64encode(raw).decode()).json()["key_id"]
    before = timezone.now()
    response = alice.client().post(
        f"/api/v1/signing-keys/{key_id}/revoke/", {"reason": "superseded"}, format="json"
    )
    assert response.status_code == 200
    key = SigningKey.objects.get(key_id=key_id)
    assert key.signs_at(before)
    assert not key.accepts_new_signature(before, timezone.now())
    assert not key.signs_at(timezone.now() + dt.timedelta(seconds=1))


def test_a_compromise_distrusts_signatures_from_the_compromise_time(alice):
    _, raw = new_key()
    key_id = register(
        alice, base64.b64encode(raw).decode(), valid_from="2026-01-01T00:00:00Z"
    ).json()["key_id"]
    since = timezone.now() - dt.timedelta(days=3)
    response = alice.client().post(
        f"/api/v1/signing-keys/{key_id}/revoke/",
        {"reason": "compromised", "compromised_since": since.isoformat()},
        format="json",
    )
    assert response.status_code == 200
    key = SigningKey.objects.get(key_id=key_id)
    assert key.signs_at(since - dt.timedelta(days=1))
    assert not key.signs_at(since + dt.timedelta(hours=1))


def test_it_refuses_to_revoke_twice(alice):
    _, raw = new_key()
    key_id = register(alice, base64.b64encode(raw).decode()).json()["key_id"]
    url = f"/api/v1/signing-keys/{key_id}/revoke/"
    assert alice.client().post(url, {"reason": "retired"}, format="json").status_code == 200
    response = alice.client().post(url, {"reason": "retired"}, format="json")
    assert response.status_code == 409


def test_it_refuses_an_unknown_revocation_reason(alice):
    _, raw = new_key()
    key_id = register(alice, base64.b64encode(raw).decode()).json()["key_id"]
    response = alice.client().post(
        f"/api/v1/signing-keys/{key_id}/revoke/", {"reason": "bored"}, format="json"
    )
    assert response.status_code == 400
    assert "reason" in response.json()["error"]["fields"]
    assert SigningKey.objects.get(key_id=key_id).revoked_at is None


def test_a_member_cannot_see_or_revoke_another_organisations_signing_key(alice, bob):
    _, raw = new_key()
    key_id = register(bob, base64.b64encode(raw).decode()).json()["key_id"]
    assert alice.client().get(f"/api/v1/signing-keys/{key_id}/").status_code == 404
    response = alice.client().post(
        f"/api/v1/signing-keys/{key_id}/revoke/", {"reason": "retired"}, format="json"
    )
    assert response.status_code == 404
    assert SigningKey.objects.get(key_id=key_id).revoked_at is None
    assert alice.client().get("/api/v1/signing-keys/").json()["count"] == 0


def test_an_analyst_may_list_but_not_register_keys(cast):
    analyst = cast["northwind/analyst"]
    _, raw = new_key()
    assert analyst.client().get("/api/v1/signing-keys/").status_code == 200
    assert register(analyst, base64.b64encode(raw).decode()).status_code == 403


def test_staff_revoking_keys_in_admin_are_told_how_many_in_words(cast, signer_for):
    from django.contrib.messages import get_messages
    from django.test import Client

    from accounts.models import User
    from tests.conftest import sign_in

    keys = [signer_for(label).key for label in ("northwind/admin", "lakeside/admin")]
    officer = sign_in(Client(), User.objects.get(email="governance@consortium.example"))
    response = officer.post(
        "/admin/accounts/signingkey/",
        {"action": "revoke_superseded", "_selected_action": [k.pk for k in keys]},
    )
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "2 signing keys revoked (superseded)."
    ]
    assert all(SigningKey.objects.get(pk=k.pk).revoked_at for k in keys)
