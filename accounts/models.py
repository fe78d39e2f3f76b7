"""Identity and access: organisations, people, their roles, API keys, signing keys, audit."""

from __future__ import annotations

import datetime as dt
import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OrganisationKind(models.TextChoices):
    PLATFORM = "platform", _("Member platform")
    AUTHORITY = "authority", _("Public authority")
    RESEARCH = "research", _("Research organisation")
    CONSORTIUM = "consortium", _("Consortium staff")
    PEER_HUB = "peer_hub", _("Peer hub")


class OrganisationStatus(models.TextChoices):
    APPLICANT = "applicant", _("Applicant")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    OFFBOARDED = "offboarded", _("Offboarded")


class Tier(models.TextChoices):
    FULL = "full", _("Full member")
    ASSOCIATE = "associate", _("Associate member")
    PROBATION = "probation", _("Probation")


# Full members and members on probation submit hashes and read the banks open to full
# members; associates look up, match and read only the banks open to all members.
CONTRIBUTING_TIERS = (Tier.FULL, Tier.PROBATION)


class Organisation(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=OrganisationKind.choices)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code")
    status = models.CharField(
        max_length=16, choices=OrganisationStatus.choices, default=OrganisationStatus.APPLICANT
    )
    status_reason = models.TextField(blank=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, null=True, blank=True)
    # Trusted contributors' submissions are approved on arrival and reviewed afterwards.
    trusted_contributor = models.BooleanField(default=False)
    website = models.URLField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Tiers describe platform membership only, and every platform has one.
            models.CheckConstraint(
                condition=(
                    models.Q(kind="platform", tier__isnull=False)
                    | (~models.Q(kind="platform") & models.Q(tier__isnull=True))
                ),
                name="organisation_tier_only_for_platforms",
            ),
            models.CheckConstraint(
                condition=models.Q(country__regex=r"^[A-Z]{2}$"),
                name="organisation_country_iso_alpha2",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == OrganisationStatus.ACTIVE

    @property
    def may_contribute(self) -> bool:
        """An active member platform in a contributing tier (only platforms have a tier)."""
        return self.is_active and self.tier in CONTRIBUTING_TIERS


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        if not email:
            raise ValueError("A user needs an email address")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. People sign in with their email address; what they may do comes from their
    memberships (the role they hold in an organisation), and `is_staff` opens Django admin."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # The language emails to this person are written in: the one they last used in the
    # portal; empty until then, which means the hub's default (settings.LANGUAGE_CODE).
    language = models.CharField(max_length=8, blank=True, default="")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.email


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    ANALYST = "analyst", _("Analyst")
    VIEWER = "viewer", _("Read-only viewer")
    LIAISON = "liaison", _("Government liaison")
    RESEARCHER = "researcher", _("Researcher")
    MODERATOR = "moderator", _("Moderator")
    GOVERNANCE_OFFICER = "governance_officer", _("Governance officer")
    PEER = "peer", _("Peer hub operator")


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=24, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["organisation__name", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.organisation}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from accounts.permissions import ROLES_BY_KIND

        roles = ROLES_BY_KIND.get(self.organisation.kind, ()) if self.organisation_id else ()
        if self.organisation_id and self.role not in roles:
            raise ValidationError(
                {
                    "role": f"a {self.organisation.kind} organisation has the "
                    f"roles {', '.join(roles)}"
                }
            )


class ApiKeyScope(models.TextChoices):
    READ = "read", _("Read only")
    READ_WRITE = "read_write", _("Read and write")


class ApiKey(models.Model):
    """A machine credential of one organisation. The secret is shown once at issue; the hub
    keeps its SHA-256 digest and a short public prefix to find the row."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    role = models.CharField(max_length=24, choices=Role.choices)
    scope = models.CharField(max_length=16, choices=ApiKeyScope.choices)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix} ({self.name})"

    def is_usable(self, at: dt.datetime | None = None) -> bool:
        at = at or timezone.now()
        if self.revoked_at is not None and self.revoked_at <= at:
            return False
        return self.expires_at is None or at < self.expires_at

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class RevocationReason(models.TextChoices):
    SUPERSEDED = "superseded", _("Superseded (rotation)")
    COMPROMISED = "compromised", _("Key compromised")
    RETIRED = "retired", _("No longer used")


class SigningKey(models.Model):
    """An Ed25519 public key an organisation signs its submissions with.

    A key signs for `valid_from <= created_at < valid_until`. Revocation stops new
    submissions at once but keeps older signatures verifiable (rotation), except for a
    compromise: from `compromised_since` on, nothing signed with the key is trusted.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="signing_keys"
    )
    key_id = models.CharField(max_length=64, unique=True)
    public_key = models.BinaryField(max_length=32)
    name = models.CharField(max_length=100, blank=True)
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.CharField(
        max_length=16, choices=RevocationReason.choices, blank=True
    )
    compromised_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(key_id__regex=r"^[0-9a-f]{64}$"), name="signingkey_key_id_hex"
            ),
            models.CheckConstraint(
                condition=models.Q(valid_until__isnull=True)
                | models.Q(valid_until__gt=models.F("valid_from")),
                name="signingkey_window_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True, revocation_reason="")
                | models.Q(revoked_at__isnull=False) & ~models.Q(revocation_reason=""),
                name="signingkey_revocation_has_reason",
            ),
            models.CheckConstraint(
                condition=models.Q(compromised_since__isnull=True)
                | models.Q(revocation_reason="compromised"),
                name="signingkey_compromise_only_when_compromised",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key_id[:16]}… ({self.organisation})"

    @property
    def public_key_bytes(self) -> bytes:
        return bytes(self.public_key)

    def signs_at(self, created_at: dt.datetime) -> bool:
        """Whether a signature made at `created_at` is trustworthy (re-verification)."""
        if created_at < self.valid_from:
            return False
        if self.valid_until is not None and created_at >= self.valid_until:
            return False
        if self.revocation_reason == RevocationReason.COMPROMISED:
            untrusted_from = self.compromised_since or self.revoked_at
            if untrusted_from is not None and created_at >= untrusted_from:
                return False
        return not (self.revoked_at is not None and created_at >= self.revoked_at)

    def distrusts_as_compromised(self, created_at: dt.datetime, received_at: dt.datetime) -> bool:
        """Whether a compromise voids a statement signed at `created_at` and received by the
        hub at `received_at`. Both count: whoever holds a stolen key chooses `created_at`,
        so a backdated statement that reached the hub after the compromise is void too."""
        if self.revocation_reason != RevocationReason.COMPROMISED:
            return False
        untrusted_from = self.compromised_since or self.revoked_at
        if untrusted_from is None:
            return False
        return created_at >= untrusted_from or received_at >= untrusted_from

    def accepts_new_signature(self, created_at: dt.datetime, now: dt.datetime) -> bool:
        """Whether the hub accepts a submission signed at `created_at`, received `now`."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.signs_at(created_at)

    @property
    def state(self) -> str:
        now = timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.valid_until is not None and self.valid_until <= now:
            return "expired"
        if self.valid_from > now:
            return "scheduled"
        return "active"


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", _("Success")
    DENIED = "denied", _("Denied")
    FAILED = "failed", _("Failed")


class AuditEvent(models.Model):
    """One entry of the append-only, hash-chained audit trail.

    No foreign keys: an event must outlive whatever it names, and deleting a user must never
    need to rewrite history. `entry_hash` = SHA-256(previous hash ‖ canonical JSON of the
    event's fields); `manage.py verify_audit_chain` recomputes the chain.
    """

    sequence = models.BigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    action = models.CharField(max_length=100, db_index=True)
    outcome = models.CharField(max_length=8, choices=AuditOutcome.choices)
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    actor_email = models.CharField(max_length=254, blank=True)
    organisation_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    organisation_slug = models.CharField(max_length=64, blank=True, db_index=True)
    api_key_prefix = models.CharField(max_length=16, blank=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-sequence"]
        indexes = [models.Index(fields=["occurred_at"], name="auditevent_occurred_idx")]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} ({self.outcome})"


class HubInstance(models.Model):
    """This database's hub: one row, created by the migrations. Everything the hub derives
    and keeps outside the database (the PDQ index files, snapshots, the generated signing
    key and development secret) is bound to `hub_id`, so two hubs sharing a state folder
    never serve each other's files."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    hub_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    signing_key_id = models.CharField(
        max_length=64, blank=True, help_text="the hub signing key bound at first use"
    )
    secret_key_fingerprint = models.CharField(
        max_length=64, blank=True, help_text="the generated development secret bound at first use"
    )
    next_signing_key_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="the key that signs beside the hub key during a rotation (rotate_hub_key)",
    )
    witness_key_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="the key this hub cosigns peer checkpoints with, bound at first use",
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="hub_instance_single")]

    def __str__(self) -> str:
        return f"hub {self.hub_id}"


