"""Who is acting: a person through a session, or an organisation through an API key."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

from accounts.models import ApiKey, ApiKeyScope, Organisation, User


@dataclass
class Principal:
    organisation: Organisation
    role: str
    user: User | None = None
    api_key: ApiKey | None = None

    # DRF and Django ask these of `request.user`.
    is_authenticated = True
    is_anonymous = False

    @property
    def can_write(self) -> bool:
        return self.api_key is None or self.api_key.scope == ApiKeyScope.READ_WRITE

    @property
    def kind(self) -> str:
        return self.organisation.kind

    def __str__(self) -> str:
        who = (
            self.user.email if self.user else f"key {self.api_key.prefix}" if self.api_key else "?"
        )
        return f"{who} ({self.role} at {self.organisation.slug})"


def client_ip(request: HttpRequest) -> str | None:
    """The caller's address. X-Forwarded-For is trusted only for as many hops as
    TRUSTED_PROXY_COUNT says, counted from the right, so a client cannot choose its own
    address by sending the header itself."""
    hops = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if hops:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR") or None
