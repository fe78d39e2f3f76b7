"""Membership applications, from the first draft to the decision: saving and submitting,
staff review and requests for information, board votes, approval and rejection.

Every state change records an audit event (`governance.*`) in the same transaction; emails
are enqueued on commit, so a rolled-back decision never tells anyone anything.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts import services as accounts_services
from accounts.audit import AuditContext, audit_record
from accounts.models import (
    Organisation,
    OrganisationKind,
    OrganisationStatus,
    Role,
    Tier,
    User,
)
from core.errors import Conflict, Invalid, NotPermitted
from federation.governance import tasks
from federation.governance.models import (
    EDITABLE_STATES,
    ApplicationMessage,
    ApplicationNote,
    ApplicationState,
    BoardVote,
    Criterion,
    CriterionTarget,
    DecisionKind,
    Evidence,
    MembershipApplication,
    MessageKind,
    OrganisationDecision,
    Vote,
)
from federation.governance.selectors import application_missing, board_tally, criteria_current
from federation.governance.services.access import staff_required
from federation.governance.services.mentoring import mentor_assign

APPLICATION_FACTS = (
    "organisation_name",
    "website",
    "country",
    "description",
    "size",
    "requested_tier",
    "contact_name",
    "contact_email",
)


@transaction.atomic
def application_start(
    *, applicant: User, language: str, context: AuditContext
) -> MembershipApplication:
    """The applicant's open application, or a new draft. Idempotent by constraint."""
    existing = (
        MembershipApplication.objects.filter(applicant=applicant)
        .exclude(state__in=[ApplicationState.APPROVED, ApplicationState.REJECTED])
        .first()
    )
    if existing is not None:
        return existing
    version = Criterion.objects.order_by("-version").values_list("version", flat=True).first()
    try:
        with transaction.atomic():
            application = MembershipApplication.objects.create(
                applicant=applicant,
                contact_email=applicant.email,
                contact_name=applicant.full_name,
                criteria_version=version or 1,
                language=language,
            )
    except IntegrityError:  # a second tab started one at the same moment
        return MembershipApplication.objects.get(
            applicant=applicant,
            state__in=[s for s in ApplicationState.values if s not in ("approved", "rejected")],
        )
    audit_record(
        action="governance.application.started",
        context=context,
        target=application,
    )
    return application


@transaction.atomic
def application_save(
    *,
    application: MembershipApplication,
    facts: dict[str, Any],
    evidence: dict[str, dict[str, Any]],
    language: str,
    context: AuditContext,
) -> MembershipApplication:
    """Save what the applicant typed, complete or not (a draft). `evidence` maps criterion
    keys to {"url", "answer", "text"}. Raises Conflict once the application is no longer
    the applicant's to change."""
    application = MembershipApplication.objects.select_for_update().get(pk=application.pk)
    if application.state not in EDITABLE_STATES:
        raise Conflict("This application can no longer be changed.", code="not_editable")
    for name in APPLICATION_FACTS:
        if name in facts:
            value = facts[name]
            setattr(application, name, value.upper() if name == "country" else value)
    application.language = language
    application.updated_at = timezone.now()
    application.save()
    criteria = {c.key: c for c in criteria_current()}
    for key, values in evidence.items():
        criterion = criteria.get(key)
        if criterion is None:
            continue
        Evidence.objects.update_or_create(
            application=application,
            criterion=criterion,
            defaults={
                "url": values.get("url") or "",
                "answer": values.get("answer"),
                "text": values.get("text") or "",
            },
        )
    audit_record(action="governance.application.saved", context=context, target=application)
    return application


@transaction.atomic
def application_submit(
    *, application: MembershipApplication, context: AuditContext
) -> MembershipApplication:
    """Submit a draft for review. Raises Invalid naming every missing fact and criterion
    (what the status page shows too), Conflict when it is not a draft."""
    application = MembershipApplication.objects.select_for_update().get(pk=application.pk)
    if application.state != ApplicationState.DRAFT:
        raise Conflict("Only a draft can be submitted.", code="not_draft")
    missing = application_missing(application=application)
    if missing:
        raise Invalid(
            "The application is not complete yet.",
            code="incomplete",
            fields={m.field: [{"code": "required", "message": str(m.label)}] for m in missing},
        )
    application.state = ApplicationState.SUBMITTED
    application.submitted_at = application.updated_at = timezone.now()
    application.save(update_fields=["state", "submitted_at", "updated_at"])
    audit_record(action="governance.application.submitted", context=context, target=application)
    transaction.on_commit(lambda: tasks.notify_staff_of_application.delay(application.pk))
    transaction.on_commit(lambda: tasks.confirm_application_received.delay(application.pk))
    return application


