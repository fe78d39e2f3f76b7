"""Lawful requests from public authorities to member platforms, the log of every read of
them, and the legal holds preservation requests place on the shared list."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.models import Organisation, User
from hashbank.models import Signal, Submission


# Choice labels are only marked for translation: they stay English in audit entries, emails
# and API errors, and the portal translates them as it renders (`{% trans %}`).
class LawfulRequestKind(models.TextChoices):
    REMOVAL_ORDER = "removal_order", gettext_noop("Removal order")
    NOTICE = "notice", gettext_noop("Notice or referral of illegal content")
    PRESERVATION = "preservation", gettext_noop("Preservation request")
    INFORMATION = "information", gettext_noop("Information request")


class LawfulRequestState(models.TextChoices):
    SUBMITTED = "submitted", gettext_noop("Submitted, awaiting validation")
    VALIDATED = "validated", gettext_noop("Validated by staff")
    REFUSED = "refused", gettext_noop("Refused by staff (not authentic or incomplete)")
    FORWARDED = "forwarded", gettext_noop("Forwarded to the addressed platforms")
    ACKNOWLEDGED = "acknowledged", gettext_noop("Acknowledged by a platform")
    ANSWERED = "answered", gettext_noop("Answered by every addressed platform")
    CLOSED = "closed", gettext_noop("Closed")


# States in which the deadline clock runs and the platforms still owe an answer.
OPEN_STATES = (
    LawfulRequestState.SUBMITTED,
    LawfulRequestState.VALIDATED,
    LawfulRequestState.FORWARDED,
    LawfulRequestState.ACKNOWLEDGED,
)


class Urgency(models.TextChoices):
    ROUTINE = "routine", gettext_noop("Routine")
    URGENT = "urgent", gettext_noop("Urgent")
    IMMEDIATE = "immediate", gettext_noop("Immediate (threat to life)")


class AnswerOutcome(models.TextChoices):
    ACTIONED = "actioned", gettext_noop("Actioned")
    PARTIAL = "partial", gettext_noop("Partially actioned")
    DECLINED = "declined", gettext_noop("Declined")


class LawfulRequest(models.Model):
    """One request of one authority to one or more member platforms.

    The subject holds only identifiers the platforms need (URLs, content hashes, account
    handles). Nothing here ever becomes a submission or a signal: an authority's input
    reaches the shared list only through a member acting on it.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    authority = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="lawful_requests_filed"
    )
    filed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=LawfulRequestKind.choices)
    issuing_authority = models.CharField(max_length=200)
    officer = models.CharField(max_length=200, help_text="the officer responsible")
    legal_basis = models.TextField(help_text="statute and article")
    jurisdiction = models.CharField(max_length=8, help_text="ISO 3166-1 alpha-2, or EU")
    subject_urls = models.JSONField(default=list, blank=True)
    subject_hashes = models.JSONField(
        default=list, blank=True, help_text='[{"signal_type": "pdq", "value": "..."}]'
    )
    subject_accounts = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True)
    urgency = models.CharField(max_length=16, choices=Urgency.choices, default=Urgency.ROUTINE)
    state = models.CharField(
        max_length=16,
        choices=LawfulRequestState.choices,
        default=LawfulRequestState.SUBMITTED,
        db_index=True,
    )
    received_at = models.DateTimeField(default=timezone.now)
    # Hours the platforms have from receipt (forwarding); fixed at filing from settings.
    deadline_hours = models.PositiveIntegerField()
    deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    validated_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    refusal_reason = models.TextField(blank=True)
    forwarded_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Set once the overdue reminder went out, so the periodic check reminds only once.
    overdue_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="removal_order") | models.Q(deadline_hours=1),
                name="lawfulrequest_removal_order_one_hour",
            ),
            models.CheckConstraint(
                condition=models.Q(forwarded_at__isnull=True) | models.Q(deadline__isnull=False),
                name="lawfulrequest_forwarded_has_deadline",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="refused") | ~models.Q(refusal_reason=""),
                name="lawfulrequest_refusal_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {str(self.public_id)[:8]} ({self.authority.slug})"

    @property
    def is_overdue(self) -> bool:
        return (
            self.state in OPEN_STATES
            and self.deadline is not None
            and timezone.now() > self.deadline
        )


class LawfulRequestAddressee(models.Model):
    """One addressed platform of a request, with its own acknowledgement and answer."""

    request = models.ForeignKey(LawfulRequest, on_delete=models.CASCADE, related_name="addressees")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="lawful_requests_received"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(max_length=16, choices=AnswerOutcome.choices, blank=True)
    details = models.TextField(blank=True, help_text="what was done, or why not")
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["organisation__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "organisation"], name="lawfulrequestaddressee_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(outcome="", answered_at__isnull=True)
                | (~models.Q(outcome="") & models.Q(answered_at__isnull=False)),
                name="lawfulrequestaddressee_answer_complete",
            ),
            models.CheckConstraint(
                condition=~models.Q(outcome__in=["declined", "partial"]) | ~models.Q(details=""),
                name="lawfulrequestaddressee_decline_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request} → {self.organisation.slug}"


class AccessChannel(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin"
    PORTAL = "portal", "Portal"
    EXPORT = "export", "Export"


class LawfulRequestAccess(models.Model):
    """One read of a lawful request or its answers, by anyone (staff included).

    No foreign keys, like the audit trail: the record must outlive what it names.
    """

    request_public_id = models.UUIDField(db_index=True)
    request_pk = models.BigIntegerField()
    accessed_at = models.DateTimeField(default=timezone.now, db_index=True)
    user_id = models.BigIntegerField(null=True, blank=True)
    user_email = models.CharField(max_length=254, blank=True)
    organisation_id = models.BigIntegerField(null=True, blank=True)
    organisation_slug = models.CharField(max_length=64, blank=True)
    api_key_prefix = models.CharField(max_length=16, blank=True)
    channel = models.CharField(max_length=8, choices=AccessChannel.choices)
    what = models.CharField(max_length=64, help_text="e.g. request.detail, request.list")
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-accessed_at", "-id"]
        verbose_name = "lawful request access"
        verbose_name_plural = "lawful request access log"

    def __str__(self) -> str:
        who = self.user_email or self.api_key_prefix or "?"
        return f"{who} read {str(self.request_public_id)[:8]} ({self.what})"


class LegalHold(models.Model):
    """A hold a validated preservation request placed on signals and submissions: while it
    is active, none of them may be deleted or purged. Only staff lift it."""

    request = models.ForeignKey(LawfulRequest, on_delete=models.PROTECT, related_name="legal_holds")
    signals = models.ManyToManyField(Signal, related_name="legal_holds", blank=True)
    submissions = models.ManyToManyField(Submission, related_name="legal_holds", blank=True)
    placed_at = models.DateTimeField(default=timezone.now)
    placed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lift_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-placed_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lifted_at__isnull=True) | ~models.Q(lift_reason=""),
                name="legalhold_lift_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"Legal hold for {self.request}"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None
