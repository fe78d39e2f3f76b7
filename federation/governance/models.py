"""Governance: membership criteria, applications, decisions, mentoring and the record of
what staff decided about each member organisation."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, OrganisationStatus, Tier


class EvidenceKind(models.TextChoices):
    URL = "url", _("A public link")
    DOCUMENT = "document", _("A description of a document or practice")
    YES_NO = "yes_no", _("Yes or no, with an explanation")


class RequiredFor(models.TextChoices):
    # "associate" means every member needs it; "full" means only full members do.
    ASSOCIATE = "associate", _("Every member (associate and full)")
    FULL = "full", _("Full members only")


class Criterion(models.Model):
    """One published membership criterion. Loaded from fixtures/membership_criteria.json by
    key; staff may edit the wording in admin, and the next load of a newer version wins."""

    key = models.SlugField(max_length=64, unique=True)
    version = models.PositiveIntegerField(help_text="Version of the criteria list it came from")
    position = models.PositiveIntegerField(default=0)
    title_en = models.CharField(max_length=200)
    title_fr = models.CharField(max_length=200, blank=True)
    guidance_en = models.TextField(blank=True)
    guidance_fr = models.TextField(blank=True)
    evidence_kind = models.CharField(max_length=16, choices=EvidenceKind.choices)
    required_for = models.CharField(max_length=16, choices=RequiredFor.choices)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "key"]
        verbose_name_plural = "criteria"

    def __str__(self) -> str:
        return self.title_en

    @property
    def title(self) -> str:
        """The title in the active language, English when no translation is given."""
        return ((get_language() or "en").startswith("fr") and self.title_fr) or self.title_en

    @property
    def guidance(self) -> str:
        return ((get_language() or "en").startswith("fr") and self.guidance_fr) or self.guidance_en

    def required_for_tier(self, tier: str) -> bool:
        return self.required_for == RequiredFor.ASSOCIATE or tier == Tier.FULL


class ApplicationState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    IN_REVIEW = "in_review", _("In review")
    NEEDS_INFORMATION = "needs_information", _("Needs information")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


# States in which the applicant may still change the application.
EDITABLE_STATES = (ApplicationState.DRAFT, ApplicationState.NEEDS_INFORMATION)
OPEN_STATES = (
    ApplicationState.DRAFT,
    ApplicationState.SUBMITTED,
    ApplicationState.IN_REVIEW,
    ApplicationState.NEEDS_INFORMATION,
)


class PlatformSize(models.TextChoices):
    TINY = "tiny", _("Fewer than 10,000 monthly users")
    SMALL = "small", _("10,000 to 1 million monthly users")
    MEDIUM = "medium", _("1 to 45 million monthly users")
    LARGE = "large", _("More than 45 million monthly users")


class MembershipApplication(models.Model):
    """A platform's application to join, from draft to decision."""

    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="applications"
    )
    state = models.CharField(
        max_length=24, choices=ApplicationState.choices, default=ApplicationState.DRAFT
    )
    criteria_version = models.PositiveIntegerField(default=1)
    organisation_name = models.CharField(max_length=200, blank=True)
    website = models.URLField(blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 code")
    description = models.TextField(blank=True)
    size = models.CharField(max_length=16, choices=PlatformSize.choices, blank=True)
    requested_tier = models.CharField(
        max_length=16,
        choices=[(Tier.ASSOCIATE, _("Associate")), (Tier.FULL, _("Full"))],
        default=Tier.ASSOCIATE,
    )
    contact_name = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True)
    # The portal language the applicant used, so emails to them speak it too.
    language = models.CharField(max_length=8, default="en")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_tier = models.CharField(max_length=16, choices=Tier.choices, blank=True)
    decision_reason = models.TextField(blank=True)
    organisation = models.OneToOneField(
        Organisation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="application",
    )

    class Meta:
        ordering = ["-updated_at"]
        permissions = [("vote_membershipapplication", "Can vote on membership applications")]
        constraints = [
            # One open application per person: a second one would split the conversation.
            models.UniqueConstraint(
                fields=["applicant"],
                condition=models.Q(
                    state__in=["draft", "submitted", "in_review", "needs_information"]
                ),
                name="application_one_open_per_applicant",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="approved") | models.Q(organisation__isnull=False),
                name="application_approved_has_organisation",
            ),
        ]

    def __str__(self) -> str:
        return self.organisation_name or f"Application #{self.pk}"

    @property
    def is_editable(self) -> bool:
        return self.state in EDITABLE_STATES


