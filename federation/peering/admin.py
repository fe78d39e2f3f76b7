"""Peering in admin: staff register a peer hub (its organisation, origin, address, key), the
banks shared with it and those received from it; quarantines show their proof and can be
lifted. Every change is in the audit trail with what it was before and after."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from accounts.admin_base import ReadOnlyAdmin, ReadOnlyInline
from accounts.audit import AuditContext, audit_record
from core.outbound import UnsafeUrl, outbound_check
from federation.peering.models import PeeringAgreement, Quarantine, ReceivedBank
from federation.peering.services import (
    agreement_shared_banks_set,
    agreement_snapshot,
    quarantine_lift,
    received_bank_pass_on_set,
)
from hashbank.models import Bank
from hashfed_wire import note


class PeeringAgreementForm(forms.ModelForm):
    base_url = forms.URLField(assume_scheme="https", help_text="Where the peer hub serves its API.")

    class Meta:
        model = PeeringAgreement
        fields = [
            "organisation",
            "origin",
            "base_url",
            "public_key",
            "pull_credential",
            "shared_banks",
            "state",
            "notes",
        ]
        widgets = {"pull_credential": forms.PasswordInput(render_value=True)}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only this hub's own banks marked shareable, and received ones the origin lets
        # pass on (peer_shareable is cleared on the others).
        shared = self.fields["shared_banks"]
        assert isinstance(shared, forms.ModelMultipleChoiceField)
        shared.queryset = Bank.objects.filter(peer_shareable=True)

    def clean_base_url(self) -> str:
        url = str(self.cleaned_data["base_url"])
        try:
            outbound_check(url)
        except UnsafeUrl as exc:
            raise forms.ValidationError(str(exc)) from None
        return url

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        key, origin = cleaned.get("public_key"), cleaned.get("origin")
        if key:
            try:
                verifier = note.parse_verifier_key(str(key).strip())
            except note.NoteError as exc:
                self.add_error("public_key", f"not a C2SP verifier key: {exc}")
            else:
                if verifier.signature_type != note.ED25519:
                    self.add_error("public_key", "the hub's key is an Ed25519 key (type 0x01)")
                elif origin and verifier.name != origin:
                    self.add_error(
                        "public_key", f"the key is named {verifier.name}, not the origin {origin}"
                    )
        return cleaned


class ReceivedBankForm(forms.ModelForm):
    local_name = forms.CharField(
        max_length=32,
        required=False,
        help_text="The local bank that holds what is received (the remote name by default).",
    )

    class Meta:
        model = ReceivedBank
        fields = ["remote_name", "may_pass_on"]


class ReceivedBankInline(admin.TabularInline):
    model = ReceivedBank
    form = ReceivedBankForm
    extra = 0
    fields = [
        "remote_name",
        "local_name",
        "may_pass_on",
        "position",
        "checkpoint_size",
        "last_pulled_at",
        "last_error",
    ]
    readonly_fields = ["position", "checkpoint_size", "last_pulled_at", "last_error"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class QuarantineInline(ReadOnlyInline):
    model = Quarantine
    fields = readonly_fields = ("detected_at", "reason", "lifted_at", "lifted_by", "link")
    show_change_link = True

    def link(self, obj: Quarantine) -> str:
        return format_html("{}", "open" if obj.lifted_at is None else "lifted")


@admin.register(PeeringAgreement)
class PeeringAgreementAdmin(admin.ModelAdmin):
    form = PeeringAgreementForm
    list_display = ["origin", "organisation", "base_url", "state", "created_at"]
    list_filter = ["state"]
    search_fields = ["origin", "organisation__name", "base_url"]
    filter_horizontal = ["shared_banks"]
    inlines = [ReceivedBankInline, QuarantineInline]
    readonly_fields = ["created_at", "created_by"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # suspended, never deleted: received banks and proofs name it

    def save_model(
        self, request: HttpRequest, obj: PeeringAgreement, form: forms.ModelForm, change: bool
    ) -> None:
        # What the audit record's `before` says: the agreement as stored, before this save.
        obj._audit_before = (  # type: ignore[attr-defined]
            agreement_snapshot(PeeringAgreement.objects.get(pk=obj.pk)) if change else None
        )
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        context = AuditContext.from_request(request)
        agreement: PeeringAgreement = form.instance
        with transaction.atomic():
            shared = list(form.cleaned_data.get("shared_banks") or [])
            form.save_m2m()
            agreement_shared_banks_set(agreement=agreement, banks=shared, context=context)
            for formset in formsets:
                if formset.model is not ReceivedBank:
                    formset.save()
                    continue
                for inline_form in formset.forms:
                    if not inline_form.has_changed() or not inline_form.cleaned_data:
                        continue
                    self._save_received(agreement, inline_form, context)
                # What admin's own history message reads (the audit trail has the rest).
                formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            audit_record(
                action="peering.agreement.saved",
                context=context,
                target=agreement,
                organisation=agreement.organisation,
                detail={
                    "before": getattr(agreement, "_audit_before", None),
                    "after": agreement_snapshot(agreement),
                },
            )

    def _save_received(
        self, agreement: PeeringAgreement, inline_form: forms.ModelForm, context: AuditContext
    ) -> None:
        from federation.peering.services import received_bank_register

        data = inline_form.cleaned_data
        existing: ReceivedBank | None = inline_form.instance if inline_form.instance.pk else None
        if existing is None:
            received_bank_register(
                agreement=agreement,
                remote_name=data["remote_name"],
                may_pass_on=bool(data.get("may_pass_on")),
                local_name=data.get("local_name") or "",
                context=context,
            )
        else:
            received_bank_pass_on_set(
                received=existing, may_pass_on=bool(data.get("may_pass_on")), context=context
            )


@admin.register(Quarantine)
class QuarantineAdmin(ReadOnlyAdmin):
    list_display = ["agreement", "received_bank", "detected_at", "lifted_at", "short_reason"]
    list_filter = ["lifted_at"]
    fields = readonly_fields = (
        "agreement",
        "received_bank",
        "reason",
        "detected_at",
        "checkpoint_before",
        "checkpoint_after",
        "evidence",
        "lifted_at",
        "lifted_by",
    )
    actions = ["lift"]

    @admin.display(description="reason")
    def short_reason(self, obj: Quarantine) -> str:
        return obj.reason[:120]

    def has_lift_permission(self, request: HttpRequest) -> bool:
        opts = PeeringAgreement._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(description="Lift the quarantine (pulls resume)", permissions=["lift"])
    def lift(self, request: HttpRequest, queryset: QuerySet[Quarantine]) -> None:
        context = AuditContext.from_request(request)
        lifted = 0
        for quarantine in queryset.filter(lifted_at__isnull=True):
            quarantine_lift(quarantine=quarantine, context=context)
            lifted += 1
        self.message_user(request, f"{lifted} quarantine(s) lifted.", messages.SUCCESS)
