import datetime as dt

from django.utils import timezone

from accounts.models import ApiKey, AuditEvent


def issue(actor, **overrides):
    body = {"name": "sync job", "role": "analyst", "scope": "read", **overrides}
    return actor.client().post("/api/v1/api-keys/", body, format="json")


def test_an_admin_issues_a_key_shown_once(alice):
    response = issue(alice)
    assert response.status_code == 201, response.content
    raw = response.json()["key"]
    assert raw.startswith("hf_")
    assert response["Cache-Control"] == "no-store"
    stored = ApiKey.objects.get(prefix=response.json()["prefix"])
    assert raw not in (stored.digest, stored.prefix)
    listing = alice.client().get("/api/v1/api-keys/").json()
    assert all("key" not in item for item in listing["results"])
    detail = alice.client().get(f"/api/v1/api-keys/{stored.prefix}/").json()
    assert "key" not in detail and detail["state"] == "active"


def test_the_issued_key_works_and_records_its_last_use(alice, anonymous):
    raw = issue(alice).json()["key"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = anonymous.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["organisation"]["slug"] == "northwind"
    assert response.json()["role"] == "analyst"
    assert ApiKey.objects.get(prefix=raw.split("_")[1]).last_used_at is not None


def test_a_read_only_key_is_refused_on_writes(alice, anonymous):
    raw = issue(alice, role="admin", scope="read").json()["key"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert anonymous.get("/api/v1/api-keys/").status_code == 200
    response = anonymous.post(
        "/api/v1/api-keys/", {"name": "x", "role": "viewer", "scope": "read"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "read_only_key"
    assert AuditEvent.objects.filter(action="accounts.apikey.issue", outcome="denied").exists()


def test_a_revoked_key_is_refused_on_the_very_next_request(alice, anonymous):
    created = issue(alice).json()
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {created['key']}")
    assert anonymous.get("/api/v1/me/").status_code == 200
    revoked = alice.client().post(f"/api/v1/api-keys/{created['prefix']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    response = anonymous.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_revoked"
    assert AuditEvent.objects.filter(action="accounts.apikey.revoked").exists()
    assert AuditEvent.objects.filter(action="accounts.auth.failed", outcome="denied").exists()


def test_an_expired_key_is_refused(alice, anonymous):
    created = issue(alice, expires_at=(timezone.now() + dt.timedelta(hours=1)).isoformat()).json()
    ApiKey.objects.filter(prefix=created["prefix"]).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {created['key']}")
    response = anonymous.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_expired"


def test_it_refuses_an_expiry_in_the_past(alice):
    response = issue(alice, expires_at="2001-01-01T00:00:00Z")
    assert response.status_code == 400
    assert "expires_at" in response.json()["error"]["fields"]


def test_it_refuses_a_role_the_organisation_kind_does_not_have(alice):
    response = issue(alice, role="liaison")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["role"][0]["code"] == "invalid_choice"
    assert not ApiKey.objects.filter(role="liaison", organisation__slug="northwind").exists()


def test_it_names_every_missing_field(alice):
    response = alice.client().post("/api/v1/api-keys/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"name", "role", "scope"}


def test_a_key_in_the_query_string_is_refused(alice, anonymous):
    raw = issue(alice).json()["key"]
    response = anonymous.get(f"/api/v1/me/?api_key={raw}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "api_key_in_query"
    # Even alongside a valid header, and under any parameter name.
    response = alice.client().get(f"/api/v1/me/?q={raw}")
    assert response.status_code == 400


def test_a_tampered_or_unknown_key_is_refused(alice, anonymous):
    raw = issue(alice).json()["key"]
    for wrong in [raw[:-1] + ("A" if raw[-1] != "A" else "B"), "hf_nonexistent_secret", "junk"]:
        anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {wrong}")
        response = anonymous.get("/api/v1/me/")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_member_cannot_see_or_revoke_another_organisations_key(alice, bob):
    prefix = issue(bob).json()["prefix"]
    assert alice.client().get(f"/api/v1/api-keys/{prefix}/").status_code == 404
    assert alice.client().post(f"/api/v1/api-keys/{prefix}/revoke/").status_code == 404
    assert ApiKey.objects.get(prefix=prefix).revoked_at is None


def test_revoking_twice_keeps_the_first_revocation_time(alice):
    prefix = issue(alice).json()["prefix"]
    first = alice.client().post(f"/api/v1/api-keys/{prefix}/revoke/").json()["revoked_at"]
    second = alice.client().post(f"/api/v1/api-keys/{prefix}/revoke/").json()["revoked_at"]
    assert first == second


def test_a_suspended_member_key_stops_working_but_can_see_why(cast):
    suspended = cast["shadyshare/admin"].client()
    response = suspended.get("/api/v1/api-keys/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "organisation_inactive"
    me = suspended.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["organisation"]["status"] == "suspended"
    assert me.json()["organisation"]["status_reason"]
