"""Following the list: the change log and the signed snapshots."""

from __future__ import annotations

import json

from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import HubApiView
from accounts.hub_identity import hub_keys
from core.api_input import QueryInteger, QueryText, query_params
from core.db_routing import replica_or_primary
from core.errors import Invalid
from hashbank import selectors
from hashbank.models import OpinionKind, Snapshot
from hashbank.services.snapshots import snapshot_open
from hashbank.services.sync import sync_record
from hashbank.services.transparency import sync_checkpoints
from hashfed_wire import hub_signatures

MAX_SYNC_PAGE = 10_000
MAX_SYNC_BANKS = 50


def bank_filter(request: Request) -> list[str] | None:
    """The `bank` query parameter: repeated (`bank=A&bank=B`) or a comma list (`bank=A,B`),
    or None when absent. Each name is checked as query text; an empty name is refused."""
    raw = request.query_params.getlist("bank")
    if not raw:
        return None
    field = QueryText(max_length=100)
    names: list[str] = []
    for value in raw:
        for name in value.split(","):
            try:
                name = field.run_validation(name.strip())
            except serializers.ValidationError as exc:
                detail = exc.detail
                message = str(detail[0]) if isinstance(detail, list) and detail else str(detail)
                raise Invalid.for_field("bank", message) from exc
            names.append(name)
    if len(names) > MAX_SYNC_BANKS:
        raise Invalid.for_field("bank", f"at most {MAX_SYNC_BANKS} banks")
    return names


class SyncApi(HubApiView):
    """The change log after a cursor, in the banks the caller may read.

    `GET /api/v1/sync/?cursor=0&limit=1000` → `{"entries": [...], "next_cursor": N,
    "head": H}`. `cursor` is how many log entries the client has seen (0 at first); apply
    entries in order (add and update set the record keyed by bank, signal type and value;
    remove deletes it) and call again with `next_cursor` until it reaches `head`. Each entry
    is the exact canonical JSON (RFC 8785) the hub logged, so its bytes can be hashed.
    `disclosures` holds, by sequence (as a string), the text an entry commits to and does
    not hold (`{"incident": text, "salt": hex}`, opening its `incident_commitment`); text
    erased under the retention policy is absent. `checkpoints` names, per readable bank,
    the size of its Merkle tree once the page is applied (`tree_size`) and a signed
    checkpoint of at least that size the copy is a prefix of (docs/transparency-log.md).
    A cursor past the head is refused (400 `cursor_ahead`, naming the head). `bank`
    (repeated or a comma list) limits the page to those banks; a bank the caller cannot
    read is a 400 `unknown_bank` on the field `bank`. `own_opinions` maps each signal of
    the page's entries that the caller's organisation has an opinion of to that opinion's
    kind: the organisation's own opinions only.
    """

    actions = {"GET": "hashbank.sync.read"}

    class InputSerializer(serializers.Serializer):
        cursor = QueryInteger(default=0)
        limit = QueryInteger(min_value=1, max_value=MAX_SYNC_PAGE, default=1000)

    @extend_schema(
        parameters=[
            InputSerializer,
            OpenApiParameter(
                "bank",
                OpenApiTypes.STR,
                many=True,
                explode=True,
                description="Only these banks (repeat the parameter, or a comma list).",
            ),
        ],
        responses=inline_serializer(
            "SyncPage",
            {
                "entries": serializers.ListField(child=serializers.DictField()),
                "disclosures": serializers.DictField(
                    child=inline_serializer(
                        "SyncDisclosure",
                        {
                            "incident": serializers.CharField(),
                            "salt": serializers.RegexField(r"^[0-9a-f]{64}$"),
                        },
                    )
                ),
                "next_cursor": serializers.IntegerField(),
                "head": serializers.IntegerField(),
                "own_opinions": serializers.DictField(
                    child=serializers.ChoiceField(choices=OpinionKind.choices),
                    help_text="Signal id → the caller's organisation's own opinion of it.",
                ),
                "checkpoints": serializers.DictField(
                    child=inline_serializer(
                        "SyncBankCheckpoint",
                        {
                            "tree_size": serializers.IntegerField(),
                            "checkpoint": inline_serializer(
                                "SyncCheckpoint",
                                {
                                    "size": serializers.IntegerField(),
                                    "root_hash": serializers.CharField(),
                                    "note": serializers.CharField(),
                                },
                            ),
                        },
                    )
                ),
            },
        ),
    )
    def get(self, request: Request) -> HttpResponse:
        # Read from the replica when there is one and it holds what the page needs; never
        # a page behind the caller's cursor (core.db_routing).
        return replica_or_primary(lambda: self._page(request))

    def _page(self, request: Request) -> HttpResponse:
        params = query_params(self.InputSerializer, request)
        organisation = self.principal.organisation
        banks = selectors.sync_banks(organisation=organisation, names=bank_filter(request))
        page = selectors.changelog_page(
            organisation=organisation, cursor=params["cursor"], limit=params["limit"], banks=banks
        )
        entries, disclosures = page.entries, page.disclosures
        next_cursor, head = page.next_cursor, page.head
        checkpoints = sync_checkpoints(banks=banks, cursor=next_cursor)
        # Beside the entries, never inside them: the entries are the logged bytes, the same
        # for every reader, and the opinions are the caller's own.
        own_opinions = selectors.own_opinions_on(organisation=organisation, page=page)
        sync_record(organisation=organisation, cursor=next_cursor)
        # The stored bytes go out as they are: no re-serialisation, so clients get exactly
        # what was logged, and a page costs little more than the database read.
        body = b"".join(
            [
                b'{"entries":[',
                b",".join(entries),
                b'],"disclosures":',
                _json(disclosures),
                b',"next_cursor":',
                str(next_cursor).encode(),
                b',"head":',
                str(head).encode(),
                b',"own_opinions":',
                _json(own_opinions),
                b',"checkpoints":',
                _json(checkpoints),
                b"}",
            ]
        )
        response = HttpResponse(body, content_type="application/json")
        # The hub signs the exact bytes of every page, so a member can show any page it holds
        # came from this hub (key at /.well-known/hashfed).
        # During a key rotation both keys sign: X-Hashfed-Signatures lists each signature.
        keys = hub_keys()
        signatures = [
            (identity.key_id, hub_signatures.sign(identity.private_key, body))
            for identity in keys.signing
        ]
        response[hub_signatures.KEY_ID_HEADER] = keys.current.key_id
        response[hub_signatures.SIGNATURE_HEADER] = signatures[0][1]
        response[hub_signatures.SIGNATURES_HEADER] = hub_signatures.signatures_header(signatures)
        return response


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class SnapshotOutput(serializers.ModelSerializer):
    bank = serializers.CharField(source="bank.name")
    download = serializers.SerializerMethodField()

    class Meta:
        model = Snapshot
        fields = [
            "id",
            "bank",
            "up_to_sequence",
            "signal_count",
            "sha256",
            "signature",
            "signatures",
            "created_at",
            "download",
        ]

    def get_download(self, snapshot: Snapshot) -> str:
        return f"/api/v1/sync/snapshots/{snapshot.pk}/download/"


