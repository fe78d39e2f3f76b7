"""The only module that sees every app."""

from urllib.parse import urlsplit

from csp.decorators import csp_update
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django.views.i18n import set_language
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from accounts import api as accounts_api
from core.health import healthz
from federation.metrics import metrics
from federation.peering.witness_api import WitnessAddCheckpointApi
from federation.portal.views import assets

handler403 = "core.errors.handler403"
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"

# The routes here that are not API views, each with who reaches it (core.routes).
NON_API_ROUTES: dict[str, str] = {
    "admin": "consortium staff (is_staff) only; Django admin's own model permissions apply",
    "schema": "public (hub.meta.read)",
    "docs": "public (hub.meta.read)",
    "healthz": "public (hub.meta.read)",
    "metrics": "the operator's metrics scraper only (Authorization: Bearer HUB_METRICS_TOKEN); "
    "404 for everyone else",
    "set_language": "public: the language switch of every public page",
    "favicon": "public: the site's icon",
    "otp_webauthn:credential-registration-begin": "signed-in people: add their own passkey (with "
    "their second factor verified once they have one)",
    "otp_webauthn:credential-registration-complete": "signed-in people: add their own passkey",
    "otp_webauthn:credential-authentication-begin": "signed-in people: verify with their own "
    "passkey (never a sign-in by passkey alone)",
    "otp_webauthn:credential-authentication-complete": "signed-in people: verify with their own "
    "passkey",
    "otp_webauthn:js-i18n-catalog": "public: the passkey script's translations",
}


def _redoc_csp() -> dict[str, list[str]]:
    """The API reference page alone: Redoc styles itself with injected <style> elements and
    parses in a blob: worker. Its script is a file, from the hub or from REDOC_DIST's host;
    never inline."""
    allowances = {"style-src": ["'unsafe-inline'"], "worker-src": ["blob:"]}
    dist = urlsplit(str(spectacular_settings.REDOC_DIST))
    if dist.scheme == "https":
        allowances["script-src"] = [f"https://{dist.netloc}"]
    return allowances


api_v1: list[URLPattern | URLResolver] = [
    path("", include("accounts.urls")),
    path("", include("hashbank.urls")),
    path("", include("federation.authorities.urls")),
    path("", include("federation.incidents.urls")),
    path("", include("federation.transparency.urls")),
    path(
        "witness/add-checkpoint",
        WitnessAddCheckpointApi.as_view(),
        name="witness-add-checkpoint",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        csp_update(_redoc_csp())(
            SpectacularRedocView.as_view(url_name="schema", template_name="core/redoc.html")
        ),
        name="docs",
    ),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path(".well-known/hashfed", accounts_api.HubIdentityApi.as_view(), name="well-known"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("transparency/", include("federation.transparency.public_urls")),
    path("taxii2/", include("taxii.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("favicon.ico", assets.favicon, name="favicon"),
    path("webauthn/", include("django_otp_webauthn.urls", namespace="otp_webauthn")),
    path("", include("federation.portal.urls")),
]
