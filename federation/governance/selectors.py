"""Reads of governance. Every portal read starts from the signed-in person: their own
application, their own organisations, their own mentees."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet, Sum
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import (
    ApiKey,
    AuditEvent,
    Membership,
    Organisation,
    Role,
    SigningKey,
    User,
)

# The member dashboard reads keys and people exactly as the API does (explicit re-exports).
from accounts.selectors import api_key_of as api_key_of
from accounts.selectors import api_keys_of as api_keys_of
from accounts.selectors import memberships_of as memberships_of
from accounts.selectors import signing_key_of as signing_key_of
from accounts.selectors import signing_keys_of as signing_keys_of
from core.errors import NotFound
from federation.governance.models import (
    ApplicationMessage,
    ApplicationState,
    Criterion,
    CriterionTarget,
    MembershipApplication,
    Mentorship,
    MessageKind,
    OrganisationDecision,
    Vote,
)
from hashbank.models import LookupVolume, SyncStatus
from hashbank.selectors import disputes_visible_to, submissions_of, track_record


def criteria_current() -> QuerySet[Criterion]:
    return Criterion.objects.filter(active=True)


@dataclass(frozen=True)
class Missing:
    field: str
    label: str | Promise


_REQUIRED_FACTS: list[tuple[str, Promise]] = [
    ("organisation_name", _("The platform's name")),
    ("website", _("The platform's website")),
    ("country", _("The country the platform is established in")),
    ("description", _("What the platform is and who uses it")),
    ("size", _("The platform's size")),
    ("contact_name", _("A contact person")),
    ("contact_email", _("A contact email address")),
]


def application_missing(*, application: MembershipApplication) -> list[Missing]:
    """What the application still needs before it can be submitted: facts, then the
    evidence of every criterion the requested tier requires."""
    missing = [
        Missing(name, label) for name, label in _REQUIRED_FACTS if not getattr(application, name)
    ]
    given = {e.criterion_id: e for e in application.evidence.select_related("criterion")}
    for criterion in criteria_current():
        if not criterion.required_for_tier(application.requested_tier):
            continue
        evidence = given.get(criterion.pk)
        if evidence is None or not evidence.is_given:
            missing.append(Missing(f"criterion-{criterion.key}", criterion.title))
    return missing


def application_of(*, user: User) -> MembershipApplication | None:
    """The person's open application, else their latest decided one."""
    applications = MembershipApplication.objects.filter(applicant=user)
    open_one = applications.exclude(
        state__in=[ApplicationState.APPROVED, ApplicationState.REJECTED]
    ).first()
    return open_one or applications.order_by("-updated_at").first()


def information_requested(*, application: MembershipApplication) -> ApplicationMessage | None:
    """Staff's open question, while the application waits for the applicant's answer."""
    if application.state != ApplicationState.NEEDS_INFORMATION:
        return None
    return (
        application.messages.filter(kind=MessageKind.INFORMATION_REQUEST)
        .order_by("-created_at", "-pk")
        .first()
    )


def application_history(*, application: MembershipApplication) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        target_type="governance.membershipapplication", target_id=str(application.pk)
    ).order_by("sequence")


@dataclass(frozen=True)
class BoardTally:
    approve: int
    reject: int
    abstain: int
    quorum: int
    majority: float

    @property
    def cast(self) -> int:
        return self.approve + self.reject + self.abstain

    @property
    def outcome(self) -> str | None:
        """approve / reject once the quorum has voted and one side holds more than the
        configured share of the non-abstaining votes; None until then (or on a tie)."""
        if self.cast < self.quorum:
            return None
        decisive = self.approve + self.reject
        if decisive and self.approve / decisive > self.majority:
            return Vote.APPROVE
        if decisive and self.reject / decisive > self.majority:
            return Vote.REJECT
        return None


