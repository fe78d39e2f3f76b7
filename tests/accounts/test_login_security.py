"""Signing in: the lockout after repeated wrong passwords (portal and admin), the second
factor every staff account needs for admin and the portal, and the one a member may add."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEvent, User
from tests.conftest import sign_in

PASSWORD = "the right passphrase 42"
STAFF = "governance@consortium.example"
MEMBER = "admin@northwind.example"


@pytest.fixture
def passwords(cast, settings) -> None:
    # A fast hasher: these tests type passwords a hundred times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for user in User.objects.filter(email__in=[STAFF, MEMBER, "moderator@consortium.example"]):
        user.set_password(PASSWORD)
        user.save()


def _login(client: Client, path: str, email: str, password: str, **extra):
    return client.post(path, {"username": email, "password": password}, **extra)


def _signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).email if user_id else None


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, digits=device.digits):0{device.digits}d}"


def _staff_device() -> TOTPDevice:
    return TOTPDevice.objects.create(user=User.objects.get(email=STAFF), name="phone")


@pytest.mark.parametrize(("path", "email"), [("/portal/login/", MEMBER), ("/admin/login/", STAFF)])
def test_25_wrong_passwords_then_the_right_one_is_refused(passwords, path, email):
    client = Client()
    for _ in range(25):
        _login(client, path, email, "a wrong guess")
    response = _login(client, path, email, PASSWORD)
    assert response.status_code == 429
    assert _signed_in_as(client) is None
    assert "Too many failed sign-ins" in response.content.decode()
    assert "<!DOCTYPE html>" in response.content.decode()  # the portal's page, not a bare text


def test_a_lockout_holds_one_account_from_one_address_only(passwords):
    attacker = {"REMOTE_ADDR": "203.0.113.9"}
    for _ in range(25):
        _login(Client(), "/portal/login/", MEMBER, "a wrong guess", **attacker)
    # The member, from their own address, still signs in: guessing cannot lock them out.
    member = Client()
    _login(member, "/portal/login/", MEMBER, PASSWORD, REMOTE_ADDR="198.51.100.7")
    assert _signed_in_as(member) == MEMBER
    # And the attacker's address is not barred from other accounts' right passwords.
    other = Client()
    _login(other, "/admin/login/", STAFF, PASSWORD, **attacker)
    assert _signed_in_as(other) == STAFF


def test_failures_below_the_limit_do_not_lock_out(passwords, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "/portal/login/", MEMBER, "a wrong guess")
    _login(client, "/portal/login/", MEMBER, PASSWORD)
    assert _signed_in_as(client) == MEMBER


def test_staff_with_a_password_alone_get_no_admin_page(passwords):
    _staff_device()
    client = Client()
    response = _login(client, "/admin/login/", STAFF, PASSWORD)
    assert _signed_in_as(client) == STAFF
    for path in ("/admin/", "/admin/accounts/organisation/", "/admin/hashbank/submission/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/portal/two-factor/"), path


def test_the_admin_site_itself_refuses_a_staff_session_without_a_verified_factor(cast, rf):
    from django.contrib import admin
    from django_otp.middleware import OTPMiddleware

    request = rf.get("/admin/")
    request.user = User.objects.get(email=STAFF)
    request.session = {}  # signed in with a password, no device verified
    OTPMiddleware(lambda r: None)._verify_user_sync(request, request.user)
    assert request.user.is_staff and not request.user.is_verified()
    assert admin.site.has_permission(request) is False


def test_staff_with_a_valid_totp_code_reach_admin(passwords):
    device = _staff_device()
    client = Client()
    _login(client, "/admin/login/", STAFF, PASSWORD)
    page = client.get("/portal/two-factor/", {"next": "/admin/"})
    assert page.status_code == 200
    response = client.post("/portal/two-factor/", {"token": _code(device), "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/organisation/").status_code == 200
    assert AuditEvent.objects.filter(
        action="accounts.second_factor.verified", actor_email=STAFF, outcome="success"
    ).exists()


def test_a_wrong_code_keeps_admin_closed(passwords):
    device = _staff_device()
    client = Client()
    _login(client, "/admin/login/", STAFF, PASSWORD)
    wrong = f"{(int(_code(device)) + 1) % 1_000_000:06d}"
    response = client.post("/portal/two-factor/", {"token": wrong, "next": "/admin/"})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302
    assert AuditEvent.objects.filter(
        action="accounts.second_factor.verified", outcome="failed"
    ).exists()


def test_a_wrong_code_is_refused_in_the_readers_language(passwords):
    device = _staff_device()
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    _login(client, "/portal/login/", STAFF, PASSWORD)
    wrong = f"{(int(_code(device)) + 1) % 1_000_000:06d}"
    response = client.post("/portal/two-factor/", {"token": wrong, "next": "/portal/"})
    body = response.content.decode()
    assert response.status_code == 400
    assert "Second facteur" in body
    assert "Ce code n&#x27;est pas valide." in body


def _enrol(client: Client) -> tuple[TOTPDevice, list[str]]:
    page = client.get("/portal/two-factor/setup/")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    html = page.content.decode()
    assert "<svg" in html  # the QR code is drawn by the hub, not fetched from a service
    device = TOTPDevice.objects.get(user__email=_signed_in_as(client), confirmed=False)
    response = client.post("/portal/two-factor/setup/", {"token": _code(device)})
    assert response.status_code == 200
    codes = re.findall(r"<li><code>(\w+)</code></li>", response.content.decode())
    device.refresh_from_db()
    assert device.confirmed
    return device, codes


def test_staff_without_a_device_are_sent_to_enrol_and_get_recovery_codes_once(passwords):
    client = Client()
    _login(client, "/admin/login/", STAFF, PASSWORD)
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/portal/two-factor/setup/")
    _device, codes = _enrol(client)
    assert len(codes) == 10
    assert client.get("/admin/").status_code == 200
    # Shown once: the setup page never lists them again, and the hub keeps them only to
    # check them.
    assert codes[0] not in client.get("/portal/two-factor/setup/").content.decode()


def test_a_recovery_code_works_once(passwords):
    client = Client()
    _login(client, "/admin/login/", STAFF, PASSWORD)
    _device, codes = _enrol(client)

    first = Client()
    _login(first, "/admin/login/", STAFF, PASSWORD)
    first.post("/portal/two-factor/", {"token": codes[0]})
    assert first.get("/admin/").status_code == 200
    assert not StaticToken.objects.filter(token=codes[0]).exists()

    again = Client()
    _login(again, "/admin/login/", STAFF, PASSWORD)
    assert again.post("/portal/two-factor/", {"token": codes[0]}).status_code == 400
    assert again.get("/admin/").status_code == 302


def test_a_password_alone_cannot_add_a_device_to_an_enrolled_account(passwords):
    _staff_device().__class__.objects.filter(user__email=STAFF).update(confirmed=True)
    client = Client()
    _login(client, "/portal/login/", STAFF, PASSWORD)
    response = client.get("/portal/two-factor/setup/")
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/two-factor/?")
    assert client.post("/portal/two-factor/recovery-codes/").status_code == 302
    assert not TOTPDevice.objects.filter(user__email=STAFF, confirmed=False).exists()


def test_staff_need_the_second_factor_for_the_portal_too(passwords):
    _staff_device()
    client = Client()
    _login(client, "/portal/login/", STAFF, PASSWORD)
    response = client.get("/portal/mentoring/")
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/two-factor/")


def test_a_member_without_a_second_factor_still_uses_the_portal(passwords):
    client = Client()
    response = _login(client, "/portal/login/", MEMBER, PASSWORD)
    assert response.status_code == 302
    assert client.get("/portal/organisations/northwind/").status_code == 200
    assert client.get("/portal/organisations/northwind/api-keys/").status_code == 200


def test_a_member_who_enrols_is_asked_for_the_code_from_then_on(passwords):
    client = Client()
    _login(client, "/portal/login/", MEMBER, PASSWORD)
    device, _codes = _enrol(client)
    assert client.get("/portal/organisations/northwind/").status_code == 200

    later = Client()
    _login(later, "/portal/login/", MEMBER, PASSWORD)
    response = later.get("/portal/organisations/northwind/")
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/two-factor/")
    # The session API answers as if signed out until the code is given.
    assert later.get("/api/v1/me/").status_code in (401, 403)
    device.refresh_from_db()
    device.last_t = -1  # a code is accepted once; the test reuses the current one
    device.save()
    later.post("/portal/two-factor/", {"token": _code(device)})
    assert later.get("/portal/organisations/northwind/").status_code == 200


def test_api_keys_are_unaffected_by_lockouts_and_second_factors(passwords, alice):
    for _ in range(25):
        _login(Client(), "/portal/login/", alice.user.email, "a wrong guess")
    assert alice.client().get("/api/v1/me/").status_code == 200


def test_the_test_sign_in_helper_verifies_staff(cast):
    client = sign_in(Client(), User.objects.get(email=STAFF))
    assert client.get("/admin/").status_code == 200
