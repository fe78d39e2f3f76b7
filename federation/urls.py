"""The only module that sees every app."""

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from accounts import api as accounts_api

handler404 = "accounts.errors.handler404"
handler500 = "accounts.errors.handler500"

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("hashbank.urls")),
    path("", include("federation.authorities.urls")),
    path("", include("federation.incidents.urls")),
    path("", include("federation.transparency.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularRedocView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path(".well-known/hashfed", accounts_api.HubIdentityApi.as_view(), name="well-known"),
    path("healthz", accounts_api.healthz, name="healthz"),
    path("transparency/", include("federation.transparency.public_urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("webauthn/", include("django_otp_webauthn.urls", namespace="otp_webauthn")),
    path("", include("federation.governance.urls")),
]
