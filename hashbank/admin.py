"""Django admin for consortium staff: the moderation of the shared list.

Staff review submissions, decide disputes, share restricted banks and read the change log
here. Writes go through the same services as the API (or are audited like them); nothing a
member signed is editable, and the list itself changes only through submissions and
disputes.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import models, transaction
from django.db.models import Case, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from accounts import grants
from accounts.audit import AuditContext, audit_record
from accounts.errors import Conflict, ServiceError
from accounts.models import User
from hashbank import selectors, signing
from hashbank.forms import DisputeDecisionForm, OrganisationChoiceForm, RejectionForm
from hashbank.models import (
    Bank,
    BankReadAccess,
    ChangeLogEntry,
    Dispute,
    DisputeState,
    Label,
    ReviewState,
    Signal,
    Snapshot,
    Submission,
)
from hashbank.services import (
    dispute_decide,
    dispute_decide_appeal,
    submission_approve,
    submission_reject,
)

BANK_GRANTS = ("hashbank.read_bank", "hashbank.contribute_bank")
ERROR_COLOUR = "var(--error-fg, #ba2121)"
SUCCESS_COLOUR = "var(--message-success-fg, #1a7f37)"


def _admin_link(obj: models.Model, text: object) -> str:
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text)


def _short(value: str, length: int = 16) -> str:
    return value if len(value) <= length else value[:length] + "…"


def _value_search(term: str, *, value_field: str = "value") -> Q:
    """A hash matches on its exact value or a prefix; values are stored normalised (hex in
    lowercase), so the lowercased term is tried too."""
    term = term.strip()
    return Q(**{f"{value_field}__startswith": term}) | Q(
        **{f"{value_field}__startswith": term.lower()}
    )


def _uuid_or_none(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term.strip())
    except ValueError:
        return None


def _bound_form(form_class: type[forms.Form], request: HttpRequest) -> forms.Form:
    """The action's form, bound once the staff member submits the intermediate page."""
    if "apply" in request.POST:
        return form_class(request.POST)
    return form_class()


def _action_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    form: forms.Form,
    action: str,
    title: str,
    intro: str,
    submit_label: str,
    template: str = "admin/hashbank/action_form.html",
) -> TemplateResponse:
    """The intermediate page of an action: the form, and the selection carried through as
    hidden inputs so that submitting it runs the action again with `apply` set."""
    request.current_app = model_admin.admin_site.name
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "opts": model_admin.model._meta,
        "queryset": queryset,
        "form": form,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "submit_label": submit_label,
        "media": model_admin.media + form.media,
    }
    return TemplateResponse(request, template, context)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that are history (the change log, snapshots): looked at, never touched."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@dataclass(frozen=True)
class SignatureCheck:
    verified: bool
    detail: str


def signature_check(submission: Submission) -> SignatureCheck:
    """Verify a kept statement again from the stored bytes, as anyone holding the member's
    public key could: the signature must cover exactly `canonical_payload`, and the key
    must have been trustworthy when the statement was signed."""
    stored = bytes(submission.canonical_payload)
    key = submission.signing_key
    try:
        envelope = signing.envelope_from_obj(
            {"payload": signing.parse_json_strict(stored), "signature": submission.signature}
        )
        if envelope.canonical != stored:
            return SignatureCheck(False, "the stored payload is not in canonical form")
        good = signing.verify(key.public_key_bytes, envelope)
    except signing.EnvelopeError as exc:
        return SignatureCheck(False, f"the stored statement cannot be read: {exc.message}")
    if not good:
        return SignatureCheck(False, "the signature does not match the payload and the key")
    if not key.signs_at(submission.created_at):
        return SignatureCheck(
            False,
            "the signature matches, but the key was not trustworthy at created_at "
            "(outside its validity, revoked or compromised)",
        )
    return SignatureCheck(True, "the signature matches and the key was valid when it signed")


class SubmissionAgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    WINDOWS = {
        "1h": dt.timedelta(hours=1),
        "24h": dt.timedelta(hours=24),
        "7d": dt.timedelta(days=7),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [
            ("1h", "less than 1 hour"),
            ("24h", "less than 24 hours"),
            ("7d", "less than 7 days"),
            ("older", "7 days or older"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "older":
            return queryset.filter(received_at__lt=now - self.WINDOWS["7d"])
        if self.value() in self.WINDOWS:
            return queryset.filter(received_at__gte=now - self.WINDOWS[self.value()])
        return queryset


# Withdrawn or rejected submissions need no second look, whatever their flags say.
AWAITING_POST_REVIEW = Q(review_state=ReviewState.APPROVED, auto_approved=True, post_reviewed=False)


class AwaitingPostReviewFilter(admin.SimpleListFilter):
    title = "post-review"
    parameter_name = "post_review"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("awaiting", "auto-approved, awaiting post-review")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "awaiting":
            return queryset.filter(AWAITING_POST_REVIEW)
        return queryset


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "organisation",
        "bank",
        "signal_type",
        "short_value",
        "label_list",
        "incident",
        "review_state",
        "awaiting_post_review",
        "received_at",
        "age",
    ]
    list_filter = [
        "review_state",
        AwaitingPostReviewFilter,
        SubmissionAgeFilter,
        "bank",
        "labels",
        ("organisation", admin.RelatedOnlyFieldListFilter),
        ("incident", admin.EmptyFieldListFilter),
    ]
    search_fields = ["value", "submission_id"]
    search_help_text = "A hash value (exact or its first characters) or a submission id."
    # Oldest pending first, then auto-approvals still to be looked at, then the rest.
    ordering = [
        Case(
            When(review_state=ReviewState.PENDING, then=Value(0)),
            When(AWAITING_POST_REVIEW, then=Value(1)),
            default=Value(2),
        ).asc(),
        "received_at",
    ]
    list_per_page = 100
    actions = ["approve_selected", "reject_with_reason"]
    fieldsets = [
        (
            "Statement",
            {
                "fields": [
                    "organisation",
                    "submission_id",
                    "bank",
                    "signal_type",
                    "value",
                    "labels",
                    "incident",
                    "note",
                    "created_at",
                    "received_at",
                ]
            },
        ),
        (
            "Signature",
            {
                "fields": [
                    "signature_status",
                    "signing_key_status",
                    "signature",
                    "payload_digest",
                    "signed_payload",
                ]
            },
        ),
        (
            "Review",
            {
                "fields": [
                    "review_state",
                    "auto_approved",
                    "post_reviewed",
                    "reviewed_by",
                    "reviewed_at",
                    "review_reason",
                    "signal_link",
                ]
            },
        ),
        ("Submitter", {"fields": ["track_record"]}),
    ]
    readonly_fields = [name for _, section in fieldsets for name in section["fields"]]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {"title": "Submissions review queue", **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Submission]:
        return (
            super()
            .get_queryset(request)
            .select_related("organisation", "bank", "signing_key", "signal__bank", "reviewed_by")
            .prefetch_related("labels")
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Submission], search_term: str
    ) -> tuple[QuerySet[Submission], bool]:
        if not search_term.strip():
            return queryset, False
        match = _value_search(search_term)
        submission_id = _uuid_or_none(search_term)
        if submission_id is not None:
            match |= Q(submission_id=submission_id)
        return queryset.filter(match), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # members submit signed statements through the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Change rights unlock the moderation actions on the list; a signed statement
        # itself is never edited.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # rejected statements stay on record

    @admin.display(description="value", ordering="value")
    def short_value(self, obj: Submission) -> str:
        return format_html("<code>{}</code>", _short(obj.value))

    @admin.display(description="labels")
    def label_list(self, obj: Submission) -> str:
        return ", ".join(label.slug for label in obj.labels.all())

    @admin.display(description="awaiting post-review", boolean=True)
    def awaiting_post_review(self, obj: Submission) -> bool:
        return (
            obj.review_state == ReviewState.APPROVED and obj.auto_approved and not obj.post_reviewed
        )

    @admin.display(description="age", ordering="-received_at")
    def age(self, obj: Submission) -> str:
        return timesince(obj.received_at)

    @admin.display(description="signature verification")
    def signature_status(self, obj: Submission) -> str:
        check = signature_check(obj)
        if check.verified:
            return format_html(
                '<strong style="color: {}">✔ verified</strong>: {}', SUCCESS_COLOUR, check.detail
            )
        return format_html(
            '<strong style="color: {}">✘ NOT VERIFIED</strong>: {}', ERROR_COLOUR, check.detail
        )

    @admin.display(description="signing key")
    def signing_key_status(self, obj: Submission) -> str:
        key = obj.signing_key
        state = key.state
        if key.revocation_reason:
            state += f" ({key.get_revocation_reason_display()})"
        return format_html(
            "{} — {}", _admin_link(key, format_html("<code>{}</code>", key.key_id)), state
        )

