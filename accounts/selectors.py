"""Reads of the accounts domain. Every query starts from the caller's organisation."""

from __future__ import annotations

from django.db.models import QuerySet
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import (
    ApiKey,
    AuditEvent,
    Membership,
    Organisation,
    OrganisationKind,
    OrganisationStatus,
    SigningKey,
    User,
)
from core.errors import NotFound


def platforms_active() -> QuerySet[Organisation]:
    """The member platforms in good standing (not applicants, suspended or offboarded)."""
    return Organisation.objects.filter(
        kind=OrganisationKind.PLATFORM, status=OrganisationStatus.ACTIVE
    )


def api_keys_of(*, organisation: Organisation) -> QuerySet[ApiKey]:
    return organisation.api_keys.select_related("created_by").order_by("-created_at")


def api_key_of(*, organisation: Organisation, prefix: str) -> ApiKey:
    """One of the organisation's keys; another organisation's key is NotFound, never 403,
    so a caller learns nothing about keys it does not hold."""
    try:
        return organisation.api_keys.get(prefix=prefix)
    except ApiKey.DoesNotExist:
        raise NotFound("no such API key") from None


def signing_keys_of(*, organisation: Organisation) -> QuerySet[SigningKey]:
    return organisation.signing_keys.order_by("-created_at")


def signing_keys_published() -> QuerySet[SigningKey]:
    """Every member's signing keys, as every member platform may read them to verify the
    envelopes behind listed hashes: all keys of platforms and peer hubs that are or were
    members (suspended and offboarded members' keys included, so their old signatures stay
    verifiable; applicants' keys are not published). Revoked keys stay, with why."""
    return (
        SigningKey.objects.filter(
            organisation__kind__in=[OrganisationKind.PLATFORM, OrganisationKind.PEER_HUB]
        )
        .exclude(organisation__status=OrganisationStatus.APPLICANT)
        .select_related("organisation")
        .order_by("organisation__slug", "created_at", "key_id")
    )


def signing_key_of(*, organisation: Organisation, key_id: str) -> SigningKey:
    try:
        return organisation.signing_keys.get(key_id=key_id)
    except SigningKey.DoesNotExist:
        raise NotFound("no such signing key") from None


def memberships_of(*, organisation: Organisation) -> QuerySet[Membership]:
    return organisation.memberships.select_related("user").order_by("user__email")


def audit_events_of(*, organisation: Organisation) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(organisation_id=organisation.pk).order_by("-sequence")


def passkeys_of(*, user: User) -> QuerySet[WebAuthnCredential]:
    """This person's registered passkeys (django-otp-webauthn credentials)."""
    passkeys: QuerySet[WebAuthnCredential] = WebAuthnCredential.objects.filter(
        user=user, confirmed=True
    )
    return passkeys
