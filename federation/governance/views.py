"""The self-service portal: server-rendered pages for applicants, members and mentors.

Each view reads through a selector that starts from the signed-in person, so another
person's application, organisation or mentee answers 404. Member pages check the action
they need against the same permission matrix as the API.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import services as accounts_services
from accounts.audit import AuditContext
from accounts.models import Membership
from accounts.permissions import is_granted, roles_at_most
from accounts.principal import Principal
from core.errors import NotFound, ServiceError
from federation.authorities import selectors as authorities_selectors
from federation.authorities.models import LawfulRequest
from federation.governance import selectors, services
from federation.governance.forms import (
    ApiKeyIssueForm,
    ApplicationForm,
    MessageForm,
    SigningKeyRegisterForm,
    SigningKeyRevokeForm,
    SignupForm,
)
from federation.governance.models import ApplicationState, Tier
from hashbank import selectors as hashbank_selectors

# The dashboard shows the open lawful requests first due; the full list is a page away.
DASHBOARD_REQUESTS = 10


def _language() -> str:
    return (get_language() or "en")[:2]


def _context(request: HttpRequest, membership: Membership | None = None) -> AuditContext:
    base = AuditContext.from_request(request)
    if membership is None:
        return base
    return AuditContext(
        user=base.user, organisation=membership.organisation, ip_address=base.ip_address
    )


def member_page(action: str | None = None) -> Callable:
    """A page of one of the person's organisations (`slug` in the URL). 404 for an
    organisation they are not in; the organisation must be active and the person's role
    granted `action` in the permission matrix (403 otherwise); a suspended or offboarded
    organisation sees why instead."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                membership = selectors.membership_in(user=request.user, slug=slug)  # type: ignore[arg-type]
            except NotFound:
                raise Http404 from None
            if not selectors.is_usable(membership.organisation):
                return render(
                    request,
                    "governance/inactive.html",
                    {
                        "organisation": membership.organisation,
                        "membership": membership,
                        "decisions": selectors.decisions_about(
                            organisation=membership.organisation
                        )[:5],
                    },
                    status=403,
                )
            if action and not is_granted(
                action, kind=membership.organisation.kind, role=membership.role
            ):
                return render(
                    request, "governance/forbidden.html", {"membership": membership}, status=403
                )
            return view(request, membership, *args, **kwargs)

        return wrapper

    return decorate


# Public pages and accounts ---------------------------------------------------------------


def membership_page(request: HttpRequest) -> HttpResponse:
    criteria = list(selectors.criteria_current())
    return render(
        request,
        "governance/membership.html",
        {
            "criteria": criteria,
            "associate_criteria": [c for c in criteria if c.required_for_tier(Tier.ASSOCIATE)],
        },
    )


def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.applicant_signup(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                full_name=form.cleaned_data["full_name"],
                language=_language(),
                context=_context(request),
            )
        except ServiceError:
            form.add_error("email", _("An account with this email address exists already."))
        else:
            return redirect("governance:signup-sent")
    return render(request, "governance/signup.html", {"form": form}, status=_status(form))


def signup_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "governance/signup_sent.html")


def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    try:
        user = services.applicant_verify_email(token=token, context=_context(request))
    except ServiceError as exc:
        return render(request, "governance/verify_failed.html", {"code": exc.code}, status=400)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, _("Your email address is confirmed. Welcome!"))
    return redirect("governance:home")


class PortalLoginView(auth_views.LoginView):
    template_name = "governance/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        # The language the person signs in with is the one the hub's emails to them use.
        accounts_services.user_language_set(
            user=form.get_user(), language=_language(), context=_context(self.request)
        )
        return response


class PortalLogoutView(auth_views.LogoutView):
    pass


class SetPasswordView(auth_views.PasswordResetConfirmView):
    template_name = "governance/set_password.html"
    success_url = reverse_lazy("governance:set-password-done")


