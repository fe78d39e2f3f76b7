"""Membership criteria: loading the versioned fixture, and the criteria a member still has to
meet by a target date. Every change records an audit event (`governance.*`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import AuditContext, audit_record
from accounts.models import (
    Organisation,
    User,
)
from core.errors import Invalid, NotFound
from federation.governance.models import (
    Criterion,
    CriterionTarget,
    Mentorship,
)
from federation.governance.selectors import mentee_of
from federation.governance.services.access import staff_required

CRITERIA_FILE = Path(settings.BASE_DIR) / "fixtures" / "membership_criteria.json"


@transaction.atomic
def criteria_load(*, path: Path = CRITERIA_FILE, context: AuditContext) -> int:
    """Create or update the criteria from the versioned fixture, by key. A file older than
    what is loaded already changes nothing (staff edits to the current version survive a
    reload); criteria no longer in the file are deactivated, never deleted, because past
    applications' evidence refers to them. Returns the version now loaded."""
    data = json.loads(path.read_text())
    version = int(data["version"])
    loaded = Criterion.objects.order_by("-version").values_list("version", flat=True).first()
    if loaded is not None and loaded >= version:
        return loaded
    keys = []
    for position, spec in enumerate(data["criteria"]):
        keys.append(spec["key"])
        Criterion.objects.update_or_create(
            key=spec["key"],
            defaults={
                "version": version,
                "position": position,
                "title_en": spec["title"]["en"],
                "title_fr": spec["title"].get("fr", ""),
                "guidance_en": spec["guidance"]["en"],
                "guidance_fr": spec["guidance"].get("fr", ""),
                "evidence_kind": spec["evidence_kind"],
                "required_for": spec["required_for"],
                "active": True,
            },
        )
    Criterion.objects.exclude(key__in=keys).update(active=False)
    audit_record(
        action="governance.criteria.loaded",
        context=context,
        detail={"version": version, "criteria": keys},
    )
    return version


@transaction.atomic
def criterion_target_set(
    *,
    organisation: Organisation,
    criterion: Criterion,
    target_date: dt.date,
    met: bool = False,
    note: str = "",
    context: AuditContext,
) -> CriterionTarget:
    """Track a criterion a member still misses (or mark it met)."""
    staff_required(context)
    target, _ = CriterionTarget.objects.update_or_create(
        organisation=organisation,
        criterion=criterion,
        defaults={
            "target_date": target_date,
            "note": note,
            "met_at": timezone.now() if met else None,
        },
    )
    audit_record(
        action="governance.criterion_target.set",
        context=context,
        target=target,
        organisation=organisation,
        detail={"criterion": criterion.key, "target_date": str(target_date), "met": met},
    )
    return target


@transaction.atomic
def criterion_target_reschedule(
    *,
    mentorship: Mentorship,
    criterion_key: str,
    target_date: dt.date,
    mentor: User,
    context: AuditContext,
) -> CriterionTarget:
    """A mentor moves the date by which their mentee aims to meet a criterion it still
    misses. Raises NotFound unless `mentor` holds this current mentorship and the criterion
    is an open target of the mentee; Invalid (field target_date) for a date in the past."""
    mentorship = mentee_of(user=mentor, slug=mentorship.mentee.slug)
    if target_date < timezone.localdate():
        raise Invalid.for_field("target_date", "the target date cannot be in the past")
    target = (
        CriterionTarget.objects.select_for_update()
        .filter(organisation=mentorship.mentee, criterion__key=criterion_key, met_at__isnull=True)
        .first()
    )
    if target is None:
        raise NotFound("no such open target")
    previous = target.target_date
    target.target_date = target_date
    target.save(update_fields=["target_date"])
    audit_record(
        action="governance.criterion_target.rescheduled",
        context=context,
        target=target,
        organisation=mentorship.mentee,
        detail={"criterion": criterion_key, "from": str(previous), "to": str(target_date)},
    )
    return target
