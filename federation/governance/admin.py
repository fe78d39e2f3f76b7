"""Governance in Django admin: applications (checklist, evidence, conversation, notes,
history, board votes, decisions), the criteria, and each member's lifecycle (tier, mentor,
suspension, offboarding). Every decision goes through a service, so it is audited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.admin_base import ReadOnlyAdmin, form_add_service_error
from accounts.audit import AuditContext, audit_record
from accounts.models import AuditEvent, OrganisationKind, Tier
from core.errors import ServiceError
from federation.governance import selectors, services
from federation.governance.forms import (
    DecisionForm,
    LifecycleForm,
    MentorAssignForm,
    NoteForm,
    VoteForm,
)
from federation.governance.models import (
    Criterion,
    CriterionTarget,
    MemberOrganisation,
    MembershipApplication,
    Mentorship,
    OrganisationDecision,
)


@admin.register(Criterion)
class CriterionAdmin(admin.ModelAdmin):
    list_display = ["title_en", "key", "evidence_kind", "required_for", "version", "active"]
    list_filter = ["required_for", "evidence_kind", "active"]
    search_fields = ["key", "title_en", "title_fr"]
    readonly_fields = ["key", "version"]
    fields = [
        "key",
        "version",
        "position",
        "title_en",
        "title_fr",
        "guidance_en",
        "guidance_fr",
        "evidence_kind",
        "required_for",
        "active",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # criteria come from the versioned fixture; staff edit their wording

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # past applications' evidence refers to them: deactivate instead

    def save_model(self, request: HttpRequest, obj: Criterion, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit_record(
            action="governance.criterion.changed",
            context=AuditContext.from_request(request),
            target=obj,
            detail={"fields": sorted(form.changed_data)},
        )


# The services' names for what the decision form asks, where they differ.
DECISION_FIELDS = {"mentor": "mentor_user", "reasons": "message", "tier": "decision"}


@admin.register(MembershipApplication)
class MembershipApplicationAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "applicant",
        "state",
        "requested_tier",
        "country",
        "size",
        "submitted_at",
        "updated_at",
    ]
    list_filter = ["state", "requested_tier", "size"]
    search_fields = ["organisation_name", "applicant__email", "website"]
    change_form_template = "admin/governance/membershipapplication/change_form.html"
    fields = readonly_fields = (
        "applicant",
        "state",
        *services.APPLICATION_FACTS,
        "language",
        "criteria_version",
        "created_at",
        "submitted_at",
        "decided_at",
        "decided_by",
        "decided_tier",
        "decision_reason",
        "organisation",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # applicants apply through the portal

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("<id:pk>/decide/", view(self.decide_view), name="governance_application_decide"),
            path("<id:pk>/vote/", view(self.vote_view), name="governance_application_vote"),
            path("<id:pk>/note/", view(self.note_view), name="governance_application_note"),
            path("<id:pk>/review/", view(self.review_view), name="governance_application_review"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # get_object reads the id as the admin does: one that is not a number is no object.
        application = self.get_object(request, unquote(object_id))
        if application is None:
            raise Http404
        criteria = list(selectors.criteria_current())
        evidence = {e.criterion_id: e for e in application.evidence.all()}
        extra = {
            "checklist": [
                {
                    "criterion": c,
                    "required": c.required_for_tier(application.requested_tier),
                    "evidence": evidence.get(c.pk),
                }
                for c in criteria
            ],
            "missing": selectors.application_missing(application=application),
            "conversation": application.messages.select_related("author"),
            "notes": application.notes.select_related("author"),
            "history": selectors.application_history(application=application),
            "votes": application.votes.select_related("voter"),
            "tally": selectors.board_tally(application=application),
            "board_decides": _board_decides(),
            "note_form": NoteForm(),
            "decidable": application.state in ("submitted", "in_review", "needs_information"),
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def _application(self, request: HttpRequest, pk: int) -> MembershipApplication:
        if not self.has_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(MembershipApplication, pk=pk)

    def _back(self, application: MembershipApplication) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:governance_membershipapplication_change", args=[application.pk])
        )

    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = self._application(request, pk)
        form = DecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                self._decide(request, application, form.cleaned_data)
            except ServiceError as exc:
                form_add_service_error(form, exc, DECISION_FIELDS)
            else:
                self.message_user(request, "Decision recorded.", messages.SUCCESS)
                return self._back(application)
        return TemplateResponse(
            request,
            "admin/governance/decide.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"Decide on {application}",
                "application": application,
                "form": form,
                "tally": selectors.board_tally(application=application),
                "board_decides": _board_decides(),
                "missing": selectors.application_missing(application=application),
            },
        )

    def _decide(
        self, request: HttpRequest, application: MembershipApplication, data: dict[str, Any]
    ) -> None:
        context = AuditContext.from_request(request)
        decision = data["decision"]
        if decision == DecisionForm.REQUEST_INFORMATION:
            services.application_request_information(
                application=application, message=data["message"], context=context
            )
        elif decision == DecisionForm.REJECT:
            services.application_reject(
                application=application, reasons=data["message"], context=context
            )
        else:
            tier = {
                DecisionForm.APPROVE_FULL: Tier.FULL,
                DecisionForm.APPROVE_ASSOCIATE: Tier.ASSOCIATE,
                DecisionForm.APPROVE_PROBATION: Tier.PROBATION,
            }[decision]
            services.application_approve(
                application=application,
                tier=tier,
                reason=data["message"],
                mentor_user=data.get("mentor_user"),
                mentor_organisation=data.get("mentor_organisation"),
                context=context,
            )

    def vote_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = get_object_or_404(MembershipApplication, pk=pk)
        if not request.user.has_perm("governance.vote_membershipapplication"):
            raise PermissionDenied
        form = VoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.application_vote(
                    application=application,
                    context=AuditContext.from_request(request),
                    **form.cleaned_data,
                )
            except ServiceError as exc:
                form_add_service_error(form, exc)
            else:
                self.message_user(request, "Vote recorded.", messages.SUCCESS)
                return self._back(application)
        return TemplateResponse(
            request,
            "admin/governance/vote.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"Vote: {application}",
                "application": application,
                "form": form,
                "tally": selectors.board_tally(application=application),
            },
        )

    def note_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = self._application(request, pk)
        form = NoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            services.application_note_add(
                application=application,
                body=form.cleaned_data["body"],
                context=AuditContext.from_request(request),
            )
            self.message_user(request, "Note added.", messages.SUCCESS)
        return self._back(application)

    def review_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = self._application(request, pk)
        if request.method == "POST":
            try:
                services.application_review_start(
                    application=application, context=AuditContext.from_request(request)
                )
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        return self._back(application)


def _board_decides() -> bool:
    from django.conf import settings

    return bool(settings.GOVERNANCE_BOARD_DECIDES)


class CriterionTargetInline(admin.TabularInline):
    model = CriterionTarget
    extra = 0
    fields = ["criterion", "target_date", "met_at", "note"]
    readonly_fields = ["met_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MemberOrganisation)
class MemberOrganisationAdmin(admin.ModelAdmin):
    """Member platforms' lifecycle: tier, mentor, missing criteria, suspension, offboarding."""

    list_display = ["name", "slug", "status", "tier", "current_mentor", "country"]
    list_filter = ["status", "tier"]
    search_fields = ["name", "slug"]
    change_form_template = "admin/governance/memberorganisation/change_form.html"
    fields = readonly_fields = (
        "name",
        "slug",
        "kind",
        "country",
        "status",
        "status_reason",
        "tier",
    )
    inlines = [CriterionTargetInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[MemberOrganisation]:
        return super().get_queryset(request).filter(kind=OrganisationKind.PLATFORM)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # members arrive through an approved application

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # offboard instead: the data is kept as the retention policy says

    @admin.display(description="mentor")
    def current_mentor(self, obj: MemberOrganisation) -> str:
        mentorship = selectors.current_mentorship(organisation=obj)
        return str(mentorship.mentor) if mentorship else "—"

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # Criterion targets are written through the service so each change is audited.
        for inline_form in formset.forms:
            if not inline_form.has_changed() or not inline_form.cleaned_data:
                continue
            data = inline_form.cleaned_data
            services.criterion_target_set(
                organisation=form.instance,
                criterion=data["criterion"],
                target_date=data["target_date"],
                note=data.get("note", ""),
                context=AuditContext.from_request(request),
            )

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("<id:pk>/decide/", view(self.decide_view), name="governance_member_decide"),
            path("<id:pk>/mentor/", view(self.mentor_view), name="governance_member_mentor"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # get_object reads the id as the admin does: one that is not a number is no object.
        organisation = self.get_object(request, unquote(object_id))
        if organisation is None:
            raise Http404
        extra = {
            "decisions": selectors.decisions_about(organisation=organisation),
            "mentorship": selectors.current_mentorship(organisation=organisation),
            "history": AuditEvent.objects.filter(
                organisation_id=organisation.pk, action__startswith="governance."
            ).order_by("sequence"),
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def _member(self, request: HttpRequest, pk: int) -> MemberOrganisation:
        if not self.has_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request), pk=pk)

    def _page(
        self, request: HttpRequest, organisation: MemberOrganisation, form: forms.Form, title: str
    ) -> TemplateResponse:
        return TemplateResponse(
            request,
            "admin/governance/member_form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"{title}: {organisation}",
                "step": title,
                "organisation": organisation,
                "form": form,
            },
        )

    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        organisation = self._member(request, pk)
        form = LifecycleForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            context = AuditContext.from_request(request)
            try:
                if data["decision"] == "tier":
                    services.organisation_tier_change(
                        organisation=organisation,
                        tier=data["tier"],
                        reason=data["reason"],
                        context=context,
                    )
                else:
                    service = {
                        "suspend": services.organisation_suspend,
                        "reinstate": services.organisation_reinstate,
                        "offboard": services.organisation_offboard,
                    }[data["decision"]]
                    service(organisation=organisation, reason=data["reason"], context=context)
            except ServiceError as exc:
                form_add_service_error(form, exc)
            else:
                self.message_user(request, "Decision recorded.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:governance_memberorganisation_change", args=[pk])
                )
        return self._page(request, organisation, form, "Decide")

    def mentor_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        organisation = self._member(request, pk)
        form = MentorAssignForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.mentor_assign(
                    organisation=organisation,
                    mentor_user=form.cleaned_data.get("mentor_user"),
                    mentor_organisation=form.cleaned_data.get("mentor_organisation"),
                    context=AuditContext.from_request(request),
                )
            except ServiceError as exc:
                form_add_service_error(form, exc)
            else:
                self.message_user(request, "Mentor assigned.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:governance_memberorganisation_change", args=[pk])
                )
        return self._page(request, organisation, form, "Assign a mentor")


@admin.register(Mentorship)
class MentorshipAdmin(ReadOnlyAdmin):
    """Mentors are assigned from the member lifecycle page, through the service."""

    list_display = ["mentee", "mentor_user", "mentor_organisation", "started_at", "ended_at"]
    list_filter = [("ended_at", admin.EmptyFieldListFilter)]
    search_fields = ["mentee__name", "mentor_user__email", "mentor_organisation__name"]


@admin.register(OrganisationDecision)
class OrganisationDecisionAdmin(ReadOnlyAdmin):
    list_display = [
        "organisation",
        "kind",
        "from_value_display",
        "to_value_display",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["kind"]
    search_fields = ["organisation__name", "reason"]

    @admin.display(description="from")
    def from_value_display(self, decision: OrganisationDecision) -> str:
        return decision.from_value_display()

    @admin.display(description="to")
    def to_value_display(self, decision: OrganisationDecision) -> str:
        return decision.to_value_display()