def _post_message(
    application: MembershipApplication, *, author: User | None, kind: str, body: str, staff: bool
) -> ApplicationMessage:
    message = ApplicationMessage.objects.create(
        application=application, author=author, from_staff=staff, kind=kind, body=body
    )
    if staff:
        transaction.on_commit(lambda: tasks.notify_applicant_of_message.delay(message.pk))
    return message


@transaction.atomic
def application_review_start(
    *, application: MembershipApplication, context: AuditContext
) -> MembershipApplication:
    """Staff take up a submitted application. Raises Conflict for any other state."""
    staff_required(context)
    application = MembershipApplication.objects.select_for_update().get(pk=application.pk)
    if application.state != ApplicationState.SUBMITTED:
        raise Conflict("Only a submitted application can be taken into review.")
    application.state = ApplicationState.IN_REVIEW
    application.save(update_fields=["state"])
    audit_record(action="governance.application.in_review", context=context, target=application)
    return application


@transaction.atomic
def application_request_information(
    *, application: MembershipApplication, message: str, context: AuditContext
) -> ApplicationMessage:
    """Ask the applicant for more: the application opens for changes again and the
    applicant is emailed. Raises Invalid without a message, Conflict once decided."""
    staff = staff_required(context)
    if not message.strip():
        raise Invalid.for_field("message", "say what information is needed")
    application = MembershipApplication.objects.select_for_update().get(pk=application.pk)
    if application.state not in (ApplicationState.SUBMITTED, ApplicationState.IN_REVIEW):
        raise Conflict("Information can be requested only on a submitted application.")
    application.state = ApplicationState.NEEDS_INFORMATION
    application.save(update_fields=["state"])
    posted = _post_message(
        application, author=staff, kind=MessageKind.INFORMATION_REQUEST, body=message, staff=True
    )
    audit_record(
        action="governance.application.information_requested",
        context=context,
        target=application,
        detail={"message_id": posted.pk},
    )
    return posted


@transaction.atomic
def application_answer(
    *, application: MembershipApplication, body: str, context: AuditContext
) -> ApplicationMessage:
    """The applicant answers a request for information; the application goes back to
    staff (state submitted). Outside a request, the applicant may still write a message,
    which changes no state. Raises Invalid for an empty message, Conflict once decided."""
    if not body.strip():
        raise Invalid.for_field("body", "write your answer")
    application = MembershipApplication.objects.select_for_update().get(pk=application.pk)
    if application.state in (ApplicationState.APPROVED, ApplicationState.REJECTED):
        raise Conflict("This application has been decided.", code="decided")
    answering = application.state == ApplicationState.NEEDS_INFORMATION
    posted = _post_message(
        application,
        author=context.user,
        kind=MessageKind.ANSWER if answering else MessageKind.MESSAGE,
        body=body,
        staff=False,
    )
    if answering:
        application.state = ApplicationState.SUBMITTED
        application.updated_at = timezone.now()
        application.save(update_fields=["state", "updated_at"])
        audit_record(
            action="governance.application.information_provided",
            context=context,
            target=application,
            detail={"message_id": posted.pk},
        )
        transaction.on_commit(lambda: tasks.notify_staff_of_application.delay(application.pk))
    return posted


@transaction.atomic
def application_note_add(
    *, application: MembershipApplication, body: str, context: AuditContext
) -> ApplicationNote:
    staff = staff_required(context)
    note = ApplicationNote.objects.create(application=application, author=staff, body=body)
    audit_record(action="governance.application.noted", context=context, target=application)
    return note


@transaction.atomic
def application_vote(
    *, application: MembershipApplication, vote: str, comment: str, context: AuditContext
) -> BoardVote:
    """A board member votes (once; voting again replaces the vote until the decision).
    Raises NotPermitted without the vote permission, Conflict once decided."""
    voter = staff_required(context)
    if not voter.has_perm("governance.vote_membershipapplication"):
        raise NotPermitted("Only board members vote on applications.")
    if vote not in Vote.values:
        raise Invalid.for_field("vote", "vote approve, reject or abstain")
    if application.state in (ApplicationState.APPROVED, ApplicationState.REJECTED):
        raise Conflict("This application has been decided.", code="decided")
    board_vote, _ = BoardVote.objects.update_or_create(
        application=application,
        voter=voter,
        defaults={"vote": vote, "comment": comment, "cast_at": timezone.now()},
    )
    audit_record(
        action="governance.application.voted",
        context=context,
        target=application,
        detail={"vote": vote},
    )
    return board_vote


def _require_board_outcome(application: MembershipApplication, wanted: str) -> None:
    if not settings.GOVERNANCE_BOARD_DECIDES:
        return
    tally = board_tally(application=application)
    if tally.outcome != wanted:
        raise NotPermitted(
            f"The board decides: {tally.cast} of {tally.quorum} votes needed, "
            f"{tally.approve} approve, {tally.reject} reject; the outcome is "
            f"{tally.outcome or 'not reached'}.",
            code="board_outcome",
        )


