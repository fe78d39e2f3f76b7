"""Django admin for the crisis protocol: staff declare an incident (saving the form, then
confirming who will be told, is the declaration, with its notifications), close it, read
its debrief, and watch the webhook outbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import ngettext

from accounts.admin_base import ReadOnlyAdmin, sentence
from accounts.audit import AuditContext
from core.errors import ServiceError
from federation.incidents import selectors, services
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
    change_form_template = "admin/incidents/incident/change_form.html"
    CONFIRMED = "_confirmed"

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A valid declaration is shown back with everyone it will reach; only submitting
        that confirmation declares the incident."""
        if request.method == "POST" and self.CONFIRMED not in request.POST:
            form = self.get_form(request)(request.POST, request.FILES)
            if form.is_valid() and self.has_add_permission(request):
                return self._confirmation(request, form)
        return super().add_view(request, form_url, extra_context)

    def _confirmation(self, request: HttpRequest, form: Any) -> TemplateResponse:
        authorities = list(form.cleaned_data.get("named_authorities") or [])
        audience = selectors.incident_audience_detail(authorities=authorities)
        return TemplateResponse(
            request,
            "admin/incidents/incident/declare_confirm.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"Declare {form.cleaned_data['slug']}: who will be told",
                "form": form,
                "audience": audience,
                "organisations": len(audience),
                "webhooks": sum(len(a["webhooks"]) for a in audience),
                "emails": len({e.lower() for a in audience for e in a["emails"]}),
                "confirmed": self.CONFIRMED,
            },
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        incident = self.get_object(request, unquote(object_id))
        extra = {"report": debrief_report(incident)} if incident and incident.debrief else {}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

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
        )

    def get_readonly_fields(
        self, request: HttpRequest, obj: Incident | None = None
    ) -> tuple[str, ...]:
        if obj is None:
            return ()
        return self.get_fields(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Change rights unlock closing from the list; a declared incident's page has
        # nothing to save.
        return obj is None and super().has_change_permission(request, obj)

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
                self.message_user(
                    request,
                    f"Incident {incident.slug} closed; its debrief is on its page.",
                    messages.SUCCESS,
                )
            except ServiceError as exc:
                self.message_user(
                    request, f"Incident {incident.slug}: {sentence(exc.message)}", messages.ERROR
                )


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    hours, rest = divmod(int(seconds), 3600)
    minutes = rest // 60
    if hours:
        return f"{hours} h {minutes:02d} min"
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def debrief_report(incident: Incident) -> dict[str, Any]:
    """The stored debrief as a report: a timeline, then the figures in words."""
    figures = incident.debrief
    timeline = [("The event began", incident.started_at), ("Declared", incident.declared_at)]
    first_hash = figures.get("time_from_declaration_to_first_hash_seconds")
    if first_hash is not None:
        timeline.append(
            ("First hash received", incident.declared_at + dt.timedelta(seconds=first_hash))
        )
    if incident.closed_at:
        timeline.append(("Closed", incident.closed_at))

    def row(label: str, key: str) -> tuple[str, Any]:
        return label, figures.get(key, "—")

    return {
        "timeline": sorted(timeline, key=lambda item: item[1]),
        "sections": [
            (
                "Speed",
                [
                    (
                        "From the event to the first hash",
                        _duration(figures.get("time_to_first_hash_seconds")),
                    ),
                    ("From the declaration to the first hash", _duration(first_hash)),
                    ("Open for", _duration(figures.get("duration_seconds"))),
                ],
            ),
            (
                "Hashes",
                [
                    row("Hashes shared", "hashes_shared"),
                    row("Submissions received", "submissions_received"),
                    row("Submissions approved", "submissions_approved"),
                    row("Submissions rejected after review", "submissions_rejected_after_review"),
                    row("Disputes", "disputes"),
                    row("Disputes overturned", "disputes_overturned"),
                ],
            ),
            (
                "Reach",
                [
                    row("Member platforms reached", "members_reached"),
                    row("Member platforms contributing", "members_contributing"),
                    row("Authorities reached", "authorities_reached"),
                    row("Webhooks delivered", "webhooks_delivered"),
                    row("Webhooks failed", "webhooks_failed"),
                ],
            ),
        ],
    }


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