class SetPasswordDoneView(auth_views.PasswordResetCompleteView):
    template_name = "governance/set_password_done.html"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Where a signed-in person starts: their organisation, else their application."""
    organisation = selectors.organisations_of(user=request.user).first()  # type: ignore[arg-type]
    if organisation is not None and not request.user.is_staff:  # type: ignore[union-attr]
        return redirect("governance:dashboard", slug=organisation.slug)
    if request.user.is_staff or selectors.mentorships_of(user=request.user).exists():  # type: ignore[union-attr, arg-type]
        return redirect("governance:mentoring")
    if selectors.application_of(user=request.user) is not None:  # type: ignore[arg-type]
        return redirect("governance:application-status")
    return redirect("governance:application-edit")


# The application --------------------------------------------------------------------------


def _status(form: Any) -> int:
    return 400 if form.is_bound and form.errors else 200


@login_required
def application_edit(request: HttpRequest) -> HttpResponse:
    application = selectors.application_of(user=request.user)  # type: ignore[arg-type]
    if application is None or application.state in (
        ApplicationState.APPROVED,
        ApplicationState.REJECTED,
    ):
        if request.method != "POST" and application is not None:
            return redirect("governance:application-status")
        application = services.application_start(
            applicant=request.user,  # type: ignore[arg-type]
            language=_language(),
            context=_context(request),
        )
    if not application.is_editable:
        return redirect("governance:application-status")
    criteria = list(selectors.criteria_current())
    if request.method != "POST":
        form = ApplicationForm(initial=ApplicationForm.initial_for(application), criteria=criteria)
        return render(
            request, "governance/application_form.html", {"form": form, "application": application}
        )
    form = ApplicationForm(request.POST, criteria=criteria)
    if not form.is_valid():
        messages.error(request, _("Some fields need correcting; nothing was saved yet."))
        return render(
            request,
            "governance/application_form.html",
            {"form": form, "application": application},
            status=400,
        )
    # Saved first, so even an incomplete submission keeps everything that was typed.
    application = services.application_save(
        application=application,
        facts=form.facts(),
        evidence=form.evidence(),
        language=_language(),
        context=_context(request),
    )
    if "submit" not in request.POST:
        messages.success(request, _("Draft saved. You can come back to it at any time."))
        return redirect("governance:application-edit")
    try:
        if application.state == ApplicationState.NEEDS_INFORMATION:
            messages.success(request, _("Changes saved. Answer the request below to send them."))
            return redirect("governance:application-status")
        services.application_submit(application=application, context=_context(request))
    except ServiceError as exc:
        for field, problems in exc.fields.items():
            target = form.field_for_missing(field)
            for problem in problems:
                form.add_error(
                    target, _("Required to submit: %(what)s") % {"what": problem["message"]}
                )
        messages.error(request, _("Your draft is saved, but it cannot be submitted yet."))
        return render(
            request,
            "governance/application_form.html",
            {"form": form, "application": application},
            status=400,
        )
    messages.success(request, _("Application submitted. Consortium staff will review it."))
    return redirect("governance:application-status")


@login_required
def application_status(request: HttpRequest) -> HttpResponse:
    application = selectors.application_of(user=request.user)  # type: ignore[arg-type]
    if application is None:
        return redirect("governance:application-edit")
    form = MessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.application_answer(
                application=application, body=form.cleaned_data["body"], context=_context(request)
            )
        except ServiceError as exc:
            form.add_error("body", exc.message)
        else:
            messages.success(request, _("Message sent to consortium staff."))
            return redirect("governance:application-status")
    return render(
        request,
        "governance/application_status.html",
        {
            "application": application,
            "missing": selectors.application_missing(application=application)
            if application.is_editable
            else [],
            "conversation": application.messages.select_related("author"),
            "evidence": application.evidence.select_related("criterion"),
            "form": form,
        },
        status=_status(form),
    )


# Member dashboard -------------------------------------------------------------------------


@member_page()
def dashboard(request: HttpRequest, membership: Membership) -> HttpResponse:
    # Imported here: that module builds its pages on this one's member_page.
    from federation.governance.lawful_request_views import record_reads, request_rows

    organisation = membership.organisation
    follows_requests = is_granted(
        "authorities.request.list", kind=organisation.kind, role=membership.role
    )
    open_requests: list[LawfulRequest] = []
    if follows_requests:
        open_requests = list(
            authorities_selectors.lawful_requests_open_visible_to(organisation=organisation)[
                :DASHBOARD_REQUESTS
            ]
        )
        # Listing them is a read like the API's list: each one shown is logged.
        record_reads(request, membership, open_requests, "request.list")
    return render(
        request,
        "governance/dashboard.html",
        {
            "organisation": organisation,
            "membership": membership,
            "checklist": selectors.onboarding_checklist(organisation=organisation),
            "figures": selectors.organisation_figures(organisation=organisation),
            "mentorship": selectors.current_mentorship(organisation=organisation),
            "targets": selectors.criterion_targets_of(organisation=organisation),
            "decisions": selectors.decisions_about(organisation=organisation)[:10],
            "can_submit": organisation.tier in (Tier.FULL, Tier.PROBATION),
            "follows_requests": follows_requests,
            "request_rows": request_rows(open_requests, membership=membership),
            "follows_disputes": is_granted(
                "hashbank.dispute.list", kind=organisation.kind, role=membership.role
            ),
        },
    )


def _key_roles(membership: Membership) -> list[tuple[str, str]]:
    """The roles this person may give a key: their own and the ones below it."""
    labels = dict(Membership._meta.get_field("role").choices)  # type: ignore[arg-type]
    return [
        (role, str(labels[role]))
        for role in roles_at_most(membership.organisation.kind, membership.role)
    ]


def _acting(membership: Membership) -> Principal:
    """The person signed in, acting for the organisation of `membership` with its role: the
    issuer whose limits a credential made on the portal may not exceed."""
    return Principal(
        organisation=membership.organisation, role=membership.role, user=membership.user
    )


@member_page("accounts.apikey.list")
def api_keys(request: HttpRequest, membership: Membership) -> HttpResponse:
    organisation = membership.organisation
    form = ApiKeyIssueForm(request.POST or None, roles=_key_roles(membership))
    issued = None
    if request.method == "POST":
        if not is_granted("accounts.apikey.issue", kind=organisation.kind, role=membership.role):
            raise Http404
        if form.is_valid():
            try:
                issued = accounts_services.api_key_issue(
                    organisation=organisation,
                    issuer=_acting(membership),
                    context=_context(request, membership),
                    **form.cleaned_data,
                )
            except ServiceError as exc:
                for field, problems in exc.fields.items():
                    for problem in problems:
                        form.add_error(field if field in form.fields else None, problem["message"])
            else:
                form = ApiKeyIssueForm(roles=_key_roles(membership))
    response = render(
        request,
        "governance/api_keys.html",
        {
            "organisation": organisation,
            "membership": membership,
            "keys": selectors.api_keys_of(organisation=organisation),
            "form": form,
            "issued": issued,
        },
        status=_status(form),
    )
    # The page may carry a secret shown once: never keep it in any cache.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@member_page("accounts.apikey.revoke")
def api_key_revoke(request: HttpRequest, membership: Membership, prefix: str) -> HttpResponse:
    try:
        api_key = selectors.api_key_of(organisation=membership.organisation, prefix=prefix)
    except NotFound:
        raise Http404 from None
    accounts_services.api_key_revoke(api_key=api_key, context=_context(request, membership))
    messages.success(request, _("API key %(prefix)s revoked.") % {"prefix": prefix})
    return redirect("governance:api-keys", slug=membership.organisation.slug)


@member_page("accounts.signingkey.list")
def signing_keys(request: HttpRequest, membership: Membership) -> HttpResponse:
    organisation = membership.organisation
    form = SigningKeyRegisterForm(request.POST or None)
    if request.method == "POST":
        if not is_granted(
            "accounts.signingkey.register", kind=organisation.kind, role=membership.role
        ):
            raise Http404
        if form.is_valid():
            try:
                key = accounts_services.signing_key_register(
                    organisation=organisation,
                    public_key=form.cleaned_data["public_key"],
                    name=form.cleaned_data["name"],
                    issuer=_acting(membership),
                    context=_context(request, membership),
                )
            except ServiceError as exc:
                form.add_error(
                    "public_key",
                    exc.fields.get("public_key", [{"message": exc.message}])[0]["message"],
                )
            else:
                messages.success(
                    request, _("Signing key %(key_id)s registered.") % {"key_id": key.key_id[:16]}
                )
                return redirect("governance:signing-keys", slug=organisation.slug)
    return render(
        request,
        "governance/signing_keys.html",
        {
            "organisation": organisation,
            "membership": membership,
            "keys": selectors.signing_keys_of(organisation=organisation),
            "form": form,
            "revoke_form": SigningKeyRevokeForm(),
            "can_manage": is_granted(
                "accounts.signingkey.register", kind=organisation.kind, role=membership.role
            ),
        },
        status=_status(form),
    )


@require_POST
@member_page("accounts.signingkey.revoke")
def signing_key_revoke(request: HttpRequest, membership: Membership, key_id: str) -> HttpResponse:
    try:
        key = selectors.signing_key_of(organisation=membership.organisation, key_id=key_id)
    except NotFound:
        raise Http404 from None
    form = SigningKeyRevokeForm(request.POST)
    if form.is_valid():
        try:
            accounts_services.signing_key_revoke(
                signing_key=key,
                reason=form.cleaned_data["reason"],
                context=_context(request, membership),
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Signing key revoked."))
    return redirect("governance:signing-keys", slug=membership.organisation.slug)


@member_page("accounts.membership.list")
def people(request: HttpRequest, membership: Membership) -> HttpResponse:
    return render(
        request,
        "governance/people.html",
        {
            "organisation": membership.organisation,
            "membership": membership,
            "people": selectors.memberships_of(organisation=membership.organisation),
        },
    )


@member_page("hashbank.dispute.list")
def disputes(request: HttpRequest, membership: Membership) -> HttpResponse:
    organisation = membership.organisation
    page = Paginator(hashbank_selectors.disputes_visible_to(organisation=organisation), 50)
    return render(
        request,
        "governance/disputes.html",
        {
            "organisation": organisation,
            "membership": membership,
            "page": page.get_page(request.GET.get("page")),
        },
    )


# Mentoring --------------------------------------------------------------------------------


@login_required
def mentoring(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "governance/mentoring.html",
        {"mentorships": selectors.mentorships_of(user=request.user)},  # type: ignore[arg-type]
    )


@login_required
def mentee(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        mentorship = selectors.mentee_of(user=request.user, slug=slug)  # type: ignore[arg-type]
    except NotFound:
        raise Http404 from None
    organisation = mentorship.mentee
    return render(
        request,
        "governance/mentee.html",
        {
            "organisation": organisation,
            "mentorship": mentorship,
            "checklist": selectors.onboarding_checklist(organisation=organisation),
            "figures": selectors.organisation_figures(organisation=organisation),
            "targets": selectors.criterion_targets_of(organisation=organisation),
        },
    )
