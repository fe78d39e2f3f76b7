"""Transparency reports: the consortium's numbers for a period, generated in the
background, previewed by staff, then published."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from accounts.models import User


class ReportState(models.TextChoices):
    GENERATING = "generating", "Generating"
    DRAFT = "draft", "Draft (ready to preview)"
    PUBLISHED = "published", "Published"
    FAILED = "failed", "Generation failed"


class TransparencyReport(models.Model):
    """The aggregates of one period [period_start, period_end), stored as generated (JSON),
    so the published numbers never change when the data under them does."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(max_length=200, blank=True)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    state = models.CharField(
        max_length=12, choices=ReportState.choices, default=ReportState.GENERATING, db_index=True
    )
    data = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    generated_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    previewed_at = models.DateTimeField(null=True, blank=True)
    previewed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-period_end", "-requested_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(period_end__gt=models.F("period_start")),
                name="transparencyreport_period_ordered",
            ),
            # Staff publish only what they have looked at.
            models.CheckConstraint(
                condition=~models.Q(state="published") | models.Q(previewed_at__isnull=False),
                name="transparencyreport_published_was_previewed",
            ),
        ]

    def __str__(self) -> str:
        return self.title or (
            f"Transparency report {self.period_start:%Y-%m-%d} – {self.period_end:%Y-%m-%d}"
        )
