"""Django admin for lawful requests: staff validate, forward, refuse and close requests,
lift legal holds, and export the access log for oversight.

Staff reads are logged like anyone's: opening a request, or listing requests, writes one
access-log row per request shown.
"""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts.admin_base import (
    OverdueFilter,
    ReadOnlyAdmin,
    apply_each,
    apply_each_with_form,
    sentence,
)
from accounts.audit import AuditContext
from core.errors import ServiceError
from federation.authorities import selectors, services
from federation.authorities.models import (
    LawfulRequest,
    LawfulRequestAccess,
    LawfulRequestAddressee,
    LawfulRequestKind,
    LawfulRequestState,
    LegalHold,
)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        help_text="Kept in the audit trail; for a refusal, sent to the authority.",
    )


class RequestOverdueFilter(OverdueFilter):
    def overdue(self) -> Q:
        return selectors.overdue_q()


class AddresseeInline(admin.TabularInline):
    model = LawfulRequestAddressee
    fields = readonly_fields = (
        "organisation",
        "acknowledged_at",
        "outcome",
        "details",
        "answered_at",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _done(singular: str, plural: str):
    """The success message of an action, counted in words: "1 request closed."."""
    return lambda count: ngettext(singular, plural, count) % {"count": count}


def _run(model_admin: admin.ModelAdmin, request: HttpRequest, objects: QuerySet, fn, done) -> None:
    count = apply_each(model_admin, request, objects, fn)
    if count:
        model_admin.message_user(request, done(count), messages.SUCCESS)


# Requests not yet with the platforms: their wait is the hub's.
AWAITING_STAFF = (LawfulRequestState.SUBMITTED, LawfulRequestState.VALIDATED)


def waiting(obj: LawfulRequest) -> str:
    """How long a request not yet forwarded has waited for staff since it was filed. A
    removal order's platforms have one hour from forwarding (deadline_hours); once its wait
    here exceeds that hour, it stands out."""
    if obj.state not in AWAITING_STAFF:
        return "—"
    text = f"waiting {timesince(obj.received_at, depth=1)}"
    late = (
        obj.kind == LawfulRequestKind.REMOVAL_ORDER
        and timezone.now() - obj.received_at > dt.timedelta(hours=obj.deadline_hours)
    )
    if late:
        return format_html(
            '<strong class="hub-error" title="{}">{}</strong>',
            "longer than the one hour the platforms have once it is forwarded",
            text,
        )
    return text


@admin.register(LawfulRequest)
class LawfulRequestAdmin(admin.ModelAdmin):
    list_display = [
        "short_id",
        "kind",
        "authority",
        "jurisdiction",
        "urgency",
        "state",
        "received_at",
        "deadline",
        "overdue",
        "waiting_time",
    ]
    list_filter = ["state", "kind", "urgency", "jurisdiction", RequestOverdueFilter]
    search_fields = ["public_id", "issuing_authority", "authority__slug"]
    ordering = ["deadline", "-received_at"]
    actions = ["validate_and_forward", "refuse", "close"]
    change_form_template = "admin/authorities/lawfulrequest/change_form.html"
    fields = readonly_fields = (
        "public_id",
        "authority",
        "filed_by",
        "kind",
        "issuing_authority",
        "officer",
        "legal_basis",
        "jurisdiction",
        "subject",
        "description",
        "urgency",
        "state",
        "received_at",
        "waiting_time",
        "deadline_hours",
        "forwarded_at",
        "deadline",
        "overdue",
        "validated_at",
        "validated_by",
        "refusal_reason",
        "closed_at",
        "closed_by",
    )
    inlines = [AddresseeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[LawfulRequest]:
        return super().get_queryset(request).select_related("authority", "filed_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # authorities file through the API

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Change rights unlock the steps (actions, the buttons of a request's page); what an
        # authority filed is never edited, so a request's page has nothing to save.
        return obj is None and super().has_change_permission(request, obj)

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path(
                f"<path:object_id>/{step}/",
                view(require_POST(getattr(self, f"{step}_view"))),
                name=f"authorities_lawfulrequest_{step}",
            )
            for step in ("validate", "forward")
        ] + super().get_urls()

    def _step(self, request: HttpRequest, object_id: str, service, done: str) -> HttpResponse:
        """A step from a request's page: for staff who may take it, the service, then
        back to the page with what happened."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        try:
            service(request=obj, context=AuditContext.from_request(request))
        except ServiceError as exc:
            self.message_user(request, f"{obj}: {sentence(exc.message)}", messages.ERROR)
        else:
            self.message_user(request, f"{obj} {done}.", messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:authorities_lawfulrequest_change", args=[obj.pk])
        )

    def validate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._step(
            request,
            object_id,
            services.lawful_request_validate,
            "validated and forwarded to the platforms",
        )

    def forward_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._step(
            request, object_id, services.lawful_request_forward, "forwarded to the platforms"
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            # The change list cuts its page from get_queryset with the admin's own filters and
            # pagination; reading it through the selector logs each request shown.
            changelist.result_list = selectors.read_lawful_requests(
                selectors.Reader.staff(AuditContext.from_request(request)),
                purpose="admin.list",
                page=lambda _every: list(changelist.result_list),
            )
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ):
        obj = self.get_object(request, unquote(object_id))
        steps = {
            "can_take_steps": self.has_change_permission(request),
            "validatable": obj is not None and obj.state == LawfulRequestState.SUBMITTED,
            "forwardable": obj is not None and obj.state == LawfulRequestState.VALIDATED,
        }
        response = super().change_view(
            request, object_id, form_url, {**steps, **(extra_context or {})}
        )
        shown = getattr(response, "context_data", {}).get("original")
        if shown is not None and response.status_code == 200:
            selectors.read_lawful_request(
                selectors.Reader.staff(AuditContext.from_request(request)),
                str(shown.public_id),
                purpose="admin.detail",
            )
        return response

    @admin.display(description="id")
    def short_id(self, obj: LawfulRequest) -> str:
        return str(obj.public_id)[:8]

    @admin.display(description="waiting for staff")
    def waiting_time(self, obj: LawfulRequest) -> str:
        return waiting(obj)

    @admin.display(description="subject")
    def subject(self, obj: LawfulRequest) -> str:
        """What the request is about, as a list per kind of identifier."""
        rows = [
            ("URLs", format_html_join("", "<li>{}</li>", ((u,) for u in obj.subject_urls))),
            (
                "Hashes",
                format_html_join(
                    "",
                    "<li>{}: <code>{}</code></li>",
                    ((h.get("signal_type", "?"), h.get("value", "")) for h in obj.subject_hashes),
                ),
            ),
            ("Accounts", format_html_join("", "<li>{}</li>", ((a,) for a in obj.subject_accounts))),
        ]
        shown = [(title, items) for title, items in rows if items]
        if not shown:
            return "—"
        return format_html(
            '<dl class="hub-subject">{}</dl>',
            format_html_join("", "<dt>{}</dt><dd><ul>{}</ul></dd>", shown),
        )

    @admin.display(description="overdue", boolean=False)
    def overdue(self, obj: LawfulRequest) -> str:
        if not obj.is_overdue:
            return "—"
        if obj.deadline is None:  # is_overdue implies a deadline; said for the type checker
            return "—"
        late = timezone.now() - obj.deadline
        return format_html(
            '<strong class="hub-error">OVERDUE by {} min</strong>',
            int(late.total_seconds() // 60),
        )

    @admin.action(
        description="Validate (authentic, complete) and forward to the platforms",
        permissions=["change"],
    )
    def validate_and_forward(self, request: HttpRequest, queryset: QuerySet) -> None:
        context = AuditContext.from_request(request)
        _run(
            self,
            request,
            queryset,
            lambda obj: services.lawful_request_validate(request=obj, context=context),
            _done(
                "%(count)d request validated and forwarded to the platforms.",
                "%(count)d requests validated and forwarded to the platforms.",
            ),
        )

    @admin.action(description="Refuse (not authentic or incomplete)", permissions=["change"])
    def refuse(self, request: HttpRequest, queryset: QuerySet):
        return apply_each_with_form(
            self,
            request,
            queryset,
            form_class=ReasonForm,
            action="refuse",
            title="Refuse lawful requests",
            intro="The authority receives the reason; nothing reaches the platforms.",
            submit_label="Refuse",
            service=lambda obj, data, context: services.lawful_request_refuse(
                request=obj, reason=data["reason"], context=context
            ),
            done=_done("%(count)d request refused.", "%(count)d requests refused."),
        )

    @admin.action(description="Close", permissions=["change"])
    def close(self, request: HttpRequest, queryset: QuerySet) -> None:
        context = AuditContext.from_request(request)
        _run(
            self,
            request,
            queryset,
            lambda obj: services.lawful_request_close(request=obj, context=context),
            _done("%(count)d request closed.", "%(count)d requests closed."),
        )


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    list_display = ["__str__", "placed_at", "signal_count", "submission_count", "lifted_at"]
    list_filter = [("lifted_at", admin.EmptyFieldListFilter)]
    fields = readonly_fields = (
        "request",
        "placed_at",
        "placed_by",
        "signals",
        "submissions",
        "lifted_at",
        "lifted_by",
        "lift_reason",
    )
    actions = ["lift"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="signals")
    def signal_count(self, obj: LegalHold) -> int:
        return obj.signals.count()

    @admin.display(description="submissions")
    def submission_count(self, obj: LegalHold) -> int:
        return obj.submissions.count()

    @admin.action(description="Lift the hold", permissions=["change"])
    def lift(self, request: HttpRequest, queryset: QuerySet):
        return apply_each_with_form(
            self,
            request,
            queryset,
            form_class=ReasonForm,
            action="lift",
            title="Lift legal holds",
            intro="Held signals and submissions can be deleted again once no hold covers them.",
            submit_label="Lift",
            service=lambda obj, data, context: services.legal_hold_lift(
                hold=obj, reason=data["reason"], context=context
            ),
            done=_done("%(count)d hold lifted.", "%(count)d holds lifted."),
        )


ACCESS_LOG_COLUMNS = (
    "accessed_at",
    "request_public_id",
    "user_email",
    "organisation_slug",
    "api_key_prefix",
    "channel",
    "what",
    "ip_address",
)


def access_log_csv(rows: QuerySet[LawfulRequestAccess]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="lawful-request-access-log.csv"'
    writer = csv.writer(response)
    writer.writerow(ACCESS_LOG_COLUMNS)
    for row in rows.order_by("accessed_at", "id"):
        writer.writerow(
            [
                row.accessed_at.isoformat() if name == "accessed_at" else getattr(row, name)
                for name in ACCESS_LOG_COLUMNS
            ]
        )
    return response


@admin.register(LawfulRequestAccess)
class LawfulRequestAccessAdmin(ReadOnlyAdmin):
    list_display = ACCESS_LOG_COLUMNS
    list_filter = ["channel", "what", "organisation_slug"]
    search_fields = ["request_public_id", "user_email", "organisation_slug"]
    date_hierarchy = "accessed_at"
    actions = ["export_csv"]

    @admin.action(description="Export as CSV (for oversight)")
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return access_log_csv(queryset)
