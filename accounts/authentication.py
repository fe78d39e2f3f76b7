"""DRF authentication: API keys (machines) and sessions (people in a browser).

Both resolve a Principal: the organisation, the role and, for a key, the key itself. A
suspended or offboarded organisation still authenticates, so the permission check can say
why it is refused and let the few `while_suspended` actions through.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, status
from rest_framework.request import Request

from accounts.audit import AuditContext, audit_record_denial
from accounts.models import ApiKey, Membership
from accounts.principal import Principal, client_ip
from accounts.services import API_KEY_PREFIX, api_key_matches, api_key_touch, split_api_key

_KEY_LIKE_PARAMETERS = {"api_key", "apikey", "key", "token", "access_token", "authorization"}


class ApiKeyInQuery(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "api_key_in_query"
    default_detail = (
        "API keys are accepted only in the Authorization header, never in the URL "
        "(URLs end up in logs and browser history)."
    )


def refuse_keys_in_query(request: Request) -> None:
    for name, values in request.query_params.lists():
        if name.lower() in _KEY_LIKE_PARAMETERS or any(
            v.startswith(API_KEY_PREFIX) for v in values
        ):
            raise ApiKeyInQuery()


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Principal, ApiKey] | None:
        refuse_keys_in_query(request)
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.authenticate_key(request, raw_key.strip())

    def authenticate_key(self, request: Request, raw_key: str) -> tuple[Principal, ApiKey]:
        """The principal of `raw_key`, however the request carried it; an unknown, revoked
        or expired key is refused (AuthenticationFailed) after recording the refusal."""
        parts = split_api_key(raw_key)
        api_key = None
        if parts is not None:
            api_key = (
                ApiKey.objects.select_related("organisation", "created_by")
                .filter(prefix=parts[0])
                .first()
            )
        if api_key is None or not api_key_matches(api_key, raw_key):
            self._deny(request, None, "unknown API key")
            raise exceptions.AuthenticationFailed("Unknown API key.", code="invalid_api_key")
        if api_key.revoked_at is not None:
            self._deny(request, api_key, "revoked API key")
            raise exceptions.AuthenticationFailed(
                "This API key is revoked.", code="api_key_revoked"
            )
        if not api_key.is_usable():
            self._deny(request, api_key, "expired API key")
            raise exceptions.AuthenticationFailed(
                "This API key has expired.", code="api_key_expired"
            )
        api_key_touch(api_key=api_key, resolution_seconds=settings.API_KEY_LAST_USED_RESOLUTION)
        principal = Principal(
            organisation=api_key.organisation, role=api_key.role, user=None, api_key=api_key
        )
        return principal, api_key

    def _deny(self, request: Request, api_key: ApiKey | None, reason: str) -> None:
        context = AuditContext(
            organisation=api_key.organisation if api_key else None,
            api_key_prefix=api_key.prefix if api_key else "",
            ip_address=client_ip(request),
        )
        audit_record_denial(action="accounts.auth.failed", context=context, reason=reason)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class OrganisationSessionAuthentication(authentication.SessionAuthentication):
    """A signed-in person acts for their organisation. Someone in several organisations
    names the one they act for in the X-Hashfed-Organisation header."""

    def authenticate(self, request: Request) -> tuple[Principal, None] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        memberships = Membership.objects.select_related("organisation").filter(user=user)
        chosen = request.headers.get("X-Hashfed-Organisation")
        if chosen:
            memberships = memberships.filter(organisation__slug=chosen)
        found = list(memberships[:2])
        if len(found) != 1:
            raise exceptions.AuthenticationFailed(
                "Name the organisation you act for in the X-Hashfed-Organisation header.",
                code="organisation_ambiguous" if found else "no_membership",
            )
        membership = found[0]
        return Principal(
            organisation=membership.organisation, role=membership.role, user=user
        ), None


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An organisation's API key: `Authorization: Bearer hf_…`",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.OrganisationSessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