class SnapshotListApi(HubApiView):
    """The newest signed snapshots of the banks the caller may read, all at one log
    position: download them, then sync from `up_to_sequence`. The hub signs RFC 8785 bytes
    of `{"type": "hashfed-snapshot", "origin", "bank", "up_to_sequence", "sha256"}`:
    `signature` is the current key's, `signatures` every signing key's as
    `<key id>:<base64 signature>` items separated by commas (both keys during a rotation),
    as `X-Hashfed-Signatures` on a sync page."""

    actions = {"GET": "hashbank.sync.read"}

    @extend_schema(responses=SnapshotOutput(many=True))
    def get(self, request: Request) -> Response:
        snapshots = selectors.snapshots_readable_by(organisation=self.principal.organisation)
        return Response(SnapshotOutput(snapshots, many=True).data)


class SnapshotDownloadApi(HubApiView):
    actions = {"GET": "hashbank.sync.read"}

    @extend_schema(responses={(200, "application/gzip"): bytes})
    def get(self, request: Request, snapshot_id: int) -> FileResponse:
        snapshot = selectors.snapshot_readable(
            organisation=self.principal.organisation, snapshot_id=snapshot_id
        )
        response = FileResponse(
            snapshot_open(snapshot),
            content_type="application/gzip",
            as_attachment=True,
            filename=snapshot.file_name,
        )
        response[hub_signatures.SIGNATURE_HEADER] = snapshot.signature
        if snapshot.signatures:
            response[hub_signatures.SIGNATURES_HEADER] = snapshot.signatures
        response["X-Hashfed-Sha256"] = snapshot.sha256
        return response