class Evidence(models.Model):
    """What an applicant offers for one criterion."""

    application = models.ForeignKey(
        MembershipApplication, on_delete=models.CASCADE, related_name="evidence"
    )
    criterion = models.ForeignKey(Criterion, on_delete=models.PROTECT, related_name="+")
    url = models.URLField(blank=True, max_length=500)
    answer = models.BooleanField(null=True, blank=True)
    text = models.TextField(blank=True)
    # Staff tick a criterion as met when they have checked the evidence.
    staff_accepted = models.BooleanField(default=False)

    class Meta:
        ordering = ["criterion__position"]
        verbose_name_plural = "evidence"
        constraints = [
            models.UniqueConstraint(
                fields=["application", "criterion"], name="evidence_one_per_criterion"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.application} — {self.criterion.key}"

    @property
    def is_given(self) -> bool:
        kind = self.criterion.evidence_kind
        if kind == EvidenceKind.URL:
            return bool(self.url)
        if kind == EvidenceKind.YES_NO:
            return self.answer is True and bool(self.text.strip())
        return bool(self.text.strip())


class MessageKind(models.TextChoices):
    MESSAGE = "message", _("Message")
    INFORMATION_REQUEST = "information_request", _("Request for information")
    ANSWER = "answer", _("Answer")
    DECISION = "decision", _("Decision")


class ApplicationMessage(models.Model):
    """The conversation between applicant and staff, visible to both."""

    application = models.ForeignKey(
        MembershipApplication, on_delete=models.CASCADE, related_name="messages"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    from_staff = models.BooleanField()
    kind = models.CharField(max_length=24, choices=MessageKind.choices)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.application}"


class ApplicationNote(models.Model):
    """Staff-only working notes on an application; the applicant never sees them."""

    application = models.ForeignKey(
        MembershipApplication, on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"Note on {self.application}"


class Vote(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    ABSTAIN = "abstain", "Abstain"


class BoardVote(models.Model):
    """A board member's vote, where the board decides (GOVERNANCE_BOARD_DECIDES)."""

    application = models.ForeignKey(
        MembershipApplication, on_delete=models.CASCADE, related_name="votes"
    )
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    vote = models.CharField(max_length=8, choices=Vote.choices)
    comment = models.TextField(blank=True)
    cast_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["cast_at"]
        constraints = [
            models.UniqueConstraint(fields=["application", "voter"], name="boardvote_one_each"),
        ]

    def __str__(self) -> str:
        return f"{self.voter}: {self.vote}"


class Mentorship(models.Model):
    """A mentor for a probation or associate member: a staff person or a volunteer member
    organisation, never both."""

    mentee = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="mentorships")
    mentor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="mentorships",
    )
    mentor_organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="mentoring",
    )
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(mentor_user__isnull=False, mentor_organisation__isnull=True)
                | models.Q(mentor_user__isnull=True, mentor_organisation__isnull=False),
                name="mentorship_exactly_one_mentor",
            ),
            models.UniqueConstraint(
                fields=["mentee"],
                condition=models.Q(ended_at__isnull=True),
                name="mentorship_one_current_per_mentee",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mentor} mentors {self.mentee}"

    @property
    def mentor(self) -> object:
        return self.mentor_user or self.mentor_organisation


class CriterionTarget(models.Model):
    """A criterion a member does not meet yet, with the date it aims to meet it by."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="criterion_targets"
    )
    criterion = models.ForeignKey(Criterion, on_delete=models.PROTECT, related_name="+")
    target_date = models.DateField()
    met_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["target_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "criterion"], name="criteriontarget_one_per_criterion"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation}: {self.criterion.key} by {self.target_date}"


class DecisionKind(models.TextChoices):
    APPROVED = "approved", _("Approved")
    TIER_CHANGED = "tier_changed", _("Tier changed")
    SUSPENDED = "suspended", _("Suspended")
    REINSTATED = "reinstated", _("Reinstated")
    OFFBOARDED = "offboarded", _("Offboarded")


class OrganisationDecision(models.Model):
    """What staff decided about a member, with reasons: the member's own history in the
    portal. The audit trail holds the same facts, hash-chained; this table is for reading."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="governance_decisions"
    )
    kind = models.CharField(max_length=16, choices=DecisionKind.choices)
    from_value = models.CharField(max_length=16, blank=True)
    to_value = models.CharField(max_length=16, blank=True)
    reason = models.TextField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-decided_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.organisation}: {self.kind}"

    @staticmethod
    def _value_label(value: str) -> str:
        """A tier or a status as its reader names it ("Associate member", "Suspended"),
        in the reader's language; the stored key where it is neither."""
        for choices in (Tier, OrganisationStatus):
            if value in choices.values:
                return str(choices(value).label)
        return value

    def from_value_display(self) -> str:
        return self._value_label(self.from_value)

    def to_value_display(self) -> str:
        return self._value_label(self.to_value)


class MemberOrganisation(Organisation):
    """Organisations as governance sees them (tiers, mentors, suspension), for admin."""

    class Meta:
        proxy = True
        verbose_name = "member lifecycle"
        verbose_name_plural = "member lifecycle"
