"""The public site and signing in: the membership page, sign-up and email verification,
sign-in and out, setting a password, and where a signed-in person starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import get_language, gettext, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import services as accounts_services
from accounts.models import Role, User
from core.errors import ServiceError
from federation.governance import selectors, services
from federation.governance.forms import SignupForm
from federation.governance.models import Tier
from federation.portal.forms import InvitationAcceptForm, PortalLoginForm
from federation.portal.pages import audit_context, form_status, language
from federation.portal.services import invitation_accept_from_form
from federation.transparency.selectors import reports_published
from hashbank.models import Label
from hashbank.selectors import labels_active
from hashbank.taxonomy_text import TAXONOMY_TEXT

# The taxonomy's categories, as the public reads them (label names and descriptions are the
# taxonomy's own, fixtures/taxonomy.json).
CATEGORY_NAMES = {
    "tvec": gettext_lazy("Terrorist and violent-extremist content"),
    "crisis": gettext_lazy("Crisis content (live-streamed attacks and their copies)"),
    "csam": gettext_lazy("Child sexual abuse material"),
    "hate": gettext_lazy("Targeted hate"),
    "harassment": gettext_lazy("Targeted harassment"),
}


@dataclass(frozen=True)
class LabelText:
    """A label as the reader reads it: in their language where the catalogue has the
    taxonomy's text (hashbank/taxonomy_text.py), else in English, marked `lang="en"`."""

    name: str
    description: str
    translated: bool


def label_text(label: Label) -> LabelText:
    english = (get_language() or "en").split("-")[0] == "en"
    known = label.name in TAXONOMY_TEXT and label.description in TAXONOMY_TEXT
    if english or not known:
        return LabelText(label.name, label.description, english)
    description = gettext(label.description)
    return LabelText(gettext(label.name), description, description != label.description)


def site_home(request: HttpRequest) -> HttpResponse:
    """The public home page: what the consortium does and does not do, how hash sharing works
    and where it stops, who can join, the labels, the reports, and how to reach us."""
    categories: dict[str, list[LabelText]] = {}
    for label in labels_active():
        categories.setdefault(label.category, []).append(label_text(label))
    return render(
        request,
        "portal/site_home.html",
        {
            "categories": [
                (CATEGORY_NAMES.get(category, category), labels)
                for category, labels in categories.items()
            ],
            "reports": list(reports_published()[:5]),
            "criteria_count": selectors.criteria_current().count(),
            "contact_email": settings.HUB_CONTACT_EMAIL,
        },
    )


def membership_page(request: HttpRequest) -> HttpResponse:
    criteria = list(selectors.criteria_current())
    return render(
        request,
        "portal/membership.html",
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
                language=language(),
                context=audit_context(request),
            )
        except ServiceError:
            form.add_error("email", _("An account with this email address exists already."))
        else:
            return redirect("portal:signup-sent")
    return render(request, "portal/signup.html", {"form": form}, status=form_status(form))


def signup_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/signup_sent.html")


@require_POST
def verify_resend(request: HttpRequest) -> HttpResponse:
    """Send the confirmation link again. Answers the same whatever the address, so it tells
    nobody which addresses have an account."""
    services.verification_resend(
        email=request.POST.get("email", "")[:254],
        language=language(),
        context=audit_context(request),
    )
    return redirect("portal:signup-sent")


def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    try:
        user = services.applicant_verify_email(token=token, context=audit_context(request))
    except ServiceError as exc:
        return render(request, "portal/verify_failed.html", {"code": exc.code}, status=400)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, _("Your email address is confirmed. Welcome!"))
    return redirect("portal:home")


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """An invitee opens their link: they choose their password and join the organisation.
    An expired, used or withdrawn link says which it is."""
    try:
        invitation = services.invitation_read(token)
    except ServiceError as exc:
        return render(request, "portal/invitation_failed.html", {"code": exc.code}, status=400)
    form = InvitationAcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = invitation_accept_from_form(
                form=form, token=token, context=audit_context(request)
            )
        except ServiceError as exc:
            return render(request, "portal/invitation_failed.html", {"code": exc.code}, status=400)
        if membership is not None:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request,
                _("Welcome to %(name)s.") % {"name": membership.organisation.name},
            )
            return redirect("portal:dashboard", slug=membership.organisation.slug)
    response = render(
        request,
        "portal/invitation_accept.html",
        {"invitation": invitation, "role": dict(Role.choices)[invitation.role], "form": form},
        status=form_status(form),
    )
    response["Cache-Control"] = "no-store"
    return response


class PortalLoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    form_class = PortalLoginForm
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        # The language the person signs in with is the one the hub's emails to them use.
        accounts_services.user_language_set(
            user=form.get_user(), language=language(), context=audit_context(self.request)
        )
        return response


class PortalLogoutView(auth_views.LogoutView):
    pass


class SetPasswordView(auth_views.PasswordResetConfirmView):
    template_name = "portal/set_password.html"
    success_url = reverse_lazy("portal:set-password-done")


class SetPasswordDoneView(auth_views.PasswordResetCompleteView):
    template_name = "portal/set_password_done.html"


def home(request: HttpRequest) -> HttpResponse:
    """The portal's entry. A visitor reads what membership is and is offered to sign up or
    in; a signed-in person goes on to their organisation, else their application."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return render(
            request, "portal/welcome.html", {"criteria": list(selectors.criteria_current())}
        )
    organisation = selectors.organisations_of(user=user).first()
    if organisation is not None and not user.is_staff:
        return redirect("portal:dashboard", slug=organisation.slug)
    if user.is_staff or selectors.mentorships_of(user=user).exists():
        return redirect("portal:mentoring")
    if selectors.application_of(user=user) is not None:
        return redirect("portal:application-status")
    return redirect("portal:application-edit")
