"""The demo's API keys, as `./dev serve` prints them, stay valid across restarts: loading the
demo again (the next `./dev serve`) prints the same keys, and they still authenticate."""

from __future__ import annotations

from django.test import override_settings
from rest_framework.test import APIClient

from accounts.audit import AuditContext
from accounts.demo import load_demo_cast
from accounts.models import ApiKey
from accounts.services import api_key_revoke

FAST_HASHER = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])


def keys() -> dict[str, str]:
    with FAST_HASHER:
        return {f"{a.organisation}/{a.role}": a.api_key for a in load_demo_cast()}


def me(api_key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client.get("/api/v1/me/").status_code


def test_reloading_the_demo_keeps_its_keys_valid(db):
    first = keys()
    active = set(ApiKey.objects.filter(revoked_at=None).values_list("pk", flat=True))
    second = keys()
    assert second == first
    assert set(ApiKey.objects.filter(revoked_at=None).values_list("pk", flat=True)) == active
    assert me(first["northwind/admin"]) == 200
    assert len(set(first.values())) == len(first)


def test_a_demo_key_revoked_by_hand_is_replaced_by_another(db):
    first = keys()
    revoked = ApiKey.objects.get(prefix=first["northwind/admin"].split("_")[1])
    api_key_revoke(api_key=revoked, context=AuditContext.system())
    assert me(first["northwind/admin"]) == 401
    second = keys()
    assert second["northwind/admin"] != first["northwind/admin"]
    assert me(second["northwind/admin"]) == 200
    assert keys() == second
    assert {k: v for k, v in second.items() if k != "northwind/admin"} == {
        k: v for k, v in first.items() if k != "northwind/admin"
    }


def test_the_demo_keys_belong_to_the_installation(db, settings):
    first = keys()
    settings.SECRET_KEY = "another installation's secret key, long enough to be one"
    second = keys()
    assert not set(first.values()) & set(second.values())
    assert me(first["lakeside/admin"]) == 401
    assert me(second["lakeside/admin"]) == 200
