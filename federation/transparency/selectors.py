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
from django.utils import timezone

from accounts.models import Organisation, OrganisationKind, OrganisationStatus
from core.errors import NotFound
from federation.authorities.models import (
    LawfulRequest,
    LawfulRequestAddressee,
    LawfulRequestState,
)
from federation.governance.models import DecisionKind, OrganisationDecision
from federation.incidents.models import Incident
from federation.transparency.models import ReportState, TransparencyReport
from hashbank.models import (
    ChangeLogEntry,
    ChangeOp,
    Dispute,
    Opinion,
    ReviewState,
    Signal,
    Submission,
)

NO_DSA_CATEGORY = "NOT_MAPPED"
TIER_DECISIONS = (DecisionKind.APPROVED, DecisionKind.TIER_CHANGED)


def _median_hours(spans: Iterable[tuple[dt.datetime | None, dt.datetime | None]]) -> float | None:
    """The median of `end - start` in hours over the (end, start) pairs that have both."""
    hours = [(end - start).total_seconds() / 3600 for end, start in spans if end and start]
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


def _value_at(
    current: str | None, history: list[tuple[dt.datetime, str, str]], end: dt.datetime
) -> str | None:
    """An organisation's status (or tier) just before `end`, from its decisions in time
    order (decided_at, from_value, to_value): the last change before `end` says what it
    became; failing that, the first change at or after `end` says what it was; with no
    change at all it has been what it is now since it was created."""
    before = [to for at, _, to in history if at < end]
    if before:
        return before[-1]
    after = [frm for at, frm, _ in history if at >= end and frm]
    return after[0] if after else current


