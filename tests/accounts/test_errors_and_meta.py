import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def test_errors_share_one_shape(alice, anonymous):
    cases = [
        (anonymous.get("/api/v1/me/"), 401, "not_authenticated"),
        (alice.client().get("/api/v1/api-keys/nope/"), 404, "not_found"),
        (alice.client().get("/api/v1/no-such-route/"), 404, "not_found"),
        (alice.client().delete("/api/v1/api-keys/"), 405, "method_not_allowed"),
        (
            alice.client().post("/api/v1/api-keys/", "{not json", content_type="application/json"),
            400,
            "invalid_json",
        ),
    ]
    for response, status, code in cases:
        assert response.status_code == status
        body = response.json()
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message", "fields"}
        assert body["error"]["code"] == code


def test_a_wrong_type_names_the_field(alice):
    response = alice.client().post(
        "/api/v1/api-keys/", {"name": ["x"], "role": "analyst", "scope": "admin"}, format="json"
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"name", "scope"}
    assert fields["scope"][0]["code"] == "invalid_choice"


def test_the_body_must_be_an_object(alice):
    response = alice.client().post("/api/v1/api-keys/", [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_healthz_reports_the_database(db, anonymous):
    response = anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


def test_healthz_reports_an_unreachable_broker(db, anonymous, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = anonymous.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unavailable"


def test_the_openapi_schema_is_served(db, anonymous):
    response = anonymous.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/api-keys/" in schema["paths"]
    assert anonymous.get("/api/v1/docs/").status_code == 200


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
