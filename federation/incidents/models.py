"""Crisis incidents, the members' webhook endpoints, and the outbox of webhook deliveries
with every attempt to send them."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.models import Organisation, User


class IncidentLevel(models.IntegerChoices):
    WATCH = 1, gettext_noop("Level 1: watch (monitoring, no fast path expected)")
    INCIDENT = 2, gettext_noop("Level 2: content incident (fast path open)")
    PROTOCOL = 3, gettext_noop("Level 3: crisis protocol (all members mobilised)")


class IncidentState(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Incident(models.Model):
    """A crisis declared by staff. While it is open, submissions tagged with its slug are
    approved on arrival for members in good standing and reviewed afterwards."""

    slug = models.SlugField(max_length=64, unique=True, help_text="the tag members submit with")
    title = models.CharField(max_length=200)
    description = models.TextField()
    level = models.IntegerField(choices=IncidentLevel.choices)
    state = models.CharField(
        max_length=8, choices=IncidentState.choices, default=IncidentState.OPEN, db_index=True
    )
    started_at = models.DateTimeField(help_text="when the underlying event began")
    declared_at = models.DateTimeField(default=timezone.now)
    declared_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    named_authorities = models.ManyToManyField(
        Organisation,
        blank=True,
        related_name="incidents_named_in",
        limit_choices_to={"kind": "authority"},
        help_text="authorities notified together with the members",
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    debrief = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-declared_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state="open", closed_at__isnull=True)
                | models.Q(state="closed", closed_at__isnull=False),
                name="incident_closed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.slug}: {self.title}"


class IncidentNotice(models.Model):
    """One organisation told of an incident's declaration (members reached, for the
    debrief)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notices")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    notified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "organisation"], name="incidentnotice_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.incident.slug} → {self.organisation.slug}"


class WebhookEndpoint(models.Model):
    """Where an organisation wants events POSTed. The secret signs every delivery; it is
    shown once at registration and kept, encrypted (webhooks.secret_seal), because HMAC
    needs it to sign."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=500)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.organisation.slug}: {self.url}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending (due at next_attempt_at)"
    SENDING = "sending", "Being sent (leased to a worker)"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up after the last retry)"


class WebhookDelivery(models.Model):
    """One event for one endpoint: the outbox row, written in the same transaction as the
    change it reports, so an event is never lost when the change commits and never sent
    when it rolls back.

    `public_id` is the idempotency key receivers see (X-Hashfed-Delivery). A worker claims
    the row by setting `state=sending` and a lease; a row whose lease ran out (its worker
    died) is claimable again.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=64)
    body = models.TextField(help_text="the exact JSON bytes sent and signed")
    state = models.CharField(
        max_length=12, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="delivery_due_idx"),
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint.url} ({self.state})"


class AttemptOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded (2xx)"
    FAILED = "failed", "Failed"
    # Recorded for an attempt whose worker died before it could write the result.
    INTERRUPTED = "interrupted", "Interrupted (worker lost)"


class WebhookAttempt(models.Model):
    """One try at sending a delivery, as the member sees it in the API."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="tries")
    number = models.IntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=AttemptOutcome.choices, blank=True)
    status_code = models.IntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhookattempt_unique"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.outcome or 'in progress'}"