def board_tally(*, application: MembershipApplication) -> BoardTally:
    votes = list(application.votes.values_list("vote", flat=True))
    return BoardTally(
        approve=votes.count(Vote.APPROVE),
        reject=votes.count(Vote.REJECT),
        abstain=votes.count(Vote.ABSTAIN),
        quorum=settings.GOVERNANCE_BOARD_QUORUM,
        majority=settings.GOVERNANCE_BOARD_MAJORITY,
    )


def organisations_of(*, user: User) -> QuerySet[Organisation]:
    return Organisation.objects.filter(memberships__user=user).order_by("name")


def membership_in(*, user: User, slug: str) -> Membership:
    """The person's membership of the organisation `slug`. Raises NotFound for an
    organisation they do not belong to, so the portal answers 404, never 403."""
    try:
        return Membership.objects.select_related("organisation").get(
            user=user, organisation__slug=slug
        )
    except Membership.DoesNotExist:
        raise NotFound("no such organisation") from None


def mentorships_of(*, user: User) -> QuerySet[Mentorship]:
    """Current mentorships the person holds: as a staff mentor, or as an admin of a
    mentoring organisation."""
    admin_of = Membership.objects.filter(user=user, role=Role.ADMIN).values("organisation")
    return (
        Mentorship.objects.filter(ended_at__isnull=True)
        .filter(Q(mentor_user=user) | Q(mentor_organisation__in=admin_of))
        .select_related("mentee", "mentor_user", "mentor_organisation")
        .order_by("mentee__name")
    )


def mentee_of(*, user: User, slug: str) -> Mentorship:
    try:
        return mentorships_of(user=user).get(mentee__slug=slug)
    except Mentorship.DoesNotExist:
        raise NotFound("no such mentee") from None


def current_mentorship(*, organisation: Organisation) -> Mentorship | None:
    return (
        Mentorship.objects.filter(mentee=organisation, ended_at__isnull=True)
        .select_related("mentor_user", "mentor_organisation")
        .first()
    )


def criterion_targets_of(*, organisation: Organisation) -> QuerySet[CriterionTarget]:
    return organisation.criterion_targets.select_related("criterion").order_by(
        "met_at", "target_date"
    )


def decisions_about(*, organisation: Organisation) -> QuerySet[OrganisationDecision]:
    return organisation.governance_decisions.all()


@dataclass(frozen=True)
class ChecklistStep:
    key: str
    label: str | Promise
    done: bool


def onboarding_checklist(*, organisation: Organisation) -> list[ChecklistStep]:
    """The first steps of a new member, each detected from what the hub already records:
    an API key and a signing key exist; the change log was read (SyncStatus); a lookup was
    counted in LookupVolume."""
    synced = SyncStatus.objects.filter(organisation=organisation).exists()
    return [
        ChecklistStep(
            "api_key",
            _("Create an API key"),
            ApiKey.objects.filter(organisation=organisation).exists(),
        ),
        ChecklistStep(
            "signing_key",
            _("Register a signing key"),
            SigningKey.objects.filter(organisation=organisation).exists(),
        ),
        ChecklistStep("first_sync", _("Sync the list for the first time"), synced),
        ChecklistStep(
            "first_lookup",
            _("Look up your first hashes"),
            LookupVolume.objects.filter(organisation=organisation, queries__gt=0).exists(),
        ),
    ]


def organisation_figures(*, organisation: Organisation) -> dict[str, int]:
    """The member's own numbers: its submissions by review state, disputes it is party to,
    and hashes it looked up."""
    figures = track_record(organisation=organisation)
    figures["submissions"] = submissions_of(organisation=organisation).count()
    figures["disputes"] = disputes_visible_to(organisation=organisation).count()
    figures["lookups"] = (
        LookupVolume.objects.filter(organisation=organisation).aggregate(n=Sum("queries"))["n"] or 0
    )
    return figures


def is_usable(organisation: Organisation) -> bool:
    return organisation.is_active
