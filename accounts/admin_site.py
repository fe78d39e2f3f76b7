"""The admin site, holding staff to their second factor.

SecondFactorMiddleware already sends a staff session with its second factor pending away
from every page; the site checks again itself, so admin stays closed to a password alone
even if the middleware were taken out of the stack."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse


class HubAdminSite(admin.AdminSite):
    site_header = "Hashfed consortium administration"
    site_title = "Hashfed admin"

    def has_permission(self, request: HttpRequest) -> bool:
        # django-otp's middleware gives request.user an is_verified() the stubs do not know.
        return super().has_permission(request) and request.user.is_verified()  # type: ignore[union-attr]

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        user = request.user
        # is_verified() comes from django-otp's middleware, as above.
        if user.is_authenticated and user.is_staff and not user.is_verified():  # type: ignore[attr-defined]
            query = urlencode({"next": request.GET.get("next", reverse("admin:index"))})
            return redirect(f"{reverse(settings.OTP_LOGIN_URL)}?{query}")
        return super().login(request, extra_context)


class HubAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.HubAdminSite"
