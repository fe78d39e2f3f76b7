"""Labels and banks, and per-organisation grants on restricted banks."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from accounts import grants
from accounts.admin_base import action_page, bound_form
from accounts.audit import AuditContext, audit_record
from hashbank.admin.common import BANK_GRANTS
from hashbank.forms import OrganisationChoiceForm
from hashbank.models import (
    Bank,
    BankReadAccess,
    Label,
)


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
        "origin_hub",
    ]
    list_filter = ["category", "severity", "active", "taxonomy_version", "origin_hub"]
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
        "origin_hub",
    ]
    # What identifies a label and where it sits in the versioned taxonomy comes from
    # fixtures/taxonomy.json (or, for a label received from a peer hub, from that hub: its
    # origin_hub); staff adjust wording, severity and whether it is in use.
    readonly_fields = ["slug", "category", "taxonomy_version", "dsa_category", "origin_hub"]

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
        form = bound_form(OrganisationChoiceForm, request)
        if not (form.is_bound and form.is_valid()):
            return action_page(
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
        count = queryset.count()
        if granting:
            done = ngettext(
                "%(organisation)s may now read and contribute to %(count)d bank.",
                "%(organisation)s may now read and contribute to %(count)d banks.",
                count,
            )
        else:
            done = ngettext(
                "%(organisation)s's grant to read and contribute is revoked on %(count)d bank.",
                "%(organisation)s's grant to read and contribute is revoked on %(count)d banks.",
                count,
            )
        self.message_user(
            request, done % {"organisation": organisation, "count": count}, messages.SUCCESS
        )
        return None
