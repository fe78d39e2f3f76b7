"""The change log and snapshots, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet, Subquery
from django.http import HttpRequest

from accounts.admin_base import ReadOnlyAdmin
from hashbank import selectors
from hashbank.admin.common import _json_block, _value_search
from hashbank.models import (
    ChangeLogEntry,
    EntryDisclosure,
    LookupVolume,
    Snapshot,
    SyncStatus,
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
