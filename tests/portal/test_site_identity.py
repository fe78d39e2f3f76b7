"""The hub's own look on every public page: one stylesheet and an icon served by the hub,
a header with the language switch, a footer with the contact address, and branded error
pages in English and French (the API keeps its JSON errors)."""

from __future__ import annotations

import pytest
import requests
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.template import loader
from django.test import Client, override_settings
from django.urls import path
from django.utils import translation

from federation.urls import urlpatterns as hub_urlpatterns
from tests.accounts.test_content_security_policy import _directives

PUBLIC_PAGES = ["/", "/membership/", "/portal/login/", "/portal/signup/", "/transparency/"]


def _forbidden(request):
    raise PermissionDenied


def _broken(request):
    raise RuntimeError("a bug")


# The hub's routes, plus pages that fail the way a view can.
handler403 = "core.errors.handler403"
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"
urlpatterns = [
    path("test-forbidden/", _forbidden),
    path("test-broken/", _broken),
    path("api/v1/test-forbidden/", _forbidden),
    path("api/v1/test-broken/", _broken),
    *hub_urlpatterns,
]


def _assert_branded(response, status: int, language: str) -> str:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert f'<html lang="{language}">' in body
    assert 'class="brand"' in body and "/static/portal/portal.css" in body
    assert "/static/portal/logo.svg" in body
    assert "<script" not in body and " style=" not in body and "<style" not in body
    return body


@pytest.mark.parametrize("page", PUBLIC_PAGES)
def test_every_public_page_has_the_header_language_switch_and_footer(cast, page):
    for language, transparency, contact in [
        ("en", "Transparency reports", "Contact:"),
        ("fr", "Rapports de transparence", "Contact\u00a0:"),
    ]:
        response = Client().get(page, HTTP_ACCEPT_LANGUAGE=language)
        body = _assert_branded(response, 200, language)
        assert _directives(response)["style-src"] == ["'self'"]
        assert 'action="/i18n/setlang/"' in body and 'name="language"' in body
        assert transparency in body
        assert contact in body and "mailto:" in body


def test_the_language_switch_turns_a_public_page_french(cast):
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/transparency/"})
    assert response.status_code == 302 and response["Location"] == "/transparency/"
    _assert_branded(client.get("/transparency/"), 200, "fr")


@pytest.mark.parametrize(
    ("language", "heading"), [("en", "Page not found"), ("fr", "Page introuvable")]
)
def test_an_unknown_page_is_a_branded_404(db, language, heading):
    body = _assert_branded(
        Client().get("/no-such-page/", HTTP_ACCEPT_LANGUAGE=language), 404, language
    )
    assert heading in body
    assert 'name="language"' in body


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(("language", "heading"), [("en", "Access denied"), ("fr", "Accès refusé")])
def test_a_refused_page_is_a_branded_403(db, language, heading):
    body = _assert_branded(
        Client().get("/test-forbidden/", HTTP_ACCEPT_LANGUAGE=language), 403, language
    )
    assert heading in body


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("language", "heading"),
    [("en", "Something went wrong on our side"), ("fr", "Une erreur s'est produite de notre côté")],
)
def test_a_failing_page_is_a_branded_500_without_a_trace(db, language, heading):
    client = Client(raise_request_exception=False)
    body = _assert_branded(
        client.get("/test-broken/", HTTP_ACCEPT_LANGUAGE=language), 500, language
    )
    assert heading in body
    assert "RuntimeError" not in body and "a bug" not in body


@pytest.mark.parametrize(
    ("language", "heading"), [("en", "The form has expired"), ("fr", "Le formulaire a expiré")]
)
def test_a_form_without_its_csrf_token_is_refused_on_a_branded_page(db, language, heading):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/portal/login/", {}, HTTP_ACCEPT_LANGUAGE=language)
    assert heading in _assert_branded(response, 403, language)


@pytest.mark.urls(__name__)
def test_api_routes_keep_the_json_error_shape(db):
    client = Client(raise_request_exception=False)
    for url, status, code in [
        ("/api/v1/test-forbidden/", 403, "permission_denied"),
        ("/api/v1/test-broken/", 500, "server_error"),
        ("/api/v1/no-such-route/", 404, "not_found"),
    ]:
        response = client.get(url)
        assert response.status_code == status, url
        assert set(response.json()["error"]) == {"code", "message", "fields"}
        assert response.json()["error"]["code"] == code


def test_the_500_page_renders_without_a_request_or_the_database():
    # No db fixture: any query would fail this test.
    for language, heading in [("en", "Something went wrong"), ("fr", "Une erreur")]:
        with translation.override(language):
            body = loader.get_template("500.html").render()
        assert heading in body and f'<html lang="{language}">' in body
        assert "/static/portal/portal.css" in body


def test_the_favicon_answers(db):
    response = Client().get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content).startswith(b"\x00\x00\x01\x00")


def test_the_stylesheet_and_logo_are_static_files_of_the_hub():
    for name in ("portal/portal.css", "portal/logo.svg", "portal/favicon.ico"):
        assert finders.find(name), name


@override_settings(DEBUG=False)
def test_the_stylesheet_icon_and_logo_are_served(live_server):
    for url, kind in [
        ("/static/portal/portal.css", "text/css"),
        ("/static/portal/logo.svg", "image/svg+xml"),
        ("/favicon.ico", "image/x-icon"),
    ]:
        response = requests.get(f"{live_server.url}{url}", timeout=10)
        assert response.status_code == 200, url
        assert response.headers["Content-Type"].startswith(kind), url
