"""Django admin for consortium staff: organisations, people, keys and the audit trail.

Writes made here go through the same services as the API, so they are audited too.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from accounts import services
from accounts.admin_base import ReadOnlyAdmin
from accounts.audit import AuditContext, audit_record
from accounts.models import (
    ApiKey,
    AuditEvent,
    DenialCounter,
    Membership,
    Organisation,
    RevocationReason,
    SigningKey,
    User,
)
from core.errors import ServiceError


class AuditedAdminMixin:
    """Every add, change and delete made in admin also goes to the audit trail, through
    Django admin's own logging hooks, so no model admin can forget it."""

    def _audit(self, request: HttpRequest, obj, verb: str, detail: dict) -> None:
        organisation = obj if isinstance(obj, Organisation) else getattr(obj, "organisation", None)
        audit_record(
            action=f"{obj._meta.app_label}.{obj._meta.model_name}.{verb}",
            context=AuditContext.from_request(request),
            target=obj,
            organisation=organisation,
            detail=detail,
        )

    # Django's stubs type these hooks' return as LogEntry while the methods they override
    # are declared differently on ModelAdmin; the calls are Django's own.
    def log_addition(self, request, obj, message):
        self._audit(request, obj, "created", {"via": "admin"})
        return super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request, obj, message):
        # Django's change message lists changed fields and inline rows added or removed.
        self._audit(request, obj, "changed", {"via": "admin", "changes": message})
        return super().log_change(request, obj, message)  # type: ignore[misc]

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "deleted", {"via": "admin"})
        return super().log_deletions(request, queryset)  # type: ignore[misc]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "name",
        "slug",
        "kind",
        "country",
        "status",
        "tier",
        "trusted_contributor",
        "created_at",
    ]
    list_filter = ["kind", "status", "tier", "trusted_contributor", "country"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(User)
class UserAdmin(AuditedAdminMixin, DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser", "memberships__role"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Person", {"fields": ["full_name"]}),
        (
            "Access",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "full_name", "password1", "password2"]})
    ]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_select_related = ["user", "organisation"]
    list_display = ["user", "organisation", "role", "created_at"]
    list_filter = ["role", "organisation__kind"]
    search_fields = ["user__email", "organisation__name", "organisation__slug"]
    autocomplete_fields = ["user", "organisation"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_select_related = ["organisation"]
    list_display = [
        "prefix",
        "name",
        "organisation",
        "role",
        "scope",
        "state",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [
        "scope",
        "role",
        "organisation__kind",
        ("revoked_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["prefix", "name", "organisation__name", "organisation__slug"]
    readonly_fields = [
        "prefix",
        "digest",
        "created_by",
        "created_at",
        "revoked_at",
        "revoked_by",
        "last_used_at",
    ]
    fields = ["organisation", "name", "role", "scope", "expires_at", *readonly_fields]
    actions = ["revoke_keys"]

    def has_change_permission(self, request, obj=None):
        # A key is issued and revoked, never edited: its role and scope were what the
        # issuer agreed to.
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            api_key, raw_key = services.api_key_issue(
                organisation=obj.organisation,
                name=obj.name,
                role=obj.role,
                scope=obj.scope,
                expires_at=obj.expires_at,
                context=AuditContext.from_request(request),
            )
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = api_key.pk
        self.message_user(
            request,
            f"API key issued. Copy it now, it will not be shown again: {raw_key}",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected API keys", permissions=["delete"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key, context=AuditContext.from_request(request))
        count = queryset.count()
        self.message_user(
            request,
            ngettext("%(count)d API key revoked.", "%(count)d API keys revoked.", count)
            % {"count": count},
        )

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    list_select_related = ["organisation"]
    list_display = [
        "short_key_id",
        "organisation",
        "name",
        "state",
        "valid_from",
        "valid_until",
        "revoked_at",
        "revocation_reason",
    ]
    list_filter = [
        "revocation_reason",
        "organisation__kind",
        ("revoked_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["key_id", "name", "organisation__name", "organisation__slug"]
    readonly_fields = [
        "organisation",
        "key_id",
        "name",
        "valid_from",
        "valid_until",
        "revoked_at",
        "revocation_reason",
        "compromised_since",
        "created_by",
        "created_at",
    ]
    exclude = ["public_key"]
    actions = ["revoke_superseded", "revoke_compromised"]

    @admin.display(description="key id")
    def short_key_id(self, obj: SigningKey) -> str:
        return obj.key_id[:16] + "…"

    def has_add_permission(self, request):
        return False  # members register their own keys, through the API or the portal

    def has_delete_permission(self, request, obj=None):
        return False  # old signatures must stay verifiable

    def _revoke(self, request: HttpRequest, queryset: QuerySet[SigningKey], reason: str) -> None:
        done = 0
        for key in queryset.filter(revoked_at__isnull=True):
            services.signing_key_revoke(
                signing_key=key, reason=reason, context=AuditContext.from_request(request)
            )
            done += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d signing key revoked (%(reason)s).",
                "%(count)d signing keys revoked (%(reason)s).",
                done,
            )
            % {"count": done, "reason": reason},
        )

    @admin.action(
        description="Revoke (superseded: old signatures stay valid)", permissions=["change"]
    )
    def revoke_superseded(self, request: HttpRequest, queryset: QuerySet[SigningKey]) -> None:
        self._revoke(request, queryset, RevocationReason.SUPERSEDED)

    @admin.action(description="Revoke as compromised (untrusted from now)", permissions=["change"])
    def revoke_compromised(self, request: HttpRequest, queryset: QuerySet[SigningKey]) -> None:
        self._revoke(request, queryset, RevocationReason.COMPROMISED)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "sequence",
        "occurred_at",
        "action",
        "outcome",
        "actor_email",
        "organisation_slug",
        "api_key_prefix",
        "target_repr",
        "ip_address",
    ]
    list_filter = [
        "outcome",
        "action",
        "organisation_slug",
        ("occurred_at", admin.DateFieldListFilter),
    ]
    search_fields = [
        "action",
        "actor_email",
        "organisation_slug",
        "target_repr",
        "target_id",
        "api_key_prefix",
        "entry_hash",
    ]
    date_hierarchy = "occurred_at"
    list_per_page = 100

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in AuditEvent._meta.fields]


@admin.register(DenialCounter)
class DenialCounterAdmin(ReadOnlyAdmin):
    """Refused requests per source and window; the audit trail holds the first of each
    (its sequence is shown), this table how many followed."""

    list_display = [
        "window_start",
        "source",
        "action",
        "reason",
        "api_key_prefix",
        "organisation_slug",
        "count",
        "last_seen_at",
        "first_event_sequence",
    ]
    list_filter = ["action", "reason", ("window_start", admin.DateFieldListFilter)]
    search_fields = ["source", "api_key_prefix", "organisation_slug"]
    date_hierarchy = "window_start"
    list_per_page = 100

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in DenialCounter._meta.fields]
