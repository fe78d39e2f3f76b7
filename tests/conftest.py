"""The fixed cast every test can call on: the demo organisations of fixtures/demo/cast.json
(two full platforms, an associate, a suspended platform, an authority, a research lab,
consortium staff and a peer hub), each person with a read-write API key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.demo import DemoAccount, load_demo_cast
from accounts.models import Organisation, User


@pytest.fixture(autouse=True)
def _hub_key_in_tmp(tmp_path_factory, settings):
    from accounts.hub_identity import hub_identity

    settings.HUB_SIGNING_KEY_FILE = tmp_path_factory.getbasetemp() / "hub-ed25519.pem"
    settings.HUB_ORIGIN = "hub.test"
    settings.API_KEY_LAST_USED_RESOLUTION = 0
    hub_identity.cache_clear()
    yield
    hub_identity.cache_clear()


@dataclass
class Actor:
    """Someone who calls the hub: a demo person through their API key."""

    account: DemoAccount

    @property
    def org(self) -> Organisation:
        return Organisation.objects.get(slug=self.account.organisation)

    @property
    def user(self) -> User:
        return User.objects.get(email=self.account.email)

    @property
    def label(self) -> str:
        return f"{self.account.organisation}/{self.account.role}"

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.account.api_key}")
        return client


class Cast:
    def __init__(self, accounts: list[DemoAccount]) -> None:
        self.actors = {f"{a.organisation}/{a.role}": Actor(a) for a in accounts}

    def __getitem__(self, label: str) -> Actor:
        return self.actors[label]

    def __iter__(self):
        return iter(self.actors.values())


@pytest.fixture
def cast(db) -> Cast:
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        return Cast(load_demo_cast())


@pytest.fixture
def alice(cast) -> Actor:
    """Admin of Northwind Video, a full member platform."""
    return cast["northwind/admin"]


@pytest.fixture
def bob(cast) -> Actor:
    """Admin of Lakeside Social, another full member platform."""
    return cast["lakeside/admin"]


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()
