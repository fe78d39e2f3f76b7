"""The numbers behind transparency reports and researchers' statistics. Aggregates only:
no hash value and no member identity ever leaves this module."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import TruncMonth

from accounts.errors import NotFound
from accounts.models import AuditEvent, Organisation, OrganisationKind, OrganisationStatus
from federation.authorities.models import LawfulRequest, LawfulRequestAddressee
from federation.incidents.models import Incident
from federation.transparency.models import ReportState, TransparencyReport
from hashbank.models import (
    ChangeLogEntry,
    ChangeOp,
    Dispute,
    Label,
    Opinion,
    ReviewState,
    Signal,
    Submission,
)

NO_DSA_CATEGORY = "NOT_MAPPED"


def _median_hours(durations: Iterable[dt.timedelta]) -> float | None:
    hours = [d.total_seconds() / 3600 for d in durations]
    return round(statistics.median(hours), 2) if hours else None


def _counts(values: Iterable[Any]) -> dict[str, int]:
    return dict(sorted(Counter(str(v) for v in values).items()))


def signals_listed_at(end: dt.datetime) -> list[int]:
    """Ids of the signals on the list at `end`, by replaying the change log up to it: the
    list as members held it then, not as it is now."""
    last_op: dict[int, str] = {}
    for signal_id, op in (
        ChangeLogEntry.objects.filter(created_at__lt=end)
        .order_by("sequence")
        .values_list("signal_id", "op")
    ):
        last_op[signal_id] = op
    return [signal_id for signal_id, op in last_op.items() if op != ChangeOp.REMOVE]


def _members(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    members = Organisation.objects.filter(
        created_at__lt=end, status=OrganisationStatus.ACTIVE
    ).exclude(kind=OrganisationKind.CONSORTIUM)
    joined = Organisation.objects.filter(created_at__gte=start, created_at__lt=end).exclude(
        status=OrganisationStatus.APPLICANT
    )
    # Offboarding is recorded in the audit trail (governance writes `*.offboarded`).
    left = (
        AuditEvent.objects.filter(
            action__endswith=".offboarded", occurred_at__gte=start, occurred_at__lt=end
        )
        .values("organisation_id")
        .distinct()
        .count()
    )
    return {
        "by_kind": _counts(members.values_list("kind", flat=True)),
        "platforms_by_tier": _counts(
            members.filter(kind=OrganisationKind.PLATFORM).values_list("tier", flat=True)
        ),
        "joined": joined.count(),
        "left": left,
    }


def _signals(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    listed = Signal.objects.filter(pk__in=signals_listed_at(end)).select_related("bank")
    labels = Label.objects.filter(signals__in=listed).values_list("slug", "dsa_category")
    in_period = ChangeLogEntry.objects.filter(created_at__gte=start, created_at__lt=end)
    return {
        "listed_at_end": listed.count(),
        "added": in_period.filter(op=ChangeOp.ADD).count(),
        "removed": in_period.filter(op=ChangeOp.REMOVE).count(),
        "updated": in_period.filter(op=ChangeOp.UPDATE).count(),
        "by_bank": _counts(s.bank.name for s in listed),
        "by_signal_type": _counts(listed.values_list("signal_type", flat=True)),
        "by_label": _counts(slug for slug, _ in labels),
        "by_dsa_category": _counts(category or NO_DSA_CATEGORY for _, category in labels),
        "incident_hashes": listed.exclude(incident="").count(),
    }


def _submissions(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    received = Submission.objects.filter(received_at__gte=start, received_at__lt=end)
    decided = Submission.objects.filter(
        reviewed_at__gte=start,
        reviewed_at__lt=end,
        review_state__in=[ReviewState.APPROVED, ReviewState.REJECTED],
    )
    return {
        "received": received.count(),
        "approved": decided.filter(review_state=ReviewState.APPROVED).count(),
        "rejected": decided.filter(review_state=ReviewState.REJECTED).count(),
        "approved_on_arrival": decided.filter(auto_approved=True).count(),
        "median_hours_to_decision": _median_hours(
            s.reviewed_at - s.received_at for s in decided.only("reviewed_at", "received_at")
        ),
    }


def _opinions(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    opinions = Opinion.objects.filter(updated_at__gte=start, updated_at__lt=end)
    return {"total": opinions.count(), "by_kind": _counts(opinions.values_list("kind", flat=True))}


def _disputes(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    filed = Dispute.objects.filter(opened_at__gte=start, opened_at__lt=end)
    decided = Dispute.objects.filter(decided_at__gte=start, decided_at__lt=end)
    appealed = Dispute.objects.filter(appealed_at__gte=start, appealed_at__lt=end)
    appeals_decided = Dispute.objects.filter(
        appeal_decided_at__gte=start, appeal_decided_at__lt=end
    )
    outcomes = _counts(decided.values_list("outcome", flat=True))
    return {
        "filed": filed.count(),
        "decided": decided.count(),
        "upheld": outcomes.get("upheld", 0),
        "overturned": outcomes.get("overturned", 0),
        "relabelled": outcomes.get("relabelled", 0),
        "median_hours_to_decision": _median_hours(
            d.decided_at - d.opened_at for d in decided.only("decided_at", "opened_at")
        ),
        "appeals": appealed.count(),
        "appeal_outcomes": _counts(appeals_decided.values_list("appeal_outcome", flat=True)),
    }


def _lawful_requests(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    filed = LawfulRequest.objects.filter(received_at__gte=start, received_at__lt=end)
    answers = LawfulRequestAddressee.objects.filter(
        answered_at__gte=start, answered_at__lt=end
    ).select_related("request")
    answers = list(answers)
    within = [a for a in answers if a.request.deadline and a.answered_at <= a.request.deadline]
    return {
        "filed": filed.count(),
        "by_kind": _counts(filed.values_list("kind", flat=True)),
        "by_jurisdiction": _counts(filed.values_list("jurisdiction", flat=True)),
        "refused_by_staff": filed.filter(state="refused").count(),
        "answers": len(answers),
        "by_outcome": _counts(a.outcome for a in answers),
        "median_hours_to_answer": _median_hours(
            a.answered_at - a.request.forwarded_at for a in answers if a.request.forwarded_at
        ),
        "answered_within_deadline_share": (
            round(len(within) / len(answers), 4) if answers else None
        ),
    }


def _incidents(start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    incidents = Incident.objects.filter(declared_at__lt=end).filter(
        Q(closed_at__isnull=True) | Q(closed_at__gte=start)
    )
    return [
        {
            "slug": i.slug,
            "title": i.title,
            "level": i.level,
            "state": i.state,
            "started_at": i.started_at.isoformat(),
            "declared_at": i.declared_at.isoformat(),
            "closed_at": i.closed_at.isoformat() if i.closed_at else None,
            "debrief": i.debrief,
        }
        for i in incidents.order_by("declared_at")
    ]


def report_data_compute(*, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Every section of a transparency report for [start, end). Flows (submitted, decided,
    filed) count events in the period; stocks (members, signals listed) are as at `end`."""
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "members": _members(start, end),
        "signals": _signals(start, end),
        "submissions": _submissions(start, end),
        "opinions": _opinions(start, end),
        "disputes": _disputes(start, end),
        "lawful_requests": _lawful_requests(start, end),
        "incidents": _incidents(start, end),
    }