def _members(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    history: dict[tuple[int, str], list[tuple[dt.datetime, str, str]]] = {}
    for org_id, kind, at, frm, to in OrganisationDecision.objects.order_by(
        "decided_at", "pk"
    ).values_list("organisation_id", "kind", "decided_at", "from_value", "to_value"):
        what = "tier" if kind in TIER_DECISIONS else "status"
        history.setdefault((org_id, what), []).append((at, frm, to))

    taking_part = [
        org
        for org in Organisation.objects.filter(created_at__lt=end).exclude(
            kind=OrganisationKind.CONSORTIUM
        )
        if _value_at(org.status, history.get((org.pk, "status"), []), end)
        == OrganisationStatus.ACTIVE
    ]
    platforms = [org for org in taking_part if org.kind == OrganisationKind.PLATFORM]
    # A platform becomes a member when its application is approved, which is when its
    # organisation is created (governance.application_approve); other kinds never are.
    joined = (
        Organisation.objects.filter(
            kind=OrganisationKind.PLATFORM, created_at__gte=start, created_at__lt=end
        )
        .exclude(status=OrganisationStatus.APPLICANT)
        .count()
    )
    left = (
        OrganisationDecision.objects.filter(
            kind=DecisionKind.OFFBOARDED,
            organisation__kind=OrganisationKind.PLATFORM,
            decided_at__gte=start,
            decided_at__lt=end,
        )
        .values("organisation_id")
        .distinct()
        .count()
    )
    return {
        "platforms": len(platforms),
        "by_kind": _counts(org.kind for org in taking_part),
        "platforms_by_tier": _counts(
            _value_at(org.tier, history.get((org.pk, "tier"), []), end) for org in platforms
        ),
        "joined": joined,
        "left": left,
    }


def _signals(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    listed = Signal.objects.filter(pk__in=signals_listed_at(end)).select_related("bank")
    labels = Signal.labels.through.objects.filter(signal__in=listed).values_list(
        "signal_id", "label__slug", "label__dsa_category"
    )
    # A signal counts once under each of its labels, and once under each distinct DSA
    # category of those labels: two labels of one category do not make it two statements.
    categories = {(signal_id, category or NO_DSA_CATEGORY) for signal_id, _, category in labels}
    in_period = ChangeLogEntry.objects.filter(created_at__gte=start, created_at__lt=end)
    return {
        "listed_at_end": listed.count(),
        "added": in_period.filter(op=ChangeOp.ADD).count(),
        "removed": in_period.filter(op=ChangeOp.REMOVE).count(),
        "updated": in_period.filter(op=ChangeOp.UPDATE).count(),
        "by_bank": _counts(s.bank.name for s in listed),
        "by_signal_type": _counts(listed.values_list("signal_type", flat=True)),
        "by_label": _counts(slug for _, slug, _ in labels),
        "by_dsa_category": _counts(category for _, category in categories),
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
            decided.values_list("reviewed_at", "received_at")
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
        "median_hours_to_decision": _median_hours(decided.values_list("decided_at", "opened_at")),
        "appeals": appealed.count(),
        "appeal_outcomes": _counts(appeals_decided.values_list("appeal_outcome", flat=True)),
    }


def _lawful_requests(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    filed = LawfulRequest.objects.filter(received_at__gte=start, received_at__lt=end)
    answers = list(
        LawfulRequestAddressee.objects.filter(
            answered_at__gte=start, answered_at__lt=end
        ).select_related("request")
    )
    # Every addressed platform owes its own answer by the request's deadline. An answer
    # falls due in the period its deadline falls in; it is on time if given by the
    # deadline, late if given after it or still missing once the deadline has passed, and
    # not yet either while it is missing and the deadline is still ahead.
    now = timezone.now()
    on_time = late = 0
    for answered_at, deadline in LawfulRequestAddressee.objects.filter(
        request__deadline__gte=start, request__deadline__lt=end
    ).values_list("answered_at", "request__deadline"):
        if deadline is None:  # excluded by the filter; said for the type checker
            continue
        if answered_at is not None and answered_at <= deadline:
            on_time += 1
        elif answered_at is not None or deadline < now:
            late += 1
    return {
        "filed": filed.count(),
        "by_kind": _counts(filed.values_list("kind", flat=True)),
        "by_jurisdiction": _counts(filed.values_list("jurisdiction", flat=True)),
        "refused_by_staff": filed.filter(state=LawfulRequestState.REFUSED).count(),
        "answers": len(answers),
        "by_outcome": _counts(a.outcome for a in answers),
        "median_hours_to_answer": _median_hours(
            (a.answered_at, a.request.forwarded_at) for a in answers
        ),
        "answers_due": on_time + late,
        "answered_late_or_missing": late,
        "answered_within_deadline_share": (
            round(on_time / (on_time + late), 4) if on_time + late else None
        ),
    }


def _incidents(start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    # An incident is open over [declared_at, closed_at): one closed at `start` was not
    # open at any instant of the period.
    incidents = Incident.objects.filter(declared_at__lt=end).filter(
        Q(closed_at__isnull=True) | Q(closed_at__gt=start)
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


def report_neighbours(
    *, report: TransparencyReport
) -> tuple[TransparencyReport | None, TransparencyReport | None]:
    """The published reports just before and just after `report`, by the end of their
    period (ties broken by creation order)."""
    published = reports_published()
    same_end = Q(period_end=report.period_end)
    earlier = published.filter(
        Q(period_end__lt=report.period_end) | (same_end & Q(pk__lt=report.pk))
    ).order_by("-period_end", "-pk")
    later = published.filter(
        Q(period_end__gt=report.period_end) | (same_end & Q(pk__gt=report.pk))
    ).order_by("period_end", "pk")
    return earlier.first(), later.first()


STATISTICS_DIMENSIONS = ("month", "bank", "signal_type", "label")
STATISTICS_METRICS = (
    "submissions_received",
    "submissions_approved",
    "submissions_rejected",
    "signals_added",
)


def month_start(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _suppress(cells: list[dict[str, Any]], minimum: int) -> None:
    """Replace every count under `minimum` (zero included) by None, then protect the
    suppressed counts from subtraction: a month's total of a metric (which a transparency
    report covering whole months states) minus the shown cells of that month would give
    a lone suppressed cell exactly, so a month with exactly one suppressed non-zero cell of
    a metric also loses its smallest shown one. Within a cell, submissions received less
    the shown one of approved and rejected would bound the other closely, so either of the
    two suppressed hides both."""
    decided = {"submissions_approved", "submissions_rejected"}
    for cell in cells:
        cell["suppressed"] = {m for m in STATISTICS_METRICS if cell["counts"][m] < minimum}
    by_month: dict[str, list[dict[str, Any]]] = {}
    for cell in cells:
        by_month.setdefault(cell["month"], []).append(cell)
    # Each rule can trigger the other, so apply both until neither changes anything.
    changed = True
    while changed:
        changed = False
        for cell in cells:
            if cell["suppressed"] & decided and not decided <= cell["suppressed"]:
                cell["suppressed"] |= decided
                changed = True
        for month_cells in by_month.values():
            for metric in STATISTICS_METRICS:
                # Hidden zeros do not count: a researcher may guess them (a cell that
                # appears for its other counts), which would single out the one real count.
                hidden = [
                    c for c in month_cells if metric in c["suppressed"] and c["counts"][metric]
                ]
                shown = [c for c in month_cells if metric not in c["suppressed"]]
                if len(hidden) == 1 and shown:
                    min(shown, key=lambda c: c["counts"][metric])["suppressed"].add(metric)
                    changed = True
    for cell in cells:
        hidden = cell["suppressed"]
        cell["counts"] = {m: None if m in hidden else cell["counts"][m] for m in STATISTICS_METRICS}
        cell["suppressed"] = [m for m in STATISTICS_METRICS if m in hidden]


def statistics_cells(
    *,
    start: dt.datetime,
    end: dt.datetime,
    bank: str | None = None,
    signal_type: str | None = None,
    label: str | None = None,
    min_cell_size: int | None = None,
) -> list[dict[str, Any]]:
    """The cells of the one published grid, calendar month (UTC) × bank × signal type ×
    label, for the months from `start` up to `end` (both the first instant of a month),
    optionally only those of one bank, signal type or label.

    Each cell counts the submissions received in its month (and of those, the approved
    and the rejected ones as they stand) and the signals added to the list in its month
    (change-log `add` entries, one per signal). A submission or signal with several labels
    counts once under each; one without labels under `label: null`. A cell appears when
    one of its counts is not zero.

    Suppression (`_suppress`) is decided on each whole month of the grid before any filter
    applies, so a cell reads the same whatever the query that returns it: no two queries
    can differ by less than a whole shown cell."""
    if start != month_start(start) or end != month_start(end):
        raise ValueError("statistics periods run from the first instant of a month")
    minimum = settings.STATISTICS_MIN_CELL_SIZE if min_cell_size is None else min_cell_size
    submission_fields = {
        "month": TruncMonth("received_at", tzinfo=dt.UTC),
        "bank": F("bank__name"),
        "signal_type": F("signal_type"),
        "label": F("labels__slug"),
    }
    entry_fields = {
        "month": TruncMonth("created_at", tzinfo=dt.UTC),
        "bank": F("bank__name"),
        "signal_type": F("signal__signal_type"),
        "label": F("signal__labels__slug"),
    }
    submissions = Submission.objects.filter(received_at__gte=start, received_at__lt=end)
    entries = ChangeLogEntry.objects.filter(
        created_at__gte=start, created_at__lt=end, op=ChangeOp.ADD
    )

    def grouped(
        queryset: QuerySet[Any], fields: dict[str, Any], **metrics: Any
    ) -> list[dict[str, Any]]:
        names = {f"g_{d}": fields[d] for d in STATISTICS_DIMENSIONS}
        return list(queryset.annotate(**names).values(*names).annotate(**metrics).order_by(*names))

    counts: dict[tuple[Any, ...], dict[str, int]] = {}
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
        key = tuple(row[f"g_{d}"] for d in STATISTICS_DIMENSIONS)
        counts.setdefault(key, dict.fromkeys(STATISTICS_METRICS, 0)).update(
            {m: row[m] for m in STATISTICS_METRICS if m in row}
        )
    for row in grouped(entries, entry_fields, signals_added=Count("signal", distinct=True)):
        key = tuple(row[f"g_{d}"] for d in STATISTICS_DIMENSIONS)
        counts.setdefault(key, dict.fromkeys(STATISTICS_METRICS, 0))["signals_added"] = row[
            "signals_added"
        ]

    cells = [
        {
            "month": month.strftime("%Y-%m"),
            "bank": bank_name,
            "signal_type": type_name,
            "label": label_slug,
            "counts": dict(metrics),
        }
        for (month, bank_name, type_name, label_slug), metrics in sorted(
            counts.items(), key=lambda item: tuple(str(k) for k in item[0])
        )
    ]
    _suppress(cells, minimum)
    return [
        cell
        for cell in cells
        if (bank is None or cell["bank"] == bank)
        and (signal_type is None or cell["signal_type"] == signal_type)
        and (label is None or cell["label"] == label)
    ]
