"""Django admin for the crisis protocol: staff declare an incident (saving the form is the
declaration, with its notifications), close it, read its debrief, and watch the webhook
outbox."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin_base import ReadOnlyAdmin
from accounts.audit import AuditContext
from core.errors import ServiceError
from federation.incidents import services
from federation.incidents.models import (
    Incident,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "level", "state", "started_at", "declared_at", "closed_at"]
    list_filter = ["state", "level"]
    search_fields = ["slug", "title"]
    actions = ["close"]
    filter_horizontal = ["named_authorities"]

    def get_fields(self, request: HttpRequest, obj: Incident | None = None) -> tuple[str, ...]:
        declared = ("slug", "title", "description", "level", "started_at", "named_authorities")
        if obj is None:
            return declared
        return (
            *declared,
            "state",
            "declared_at",
            "declared_by",
            "closed_at",
            "closed_by",
            "debrief",
        )

    def get_readonly_fields(
        self, request: HttpRequest, obj: Incident | None = None
    ) -> tuple[str, ...]:
        if obj is None:
            return ()
        return self.get_fields(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Incident, form: Any, change: bool) -> None:
        if change:
            return  # a declared incident changes only by closing it
        services.incident_declare(
            incident=obj,
            authorities=list(form.cleaned_data.get("named_authorities") or []),
            context=AuditContext.from_request(request),
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The declaration already set the named authorities (and notified them).
        return

    @admin.action(description="Close and produce the debrief", permissions=["change"])
    def close(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        context = AuditContext.from_request(request)
        for incident in queryset:
            try:
                services.incident_close(incident=incident, context=context)
                self.message_user(request, f"{incident.slug} closed.", messages.SUCCESS)
            except ServiceError as exc:
                self.message_user(request, f"{incident.slug}: {exc.message}", messages.ERROR)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["organisation", "url", "active", "created_at"]
    list_filter = ["active"]
    exclude = ["secret"]  # the member's secret is never shown, not even to staff


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = readonly_fields = (
        "number",
        "started_at",
        "finished_at",
        "outcome",
        "status_code",
        "error",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "event", "endpoint", "state", "attempts", "next_attempt_at"]
    list_filter = ["state", "event"]
    inlines = [AttemptInline]
