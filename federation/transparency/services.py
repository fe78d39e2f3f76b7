"""Writes of transparency reports: request, generate, preview, publish. Audited."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from accounts.audit import AuditContext, audit_record
from core.errors import Conflict, Invalid
from federation.transparency.models import ReportState, TransparencyReport


@transaction.atomic
def transparency_report_request(
    *,
    period_start: dt.datetime,
    period_end: dt.datetime,
    title: str = "",
    context: AuditContext,
) -> TransparencyReport:
    """Record a report for [period_start, period_end) and have it generated in the
    background once this commits."""
    from federation.transparency.tasks import generate_transparency_report

    if period_end <= period_start:
        raise Invalid.for_field("period_end", "the period must end after it starts")
    report = TransparencyReport.objects.create(
        title=title, period_start=period_start, period_end=period_end, requested_by=context.user
    )
    audit_record(action="transparency.report.requested", context=context, target=report)
    transaction.on_commit(lambda: generate_transparency_report.delay(report.pk))
    return report


def transparency_report_generate(*, report_pk: int) -> TransparencyReport:
    """Compute and store the report's numbers; a draft again, so it must be previewed
    (again) before it is published. Safe to run twice. A published report is never
    regenerated: what was published stays as published."""
    from federation.transparency.selectors import report_data_compute

    report = TransparencyReport.objects.get(pk=report_pk)
    if report.state == ReportState.PUBLISHED:
        return report
    try:
        data = report_data_compute(start=report.period_start, end=report.period_end)
    except Exception as exc:
        TransparencyReport.objects.filter(pk=report.pk).update(
            state=ReportState.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    with transaction.atomic():
        report = TransparencyReport.objects.select_for_update().get(pk=report_pk)
        if report.state == ReportState.PUBLISHED:
            return report
        report.data = data
        report.state = ReportState.DRAFT
        report.generated_at = timezone.now()
        report.previewed_at = None
        report.previewed_by = None
        report.error = ""
        report.save()
    return report


@transaction.atomic
def transparency_report_mark_previewed(
    *, report: TransparencyReport, context: AuditContext
) -> TransparencyReport:
    report = TransparencyReport.objects.select_for_update().get(pk=report.pk)
    if report.state != ReportState.DRAFT:
        return report
    report.previewed_at = timezone.now()
    report.previewed_by = context.user
    report.save(update_fields=["previewed_at", "previewed_by"])
    return report


@transaction.atomic
def transparency_report_publish(
    *, report: TransparencyReport, context: AuditContext
) -> TransparencyReport:
    """Publish a draft staff have previewed (Conflict otherwise): it appears on the public
    page, with JSON and CSV downloads."""
    report = TransparencyReport.objects.select_for_update().get(pk=report.pk)
    if report.state != ReportState.DRAFT:
        raise Conflict(f"this report is {report.state}", code="not_draft")
    if report.previewed_at is None:
        raise Conflict("preview the report before publishing it", code="not_previewed")
    report.state = ReportState.PUBLISHED
    report.published_at = timezone.now()
    report.published_by = context.user
    report.save(update_fields=["state", "published_at", "published_by"])
    audit_record(action="transparency.report.published", context=context, target=report)
    return report
