import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def test_the_hub_publishes_its_origin_and_public_key(db, anonymous, settings):
    body = anonymous.get("/.well-known/hashfed").json()
    assert body["origin"] == settings.HUB_ORIGIN
    Ed25519PublicKey.from_public_bytes(base64.b64decode(body["public_key"]))
    assert len(body["key_id"]) == 64
    assert anonymous.get("/api/v1/hub/").json() == body


def test_the_hub_key_is_generated_once_and_reused(db, tmp_path, settings):
    from accounts.hub_identity import hub_identity

    settings.HUB_SIGNING_KEY_FILE = tmp_path / "keys" / "hub.pem"
    hub_identity.cache_clear()
    first = hub_identity().key_id
    hub_identity.cache_clear()
    assert hub_identity().key_id == first
    assert (tmp_path / "keys" / "hub.pem").stat().st_mode & 0o077 == 0


def test_a_person_signed_in_acts_for_their_organisation(cast):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(cast["northwind/viewer"].user)
    me = client.get("/api/v1/me/").json()
    assert (me["organisation"]["slug"], me["role"]) == ("northwind", "viewer")
    # Session writes need the CSRF token, so another site cannot act for the person.
    response = client.post("/api/v1/api-keys/", {}, format="json")
    assert response.status_code == 403


def test_the_permissions_document_is_up_to_date(db):
    from django.core.management import call_command

    call_command("permission_matrix", "--check")
