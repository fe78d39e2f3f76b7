"""Every HTML page carries a Content-Security-Policy that allows no inline script."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.conftest import sign_in

PUBLIC_PAGES = [
    "/membership/",
    "/portal/login/",
    "/portal/signup/",
    "/admin/login/",
    "/transparency/",
]
STAFF_PAGES = [
    "/admin/",
    "/admin/hashbank/submission/",
    "/admin/accounts/organisation/",
    "/portal/two-factor/setup/",
    "/portal/mentoring/",
]
MEMBER_PAGES = ["/portal/organisations/northwind/", "/portal/organisations/northwind/api-keys/"]


def _directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def _assert_strict(response, path: str) -> None:
    assert response.status_code == 200, path
    assert response["Content-Type"].startswith("text/html"), path
    directives = _directives(response)
    assert directives["script-src"] == ["'self'"], path
    assert directives["style-src"] == ["'self'"], path
    assert "'unsafe-inline'" not in response["Content-Security-Policy"], path
    assert directives["frame-ancestors"] == ["'none'"], path
    assert directives["object-src"] == ["'none'"], path
    assert directives["base-uri"] == ["'none'"], path
    assert directives["form-action"] == ["'self'"], path
    body = response.content.decode()
    # What the policy would block in a browser: inline script and style.
    assert "<style" not in body, path
    assert " style=" not in body, path
    for tag in body.split("<script")[1:]:
        opening = tag.split(">", 1)[0]
        assert "src=" in opening or 'type="application/json"' in opening, (path, opening)


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_carry_a_policy_without_inline_script(cast, path):
    _assert_strict(Client().get(path), path)


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_staff_pages_carry_a_policy_without_inline_script(cast, path):
    client = sign_in(Client(), User.objects.get(email="governance@consortium.example"))
    _assert_strict(client.get(path), path)


@pytest.mark.parametrize("path", MEMBER_PAGES)
def test_member_pages_carry_a_policy_without_inline_script(alice, path):
    _assert_strict(sign_in(Client(), alice.user).get(path), path)


def test_the_api_reference_page_allows_styles_but_no_inline_script(db):
    response = Client().get("/api/v1/docs/")
    assert response.status_code == 200
    directives = _directives(response)
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert directives["frame-ancestors"] == ["'none'"]
    body = response.content.decode()
    for tag in body.split("<script")[1:]:
        assert "src=" in tag.split(">", 1)[0]
