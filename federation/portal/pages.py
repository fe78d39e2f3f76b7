"""What the portal's pages share: the member-page decorator, which checks a page's declared
action exactly as the API checks a view's, and the audit context a page acts in."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language

from accounts.access import ORGANISATION_INACTIVE, action_refusal
from accounts.audit import AuditContext, audit_record_denial
from accounts.models import Membership, User
from accounts.principal import Principal
from core.errors import NotFound
from federation.governance import selectors as governance_selectors


def signed_in(request: HttpRequest) -> User:
    """The person behind a login_required view."""
    user = request.user
    assert isinstance(user, User), "login_required comes first"
    return user


def second_factor_verified(request: HttpRequest) -> bool:
    """Whether this session has passed its second factor. django-otp's middleware gives
    request.user an is_verified() the type stubs do not know."""
    return bool(request.user.is_verified())  # type: ignore[union-attr]


def audit_context(request: HttpRequest, membership: Membership | None = None) -> AuditContext:
    """The request's audit context, acting for `membership`'s organisation when given."""
    base = AuditContext.from_request(request)
    if membership is None:
        return base
    return AuditContext(
        user=base.user, organisation=membership.organisation, ip_address=base.ip_address
    )


def acting(membership: Membership) -> Principal:
    """The person signed in, acting for the organisation of `membership` with its role: the
    principal a member page is checked as, and the issuer whose limits a credential made on
    the portal may not exceed."""
    return Principal(
        organisation=membership.organisation, role=membership.role, user=membership.user
    )


def language() -> str:
    """The language of the page being answered: the one the hub's emails to the person
    will use."""
    return (get_language() or "en")[:2]


def form_status(form: Any) -> int:
    return 400 if form.is_bound and form.errors else 200


def _inactive(request: HttpRequest, membership: Membership) -> HttpResponse:
    organisation = membership.organisation
    return render(
        request,
        "portal/inactive.html",
        {
            "organisation": organisation,
            "membership": membership,
            "decisions": governance_selectors.decisions_about(organisation=organisation)[:5],
        },
        status=403,
    )


def member_page(action: str | None = None, *, on_post: str | None = None) -> Callable:
    """A page of one of the person's organisations (`slug` in the URL), called with their
    membership. 404 for an organisation they are not in. The page declares the matrix
    action it needs (`on_post` for a POST, when that differs), checked by the same
    accounts.access.action_refusal as the API, so a refusal is audited and `while_suspended`
    is honoured: a refused role sees why (403), an organisation the action is closed to sees
    its status and how to appeal (403). A page declaring no action is open to every member
    of an active organisation. Trying another organisation's page is audited too (404)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            declared = on_post if request.method == "POST" and on_post else action
            try:
                membership = governance_selectors.membership_in(user=signed_in(request), slug=slug)
            except NotFound:
                # Another organisation's page does not exist for this person; trying one
                # is refused like any other attempt, in the same audit trail.
                audit_record_denial(
                    action=declared or f"portal.{view.__name__}",
                    context=AuditContext.from_request(request),
                    reason="not a member of the organisation",
                )
                raise Http404 from None
            if declared is None:
                if not governance_selectors.is_usable(membership.organisation):
                    return _inactive(request, membership)
                return view(request, membership, *args, **kwargs)
            refusal = action_refusal(
                declared,
                principal=acting(membership),
                context=audit_context(request, membership),
            )
            if refusal is None:
                return view(request, membership, *args, **kwargs)
            if refusal.code == ORGANISATION_INACTIVE:
                return _inactive(request, membership)
            return render(request, "portal/forbidden.html", {"membership": membership}, status=403)

        return wrapper

    return decorate
