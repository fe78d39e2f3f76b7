"""The fixed cast every test can call on: the demo organisations of fixtures/demo/cast.json
(two full platforms, an associate, a suspended platform, an authority, a research lab,
consortium staff and a peer hub), each person with a read-write API key."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.demo import DemoAccount, load_demo_cast
from accounts.models import Organisation, User


@pytest.fixture(autouse=True)
def _hub_key_in_tmp(tmp_path, settings):
    """Each test's hub key is its own: the key is bound to the database's hub at first use,
    and a test that empties the database gives it a new hub."""
    from accounts.hub_identity import hub_identity

    settings.HUB_SIGNING_KEY_FILE = tmp_path / "hub-ed25519.pem"
    # One generated secret serves the whole run while test databases come and go; the tests
    # of its binding point it at a file of their own.
    settings.DEVELOPMENT_SECRET_FILE = None
    settings.HUB_ORIGIN = "hub.test"
    settings.API_KEY_LAST_USED_RESOLUTION = 0
    hub_identity.cache_clear()
    yield
    hub_identity.cache_clear()


@pytest.fixture(autouse=True)
def _pdq_index_per_test(tmp_path, settings):
    """Each test builds its own PDQ index files, and the process's matcher forgets the last
    test's index (the database under it is a different one)."""
    settings.PDQ_INDEX_DIR = tmp_path / "pdq-index"
    settings.MEDIA_ROOT = tmp_path / "media"
    from hashbank.matching.matcher import matcher

    matcher().reset()
    yield
    matcher().reset()


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
        from hashbank.demo import demo_shared_list_load

        accounts = load_demo_cast()
        demo_shared_list_load()
        return Cast(accounts)


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


class Signer:
    """An organisation's Ed25519 key, registered with the hub, that signs envelopes."""

    def __init__(self, organisation: Organisation) -> None:
        import base64

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from accounts.audit import AuditContext
        from accounts.services import signing_key_register

        self.organisation = organisation
        self.private_key = Ed25519PrivateKey.generate()
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key = signing_key_register(
            organisation=organisation,
            public_key=base64.b64encode(raw).decode(),
            valid_from=timezone.now() - dt.timedelta(days=30),
            context=AuditContext.system(),
        )

    def payload(self, **overrides) -> dict:
        payload = {
            "version": 1,
            "audience": "hub.test",
            "id": str(uuid.uuid4()),
            "created_at": timezone.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "organisation": self.organisation.slug,
            "key_id": self.key.key_id,
            "bank": "TVEC",
            "signal_type": "pdq",
            "value": random_pdq(),
            "labels": ["tvec-glorification"],
        }
        payload.update(overrides)
        return {k: v for k, v in payload.items() if v is not ...}

    def envelope(self, **overrides) -> dict:
        from hashfed_wire.envelope import sign_payload

        return sign_payload(self.private_key, self.payload(**overrides))


def random_pdq() -> str:
    return secrets.token_hex(32)


@pytest.fixture
def signer_for(cast):
    signers: dict[str, Signer] = {}

    def make(label: str) -> Signer:
        slug = label.split("/")[0]
        if slug not in signers:
            signers[slug] = Signer(Organisation.objects.get(slug=slug))
        return signers[slug]

    return make


def submit(actor: Actor, *envelopes: dict):
    return actor.client().post(
        "/api/v1/submissions/", {"submissions": list(envelopes)}, format="json"
    )


def approve_all(organisation_slug: str | None = None) -> None:
    from accounts.audit import AuditContext
    from hashbank.models import Submission
    from hashbank.services import submission_approve

    pending = Submission.objects.filter(review_state="pending")
    if organisation_slug:
        pending = pending.filter(organisation__slug=organisation_slug)
    staff = User.objects.get(email="moderator@consortium.example")
    for submission in pending:
        submission_approve(submission=submission, context=AuditContext(user=staff))


def sign_in(client: Client, user: User) -> Client:
    """Sign `user` in on `client` past every factor they need: staff (and anyone else with
    a device) also get a confirmed TOTP device, verified in the session the way
    django_otp.login records it. The second factor itself is tested in
    tests/accounts/test_login_security.py."""
    from django_otp import DEVICE_ID_SESSION_KEY, user_has_device
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client.force_login(user)
    if user.is_staff or user_has_device(user):
        device, _ = TOTPDevice.objects.get_or_create(
            user=user, name="Test authenticator", defaults={"confirmed": True}
        )
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def view_only_staff(email: str = "viewer@consortium.example") -> User:
    """Consortium staff who may look at everything in admin and change nothing: no
    moderation permission."""
    from django.contrib.auth.models import Permission

    user = User.objects.create_user(email, "a long passphrase 42", full_name="Vic Viewer")
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    return user


def assert_no_inline_code(page: str) -> None:
    """The Content-Security-Policy allows no inline script or style: a page's scripts all
    come from files, and nothing carries a style attribute or element."""
    import re

    inline_scripts = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", page)
    assert inline_scripts == [], inline_scripts
    assert " style=" not in page and "<style" not in page