class HubKeyStatus(models.TextChoices):
    CURRENT = "current", "current"
    NEXT = "next", "next (signs beside the current key during a rotation)"
    RETIRED = "retired", "retired (signs nothing; published to check what it signed)"


class HubSigningKey(models.Model):
    """A public key the hub signs or signed with, as /.well-known/hashfed publishes it. The
    binding to the key files is HubInstance's (`signing_key_id`, `next_signing_key_id`);
    these rows keep what a rotation started and retired, so a member can still check what
    a retired key signed."""

    key_id = models.CharField(max_length=64, unique=True)
    public_key = models.CharField(max_length=64, help_text="raw Ed25519 public key, base64")
    status = models.CharField(max_length=8, choices=HubKeyStatus.choices)
    valid_from = models.DateTimeField(
        null=True,
        blank=True,
        help_text="when it began signing: a rotation's begin, or for the hub's first key "
        "when the hub's identity was created (the key is bound at its first use, no earlier)",
    )
    valid_until = models.DateTimeField(null=True, blank=True, help_text="when it was retired")

    class Meta:
        ordering = ["-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=~models.Q(status="retired"),
                name="hub_signing_key_one_current_one_next",
            )
        ]

    def __str__(self) -> str:
        return f"{self.key_id[:16]}… ({self.status})"


