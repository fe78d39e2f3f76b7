"""The second factor in the portal: verifying it after the password, enrolling a TOTP app
(with recovery codes shown once) or a passkey. Staff reach admin only through here
(accounts/second_factor.py says who must); members may enrol from their portal."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp import user_has_device

from accounts import services as accounts_services
from accounts.audit import AuditContext
from accounts.second_factor import needs_second_factor
from accounts.selectors import passkeys_of
from federation.portal.forms import SecondFactorTokenForm
from federation.portal.pages import form_status, second_factor_verified, signed_in
from federation.portal.selectors import totp_enrolment_of
from federation.portal.services import (
    second_factor_verify_from_form,
    totp_device_confirm_from_form,
)


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/portal/"


def _with_next(url_name: str, request: HttpRequest) -> HttpResponse:
    return redirect(f"{reverse(url_name)}?{urlencode({'next': _next(request)})}")


def _no_store(response: HttpResponse) -> HttpResponse:
    # These pages carry secrets shown once (a TOTP seed, recovery codes).
    response["Cache-Control"] = "no-store"
    return response


@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    if not needs_second_factor(user) or second_factor_verified(request):
        return redirect(_next(request))
    if not user_has_device(user):
        # Staff without any device yet: enrolment is the only way on.
        return redirect(f"{reverse('portal:two-factor-setup')}?next={_next(request)}")
    form = SecondFactorTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        context = AuditContext.from_request(request)
        device = second_factor_verify_from_form(form=form, user=user, context=context)
        if device is not None:
            otp_login(request, device)
            return redirect(_next(request))
    return render(
        request,
        "portal/two_factor.html",
        {
            "form": form,
            "next": _next(request),
            "has_passkey": passkeys_of(user=user).exists(),
        },
        status=form_status(form),
    )


@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    if user_has_device(user) and not second_factor_verified(request):
        # Adding a device takes the factor already held: a password alone adds none.
        return redirect(f"{reverse('portal:two-factor')}?next={_next(request)}")
    device = accounts_services.totp_device_pending(user=user)
    form = SecondFactorTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        context = AuditContext.from_request(request)
        codes = totp_device_confirm_from_form(form=form, device=device, context=context)
        if codes is not None:
            otp_login(request, device)
            messages.success(request, _("Your authenticator app is set up."))
            shown = {"codes": codes, "next": _next(request)}
            return _no_store(render(request, "portal/recovery_codes.html", shown))
    page: dict[str, Any] = {
        **totp_enrolment_of(user=user, device=device),
        "form": form,
        "next": _next(request),
    }
    return _no_store(
        render(request, "portal/two_factor_setup.html", page, status=form_status(form))
    )


@login_required
@require_POST
def recovery_codes_renew(request: HttpRequest) -> HttpResponse:
    if not second_factor_verified(request):
        return redirect(reverse("portal:two-factor"))
    codes = accounts_services.recovery_codes_issue(
        user=signed_in(request),
        context=AuditContext.from_request(request),
    )
    return _no_store(
        render(request, "portal/recovery_codes.html", {"codes": codes, "next": "/portal/"})
    )
