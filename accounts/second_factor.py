"""Who must prove a second factor after their password, and the gate that holds them to it.

Staff must, always: a staff session without a verified device reaches only the pages that
verify or enrol one (and the admin site refuses it on its own too, accounts/admin_site.py).
A member may enrol; once they have a device, it is required of them the same way, or
enrolling would protect nothing. API keys are a separate credential and pass untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import user_has_device

# Paths a session with its second factor pending may still reach: the second-factor pages,
# the passkey ceremonies they call, signing out, the language switch and static files.
PENDING_ALLOWED_PREFIXES = (
    "/portal/two-factor/",
    "/portal/logout/",
    "/webauthn/",
    "/i18n/",
    "/static/",
)


def needs_second_factor(user) -> bool:
    return bool(user.is_authenticated and (user.is_staff or user_has_device(user)))


def second_factor_pending(user) -> bool:
    """Signed in with a password, but not yet with the second factor this person needs."""
    return needs_second_factor(user) and not user.is_verified()


class SecondFactorMiddleware:
    """After django_otp's OTPMiddleware. A session whose second factor is pending is sent to
    the second-factor page from any page, and counts as signed out for the API."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(PENDING_ALLOWED_PREFIXES) or not second_factor_pending(
            request.user
        ):
            return self.get_response(request)
        if request.path.startswith("/api/"):
            request.user = AnonymousUser()
            return self.get_response(request)
        query = urlencode({"next": request.get_full_path()})
        return redirect(f"{reverse(settings.OTP_LOGIN_URL)}?{query}")