class HubKeyTransition(models.Model):
    """The statement the hub signs when a rotation begins: the old key names the new one,
    and both sign it (hashfed_wire.key_transition). /.well-known/hashfed publishes them all,
    oldest first, so a member that pinned any earlier key can follow the chain to the key in
    use."""

    old_key_id = models.CharField(max_length=64)
    new_key_id = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField()
    note = models.TextField(help_text="the C2SP signed note, signed by the old then the new key")

    class Meta:
        ordering = ["issued_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["old_key_id"], name="hub_key_transition_one_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.old_key_id[:16]}… → {self.new_key_id[:16]}…"


class DenialCounter(models.Model):
    """Refused attempts, counted per source, action, reason, key prefix and organisation in
    a fixed time window. The audit chain records the first refusal of each such group (its
    sequence is kept here); the rest only add to `count`. Appends to the chain are
    serialised, so recording every bad key from the internet in it would let anyone load
    the database for free; one upserted row per group keeps the evidence at a fixed cost.

    `source` is the caller's IPv4 address, or the /64 of an IPv6 address (one subscriber's
    allocation, so stepping through it does not create new groups)."""

    window_start = models.DateTimeField()
    source = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=100)
    reason = models.CharField(max_length=100)
    api_key_prefix = models.CharField(max_length=16, blank=True)
    organisation_slug = models.CharField(max_length=64, blank=True)
    count = models.PositiveBigIntegerField(default=1)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    first_event_sequence = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-window_start", "-count"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "window_start",
                    "source",
                    "action",
                    "reason",
                    "api_key_prefix",
                    "organisation_slug",
                ],
                name="denialcounter_one_row_per_group",
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} from {self.source or '?'}: {self.count}× {self.reason}"