    @admin.display(description="signed payload")
    def signed_payload(self, obj: Submission) -> str:
        raw = bytes(obj.canonical_payload)
        try:
            text = json.dumps(json.loads(raw), indent=2, sort_keys=True, ensure_ascii=False)
        except ValueError:
            text = raw.decode("utf-8", errors="replace")
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)

    @admin.display(description="signal on the list")
    def signal_link(self, obj: Submission) -> str:
        if obj.signal is None:
            return "—"
        return format_html(
            "{} ({})", _admin_link(obj.signal, obj.signal), obj.signal.get_status_display()
        )

    @admin.display(description="submitter's track record")
    def track_record(self, obj: Submission) -> str:
        record = selectors.track_record(organisation=obj.organisation)
        return format_html(
            "approved {} · rejected {} · pending {} · disputed {}",
            record["approved"],
            record["rejected"],
            record["pending"],
            record["disputed"],
        )

    @admin.action(description="Approve the selected submissions", permissions=["change"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        context = AuditContext.from_request(request)
        listed = confirmed = 0
        for submission in queryset:
            was_pending = submission.review_state == ReviewState.PENDING
            try:
                submission_approve(submission=submission, context=context)
            except ServiceError as exc:
                self.message_user(request, f"{submission}: {exc.message}", messages.ERROR)
                continue
            if was_pending:
                listed += 1
            else:
                confirmed += 1
        if listed:
            self.message_user(request, f"{listed} submission(s) approved.", messages.SUCCESS)
        if confirmed:
            self.message_user(
                request,
                f"{confirmed} submission(s) were approved already; auto-approvals among them "
                "are now marked post-reviewed.",
                messages.SUCCESS,
            )

    @admin.action(description="Reject the selected submissions…", permissions=["change"])
    def reject_with_reason(
        self, request: HttpRequest, queryset: QuerySet[Submission]
    ) -> TemplateResponse | None:
        form = _bound_form(RejectionForm, request)
        if not (form.is_bound and form.is_valid()):
            return _action_page(
                self,
                request,
                queryset,
                form=form,
                action="reject_with_reason",
                title="Reject submissions",
                intro="The submitting members receive this reason by email. Approved "
                "submissions lose their support for the signal, which leaves the list if "
                "nothing else supports it.",
                submit_label="Reject",
            )
        context = AuditContext.from_request(request)
        rejected = 0
        for submission in queryset:
            try:
                submission_reject(
                    submission=submission, reason=form.cleaned_data["reason"], context=context
                )
            except ServiceError as exc:
                self.message_user(request, f"{submission}: {exc.message}", messages.ERROR)
                continue
            rejected += 1
        if rejected:
            self.message_user(
                request,
                f"{rejected} submission(s) rejected; the submitters are told why by email.",
                messages.SUCCESS,
            )
        return None


class SubmissionInline(admin.TabularInline):
    model = Submission
    fk_name = "signal"
    verbose_name_plural = "supporting submissions"
    fields = ["organisation", "submission_id", "review_state", "received_at"]
    readonly_fields = fields
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
    fields = ["opened_by", "kind", "state", "opened_at", "deadline", "outcome", "appeal_outcome"]
    readonly_fields = fields
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
class SignalAdmin(admin.ModelAdmin):
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
    fields = [
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
    ]
    readonly_fields = fields
    inlines = [SubmissionInline, DisputeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Signal]:
        return super().get_queryset(request).select_related("bank").prefetch_related("labels")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Signal], search_term: str
    ) -> tuple[QuerySet[Signal], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(_value_search(search_term)), False

    # The list changes only through submissions and disputes, which are audited and logged.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="value", ordering="value")
    def short_value(self, obj: Signal) -> str:
        return format_html("<code>{}</code>", _short(obj.value))

    @admin.display(description="labels")
    def label_list(self, obj: Signal) -> str:
        return ", ".join(label.slug for label in obj.labels.all())


def overdue_disputes(now: dt.datetime) -> Q:
    """Disputes past the deadline that applies to their state (decision or appeal)."""
    return Q(state__in=[DisputeState.OPEN, DisputeState.IN_REVIEW], deadline__lt=now) | Q(
        state=DisputeState.APPEALED, appeal_deadline__lt=now
    )


class OverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("yes", "overdue"), ("no", "not overdue")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(overdue_disputes(timezone.now()))
        if self.value() == "no":
            return queryset.exclude(overdue_disputes(timezone.now()))
        return queryset


@transaction.atomic
def _dispute_mark_in_review(*, dispute: Dispute, context: AuditContext) -> Dispute:
    dispute = Dispute.objects.select_for_update().get(pk=dispute.pk)
    if dispute.state != DisputeState.OPEN:
        raise Conflict(f"this dispute is {dispute.get_state_display().lower()}", code="not_open")
    dispute.state = DisputeState.IN_REVIEW
    dispute.save(update_fields=["state"])
    audit_record(
        action="hashbank.dispute.in_review",
        context=context,
        target=dispute,
        organisation=dispute.opened_by,
    )
    return dispute


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
    list_filter = ["state", "kind", "outcome", OverdueFilter]
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
        name for _, section in fieldsets for name in section["fields"] if name != "reviewer"
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
    ) -> forms.Field | None:
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
        # Only the assignment is written: saving the whole row could undo a decision made
        # by someone else while this page was open.
        obj.save(update_fields=["reviewer"])
        audit_record(
            action="hashbank.dispute.reviewer_assigned",
            context=AuditContext.from_request(request),
            target=obj,
            organisation=obj.opened_by,
            detail={"reviewer": obj.reviewer.email if obj.reviewer else None},
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
            '<strong class="hashbank-overdue" style="color: {}">overdue by {}</strong>',
            ERROR_COLOUR,
            timesince(deadline),
        )

    @admin.action(description="Mark the selected disputes as in review", permissions=["change"])
    def mark_in_review(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> None:
        context = AuditContext.from_request(request)
        marked = 0
        for dispute in queryset:
            try:
                _dispute_mark_in_review(dispute=dispute, context=context)
            except ServiceError as exc:
                self.message_user(request, f"{dispute}: {exc.message}", messages.WARNING)
                continue
            marked += 1
        if marked:
            self.message_user(request, f"{marked} dispute(s) now in review.", messages.SUCCESS)

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
        form = cast(DisputeDecisionForm, _bound_form(DisputeDecisionForm, request))
        if not (form.is_bound and form.is_valid()):
            return _action_page(
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
        decided = 0
        for dispute in queryset:
            try:
                decide_with(
                    dispute=dispute,
                    outcome=form.cleaned_data["outcome"],
                    reason=form.cleaned_data["reason"],
                    labels=form.label_slugs(),
                    reviewer=cast(User, request.user),
                    context=context,
                )
            except ServiceError as exc:
                self.message_user(request, f"{dispute}: {exc.message}", messages.ERROR)
                continue
            decided += 1
        if decided:
            self.message_user(
                request,
                f"{decided} dispute(s) decided; the parties are told by email.",
                messages.SUCCESS,
            )
        return None


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "name",
        "category",
        "severity",
        "active",
        "taxonomy_version",
        "dsa_category",
    ]
    list_filter = ["category", "severity", "active", "taxonomy_version"]
    search_fields = ["slug", "name", "description"]
    fields = [
        "slug",
        "name",
        "category",
        "severity",
        "active",
        "description",
        "taxonomy_version",
        "dsa_category",
    ]
    # What identifies a label and where it sits in the versioned taxonomy comes from
    # fixtures/taxonomy.json; staff adjust wording, severity and whether it is in use.
    readonly_fields = ["slug", "category", "taxonomy_version", "dsa_category"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # new labels arrive with a new taxonomy version (load_taxonomy)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # retired, never deleted: old submissions and log entries name them

    def save_model(
        self, request: HttpRequest, obj: Label, form: forms.ModelForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        audit_record(
            action="hashbank.label.changed",
            context=AuditContext.from_request(request),
            target=obj,
            detail={"fields": sorted(form.changed_data)},
        )


@admin.register(Bank)
class BankAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "title",
        "read_access",
        "contribute_access",
        "peer_shareable",
        "show_contributors",
        "created_at",
    ]
    list_filter = ["read_access", "contribute_access", "peer_shareable", "show_contributors"]
    search_fields = ["name", "title"]
    fields = [
        "name",
        "title",
        "purpose",
        "read_access",
        "contribute_access",
        "peer_shareable",
        "show_contributors",
        "granted_organisations",
        "created_at",
    ]
    readonly_fields = ["granted_organisations", "created_at"]
    actions = ["grant_access", "revoke_access"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # signals, submissions and log entries name their bank

    def save_model(
        self, request: HttpRequest, obj: Bank, form: forms.ModelForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        audit_record(
            action="hashbank.bank." + ("changed" if change else "created"),
            context=AuditContext.from_request(request),
            target=obj,
            detail={"fields": sorted(form.changed_data)},
        )

    @admin.display(description="organisations granted access")
    def granted_organisations(self, obj: Bank) -> str:
        if obj.pk is None:
            return "—"
        rows = [
            (
                what,
                ", ".join(o.name for o in grants.organisations_granted(permission=perm, obj=obj))
                or "nobody",
            )
            for what, perm in zip(("read", "contribute"), BANK_GRANTS, strict=True)
        ]
        return format_html(
            "<ul>{}</ul><p class='help'>{}</p>",
            format_html_join("", "<li>{}: {}</li>", rows),
            "Grants take effect where the bank's access rule is 'only organisations granted'.",
        )

    @admin.action(
        description="Grant read and contribute to an organisation…", permissions=["change"]
    )
    def grant_access(
        self, request: HttpRequest, queryset: QuerySet[Bank]
    ) -> TemplateResponse | None:
        return self._change_grants(request, queryset, granting=True)

    @admin.action(
        description="Revoke an organisation's read and contribute grants…", permissions=["change"]
    )
    def revoke_access(
        self, request: HttpRequest, queryset: QuerySet[Bank]
    ) -> TemplateResponse | None:
        return self._change_grants(request, queryset, granting=False)

    def _change_grants(
        self, request: HttpRequest, queryset: QuerySet[Bank], *, granting: bool
    ) -> TemplateResponse | None:
        form = _bound_form(OrganisationChoiceForm, request)
        if not (form.is_bound and form.is_valid()):
            return _action_page(
                self,
                request,
                queryset,
                form=form,
                action="grant_access" if granting else "revoke_access",
                title="Grant bank access" if granting else "Revoke bank access",
                intro=(
                    "The organisation may read and contribute to the selected banks "
                    "where their access rule is 'only organisations granted'."
                    if granting
                    else "The organisation loses its read and contribute grants on the "
                    "selected banks; it stops receiving them at its next sync."
                ),
                submit_label="Grant" if granting else "Revoke",
            )
        organisation = form.cleaned_data["organisation"]
        context = AuditContext.from_request(request)
        for bank in queryset:
            with transaction.atomic():
                for permission in BANK_GRANTS:
                    if granting:
                        grants.grant(organisation=organisation, permission=permission, obj=bank)
                    else:
                        grants.revoke(organisation=organisation, permission=permission, obj=bank)
                audit_record(
                    action="hashbank.bank.granted" if granting else "hashbank.bank.grant_revoked",
                    context=context,
                    target=bank,
                    organisation=organisation,
                    detail={"permissions": list(BANK_GRANTS)},
                )
            if granting and bank.read_access != BankReadAccess.GRANTED:
                self.message_user(
                    request,
                    f"{bank}: read access is '{bank.get_read_access_display()}', so the grant "
                    "changes nothing until the bank is restricted.",
                    messages.WARNING,
                )
        done = "granted" if granting else "revoked"
        self.message_user(
            request,
            f"{organisation}: read and contribute {done} on {queryset.count()} bank(s).",
            messages.SUCCESS,
        )
        return None


@admin.register(ChangeLogEntry)
class ChangeLogEntryAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "op", "bank", "signal", "created_at"]
    list_filter = ["op", "bank"]
    list_select_related = ["bank", "signal__bank"]
    search_fields = ["signal__value"]
    search_help_text = "A hash value (exact or its first characters)."
    fields = ["sequence", "op", "bank", "signal", "created_at", "entry_decoded", "leaf_hash"]
    readonly_fields = fields
    list_per_page = 100

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ChangeLogEntry], search_term: str
    ) -> tuple[QuerySet[ChangeLogEntry], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(_value_search(search_term, value_field="signal__value")), False

    @admin.display(description="entry (as clients receive it)")
    def entry_decoded(self, obj: ChangeLogEntry) -> str:
        raw = bytes(obj.entry)
        try:
            text = json.dumps(json.loads(raw), indent=2, sort_keys=True, ensure_ascii=False)
        except ValueError:
            text = raw.decode("utf-8", errors="replace")
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = ["bank", "up_to_sequence", "signal_count", "file_name", "created_at"]
    list_filter = ["bank"]
    list_select_related = ["bank"]
    fields = [
        "bank",
        "up_to_sequence",
        "signal_count",
        "file_name",
        "sha256",
        "signature",
        "created_at",
    ]
    readonly_fields = fields
