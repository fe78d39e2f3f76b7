"""Writes of the accounts domain. Every state change records an audit event in the same
transaction; callers pass an AuditContext saying who acts and from where."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import string
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django_otp import match_token
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.audit import AuditContext, audit_record
from accounts.models import (
    ApiKey,
    ApiKeyScope,
    AuditOutcome,
    Membership,
    Organisation,
    OrganisationKind,
    OrganisationStatus,
    RevocationReason,
    SigningKey,
    Tier,
    User,
)
from accounts.permissions import ROLES_BY_KIND, role_belongs_to_kind, roles_at_most
from accounts.principal import Principal
from core.errors import Conflict, Invalid, NotPermitted
from hashfed_wire.ed25519 import PublicKeyError, key_id_for, parse_public_key

API_KEY_PREFIX = "hf_"
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_PREFIX_LENGTH = 10
# Keys are 256 random bits, so a fast digest is as strong as a slow password hash here and
# keeps authentication cheap; the prefix finds the row without scanning.
MAX_API_KEY_LIFETIME = dt.timedelta(days=730)
SIGNING_CLOCK_ALLOWANCE = dt.timedelta(minutes=5)


def _within_issuer_role(*, issuer: Principal | None, organisation: Organisation, role: str) -> None:
    """Nobody hands on a role above their own: a key or person may create credentials with
    their own role or a lower one of the same organisation, never a higher one. `issuer`
    None is the hub itself (staff in admin, the application approval)."""
    if issuer is None:
        return
    if issuer.organisation.pk != organisation.pk:
        raise NotPermitted.for_field(
            "role", "credentials are created for one's own organisation only", code="not_own"
        )
    allowed = roles_at_most(organisation.kind, issuer.role)
    if role not in allowed:
        raise NotPermitted.for_field(
            "role",
            f"a {issuer.role} may grant the roles {', '.join(allowed) or 'none'}, not {role}",
            code="above_own_role",
        )


def _within_issuer_expiry(
    *, issuer: Principal | None, field: str, expires_at: dt.datetime | None
) -> None:
    """A credential created by an API key ends no later than that key: a one-hour key
    cannot mint a key, or a signing key, that outlives it."""
    if issuer is None or issuer.api_key is None or issuer.api_key.expires_at is None:
        return
    ceiling = issuer.api_key.expires_at
    if expires_at is None or expires_at > ceiling:
        raise NotPermitted.for_field(
            field,
            f"the key making this request expires at {ceiling.isoformat()}; "
            f"{field} must be set and no later than that",
            code="beyond_own_expiry",
        )


def api_key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def split_api_key(raw_key: str) -> tuple[str, str] | None:
    """'hf_<prefix>_<secret>' → (prefix, secret), or None if it is not shaped like a key."""
    if not raw_key.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, secret = raw_key[len(API_KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != _PREFIX_LENGTH or not secret:
        return None
    return prefix, secret


def api_key_matches(api_key: ApiKey, raw_key: str) -> bool:
    return hmac.compare_digest(api_key.digest, api_key_digest(raw_key))


@transaction.atomic
def organisation_create(
    *,
    slug: str,
    name: str,
    kind: str,
    country: str,
    status: str = OrganisationStatus.ACTIVE,
    tier: str | None = None,
    context: AuditContext,
) -> Organisation:
    if kind == OrganisationKind.PLATFORM and tier is None:
        tier = Tier.ASSOCIATE
    if Organisation.objects.filter(slug=slug).exists():
        raise Conflict.for_field("slug", f"an organisation {slug!r} exists already")
    org = Organisation.objects.create(
        slug=slug, name=name, kind=kind, country=country.upper(), status=status, tier=tier
    )
    audit_record(
        action="accounts.organisation.created",
        context=context,
        target=org,
        organisation=org,
        detail={"kind": kind, "status": status, "tier": tier},
    )
    return org


@transaction.atomic
def membership_add(
    *,
    user: User,
    organisation: Organisation,
    role: str,
    granted_by: Principal | None = None,
    context: AuditContext,
) -> Membership:
    """Give `user` a role in `organisation`. `granted_by` is the person or key granting it
    (None: the hub itself); nobody grants a role above their own. Raises Invalid for a role
    the kind does not have, NotPermitted above the granter's role, Conflict for a person who
    has another role there already."""
    if not role_belongs_to_kind(role, organisation.kind):
        raise Invalid.for_field(
            "role",
            f"a {organisation.kind} organisation has the roles "
            f"{', '.join(ROLES_BY_KIND[organisation.kind])}",
        )
    _within_issuer_role(issuer=granted_by, organisation=organisation, role=role)
    membership, created = Membership.objects.get_or_create(
        user=user, organisation=organisation, defaults={"role": role}
    )
    if not created and membership.role != role:
        raise Conflict.for_field("user", "this person is already a member with another role")
    if created:
        audit_record(
            action="accounts.membership.created",
            context=context,
            target=membership,
            organisation=organisation,
            detail={"user": user.email, "role": role},
        )
    return membership


@transaction.atomic
def api_key_issue(
    *,
    organisation: Organisation,
    name: str,
    role: str,
    scope: str,
    expires_at: dt.datetime | None,
    issuer: Principal | None = None,
    context: AuditContext,
    raw_key: str | None = None,
) -> tuple[ApiKey, str]:
    """Issue a key. Returns the row and the only copy of the secret the hub will ever hold.
    `raw_key` is for the demo alone (its keys, derived from the secret key, survive
    restarts); None draws a random key.
    Raises Invalid for a role the organisation's kind does not have, an unknown scope, or an
    expiry in the past or too far ahead; NotPermitted for a key with more than its issuer
    has (`issuer`, None for the hub itself): a role above the issuer's, read-write from a
    read-only key, a later expiry than the issuing key's (`role`, `scope`, `expires_at`)."""
    if not role_belongs_to_kind(role, organisation.kind):
        raise Invalid.for_field(
            "role",
            f"a {organisation.kind} organisation's keys take one of the roles "
            f"{', '.join(ROLES_BY_KIND[organisation.kind])}",
            code="invalid_choice",
        )
    if scope not in ApiKeyScope.values:
        raise Invalid.for_field("scope", "scope is read or read_write", code="invalid_choice")
    _within_issuer_role(issuer=issuer, organisation=organisation, role=role)
    if issuer is not None and not issuer.can_write and scope != ApiKeyScope.READ:
        raise NotPermitted.for_field(
            "scope", "a read-only key issues read-only keys only", code="above_own_scope"
        )
    _within_issuer_expiry(issuer=issuer, field="expires_at", expires_at=expires_at)
    now = timezone.now()
    if expires_at is not None:
        if expires_at <= now:
            raise Invalid.for_field("expires_at", "the expiry must be in the future")
        if expires_at > now + MAX_API_KEY_LIFETIME:
            raise Invalid.for_field("expires_at", "an API key lives two years at most")
    if raw_key is None:
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(_PREFIX_LENGTH))
        raw_key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    parts = split_api_key(raw_key)
    if parts is None:
        raise ValueError("not an API key: hf_<10 characters>_<secret>")
    prefix = parts[0]
    api_key = ApiKey.objects.create(
        organisation=organisation,
        name=name,
        prefix=prefix,
        digest=api_key_digest(raw_key),
        role=role,
        scope=scope,
        created_by=context.user,
        expires_at=expires_at,
    )
    audit_record(
        action="accounts.apikey.issued",
        context=context,
        target=api_key,
        organisation=organisation,
        detail={
            "prefix": prefix,
            "role": role,
            "scope": scope,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return api_key, raw_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, context: AuditContext) -> ApiKey:
    """Revoke now; the very next request with the key is refused. Revoking twice is a no-op
    that keeps the first revocation time."""
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is not None:
        return api_key
    api_key.revoked_at = timezone.now()
    api_key.revoked_by = context.user
    api_key.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(
        action="accounts.apikey.revoked",
        context=context,
        target=api_key,
        organisation=api_key.organisation,
        detail={"prefix": api_key.prefix},
    )
    return api_key


def api_key_touch(*, api_key: ApiKey, resolution_seconds: int) -> None:
    """Record use, at most once per `resolution_seconds`, so reads do not all become writes."""
    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < dt.timedelta(
        seconds=resolution_seconds
    ):
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


@transaction.atomic
def signing_key_register(
    *,
    organisation: Organisation,
    public_key: str,
    name: str = "",
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
    issuer: Principal | None = None,
    context: AuditContext,
) -> SigningKey:
    """Register an Ed25519 public key (PEM or raw base64). Raises Invalid for an unreadable
    key or window, Conflict when the same key is registered already (by anyone),
    NotPermitted when an expiring API key (`issuer`) registers a key valid beyond its own
    expiry (`valid_until`)."""
    try:
        raw = parse_public_key(public_key)
    except PublicKeyError as exc:
        raise Invalid.for_field("public_key", str(exc), code="invalid_public_key") from exc
    # Without an explicit start, the key is valid from a little before registration: a member
    # that registers a key and signs at once must not be refused over a clock difference.
    valid_from = valid_from or timezone.now() - SIGNING_CLOCK_ALLOWANCE
    if valid_until is not None and valid_until <= valid_from:
        raise Invalid.for_field("valid_until", "valid_until must come after valid_from")
    if issuer is not None and issuer.organisation.pk != organisation.pk:
        raise NotPermitted("signing keys are registered for one's own organisation only")
    _within_issuer_expiry(issuer=issuer, field="valid_until", expires_at=valid_until)
    key_id = key_id_for(raw)
    if SigningKey.objects.filter(key_id=key_id).exists():
        raise Conflict.for_field(
            "public_key", "this public key is registered already", code="duplicate_key"
        )
    try:
        with transaction.atomic():
            key = SigningKey.objects.create(
                organisation=organisation,
                key_id=key_id,
                public_key=raw,
                name=name,
                valid_from=valid_from,
                valid_until=valid_until,
                created_by=context.user,
            )
    except IntegrityError as exc:  # a concurrent registration of the same key
        raise Conflict.for_field(
            "public_key", "this public key is registered already", code="duplicate_key"
        ) from exc
    audit_record(
        action="accounts.signingkey.registered",
        context=context,
        target=key,
        organisation=organisation,
        detail={
            "key_id": key_id,
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat() if valid_until else None,
        },
    )
    return key


# What must happen, in the revocation's own transaction, when a key is declared compromised:
# the shared list lives in hashbank, which depends on this app and not the other way round,
# so it registers its handler here when it loads. Handlers must be idempotent.
CompromiseHandler = Callable[[SigningKey, AuditContext], None]
_compromise_handlers: list[CompromiseHandler] = []


def signing_key_compromise_handler_register(handler: CompromiseHandler) -> None:
    if handler not in _compromise_handlers:
        _compromise_handlers.append(handler)


@transaction.atomic
def signing_key_revoke(
    *,
    signing_key: SigningKey,
    reason: str,
    compromised_since: dt.datetime | None = None,
    context: AuditContext,
) -> SigningKey:
    """Revoke a signing key. New submissions signed with it are refused from now on.
    For `superseded` and `retired`, signatures made before now stay verifiable (rotation);
    for `compromised`, nothing signed or received from `compromised_since` (default: now)
    is trusted, and the registered compromise handlers withdraw it from the list in this
    same transaction.

    A key revoked already may still be declared compromised, or compromised from an earlier
    time (a rotated key found stolen later); any other second revocation is a Conflict
    (`already_revoked`) and changes nothing. Raises Invalid for a bad reason or time."""
    key = SigningKey.objects.select_for_update().get(pk=signing_key.pk)
    if reason not in RevocationReason.values:
        raise Invalid.for_field(
            "reason",
            f"reason is one of {', '.join(RevocationReason.values)}",
            code="invalid_choice",
        )
    now = timezone.now()
    if compromised_since is not None:
        if reason != RevocationReason.COMPROMISED:
            raise Invalid.for_field(
                "compromised_since", "only a compromised key has a compromise time"
            )
        if compromised_since > now:
            raise Invalid.for_field("compromised_since", "the compromise time cannot be ahead")
    previous_reason = key.revocation_reason
    if key.revoked_at is not None:
        widens = reason == RevocationReason.COMPROMISED and (
            previous_reason != RevocationReason.COMPROMISED
            or (
                compromised_since is not None
                and key.compromised_since is not None
                and compromised_since < key.compromised_since
            )
        )
        if not widens:
            raise Conflict("this signing key is revoked already", code="already_revoked")
    else:
        key.revoked_at = now
    key.revocation_reason = reason
    if reason == RevocationReason.COMPROMISED:
        key.compromised_since = compromised_since or now
    key.save(update_fields=["revoked_at", "revocation_reason", "compromised_since"])
    audit_record(
        action="accounts.signingkey.revoked",
        context=context,
        target=key,
        organisation=key.organisation,
        detail={
            "key_id": key.key_id,
            "reason": reason,
            "previous_reason": previous_reason or None,
            "compromised_since": key.compromised_since.isoformat()
            if key.compromised_since
            else None,
        },
    )
    if reason == RevocationReason.COMPROMISED:
        for handler in _compromise_handlers:
            handler(key, context)
    return key


@transaction.atomic
def user_language_set(*, user: User, language: str, context: AuditContext) -> bool:
    """Remember the language `user` uses in the portal: the hub's emails to them are written
    in it. Only languages the hub offers are kept; returns whether it changed."""
    from django.conf import settings

    if language not in dict(settings.LANGUAGES) or user.language == language:
        return False
    User.objects.filter(pk=user.pk).update(language=language)
    user.language = language
    audit_record(
        action="accounts.user.language_set",
        context=context,
        target=user,
        detail={"language": language},
    )
    return True


# Second factor ------------------------------------------------------------------------------

RECOVERY_CODE_COUNT = 10


def totp_device_pending(*, user: User) -> TOTPDevice:
    """The TOTP device this person is enrolling: the unconfirmed one they started, else a
    new one with a fresh secret. Nothing counts on it until totp_device_confirm."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def totp_device_confirm(*, device: TOTPDevice, token: str, context: AuditContext) -> list[str]:
    """Confirm an enrolling TOTP device with a code from the app, and issue fresh recovery
    codes (returned once, in clear; only their use is recorded afterwards). Raises Invalid
    (field `token`) for a wrong code."""
    # Checked outside any transaction: a wrong code's throttling must outlive the error.
    if device.confirmed or not device.verify_token(token.strip().replace(" ", "")):
        # Shown on the portal's second-factor pages, in the reader's language.
        raise Invalid.for_field("token", gettext("That code is not the one the app shows now."))
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        audit_record(
            action="accounts.second_factor.enrolled",
            context=context,
            target=device.user,
            detail={"device": "totp"},
        )
        return recovery_codes_issue(user=device.user, context=context)


@transaction.atomic
def recovery_codes_issue(*, user: User, context: AuditContext) -> list[str]:
    """Replace this person's recovery codes with RECOVERY_CODE_COUNT new ones, each good for
    one sign-in, and return them (the only time they are shown)."""
    device, _ = StaticDevice.objects.get_or_create(user=user, defaults={"name": "Recovery codes"})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    audit_record(
        action="accounts.second_factor.recovery_codes_issued", context=context, target=user
    )
    return codes


def second_factor_verify(*, user: User, token: str, context: AuditContext) -> Device:
    """The device (TOTP app or recovery code) that accepts this token. A recovery code is
    used up by it. Each device throttles its own failures, which is why this runs outside a
    transaction: the failure count must outlive the error. Raises Invalid (field `token`)."""
    device = match_token(user, token.strip().replace(" ", ""))
    if device is None:
        audit_record(
            action="accounts.second_factor.verified",
            context=context,
            outcome=AuditOutcome.FAILED,
            target=user,
        )
        raise Invalid.for_field("token", gettext("That code is not valid."))
    audit_record(
        action="accounts.second_factor.verified",
        context=context,
        target=user,
        detail={"device": device._meta.label_lower},
    )
    return device
