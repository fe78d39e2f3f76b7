"""Help for people affected by the content the consortium works against (who to turn to in
each country), and complaints from anyone whose content was wrongly matched or removed."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from hashbank.models import Dispute


def _in_language(english: str, french: str) -> str:
    """The French text on a French page when there is one, English otherwise."""
    return ((get_language() or "en").startswith("fr") and french) or english


class HelpCountry(models.Model):
    """A country the help pages cover. Loaded from fixtures/victim_support.json by code;
    staff edit and add in admin."""

    code = models.CharField(max_length=2, unique=True, help_text="ISO 3166-1 alpha-2, lowercase")
    name_en = models.CharField(max_length=100)
    name_fr = models.CharField(max_length=100, blank=True)
    emergency_number = models.CharField(max_length=32, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name_en"]
        verbose_name_plural = "help countries"

    def __str__(self) -> str:
        return self.name_en

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.code = self.code.lower()  # as in the page's address, /help/<code>/
        super().save(*args, **kwargs)

    @property
    def name(self) -> str:
        return _in_language(self.name_en, self.name_fr)


class HelpKind(models.TextChoices):
    HELPLINE = "helpline", _("Helpline and support")
    HOTLINE = "hotline", _("Hotline for reporting illegal content")
    AUTHORITY = "authority", _("Reporting to the authorities")
    LEGAL = "legal", _("Legal redress and compensation")


class HelpResource(models.Model):
    """One organisation that helps people affected by terrorist content, child sexual abuse
    imagery or targeted hate, in one country."""

    key = models.SlugField(max_length=64, unique=True)
    country = models.ForeignKey(HelpCountry, on_delete=models.CASCADE, related_name="resources")
    kind = models.CharField(max_length=16, choices=HelpKind.choices)
    name_en = models.CharField(max_length=200)
    name_fr = models.CharField(max_length=200, blank=True)
    description_en = models.TextField()
    description_fr = models.TextField(blank=True)
    website = models.URLField()
    phone = models.CharField(max_length=32, blank=True)
    terrorism = models.BooleanField(default=False, help_text="Helps with terrorist content")
    child_abuse = models.BooleanField(
        default=False, help_text="Helps with child sexual abuse imagery"
    )
    hate = models.BooleanField(default=False, help_text="Helps with targeted hate")
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["country", "position", "name_en"]

    def __str__(self) -> str:
        return self.name_en

    @property
    def name(self) -> str:
        return _in_language(self.name_en, self.name_fr)

    @property
    def description(self) -> str:
        return _in_language(self.description_en, self.description_fr)


class ComplaintState(models.TextChoices):
    NEW = "new", "New"
    IN_REVIEW = "in_review", "In review"
    DISPUTE_OPENED = "dispute_opened", "Dispute opened"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class ComplaintOutcome(models.TextChoices):
    """What came of a complaint, kept once its personal data is erased."""

    DISPUTE = "dispute", "A dispute was opened (its decision is the outcome)"
    REFERRED = "referred", "Referred to the platform's own appeal process"
    NO_MATCH = "no_match", "Nothing in the consortium's list was involved"
    OUT_OF_SCOPE = "out_of_scope", "Out of the consortium's scope"
    WITHDRAWN = "withdrawn", "Withdrawn or no reply"


class Complaint(models.Model):
    """A complaint from someone without an account, about content wrongly matched or
    removed. The personal data (address, free text, the address's digest) is erased
    HUB_COMPLAINT_RETENTION_DAYS after closing; the reference and the outcome stay."""

    reference = models.CharField(max_length=12, unique=True, editable=False)
    state = models.CharField(
        max_length=16, choices=ComplaintState.choices, default=ComplaintState.NEW, db_index=True
    )
    email = models.EmailField(blank=True)
    language = models.CharField(max_length=8, default="en")
    platform = models.CharField(max_length=200)
    removed_on = models.DateField()
    content_url = models.URLField(max_length=2000, blank=True)
    content_description = models.TextField(blank=True)
    reason = models.TextField(blank=True)
    hash_value = models.CharField(max_length=600, blank=True)
    # A keyed digest of the sender's IP address, for the rate limit alone.
    sender_digest = models.CharField(max_length=64, blank=True, db_index=True)
    consented_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    dispute = models.ForeignKey(
        Dispute, on_delete=models.PROTECT, null=True, blank=True, related_name="complaints"
    )
    outcome = models.CharField(max_length=16, choices=ComplaintOutcome.choices, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reference


class ComplaintAnswer(models.Model):
    """What staff wrote to the complainant, as sent."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="answers")
    body = models.TextField()
    sent_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sent_at"]

    def __str__(self) -> str:
        return f"Answer to {self.complaint_id} at {self.sent_at:%Y-%m-%d %H:%M}"
