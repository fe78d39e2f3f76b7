"""Django admin for transparency reports: staff request a report for a period (generated
in the background), preview it as the public will see it, then publish it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.audit import AuditContext
from core.errors import ServiceError
from federation.transparency import services
from federation.transparency.models import ReportState, TransparencyReport
from federation.transparency.tasks import generate_transparency_report
from federation.transparency.views import report_context


class TransparencyReportForm(forms.ModelForm):
    class Meta:
        model = TransparencyReport
        fields = ["title", "period_start", "period_end"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        start, end = cleaned.get("period_start"), cleaned.get("period_end")
        if start and end and end <= start:
            # Named on the field, before the database constraint would say it of the form.
            self.add_error("period_end", "The period must end after it starts.")
        return cleaned


@admin.register(TransparencyReport)
class TransparencyReportAdmin(admin.ModelAdmin):
    form = TransparencyReportForm
    list_display = [
        "__str__",
        "period_start",
        "period_end",
        "state",
        "generated_at",
        "preview_link",
        "previewed_at",
        "published_at",
    ]
    list_filter = ["state"]
    actions = ["publish", "regenerate"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("title", "period_start", "period_end")
        return (
            "title",
            "period_start",
            "period_end",
            "state",
            "preview_link",
            "requested_by",
            "generated_at",
            "error",
            "previewed_at",
            "previewed_by",
            "published_at",
            "published_by",
            "data",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or obj.state != ReportState.PUBLISHED

    def save_model(
        self, request: HttpRequest, obj: TransparencyReport, form: Any, change: bool
    ) -> None:
        if change:
            return
        report = services.transparency_report_request(
            period_start=obj.period_start,
            period_end=obj.period_end,
            title=obj.title,
            context=AuditContext.from_request(request),
        )
        obj.pk = report.pk

    def get_urls(self) -> list:
        return [
            path(
                "<id:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="transparency_transparencyreport_preview",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="preview")
    def preview_link(self, obj: TransparencyReport) -> str:
        if obj.state not in (ReportState.DRAFT, ReportState.PUBLISHED):
            return "—"
        url = reverse("admin:transparency_transparencyreport_preview", args=[obj.pk])
        return format_html('<a href="{}">preview</a>', url)

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The report exactly as the public page will show it; viewing it is what allows
        publishing."""
        report = get_object_or_404(TransparencyReport, pk=pk)
        if not self.has_view_permission(request, report):
            return HttpResponse(status=403)
        if report.state == ReportState.DRAFT:
            report = services.transparency_report_mark_previewed(
                report=report, context=AuditContext.from_request(request)
            )
        context = {
            **report_context(report),
            "preview": True,
            "back_url": reverse("admin:transparency_transparencyreport_change", args=[pk]),
        }
        return TemplateResponse(request, "transparency/report.html", context)

    @admin.action(description="Publish (previewed drafts only)", permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[TransparencyReport]) -> None:
        context = AuditContext.from_request(request)
        for report in queryset:
            try:
                services.transparency_report_publish(report=report, context=context)
                self.message_user(request, f"{report} published.", messages.SUCCESS)
            except ServiceError as exc:
                self.message_user(request, f"{report}: {exc.message}", messages.ERROR)

    @admin.action(description="Regenerate (drafts and failed reports)", permissions=["change"])
    def regenerate(self, request: HttpRequest, queryset: QuerySet[TransparencyReport]) -> None:
        for report in queryset.exclude(state=ReportState.PUBLISHED):
            generate_transparency_report.delay(report.pk)
        self.message_user(request, "Regeneration requested.", messages.SUCCESS)
