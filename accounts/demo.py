"""The demo cast from fixtures/demo/cast.json: organisations of every kind, people in every
role, and an API key per person's role. Loading twice is safe."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q

from accounts import services
from accounts.audit import AuditContext
from accounts.models import ApiKey, ApiKeyScope, Organisation, OrganisationKind, User

CAST_FILE = Path(settings.BASE_DIR) / "fixtures" / "demo" / "cast.json"
DEMO_KEY_NAME = "demo key"
MODERATORS_GROUP = "Moderators"


@dataclass
class DemoAccount:
    organisation: str
    kind: str
    email: str
    role: str
    password: str
    api_key: str


def moderators_group() -> Group:
    """Staff who moderate but do not administer: they see everything in admin and change
    the moderation models, not people or keys."""
    group, _ = Group.objects.get_or_create(name=MODERATORS_GROUP)
    view = Permission.objects.filter(codename__startswith="view_")
    # Admin actions that moderate (approve, reject, decide, mark in review, triage complaints
    # from the public) need change rights on these models; their detail pages stay
    # read-only regardless.
    moderate = Permission.objects.filter(
        Q(
            content_type__app_label="hashbank",
            codename__in=["change_submission", "change_dispute", "change_signal"],
        )
        | Q(content_type__app_label="complaints", codename="change_complaint")
    )
    group.permissions.add(*view, *moderate)
    return group


def demo_api_key(organisation: str, role: str, generation: int = 0) -> str:
    """The demo key of an organisation's role, derived from the secret key (kept in the state
    folder by `./dev serve`), so the keys `load_demo` prints stay valid across restarts and
    differ from one installation to the next. A later generation replaces a revoked one."""
    message = f"hashfed demo api key\x00{organisation}\x00{role}\x00{generation}".encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()
    prefix = "".join(string.ascii_lowercase[byte % 26] for byte in digest[:10])
    secret = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return f"{services.API_KEY_PREFIX}{prefix}_{secret}"


def _demo_key_keep(org: Organisation, role: str, context: AuditContext) -> str:
    """The role's demo key: the one already issued if it is still valid, else a new one (the
    next generation when the last was revoked by hand), the role's other demo keys revoked."""
    generation = 0
    while ApiKey.objects.filter(
        prefix=demo_api_key(org.slug, role, generation).split("_")[1], revoked_at__isnull=False
    ).exists():
        generation += 1
    raw_key = demo_api_key(org.slug, role, generation)
    current = ApiKey.objects.filter(
        organisation=org, role=role, digest=services.api_key_digest(raw_key), revoked_at=None
    ).first()
    others = ApiKey.objects.filter(
        organisation=org, role=role, name=DEMO_KEY_NAME, revoked_at__isnull=True
    )
    for old in others.exclude(pk=current.pk) if current else others:
        services.api_key_revoke(api_key=old, context=context)
    if current is None:
        services.api_key_issue(
            organisation=org,
            name=DEMO_KEY_NAME,
            role=role,
            scope=ApiKeyScope.READ_WRITE,
            expires_at=None,
            context=context,
            raw_key=raw_key,
        )
    return raw_key


@transaction.atomic
def load_demo_cast(path: Path = CAST_FILE) -> list[DemoAccount]:
    cast = json.loads(path.read_text())
    context = AuditContext.system()
    accounts: list[DemoAccount] = []
    for spec in cast["organisations"]:
        org = Organisation.objects.filter(slug=spec["slug"]).first()
        if org is None:
            org = services.organisation_create(
                slug=spec["slug"],
                name=spec["name"],
                kind=spec["kind"],
                country=spec["country"],
                tier=spec.get("tier"),
                status="active",
                context=context,
            )
        org.trusted_contributor = spec.get("trusted_contributor", False)
        org.status = spec.get("status", "active")
        org.status_reason = spec.get("status_reason", "")
        org.save()
        for person in spec["people"]:
            email, full_name, role, *flags = person
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email, cast["password"], full_name=full_name)
            user.is_staff = spec["kind"] == OrganisationKind.CONSORTIUM
            user.is_superuser = "superuser" in flags
            user.save()
            if "staff" in flags:
                user.groups.add(moderators_group())
            services.membership_add(user=user, organisation=org, role=role, context=context)
            raw_key = _demo_key_keep(org, role, context)
            accounts.append(DemoAccount(org.slug, org.kind, email, role, cast["password"], raw_key))
    return accounts


@dataclass
class DemoSecondFactor:
    email: str
    totp_key: str  # base32, as authenticator apps take it
    recovery_codes: list[str]


def demo_second_factors() -> list[DemoSecondFactor]:
    """Staff need a second factor for admin: each demo staff account gets an authenticator
    key (kept across loads, so an app set up once keeps working) and fresh recovery codes."""
    import base64

    from django_otp.plugins.otp_totp.models import TOTPDevice

    factors = []
    context = AuditContext.system()
    for user in User.objects.filter(is_staff=True, email__endswith="@consortium.example"):
        device, _ = TOTPDevice.objects.get_or_create(
            user=user, name="Demo authenticator", defaults={"confirmed": True}
        )
        codes = services.recovery_codes_issue(user=user, context=context)
        key = base64.b32encode(device.bin_key).decode()
        factors.append(DemoSecondFactor(user.email, key, codes))
    return factors
