"""Every route of the hub with the action it needs: the permission matrix as seen from URLs.

Used by `manage.py permission_matrix` (docs/permissions.md) and by the test that walks every
URL pattern, so a route without a declared action cannot slip in unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

# Routes that are not API views; each says who reaches it.
NON_API_ROUTES: dict[str, str] = {
    "admin": "consortium staff (is_staff) only; Django admin's own model permissions apply",
    "schema": "public (hub.meta.read)",
    "docs": "public (hub.meta.read)",
    "healthz": "public (hub.meta.read)",
    "transparency_public:report-list": "public: published transparency reports",
    "transparency_public:report-detail": "public: one published report, charts drawn server-side",
    "transparency_public:report-json": "public: a published report as JSON",
    "transparency_public:report-csv": "public: a published report as CSV",
    "set_language": "public: the portal's language switch",
    "portal:membership": "public: membership criteria and tiers",
    "portal:signup": "public: portal sign-up",
    "portal:signup-sent": "public",
    "portal:verify": "public, with a signed email-verification token",
    "portal:login": "public",
    "portal:logout": "signed-in people",
    "portal:two-factor": "signed-in people: their own second factor, after the password",
    "portal:two-factor-setup": "signed-in people: enrol their own second factor (once they "
    "have one, only with it verified)",
    "portal:recovery-codes": "signed-in people with their second factor verified: replace "
    "their own recovery codes",
    "otp_webauthn:credential-registration-begin": "signed-in people: add their own passkey "
    "(with their second factor verified once they have one)",
    "otp_webauthn:credential-registration-complete": "signed-in people: add their own passkey",
    "otp_webauthn:credential-authentication-begin": "signed-in people: verify with their own "
    "passkey (never a sign-in by passkey alone)",
    "otp_webauthn:credential-authentication-complete": "signed-in people: verify with their "
    "own passkey",
    "otp_webauthn:js-i18n-catalog": "public: the passkey script's translations",
    "portal:set-password": "public, with a one-time set-password token",
    "portal:set-password-done": "public",
    "portal:home": "signed-in people",
    "portal:application-edit": "signed-in people: their own application only",
    "portal:application-status": "signed-in people: their own application only",
    "portal:mentoring": "signed-in people: the organisations they mentor only",
    "portal:mentee": "mentors of that organisation only (staff mentor or its mentor "
    "organisation's admins); 404 otherwise",
    "portal:dashboard": "people of that organisation only; 404 otherwise",
    "portal:api-keys": "people of that active organisation with accounts.apikey.list "
    "(issuing: accounts.apikey.issue)",
    "portal:api-key-revoke": "people of that active organisation with accounts.apikey.revoke",
    "portal:signing-keys": "people of that active organisation with "
    "accounts.signingkey.list (registering: accounts.signingkey.register)",
    "portal:signing-key-revoke": "people of that active organisation with "
    "accounts.signingkey.revoke",
    "portal:people": "people of that active organisation with accounts.membership.list",
    "portal:disputes": "people of that active organisation with hashbank.dispute.list: "
    "the disputes it is a party to",
    "portal:lawful-requests": "people of that active organisation with "
    "authorities.request.list: the requests it filed, or forwarded to it (reads logged)",
    "portal:lawful-request-file": "people of that active organisation with "
    "authorities.request.file (authority liaisons)",
    "portal:lawful-request": "people of that active organisation with "
    "authorities.request.list; 404 for a request it neither filed nor was forwarded",
    "portal:lawful-request-acknowledge": "people of that active organisation with "
    "authorities.request.answer; 404 for a request not forwarded to it",
    "portal:lawful-request-answer": "people of that active organisation with "
    "authorities.request.answer; 404 for a request not forwarded to it",
}


@dataclass(frozen=True)
class Route:
    pattern: str
    name: str
    view: object
    actions: dict[str, str]


def _walk(
    patterns: list, prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str, object]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = namespace
            if p.namespace:
                ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace and p.name else (p.name or "")
            yield prefix + str(p.pattern), name, p.callback


def all_routes() -> list[Route]:
    routes = []
    for pattern, name, callback in _walk(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        actions = dict(getattr(view_class, "actions", {}) or {})
        routes.append(
            Route(pattern=pattern, name=name, view=view_class or callback, actions=actions)
        )
    return routes


def is_admin_route(route: Route) -> bool:
    return route.pattern.startswith("admin/")