def reports_published() -> QuerySet[TransparencyReport]:
    return TransparencyReport.objects.filter(state=ReportState.PUBLISHED).order_by("-period_end")


def report_published(*, public_id: str) -> TransparencyReport:
    report = reports_published().filter(public_id=public_id).first()
    if report is None:
        raise NotFound("No such published report.")
    return report


STATISTICS_DIMENSIONS = ("month", "bank", "signal_type", "label")
STATISTICS_METRICS = (
    "submissions_received",
    "submissions_approved",
    "submissions_rejected",
    "signals_added",
)


def statistics_cells(
    *,
    start: dt.datetime,
    end: dt.datetime,
    group_by: tuple[str, ...] = STATISTICS_DIMENSIONS,
    bank: str | None = None,
    signal_type: str | None = None,
    label: str | None = None,
    min_cell_size: int | None = None,
) -> list[dict[str, Any]]:
    """Counts of submissions and newly listed signals per combination of `group_by`, with
    every count under the minimum cell size replaced by None and named in the cell's
    `suppressed` list. Labels multiply: a submission with two labels counts once under each.
    """
    minimum = settings.STATISTICS_MIN_CELL_SIZE if min_cell_size is None else min_cell_size
    submission_fields = {
        "month": TruncMonth("received_at"),
        "bank": F("bank__name"),
        "signal_type": F("signal_type"),
        "label": F("labels__slug"),
    }
    entry_fields = {
        "month": TruncMonth("created_at"),
        "bank": F("bank__name"),
        "signal_type": F("signal__signal_type"),
        "label": F("signal__labels__slug"),
    }
    submissions = Submission.objects.filter(received_at__gte=start, received_at__lt=end)
    entries = ChangeLogEntry.objects.filter(
        created_at__gte=start, created_at__lt=end, op=ChangeOp.ADD
    )
    if bank:
        submissions = submissions.filter(bank__name=bank)
        entries = entries.filter(bank__name=bank)
    if signal_type:
        submissions = submissions.filter(signal_type=signal_type)
        entries = entries.filter(signal__signal_type=signal_type)
    if label:
        submissions = submissions.filter(labels__slug=label)
        entries = entries.filter(signal__labels__slug=label)

    def grouped(queryset: QuerySet, fields: dict[str, Any], **metrics: Any) -> list[dict]:
        names = {f"g_{d}": fields[d] for d in group_by}
        return list(queryset.annotate(**names).values(*names).annotate(**metrics).order_by(*names))

    cells: dict[tuple, dict[str, int]] = {}
    for row in grouped(
        submissions,
        submission_fields,
        submissions_received=Count("pk", distinct=True),
        submissions_approved=Count(
            "pk", distinct=True, filter=Q(review_state=ReviewState.APPROVED)
        ),
        submissions_rejected=Count(
            "pk", distinct=True, filter=Q(review_state=ReviewState.REJECTED)
        ),
    ):
        key = tuple(row[f"g_{d}"] for d in group_by)
        cells.setdefault(key, dict.fromkeys(STATISTICS_METRICS, 0)).update(
            {m: row[m] for m in STATISTICS_METRICS if m in row}
        )
    for row in grouped(entries, entry_fields, signals_added=Count("signal", distinct=True)):
        key = tuple(row[f"g_{d}"] for d in group_by)
        cells.setdefault(key, dict.fromkeys(STATISTICS_METRICS, 0))["signals_added"] = row[
            "signals_added"
        ]

    result = []
    for key, counts in sorted(cells.items(), key=lambda item: tuple(str(k) for k in item[0])):
        cell: dict[str, Any] = {}
        for dimension, value in zip(group_by, key, strict=True):
            cell[dimension] = value.strftime("%Y-%m") if dimension == "month" and value else value
        suppressed = [m for m in STATISTICS_METRICS if counts[m] < minimum]
        cell["counts"] = {m: (None if m in suppressed else counts[m]) for m in STATISTICS_METRICS}
        cell["suppressed"] = suppressed
        result.append(cell)
    return result
