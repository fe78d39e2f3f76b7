"""Signals: read-only, they change through submissions and disputes."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from accounts.admin_base import ReadOnlyAdmin
from hashbank.admin.common import (
    _short,
    _value_search,
)
from hashbank.models import (
    Dispute,
    Signal,
    Submission,
)


class SubmissionInline(admin.TabularInline):
    model = Submission
    fk_name = "signal"
    verbose_name_plural = "supporting submissions"
    fields = readonly_fields = ("organisation", "submission_id", "review_state", "received_at")
    show_change_link = True
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Submission]:
        return super().get_queryset(request).select_related("organisation")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DisputeInline(admin.TabularInline):
    model = Dispute
    fields = readonly_fields = (
        "opened_by",
        "kind",
        "state",
        "opened_at",
        "deadline",
        "outcome",
        "appeal_outcome",
    )
    show_change_link = True
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Dispute]:
        return super().get_queryset(request).select_related("opened_by")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdmin):
    """The list changes only through submissions and disputes, which are audited and
    logged; here staff look."""

    list_display = [
        "__str__",
        "bank",
        "signal_type",
        "short_value",
        "status",
        "label_list",
        "confidence",
        "legal_hold",
        "first_listed_at",
    ]
    list_filter = ["bank", "status", "signal_type", "labels", "legal_hold"]
    search_fields = ["value"]
    search_help_text = "A hash value (exact or its first characters)."
    fields = readonly_fields = (
        "bank",
        "signal_type",
        "value",
        "status",
        "labels",
        "labels_decided",
        "delisted_by_decision",
        "confidence",
        "legal_hold",
        "incident",
        "first_listed_at",
        "updated_at",
    )
    inlines = [SubmissionInline, DisputeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Signal]:
        return super().get_queryset(request).select_related("bank").prefetch_related("labels")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Signal], search_term: str
    ) -> tuple[QuerySet[Signal], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(_value_search(search_term)), False

    @admin.display(description="value", ordering="value")
    def short_value(self, obj: Signal) -> str:
        return format_html("<code>{}</code>", _short(obj.value))

    @admin.display(description="labels")
    def label_list(self, obj: Signal) -> str:
        return ", ".join(label.slug for label in obj.labels.all())