def _decidable(application: MembershipApplication) -> MembershipApplication:
    application = MembershipApplication.objects.select_for_update().get(pk=application.pk)
    if application.state not in (
        ApplicationState.SUBMITTED,
        ApplicationState.IN_REVIEW,
        ApplicationState.NEEDS_INFORMATION,
    ):
        raise Conflict("Only a submitted application can be decided.", code="not_decidable")
    return application


def _unique_slug(name: str) -> str:
    base = slugify(name)[:56] or "member"
    slug, n = base, 1
    while Organisation.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def application_approve(
    *,
    application: MembershipApplication,
    tier: str,
    reason: str,
    mentor_user: User | None = None,
    mentor_organisation: Organisation | None = None,
    context: AuditContext,
) -> Organisation:
    """Approve: create the active platform organisation in `tier`, make the applicant its
    admin and email them an invitation (a set-password link), assign the mentor, and track
    every criterion the evidence does not meet for a full member with a target date.

    Probation needs a mentor. Where the board decides, the votes must say approve.
    Raises Invalid, NotPermitted or Conflict (already decided)."""
    staff = staff_required(context)
    if tier not in Tier.values:
        raise Invalid.for_field("tier", "tier is full, associate or probation")
    if tier == Tier.PROBATION and not (mentor_user or mentor_organisation):
        raise Invalid.for_field("mentor", "approval on probation needs a mentor")
    application = _decidable(application)
    _require_board_outcome(application, Vote.APPROVE)
    organisation = accounts_services.organisation_create(
        slug=_unique_slug(application.organisation_name),
        name=application.organisation_name,
        kind=OrganisationKind.PLATFORM,
        country=application.country or "ZZ",
        status=OrganisationStatus.ACTIVE,
        tier=tier,
        context=context,
    )
    organisation.website = application.website
    organisation.save(update_fields=["website"])
    accounts_services.membership_add(
        user=application.applicant, organisation=organisation, role=Role.ADMIN, context=context
    )
    application.state = ApplicationState.APPROVED
    application.organisation = organisation
    application.decided_at = timezone.now()
    application.decided_by = staff
    application.decided_tier = tier
    application.decision_reason = reason
    application.save()
    OrganisationDecision.objects.create(
        organisation=organisation,
        kind=DecisionKind.APPROVED,
        to_value=tier,
        reason=reason or "Application approved.",
        decided_by=staff,
    )
    if mentor_user or mentor_organisation:
        mentor_assign(
            organisation=organisation,
            mentor_user=mentor_user,
            mentor_organisation=mentor_organisation,
            context=context,
        )
    target = timezone.now().date() + dt.timedelta(days=settings.GOVERNANCE_CRITERIA_TARGET_DAYS)
    given = {e.criterion_id for e in application.evidence.select_related("criterion") if e.is_given}
    for criterion in criteria_current():
        if criterion.pk not in given:
            CriterionTarget.objects.get_or_create(
                organisation=organisation, criterion=criterion, defaults={"target_date": target}
            )
    _post_message(
        application,
        author=staff,
        kind=MessageKind.DECISION,
        body=reason or "Your application is approved.",
        staff=True,
    )
    audit_record(
        action="governance.application.approved",
        context=context,
        target=application,
        organisation=organisation,
        detail={
            "tier": tier,
            "mentor_user": mentor_user.email if mentor_user else None,
            "mentor_organisation": mentor_organisation.slug if mentor_organisation else None,
        },
    )
    applicant_pk = application.applicant_id
    transaction.on_commit(lambda: tasks.send_member_invitation.delay(applicant_pk, organisation.pk))
    return organisation


@transaction.atomic
def application_reject(
    *, application: MembershipApplication, reasons: str, context: AuditContext
) -> MembershipApplication:
    """Reject with reasons, which the applicant reads in the portal and by email. Raises
    Invalid without reasons, NotPermitted against the board's votes, Conflict if decided."""
    staff = staff_required(context)
    if not reasons.strip():
        raise Invalid.for_field("reason", "a rejection states its reasons")
    application = _decidable(application)
    _require_board_outcome(application, Vote.REJECT)
    application.state = ApplicationState.REJECTED
    application.decided_at = timezone.now()
    application.decided_by = staff
    application.decision_reason = reasons
    application.save()
    _post_message(application, author=staff, kind=MessageKind.DECISION, body=reasons, staff=True)
    audit_record(
        action="governance.application.rejected",
        context=context,
        target=application,
        detail={"reasons": reasons},
    )
    return application
