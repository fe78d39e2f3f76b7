"""The member pages of an organisation: its dashboard, API keys, signing keys, people and
disputes. Each declares the matrix action it needs (federation.portal.pages.member_page)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts import services as accounts_services
from accounts.models import Membership
from core.errors import NotFound, ServiceError
from federation.governance import selectors as governance_selectors
from federation.portal.forms import (
    ApiKeyIssueForm,
    InviteForm,
    SigningKeyRegisterForm,
    SigningKeyRevokeForm,
)
from federation.portal.pages import audit_context, form_status, language, member_page
from federation.portal.selectors import (
    api_keys_page_of,
    dashboard_of,
    key_roles,
    signing_keys_page_of,
)
from federation.portal.services import (
    api_key_issue_from_form,
    invitation_send_from_form,
    signing_key_register_from_form,
)
from hashbank import selectors as hashbank_selectors


@member_page()
def dashboard(request: HttpRequest, membership: Membership) -> HttpResponse:
    return render(request, "portal/dashboard.html", dashboard_of(request, membership))


@member_page("accounts.apikey.list", on_post="accounts.apikey.issue")
def api_keys(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = ApiKeyIssueForm(request.POST or None, roles=key_roles(membership))
    issued = None
    if request.method == "POST" and form.is_valid():
        context = audit_context(request, membership)
        issued = api_key_issue_from_form(form=form, membership=membership, context=context)
        if issued is not None:
            form = ApiKeyIssueForm(roles=key_roles(membership))
    response = render(
        request,
        "portal/api_keys.html",
        {**api_keys_page_of(membership), "form": form, "issued": issued},
        status=form_status(form),
    )
    # The page may carry a secret shown once: never keep it in any cache.
    response["Cache-Control"] = "no-store"
    return response


@member_page("accounts.apikey.revoke")
def api_key_revoke(request: HttpRequest, membership: Membership, prefix: str) -> HttpResponse:
    """Asks first (GET), revokes on the confirmation's POST."""
    try:
        api_key = governance_selectors.api_key_of(
            organisation=membership.organisation, prefix=prefix
        )
    except NotFound:
        raise Http404 from None
    if request.method != "POST":
        return render(
            request,
            "portal/revoke_confirm.html",
            {
                "organisation": membership.organisation,
                "membership": membership,
                "what": _("API key %(prefix)s (%(name)s)")
                % {"prefix": prefix, "name": api_key.name},
                "back": "portal:api-keys",
            },
        )
    accounts_services.api_key_revoke(api_key=api_key, context=audit_context(request, membership))
    messages.success(request, _("API key %(prefix)s revoked.") % {"prefix": prefix})
    return redirect("portal:api-keys", slug=membership.organisation.slug)


@member_page("accounts.signingkey.list", on_post="accounts.signingkey.register")
def signing_keys(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = SigningKeyRegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        context = audit_context(request, membership)
        key = signing_key_register_from_form(form=form, membership=membership, context=context)
        if key is not None:
            messages.success(
                request, _("Signing key %(key_id)s registered.") % {"key_id": key.key_id[:16]}
            )
            return redirect("portal:signing-keys", slug=membership.organisation.slug)
    return render(
        request,
        "portal/signing_keys.html",
        {**signing_keys_page_of(membership), "form": form},
        status=form_status(form),
    )


@member_page("accounts.signingkey.revoke")
def signing_key_revoke(request: HttpRequest, membership: Membership, key_id: str) -> HttpResponse:
    """Asks first, with the reason to give (GET); revokes on the confirmation's POST."""
    try:
        key = governance_selectors.signing_key_of(
            organisation=membership.organisation, key_id=key_id
        )
    except NotFound:
        raise Http404 from None
    form = SigningKeyRevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            accounts_services.signing_key_revoke(
                signing_key=key,
                reason=form.cleaned_data["reason"],
                context=audit_context(request, membership),
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Signing key revoked."))
        return redirect("portal:signing-keys", slug=membership.organisation.slug)
    return render(
        request,
        "portal/revoke_confirm.html",
        {
            "organisation": membership.organisation,
            "membership": membership,
            "what": _("signing key %(key_id)s") % {"key_id": key.key_id[:16]},
            "form": form,
            "back": "portal:signing-keys",
        },
        status=form_status(form),
    )


@member_page("accounts.membership.list", on_post="accounts.membership.invite")
def people(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The organisation's people; its admins invite more by email (POST)."""
    form = InviteForm(request.POST or None, roles=key_roles(membership))
    if request.method == "POST" and form.is_valid():
        context = audit_context(request, membership)
        if invitation_send_from_form(
            form=form, membership=membership, language=language(), context=context
        ):
            messages.success(
                request,
                _("Invitation sent to %(email)s.") % {"email": form.cleaned_data["email"]},
            )
            return redirect("portal:people", slug=membership.organisation.slug)
    return render(
        request,
        "portal/people.html",
        {
            "organisation": membership.organisation,
            "membership": membership,
            "people": governance_selectors.memberships_of(organisation=membership.organisation),
            "form": form,
        },
        status=form_status(form),
    )


@member_page("hashbank.dispute.list")
def disputes(request: HttpRequest, membership: Membership) -> HttpResponse:
    organisation = membership.organisation
    page = Paginator(hashbank_selectors.disputes_visible_to(organisation=organisation), 50)
    return render(
        request,
        "portal/disputes.html",
        {
            "organisation": organisation,
            "membership": membership,
            "page": page.get_page(request.GET.get("page")),
        },
    )
