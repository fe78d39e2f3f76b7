"""The submissions review queue."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Q, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts.admin_base import action_page, bound_form
from accounts.audit import AuditContext
from core.errors import ServiceError
from hashbank import selectors
from hashbank.admin.common import (
    _admin_link,
    _json_block,
    _short,
    _uuid_or_none,
    _value_search,
)
from hashbank.forms import RejectionForm
from hashbank.models import (
    ReviewState,
    Submission,
)
from hashbank.services import (
    submission_approve,
    submissions_reject,
)
from hashbank.services.provenance import (
    NOTE_ERASED_EXPLANATION,
    envelope_disclose,
    submission_note_erase,
)
from hashfed_wire import provenance
from hashfed_wire.envelope import EnvelopeError, envelope_from_obj, parse_json_strict
from hashfed_wire.envelope import verify as envelope_verify


@dataclass(frozen=True)
class SignatureCheck:
    verified: bool
    detail: str


def signature_check(submission: Submission) -> SignatureCheck:
    """Verify a kept statement again from the stored bytes, as anyone holding the member's
    public key could: the signature must cover exactly `canonical_payload`, and the key
    must have been trustworthy when the statement was signed."""
    if submission.note_erased_at is not None:
        return SignatureCheck(False, NOTE_ERASED_EXPLANATION)
    stored = bytes(submission.canonical_payload)
    key = submission.signing_key
    try:
        envelope = envelope_from_obj(
            {"payload": parse_json_strict(stored), "signature": submission.signature}
        )
        if envelope.canonical != stored:
            return SignatureCheck(False, "the stored payload is not in canonical form")
        good = envelope_verify(key.public_key_bytes, envelope)
    except EnvelopeError as exc:
        return SignatureCheck(False, f"the stored statement cannot be read: {exc.message}")
    if not good:
        return SignatureCheck(False, "the signature does not match the payload and the key")
    if key.distrusts_as_compromised(submission.created_at, submission.received_at):
        return SignatureCheck(
            False,
            "the signature matches, but the key is revoked as compromised from "
            "before this statement was signed or received",
        )
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
        window = self.value()
        if window in self.WINDOWS:
            return queryset.filter(received_at__gte=now - self.WINDOWS[window])
        return queryset


class ReviewStateFilter(admin.SimpleListFilter):
    """The review state, on "pending" until the moderator picks another or "All": the queue
    opens on what waits for a decision."""

    title = "review state"
    parameter_name = "review_state"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return list(ReviewState.choices)

    def __init__(self, request: HttpRequest, params: Any, model: Any, model_admin: Any) -> None:
        # Asking for auto-approvals awaiting post-review asks for approved submissions:
        # no default state then.
        self.default = (
            "" if AwaitingPostReviewFilter.parameter_name in request.GET else ReviewState.PENDING
        )
        super().__init__(request, params, model, model_admin)

    def value(self) -> str:
        return super().value() or self.default

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() == self.ALL,
            "query_string": changelist.get_query_string({self.parameter_name: self.ALL}),
            "display": "All",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ReviewState.values:
            return queryset.filter(review_state=self.value())
        return queryset


class SignatureFilter(admin.SimpleListFilter):
    """Whether each statement's signature still verifies (signature_check). Verifying takes
    the stored bytes of each one, so this filter comes last: it reads only what the other
    filters left."""

    title = "signature"
    parameter_name = "signature"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("verified", "verified"), ("failed", "not verified")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in ("verified", "failed"):
            return queryset
        wanted = self.value() == "verified"
        matching = [
            submission.pk
            for submission in queryset.select_related("signing_key")
            if signature_check(submission).verified == wanted
        ]
        return queryset.filter(pk__in=matching)


def next_pending(after: Submission) -> Submission | None:
    """The pending submission to look at after `after`, in queue order (oldest first): the
    next one received later, else the oldest still pending."""
    pending = Submission.objects.filter(review_state=ReviewState.PENDING).exclude(pk=after.pk)
    later = Q(received_at__gt=after.received_at) | Q(received_at=after.received_at, pk__gt=after.pk)
    ordered = ("received_at", "pk")
    return pending.filter(later).order_by(*ordered).first() or pending.order_by(*ordered).first()


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
    # Short columns, so that a row holds on one line of a laptop screen (admin.css keeps
    # the cells from wrapping); the full statement is on its detail page.
    list_display = [
        "short_id",
        "organisation_name",
        "bank",
        "signal_type",
        "short_value",
        "label_list",
        "review_state",
        "signature_state",
        "awaiting_post_review",
        "age",
    ]
    list_display_links = ["short_id"]
    list_filter = [
        ReviewStateFilter,
        AwaitingPostReviewFilter,
        SubmissionAgeFilter,
        "bank",
        "labels",
        ("organisation", admin.RelatedOnlyFieldListFilter),
        ("incident", admin.EmptyFieldListFilter),
        SignatureFilter,
    ]
    search_fields = ["value", "submission_id"]
    search_help_text = (
        "A hash value (exact or its first characters), a submission id or an envelope digest."
    )
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
    change_form_template = "admin/hashbank/submission/change_form.html"
    actions = ["approve_selected", "reject_with_reason", "disclose_envelopes", "erase_notes"]
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
                    "envelope_digest",
                    "note_erased_at",
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
    readonly_fields = [str(name) for _, section in fieldsets for name in section["fields"]]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {"title": "Submissions review queue", **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/approve/",
                view(require_POST(self.approve_view)),
                name="hashbank_submission_approve",
            ),
            path(
                "<path:object_id>/reject/",
                view(require_POST(self.reject_view)),
                name="hashbank_submission_reject",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        submission = self.get_object(request, unquote(object_id))
        extra: dict[str, Any] = {}
        if submission is not None:
            extra = {
                "can_moderate": self.has_change_permission(request),
                "moderation": {
                    "approvable": submission.review_state == ReviewState.PENDING
                    or self.awaiting_post_review(submission),
                    "rejectable": submission.review_state
                    in (ReviewState.PENDING, ReviewState.APPROVED),
                },
                "rejection_form": RejectionForm(),
                "next_pending": next_pending(submission),
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def _moderated(self, request: HttpRequest, object_id: str) -> Submission:
        """The submission a moderation button acts on, for staff with the right to moderate."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        submission = self.get_object(request, unquote(object_id))
        if submission is None:
            raise Http404
        return submission

    def _onward(self, submission: Submission) -> HttpResponseRedirect:
        """After a decision, the next pending submission, or the queue once none is left."""
        following = next_pending(submission)
        if following is None:
            return HttpResponseRedirect(reverse("admin:hashbank_submission_changelist"))
        return HttpResponseRedirect(
            reverse("admin:hashbank_submission_change", args=[following.pk])
        )

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        submission = self._moderated(request, object_id)
        try:
            submission_approve(submission=submission, context=AuditContext.from_request(request))
        except ServiceError as exc:
            self.message_user(request, _refusal(submission, exc), messages.ERROR)
            return self._back(submission)
        self.message_user(
            request,
            _("Submission %(id)s from %(organisation)s approved.") % _named(submission),
            messages.SUCCESS,
        )
        return self._onward(submission)

    def reject_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        submission = self._moderated(request, object_id)
        form = RejectionForm(request.POST)
        if not form.is_valid():
            self.message_user(request, _("A rejection needs a reason."), messages.ERROR)
            return self._back(submission)
        _rejected, refused = submissions_reject(
            submissions=[submission],
            reason=form.cleaned_data["reason"],
            context=AuditContext.from_request(request),
        )
        for obj, exc in refused:
            self.message_user(request, _refusal(obj, exc), messages.ERROR)
            return self._back(submission)
        self.message_user(
            request,
            _(
                "Submission %(id)s from %(organisation)s rejected; its submitter is told "
                "why by email."
            )
            % _named(submission),
            messages.SUCCESS,
        )
        return self._onward(submission)

    def _back(self, submission: Submission) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:hashbank_submission_change", args=[submission.pk])
        )

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
        if provenance.is_digest(search_term.strip().lower()):
            match |= Q(envelope_digest=search_term.strip().lower())
        return queryset.filter(match), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # members submit signed statements through the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Change rights unlock the moderation actions on the list; a signed statement
        # itself is never edited.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # rejected statements stay on record

    @admin.action(
        description="Show and verify the signed envelopes of the selected submissions",
        permissions=["view"],
    )
    def disclose_envelopes(
        self, request: HttpRequest, queryset: QuerySet[Submission]
    ) -> TemplateResponse:
        """The envelope behind each selected submission, its digest recomputed and its
        signature verified. For a bank that hides its contributors this discloses who
        stands behind a listed hash, and each such disclosure is an audit event."""
        context = AuditContext.from_request(request)
        shown = []
        for submission in queryset.select_related("organisation", "bank", "signing_key"):
            check = envelope_disclose(submission=submission, context=context)
            shown.append(
                {
                    "submission": submission,
                    "digest_check": check,
                    "signature_check": signature_check(submission),
                    "audited": not submission.bank.show_contributors,
                    "payload": None
                    if submission.note_erased_at
                    else _json_block(bytes(submission.canonical_payload)),
                }
            )
        return TemplateResponse(
            request,
            "admin/hashbank/envelope_disclose.html",
            {
                **self.admin_site.each_context(request),
                "title": "Signed envelopes",
                "opts": self.model._meta,
                "shown": shown,
            },
        )

    @admin.action(
        description="Erase the notes of the selected submissions (their signatures become "
        "unverifiable)",
        permissions=["change"],
    )
    def erase_notes(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        context = AuditContext.from_request(request)
        erased = 0
        for submission in queryset:
            try:
                submission_note_erase(submission=submission, context=context)
            except ServiceError as exc:
                self.message_user(request, f"{submission}: {exc}", messages.WARNING)
            else:
                erased += 1
        if erased:
            self.message_user(
                request,
                ngettext(
                    "The note of %(count)d submission was erased.",
                    "The notes of %(count)d submissions were erased.",
                    erased,
                )
                % {"count": erased},
                messages.SUCCESS,
            )

    @admin.display(description="id", ordering="submission_id")
    def short_id(self, obj: Submission) -> str:
        return str(obj.submission_id)[:8]

    @admin.display(description="organisation", ordering="organisation__name")
    def organisation_name(self, obj: Submission) -> str:
        return obj.organisation.name

    @admin.display(description="signature")
    def signature_state(self, obj: Submission) -> str:
        check = signature_check(obj)
        if check.verified:
            return format_html(
                '<span class="hub-success" title="{}">✔ verified</span>', check.detail
            )
        return format_html('<strong class="hub-error" title="{}">✘ failed</strong>', check.detail)

    @admin.display(description="value", ordering="value")
    def short_value(self, obj: Submission) -> str:
        return format_html("<code>{}</code>", _short(obj.value))

    @admin.display(description="labels")
    def label_list(self, obj: Submission) -> str:
        slugs = [label.slug for label in obj.labels.all()]
        if len(slugs) <= 1:
            return "".join(slugs)
        return f"{slugs[0]} +{len(slugs) - 1}"

    @admin.display(description="post-review", boolean=True)
    def awaiting_post_review(self, obj: Submission) -> bool:
        return (
            obj.review_state == ReviewState.APPROVED and obj.auto_approved and not obj.post_reviewed
        )

    @admin.display(description="age", ordering="-received_at")
    def age(self, obj: Submission) -> str:
        return timesince(obj.received_at, depth=1)

    @admin.display(description="signature verification")
    def signature_status(self, obj: Submission) -> str:
        check = signature_check(obj)
        if check.verified:
            return format_html('<strong class="hub-success">✔ verified</strong>: {}', check.detail)
        return format_html('<strong class="hub-error">✘ NOT VERIFIED</strong>: {}', check.detail)

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
        if obj.note_erased_at is not None:
            return NOTE_ERASED_EXPLANATION
        return _json_block(bytes(obj.canonical_payload))

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
                self.message_user(request, _refusal(submission, exc), messages.ERROR)
                continue
            if was_pending:
                listed += 1
            else:
                confirmed += 1
        if listed:
            self.message_user(
                request,
                ngettext(
                    "%(count)d submission approved.", "%(count)d submissions approved.", listed
                )
                % {"count": listed},
                messages.SUCCESS,
            )
        if confirmed:
            self.message_user(
                request,
                ngettext(
                    "%(count)d submission was approved already; if it was approved on "
                    "arrival, it is now marked post-reviewed.",
                    "%(count)d submissions were approved already; those approved on "
                    "arrival are now marked post-reviewed.",
                    confirmed,
                )
                % {"count": confirmed},
                messages.SUCCESS,
            )

    @admin.action(description="Reject the selected submissions…", permissions=["change"])
    def reject_with_reason(
        self, request: HttpRequest, queryset: QuerySet[Submission]
    ) -> TemplateResponse | None:
        form = bound_form(RejectionForm, request)
        if not (form.is_bound and form.is_valid()):
            return action_page(
                self,
                request,
                queryset,
                form=form,
                action="reject_with_reason",
                title="Reject submissions",
                intro="Each submitting member receives one email listing its rejected "
                "submissions with this reason. Approved submissions lose their support for "
                "the signal, which leaves the list if nothing else supports it.",
                submit_label="Reject",
            )
        rejected, refused = submissions_reject(
            submissions=queryset.order_by("received_at", "pk"),
            reason=form.cleaned_data["reason"],
            context=AuditContext.from_request(request),
        )
        for submission, exc in refused:
            self.message_user(request, _refusal(submission, exc), messages.ERROR)
        if rejected:
            organisations = len({s.organisation_id for s in rejected})
            self.message_user(
                request,
                ngettext(
                    "%(count)d submission rejected.",
                    "%(count)d submissions rejected.",
                    len(rejected),
                )
                % {"count": len(rejected)}
                + " "
                + ngettext(
                    "The submitting organisation is told why in one email.",
                    "The %(count)d submitting organisations are told why, in one email each.",
                    organisations,
                )
                % {"count": organisations},
                messages.SUCCESS,
            )
        return None


def _named(submission: Submission) -> dict[str, str]:
    return {"id": str(submission.submission_id)[:8], "organisation": submission.organisation.name}


def _refusal(submission: Submission, exc: ServiceError) -> str:
    """A service's refusal as an admin message: a sentence naming the submission."""
    return _("Submission %(id)s from %(organisation)s was left as it was: %(reason)s.") % {
        **_named(submission),
        "reason": exc.message.rstrip("."),
    }
