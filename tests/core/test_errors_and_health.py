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


def test_healthz_runs_the_readiness_checks_apps_register(db, anonymous, monkeypatch):
    from core import health

    monkeypatch.setitem(health._readiness_checks, "disk", lambda: "the disk is full")
    response = anonymous.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["disk"] == "the disk is full"
    assert response.json()["checks"]["hub_state"] == "ok"
