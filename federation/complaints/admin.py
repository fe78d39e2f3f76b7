"""The help pages' data and the triage of complaints from the public in Django admin.
Complaints change only through their actions (review, a dispute on the complainant's
behalf, an answer by email, closing), each a service, so each is audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import ngettext

from accounts.admin_base import ReadOnlyInline, apply_each, apply_each_with_form
from accounts.audit import AuditContext, audit_record
from federation.complaints import services
from federation.complaints.forms import (
    ComplaintAnswerForm,
    ComplaintCloseForm,
    ComplaintDisputeForm,
)
from federation.complaints.models import (
    Complaint,
    ComplaintAnswer,
    HelpCountry,
    HelpResource,
)
from hashbank.admin.common import _admin_link

# Web addresses typed without a scheme are taken as https.
HTTPS_URLS: dict[type[models.Field[Any, Any]], dict[str, Any]] = {
    models.URLField: {"assume_scheme": "https"}
}


class AuditedEditAdmin(admin.ModelAdmin):
    """Staff edit the help pages' data freely; each edit is audited."""

    formfield_overrides = HTTPS_URLS

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit_record(
            action=f"complaints.{obj._meta.model_name}.{'changed' if change else 'created'}",
            context=AuditContext.from_request(request),
            target=obj,
            detail={"fields": sorted(form.changed_data)},
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit_record(
            action=f"complaints.{obj._meta.model_name}.deleted",
            context=AuditContext.from_request(request),
            target=obj,
        )
        super().delete_model(request, obj)


class HelpResourceInline(admin.StackedInline):
    model = HelpResource
    extra = 0
    formfield_overrides = HTTPS_URLS
    fields = [
        ("key", "kind", "position", "active"),
        ("name_en", "name_fr"),
        ("description_en", "description_fr"),
        ("website", "phone"),
        ("terrorism", "child_abuse", "hate"),
    ]


@admin.register(HelpCountry)
class HelpCountryAdmin(AuditedEditAdmin):
    list_display = ["name_en", "name_fr", "code", "emergency_number", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name_en", "name_fr"]
    inlines = [HelpResourceInline]


@admin.register(HelpResource)
class HelpResourceAdmin(AuditedEditAdmin):
    list_display = ["name_en", "country", "kind", "website", "active"]
    list_filter = ["country", "kind", "terrorism", "child_abuse", "hate", "active"]
    search_fields = ["key", "name_en", "name_fr", "website"]


class ComplaintAnswerInline(ReadOnlyInline):
    model = ComplaintAnswer
    fields = readonly_fields = ("sent_at", "sent_by", "body")


@admin.register(Complaint)
class ComplaintAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "state",
        "platform",
        "removed_on",
        "created_at",
        "dispute_link",
        "outcome",
        "erased_at",
    ]
    list_filter = ["state", "outcome"]
    search_fields = ["reference", "platform", "hash_value"]
    search_help_text = "A complaint's reference (e.g. HF-7KQ2-M9XD), a platform or a hash."
    ordering = ["-created_at"]
    actions = ["mark_in_review", "open_dispute", "answer", "close"]
    inlines = [ComplaintAnswerInline]
    fieldsets = [
        ("Complaint", {"fields": ["reference", "state", "created_at", "language"]}),
        (
            "What the complainant says",
            {
                "fields": [
                    "email",
                    "platform",
                    "removed_on",
                    "content_url",
                    "content_description",
                    "reason",
                    "hash_value",
                    "consented_at",
                ]
            },
        ),
        ("Outcome", {"fields": ["dispute_link", "outcome", "closed_at", "erased_at"]}),
    ]
    readonly_fields = [str(name) for _, section in fieldsets for name in section["fields"]]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Complaint]:
        return super().get_queryset(request).select_related("dispute__signal__bank")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the public files complaints on /help/complaint/

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # personal data is erased by the retention job; the record stays

    @admin.display(description="dispute")
    def dispute_link(self, obj: Complaint) -> str:
        return _admin_link(obj.dispute, obj.dispute) if obj.dispute else "—"

    @admin.action(description="Mark the selected complaints as in review", permissions=["change"])
    def mark_in_review(self, request: HttpRequest, queryset: QuerySet[Complaint]) -> None:
        context = AuditContext.from_request(request)
        marked = apply_each(
            self,
            request,
            queryset,
            lambda complaint: services.complaint_mark_in_review(
                complaint=complaint, context=context
            ),
            level=messages.WARNING,
        )
        if marked:
            self.message_user(
                request,
                ngettext(
                    "%(count)d complaint now in review.",
                    "%(count)d complaints now in review.",
                    marked,
                )
                % {"count": marked},
                messages.SUCCESS,
            )

    @admin.action(description="Open a dispute on the complainant's behalf…", permissions=["change"])
    def open_dispute(
        self, request: HttpRequest, queryset: QuerySet[Complaint]
    ) -> TemplateResponse | None:
        return apply_each_with_form(
            self,
            request,
            queryset,
            form_class=ComplaintDisputeForm,
            action="open_dispute",
            title="Open a dispute on the complainant's behalf",
            intro="The dispute is opened in the consortium's name against the listed signal "
            "(or joins the consortium's dispute already open on it). The signal's "
            "submitters read the grounds; the complainant is never named.",
            submit_label="Open the dispute",
            service=lambda complaint, data, context: services.complaint_dispute_open(
                complaint=complaint, signal=data["signal"], grounds=data["grounds"], context=context
            ),
            done=lambda count: (
                ngettext(
                    "A dispute is open for %(count)d complaint.",
                    "A dispute is open for %(count)d complaints.",
                    count,
                )
                % {"count": count}
            ),
        )

    @admin.action(description="Answer the complainant by email…", permissions=["change"])
    def answer(
        self, request: HttpRequest, queryset: QuerySet[Complaint]
    ) -> TemplateResponse | None:
        return apply_each_with_form(
            self,
            request,
            queryset,
            form_class=ComplaintAnswerForm,
            action="answer",
            title="Answer complainants",
            intro="Each complainant selected gets this answer in an email of their own, "
            "quoting their reference; the answer is kept with the complaint until its "
            "personal data is erased.",
            submit_label="Send",
            service=lambda complaint, data, context: services.complaint_answer(
                complaint=complaint, body=data["body"], context=context
            ),
            done=lambda count: (
                ngettext("%(count)d answer sent.", "%(count)d answers sent.", count)
                % {"count": count}
            ),
        )

    @admin.action(description="Close the selected complaints…", permissions=["change"])
    def close(self, request: HttpRequest, queryset: QuerySet[Complaint]) -> TemplateResponse | None:
        return apply_each_with_form(
            self,
            request,
            queryset,
            form_class=ComplaintCloseForm,
            action="close",
            title="Close complaints",
            intro="The outcome stays after the personal data is erased, "
            "HUB_COMPLAINT_RETENTION_DAYS after closing.",
            submit_label="Close",
            service=lambda complaint, data, context: services.complaint_close(
                complaint=complaint, outcome=data["outcome"], context=context
            ),
            done=lambda count: (
                ngettext("%(count)d complaint closed.", "%(count)d complaints closed.", count)
                % {"count": count}
            ),
        )
