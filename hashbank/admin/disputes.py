"""Disputes: assignment, decisions and appeals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import ngettext

from accounts.admin_base import OverdueFilter, action_page, apply_each, bound_form
from accounts.audit import AuditContext
from accounts.models import User
from hashbank.admin.common import (
    _admin_link,
    _uuid_or_none,
    _value_search,
)
from hashbank.forms import DisputeDecisionForm
from hashbank.models import (
    Dispute,
    DisputeState,
)
from hashbank.services import (
    dispute_assign_reviewer,
    dispute_decide,
    dispute_decide_appeal,
    dispute_mark_in_review,
)


def overdue_disputes(now: dt.datetime) -> Q:
    """Disputes past the deadline that applies to their state (decision or appeal)."""
    return Q(state__in=[DisputeState.OPEN, DisputeState.IN_REVIEW], deadline__lt=now) | Q(
        state=DisputeState.APPEALED, appeal_deadline__lt=now
    )


class DisputeOverdueFilter(OverdueFilter):
    def overdue(self) -> Q:
        return overdue_disputes(timezone.now())


@transaction.atomic
@admin.register(Dispute)
class DisputeAdmin(admin.ModelAdmin):
    list_display = [
        "short_id",
        "signal_link",
        "opened_by",
        "kind",
        "state",
        "opened_at",
        "current_deadline",
        "overdue",
        "outcome",
        "reviewer",
    ]
    list_filter = ["state", "kind", "outcome", DisputeOverdueFilter]
    search_fields = ["public_id", "signal__value"]
    search_help_text = "A dispute id, or the disputed hash value (exact or its first characters)."
    ordering = ["deadline"]
    actions = ["mark_in_review", "decide", "decide_appeal"]
    fieldsets = [
        (
            "Case",
            {
                "fields": [
                    "public_id",
                    "signal_link",
                    "opened_by",
                    "kind",
                    "grounds",
                    "evidence",
                    "proposed_labels",
                    "state",
                    "opened_at",
                    "deadline",
                    "overdue",
                    "reviewer",
                ]
            },
        ),
        (
            "Decision",
            {"fields": ["outcome", "decision_reason", "decided_by", "decided_at"]},
        ),
        (
            "Appeal",
            {
                "fields": [
                    "appealed_by",
                    "appeal_grounds",
                    "appealed_at",
                    "appeal_deadline",
                    "appeal_outcome",
                    "appeal_reason",
                    "appeal_decided_by",
                    "appeal_decided_at",
                ]
            },
        ),
    ]
    readonly_fields = [
        str(name) for _, section in fieldsets for name in section["fields"] if name != "reviewer"
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Dispute]:
        return (
            super()
            .get_queryset(request)
            .select_related("signal__bank", "opened_by", "reviewer")
            .prefetch_related("proposed_labels")
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Dispute], search_term: str
    ) -> tuple[QuerySet[Dispute], bool]:
        if not search_term.strip():
            return queryset, False
        match = _value_search(search_term, value_field="signal__value")
        public_id = _uuid_or_none(search_term)
        if public_id is not None:
            match |= Q(public_id=public_id)
        return queryset.filter(match), False

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField[Any] | None:
        if db_field.name == "reviewer":
            kwargs["queryset"] = User.objects.filter(is_staff=True, is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # members open disputes through the API

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: Dispute, form: forms.ModelForm, change: bool
    ) -> None:
        if "reviewer" not in form.changed_data:
            return
        dispute_assign_reviewer(
            dispute=obj, reviewer=obj.reviewer, context=AuditContext.from_request(request)
        )

    @admin.display(description="dispute", ordering="public_id")
    def short_id(self, obj: Dispute) -> str:
        return str(obj.public_id)[:8]

    @admin.display(description="signal", ordering="signal")
    def signal_link(self, obj: Dispute) -> str:
        return _admin_link(obj.signal, obj.signal)

    @admin.display(description="deadline", ordering="deadline")
    def current_deadline(self, obj: Dispute) -> dt.datetime | None:
        if obj.state == DisputeState.APPEALED:
            return obj.appeal_deadline
        return obj.deadline

    @admin.display(description="overdue")
    def overdue(self, obj: Dispute) -> str:
        if not obj.is_overdue:
            return "no"
        deadline = self.current_deadline(obj) or obj.deadline
        return format_html(
            '<strong class="hashbank-overdue hub-error">overdue by {}</strong>',
            timesince(deadline),
        )

    @admin.action(description="Mark the selected disputes as in review", permissions=["change"])
    def mark_in_review(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> None:
        context = AuditContext.from_request(request)
        marked = apply_each(
            self,
            request,
            queryset,
            lambda dispute: dispute_mark_in_review(dispute=dispute, context=context),
            level=messages.WARNING,
        )
        if marked:
            self.message_user(
                request,
                ngettext(
                    "%(count)d dispute is now in review.",
                    "%(count)d disputes are now in review.",
                    marked,
                )
                % {"count": marked},
                messages.SUCCESS,
            )

    @admin.action(description="Decide the selected disputes…", permissions=["change"])
    def decide(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> TemplateResponse | None:
        return self._decide(
            request,
            queryset,
            decide_with=dispute_decide,
            action="decide",
            title="Decide disputes",
            intro="An overturn removes the signal from the list at every member's next sync; "
            "a relabel replaces its labels. Every party is told, with your reasons.",
        )

    @admin.action(description="Decide the appeal of the selected disputes…", permissions=["change"])
    def decide_appeal(
        self, request: HttpRequest, queryset: QuerySet[Dispute]
    ) -> TemplateResponse | None:
        return self._decide(
            request,
            queryset,
            decide_with=dispute_decide_appeal,
            action="decide_appeal",
            title="Decide appeals",
            intro="An appeal is decided by a different reviewer than the first decision, "
            "and this decision is final. Every party is told, with your reasons.",
        )

    def _decide(
        self,
        request: HttpRequest,
        queryset: QuerySet[Dispute],
        *,
        decide_with: Callable[..., Dispute],
        action: str,
        title: str,
        intro: str,
    ) -> TemplateResponse | None:
        form = cast(DisputeDecisionForm, bound_form(DisputeDecisionForm, request))
        if not (form.is_bound and form.is_valid()):
            return action_page(
                self,
                request,
                queryset.select_related("decided_by").prefetch_related("signal__labels"),
                form=form,
                action=action,
                title=title,
                intro=intro,
                submit_label="Decide",
                template="admin/hashbank/dispute_decide.html",
            )
        context = AuditContext.from_request(request)
        decided = apply_each(
            self,
            request,
            queryset,
            lambda dispute: decide_with(
                dispute=dispute,
                outcome=form.cleaned_data["outcome"],
                reason=form.cleaned_data["reason"],
                labels=form.label_slugs(),
                reviewer=cast(User, request.user),
                context=context,
            ),
        )
        if decided:
            self.message_user(
                request,
                ngettext(
                    "%(count)d dispute decided; the parties are told by email.",
                    "%(count)d disputes decided; the parties are told by email.",
                    decided,
                )
                % {"count": decided},
                messages.SUCCESS,
            )
        return None
