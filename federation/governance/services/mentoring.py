"""Mentoring of new members: assigning a mentor (a staff person or a full member
organisation) and ending the mentorship. Every change records an audit event."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.audit import AuditContext, audit_record
from accounts.models import (
    Organisation,
    OrganisationKind,
    Tier,
    User,
)
from core.errors import Invalid
from federation.governance.models import (
    Mentorship,
)
from federation.governance.services.access import staff_required


@transaction.atomic
def mentor_assign(
    *,
    organisation: Organisation,
    mentor_user: User | None = None,
    mentor_organisation: Organisation | None = None,
    context: AuditContext,
) -> Mentorship:
    """Assign a mentor (ending the current mentorship). The mentor is a staff person or
    an active full member organisation other than the mentee. Raises Invalid otherwise."""
    staff_required(context)
    if bool(mentor_user) == bool(mentor_organisation):
        raise Invalid.for_field("mentor", "choose either a staff mentor or a mentor organisation")
    if mentor_user is not None and not mentor_user.is_staff:
        raise Invalid.for_field("mentor_user", "a mentoring person is consortium staff")
    if mentor_organisation is not None and (
        mentor_organisation.pk == organisation.pk
        or not mentor_organisation.is_active
        or mentor_organisation.kind != OrganisationKind.PLATFORM
        or mentor_organisation.tier != Tier.FULL
    ):
        raise Invalid.for_field(
            "mentor_organisation", "a mentoring organisation is another active full member"
        )
    Mentorship.objects.filter(mentee=organisation, ended_at__isnull=True).update(
        ended_at=timezone.now()
    )
    mentorship = Mentorship.objects.create(
        mentee=organisation, mentor_user=mentor_user, mentor_organisation=mentor_organisation
    )
    audit_record(
        action="governance.mentor.assigned",
        context=context,
        target=mentorship,
        organisation=organisation,
        detail={"mentor": str(mentorship.mentor)},
    )
    return mentorship


@transaction.atomic
def mentorship_end(*, organisation: Organisation, context: AuditContext) -> None:
    staff_required(context)
    ended = Mentorship.objects.filter(mentee=organisation, ended_at__isnull=True).update(
        ended_at=timezone.now()
    )
    if ended:
        audit_record(action="governance.mentor.ended", context=context, target=organisation)
