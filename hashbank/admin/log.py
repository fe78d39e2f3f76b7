"""The change log, snapshots and cosignatures, read-only; the witnesses of the banks'
checkpoints, configured by staff."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import QuerySet, Subquery
from django.http import HttpRequest

from accounts.admin_base import ReadOnlyAdmin
from accounts.audit import AuditContext, audit_record
from hashbank import selectors
from hashbank.admin.common import _json_block, _value_search
from hashbank.models import (
    ChangeLogEntry,
    Cosignature,
    EntryDisclosure,
    LookupVolume,
    Snapshot,
    SyncStatus,
    Witness,
)


@admin.register(ChangeLogEntry)
class ChangeLogEntryAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "op", "bank", "signal", "created_at"]
    list_filter = ["op", "bank"]
    list_select_related = ["bank", "signal__bank"]
    search_fields = ["signal__value"]
    search_help_text = "A hash value (exact or its first characters)."
    fields = readonly_fields = (
        "sequence",
        "op",
        "bank",
        "signal",
        "created_at",
        "entry_decoded",
        "disclosed",
        "leaf_hash",
    )
    list_per_page = 100

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ChangeLogEntry], search_term: str
    ) -> tuple[QuerySet[ChangeLogEntry], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(_value_search(search_term, value_field="signal__value")), False

    @admin.display(description="entry (as clients receive it)")
    def entry_decoded(self, obj: ChangeLogEntry) -> str:
        return _json_block(bytes(obj.entry))

    @admin.display(description="disclosed beside it (outside the leaf)")
    def disclosed(self, obj: ChangeLogEntry) -> str:
        disclosure = EntryDisclosure.objects.filter(entry=obj).first()
        if disclosure is None:
            return "nothing (none, or erased)"
        return f"{disclosure.field}: {disclosure.text}"


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = ["bank", "up_to_sequence", "signal_count", "file_name", "created_at"]
    list_filter = ["bank"]
    list_select_related = ["bank"]
    fields = readonly_fields = (
        "bank",
        "up_to_sequence",
        "signal_count",
        "file_name",
        "sha256",
        "signature",
        "created_at",
    )


@admin.register(LookupVolume)
class LookupVolumeAdmin(ReadOnlyAdmin):
    """Lookups per organisation per minute: sort by queries to spot a member scanning the
    list (many queries, few matches)."""

    list_display = ["organisation", "window_start", "queries", "matches", "match_rate"]
    list_filter = ["organisation", ("window_start", admin.DateFieldListFilter)]
    date_hierarchy = "window_start"
    ordering = ["-window_start", "-queries"]
    search_fields = ["organisation__slug", "organisation__name"]

    @admin.display(description="match rate")
    def match_rate(self, obj: LookupVolume) -> str:
        return f"{obj.matches / obj.queries:.1%}" if obj.queries else "–"


@admin.register(SyncStatus)
class SyncStatusAdmin(ReadOnlyAdmin):
    """Who syncs the list, and how far behind each member is."""

    list_display = ["organisation", "first_synced_at", "last_synced_at", "last_cursor", "behind"]
    list_select_related = ["organisation"]
    search_fields = ["organisation__slug", "organisation__name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SyncStatus]:
        # The log's head, read in the same query as the rows rather than once per row.
        last = selectors.changelog_last_entry().values("sequence")
        return super().get_queryset(request).annotate(log_last=Subquery(last))

    @admin.display(description="entries behind")
    def behind(self, obj: SyncStatus) -> int:
        # log_last is annotated by get_queryset above; the model class does not declare it.
        log_last = getattr(obj, "log_last", None)
        head = 0 if log_last is None else log_last + 1
        return max(0, head - obj.last_cursor)


@admin.register(Witness)
class WitnessAdmin(admin.ModelAdmin):
    """Who cosigns the banks' checkpoints. The verifier key is the witness's C2SP
    cosignature key (type 0x04); the organisation is the peer hub whose API keys fetch
    the checkpoints and post the cosignatures. A witness is deactivated, never deleted:
    its cosignatures stay on record but are no longer served."""

    list_display = ["name", "verifier_key", "organisation", "active", "created_at"]
    list_filter = ["active", "banks"]
    list_select_related = ["organisation"]
    search_fields = ["name", "verifier_key", "organisation__name"]
    fields = ["name", "verifier_key", "organisation", "active", "banks"]
    filter_horizontal = ["banks"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        witness = form.instance
        audit_record(
            action="hashbank.witness.changed" if change else "hashbank.witness.added",
            context=AuditContext.from_request(request),
            target=witness,
            detail={
                "fields": sorted(form.changed_data),
                "verifier_key": witness.verifier_key,
                "active": witness.active,
                "banks": sorted(witness.banks.values_list("name", flat=True)),
            },
        )


@admin.register(Cosignature)
class CosignatureAdmin(ReadOnlyAdmin):
    list_display = ["checkpoint", "witness", "signed_at", "received_at"]
    list_filter = ["witness", "checkpoint__bank"]
    list_select_related = ["checkpoint", "witness"]
    fields = readonly_fields = ("checkpoint", "witness", "line", "signed_at", "received_at")
