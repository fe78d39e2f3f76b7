"""The hash bank API: submit, follow, sync, opinions and disputes."""

from __future__ import annotations

from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import HubApiView
from accounts.hub_identity import hub_identity
from core.api_input import QueryInteger, query_params
from core.errors import Invalid, NotFound
from core.pagination import Pagination, paginate
from hashbank import selectors, services
from hashbank.models import (
    Bank,
    Dispute,
    DisputeKind,
    Label,
    OpinionKind,
    ReviewState,
    Signal,
    Snapshot,
    Submission,
)
from hashbank.services.lookup import MAX_LOOKUP_BATCH
from hashbank.services.snapshots import snapshot_open
from hashbank.services.submissions import MAX_BATCH
from hashbank.services.sync import sync_record
from hashbank.signal_types import PDQ_DISTANCE_THRESHOLD, PDQ_MAX_DISTANCE_THRESHOLD
from hashfed_wire import hub_signatures

MAX_SYNC_PAGE = 10_000


class LabelListApi(HubApiView):
    """The label taxonomy: slug, name, category, severity, description."""

    actions = {"GET": "hashbank.label.list"}

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Label
            fields = [
                "slug",
                "name",
                "category",
                "severity",
                "description",
                "taxonomy_version",
                "dsa_category",
            ]

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(selectors.labels_active(), many=True).data)


class BankListApi(HubApiView):
    """The banks the caller may read, with whether it may contribute to each."""

    actions = {"GET": "hashbank.bank.list"}

    class OutputSerializer(serializers.ModelSerializer):
        may_contribute = serializers.SerializerMethodField()

        class Meta:
            model = Bank
            fields = [
                "name",
                "title",
                "purpose",
                "read_access",
                "contribute_access",
                "show_contributors",
                "may_contribute",
            ]

        def get_may_contribute(self, bank: Bank) -> bool:
            return bank.pk in self.context["contributable"]

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        org = self.principal.organisation
        contributable = set(
            selectors.banks_contributable_by(organisation=org).values_list("pk", flat=True)
        )
        banks = selectors.banks_readable_by(organisation=org)
        return Response(
            self.OutputSerializer(banks, many=True, context={"contributable": contributable}).data
        )


class SubmissionOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="submission_id")
    bank = serializers.CharField(source="bank.name")
    labels = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    key_id = serializers.CharField(source="signing_key.key_id")

    class Meta:
        model = Submission
        fields = [
            "id",
            "bank",
            "signal_type",
            "value",
            "labels",
            "incident",
            "note",
            "created_at",
            "received_at",
            "review_state",
            "auto_approved",
            "review_reason",
            "reviewed_at",
            "key_id",
            "signal",
        ]


# The batch endpoints judge each item on its own (a malformed envelope or query is rejected
# in its own result, the others go on), so their schemas leave items open and close only
# the batch itself: its fields and its length.
SUBMISSION_BATCH_SCHEMA = {
    "type": "object",
    "properties": {
        "submissions": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH,
            "items": {
                "description": 'A signed envelope `{"payload": {...}, "signature": "<base64>"}` '
                "(docs/signing.md)."
            },
        }
    },
    "required": ["submissions"],
    "additionalProperties": False,
}
LOOKUP_BATCH_SCHEMA = {
    "type": "object",
    "properties": {
        "queries": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_LOOKUP_BATCH,
            "items": {
                "description": '`{"signal_type": "pdq", "value": "<64 hex>", "max_distance": 31}`'
            },
        },
        "max_distance": {
            "type": "integer",
            "minimum": 0,
            "maximum": PDQ_MAX_DISTANCE_THRESHOLD,
            "default": PDQ_DISTANCE_THRESHOLD,
        },
    },
    "required": ["queries"],
    "additionalProperties": False,
}


class ItemError(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True)


class SubmissionItemResult(serializers.Serializer):
    index = serializers.IntegerField(min_value=0)
    id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["accepted", "replayed", "rejected"])
    review_state = serializers.CharField(allow_null=True)
    error = ItemError(allow_null=True)


class LookupItemResult(serializers.Serializer):
    index = serializers.IntegerField(min_value=0)
    signal_type = serializers.CharField(required=False)
    matches = serializers.ListField(child=serializers.DictField())
    error = ItemError(allow_null=True)


class SubmissionListCreateApi(HubApiView):
    """Submit a batch of signed envelopes, or list one's own submissions.

    `POST {"submissions": [{"payload": {...}, "signature": "<base64>"}, ...]}` (at most
    1,000; the format is in docs/signing.md) → 200 with one result per item, in order:
    `{"index": 0, "id": "<uuid>", "status": "accepted" | "replayed" | "rejected",
    "review_state": "pending", "error": null | {"code", "message", "field"}}`.
    Each item stands alone: bad items never stop good ones, and nothing is half-written.
    """

    actions = {"GET": "hashbank.submission.list", "POST": "hashbank.submission.create"}
    pagination_class = Pagination

    class FilterSerializer(serializers.Serializer):
        review_state = serializers.ChoiceField(choices=ReviewState.choices, required=False)

    @extend_schema(parameters=[FilterSerializer], responses=SubmissionOutput(many=True))
    def get(self, request: Request) -> Response:
        params = query_params(self.FilterSerializer, request)
        submissions = selectors.submissions_of(organisation=self.principal.organisation)
        if "review_state" in params:
            submissions = submissions.filter(review_state=params["review_state"])
        return paginate(self, submissions, SubmissionOutput)

    @extend_schema(
        request={"application/json": SUBMISSION_BATCH_SCHEMA},
        responses=inline_serializer(
            "SubmissionBatchResult",
            {
                "results": serializers.ListField(child=SubmissionItemResult()),
                "accepted": serializers.IntegerField(min_value=0),
                "replayed": serializers.IntegerField(min_value=0),
                "rejected": serializers.IntegerField(min_value=0),
            },
        ),
    )
    def post(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise Invalid.for_field("submissions", 'send {"submissions": [...]}')
        unknown = sorted(set(body) - {"submissions"})
        if unknown:
            raise Invalid.for_field(unknown[0], "unknown field", code="unknown_field")
        items = body.get("submissions")
        if not isinstance(items, list) or not items:
            raise Invalid.for_field("submissions", "a non-empty list of envelopes", code="required")
        results = services.submission_batch_create(
            organisation=self.principal.organisation, items=items, context=self.audit_context
        )
        counts = {
            s: sum(1 for r in results if r.status == s)
            for s in ("accepted", "replayed", "rejected")
        }
        return Response({"results": [r.as_dict() for r in results], **counts})


class SubmissionDetailApi(HubApiView):
    actions = {"GET": "hashbank.submission.list"}

    @extend_schema(responses=SubmissionOutput)
    def get(self, request: Request, submission_id: str) -> Response:
        submission = selectors.submission_of(
            organisation=self.principal.organisation, submission_id=submission_id
        )
        return Response(SubmissionOutput(submission).data)


class SubmissionWithdrawApi(HubApiView):
    """Withdraw one's own submission; a signal nothing else supports leaves the list."""

    actions = {"POST": "hashbank.submission.withdraw"}
    error_statuses = {"POST": (409,)}

    @extend_schema(request=None, responses=SubmissionOutput)
    def post(self, request: Request, submission_id: str) -> Response:
        submission = selectors.submission_of(
            organisation=self.principal.organisation, submission_id=submission_id
        )
        submission = services.submission_withdraw(submission=submission, context=self.audit_context)
        return Response(SubmissionOutput(submission).data)


class SyncApi(HubApiView):
    """The change log after a cursor, in the banks the caller may read.

    `GET /api/v1/sync/?cursor=0&limit=1000` → `{"entries": [...], "next_cursor": N,
    "head": H}`. `cursor` is how many log entries the client has seen (0 at first); apply
    entries in order (add and update set the record keyed by bank, signal type and value;
    remove deletes it) and call again with `next_cursor` until it reaches `head`. Each entry
    is the exact canonical JSON (RFC 8785) the hub logged, so its bytes can be hashed.
    """

    actions = {"GET": "hashbank.sync.read"}

    class InputSerializer(serializers.Serializer):
        cursor = QueryInteger(default=0)
        limit = QueryInteger(min_value=1, max_value=MAX_SYNC_PAGE, default=1000)

    @extend_schema(
        parameters=[InputSerializer],
        responses=inline_serializer(
            "SyncPage",
            {
                "entries": serializers.ListField(child=serializers.DictField()),
                "next_cursor": serializers.IntegerField(),
                "head": serializers.IntegerField(),
            },
        ),
    )
    def get(self, request: Request) -> HttpResponse:
        params = query_params(self.InputSerializer, request)
        entries, next_cursor, head = selectors.changelog_page(
            organisation=self.principal.organisation, cursor=params["cursor"], limit=params["limit"]
        )
        sync_record(organisation=self.principal.organisation, cursor=next_cursor)
        # The stored bytes go out as they are: no re-serialisation, so clients get exactly
        # what was logged, and a page costs little more than the database read.
        body = (
            b'{"entries":['
            + b",".join(entries)
            + b'],"next_cursor":'
            + str(next_cursor).encode()
            + b',"head":'
            + str(head).encode()
            + b"}"
        )
        response = HttpResponse(body, content_type="application/json")
        # The hub signs the exact bytes of every page, so a member can show any page it holds
        # came from this hub (key at /.well-known/hashfed).
        identity = hub_identity()
        response[hub_signatures.KEY_ID_HEADER] = identity.key_id
        response[hub_signatures.SIGNATURE_HEADER] = hub_signatures.sign(identity.private_key, body)
        return response


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
            "created_at",
            "download",
        ]

    def get_download(self, snapshot: Snapshot) -> str:
        return f"/api/v1/sync/snapshots/{snapshot.pk}/download/"


class SnapshotListApi(HubApiView):
    """The newest signed snapshots of the banks the caller may read, all at one log
    position: download them, then sync from `up_to_sequence`. The hub signs RFC 8785 bytes
    of `{"type": "hashfed-snapshot", "origin", "bank", "up_to_sequence", "sha256"}`."""

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
        response["X-Hashfed-Sha256"] = snapshot.sha256
        return response


class SignalOutput(serializers.ModelSerializer):
    bank = serializers.CharField(source="bank.name")
    labels = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)

    class Meta:
        model = Signal
        fields = [
            "id",
            "bank",
            "signal_type",
            "value",
            "status",
            "labels",
            "confidence",
            "incident",
            "first_listed_at",
            "updated_at",
        ]


class SignalDetailApi(HubApiView):
    actions = {"GET": "hashbank.signal.read"}

    @extend_schema(responses=SignalOutput)
    def get(self, request: Request, signal_id: int) -> Response:
        signal = selectors.signal_readable(
            organisation=self.principal.organisation, signal_id=signal_id
        )
        return Response(SignalOutput(signal).data)


class OpinionApi(HubApiView):
    """Record the caller's opinion of a signal (a later one replaces it):
    `PUT {"kind": "false_positive", "reasons": "…", "proposed_labels": []}`."""

    actions = {"PUT": "hashbank.opinion.record"}

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=OpinionKind.choices)
        reasons = serializers.CharField(
            max_length=5000, required=False, allow_blank=True, default=""
        )
        proposed_labels = serializers.ListField(
            child=serializers.CharField(max_length=100), required=False, default=list, max_length=32
        )

    @extend_schema(
        request=InputSerializer,
        responses=inline_serializer(
            "OpinionResult", {"kind": serializers.CharField(), "signal": serializers.IntegerField()}
        ),
    )
    def put(self, request: Request, signal_id: int) -> Response:
        org = self.principal.organisation
        signal = selectors.signal_readable(organisation=org, signal_id=signal_id)
        data = self.validated(self.InputSerializer, request.data)
        opinion = services.opinion_record(
            organisation=org,
            signal=signal,
            kind=data["kind"],
            reasons=data["reasons"],
            proposed_labels=data["proposed_labels"],
            context=self.audit_context,
        )
        return Response({"kind": opinion.kind, "signal": signal.pk})


class DisputeOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    signal = serializers.IntegerField(source="signal_id")
    bank = serializers.CharField(source="signal.bank.name")
    opened_by = serializers.CharField(source="opened_by.slug")
    proposed_labels = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    overdue = serializers.BooleanField(source="is_overdue")

    class Meta:
        model = Dispute
        fields = [
            "id",
            "signal",
            "bank",
            "opened_by",
            "kind",
            "grounds",
            "evidence",
            "proposed_labels",
            "state",
            "opened_at",
            "deadline",
            "overdue",
            "outcome",
            "decision_reason",
            "decided_at",
            "appeal_grounds",
            "appealed_at",
            "appeal_outcome",
            "appeal_reason",
            "appeal_decided_at",
        ]


class DisputeListCreateApi(HubApiView):
    """Disputes the caller is a party to, or open one:
    `POST {"signal": 17, "kind": "signal" | "labels", "grounds": "…", "evidence": "…",
    "proposed_labels": ["…"]}`."""

    actions = {"GET": "hashbank.dispute.list", "POST": "hashbank.dispute.open"}
    error_statuses = {"POST": (409,)}
    pagination_class = Pagination

    class InputSerializer(serializers.Serializer):
        signal = serializers.IntegerField(min_value=1)
        kind = serializers.ChoiceField(choices=DisputeKind.choices)
        grounds = serializers.CharField(max_length=10_000)
        evidence = serializers.CharField(
            max_length=50_000, required=False, allow_blank=True, default=""
        )
        proposed_labels = serializers.ListField(
            child=serializers.CharField(max_length=100), required=False, default=list, max_length=32
        )

    @extend_schema(responses=DisputeOutput(many=True))
    def get(self, request: Request) -> Response:
        return paginate(
            self,
            selectors.disputes_visible_to(organisation=self.principal.organisation).order_by(
                "-opened_at"
            ),
            DisputeOutput,
        )

    @extend_schema(request=InputSerializer, responses={201: DisputeOutput})
    def post(self, request: Request) -> Response:
        org = self.principal.organisation
        data = self.validated(self.InputSerializer, request.data)
        try:
            signal = selectors.signal_readable(organisation=org, signal_id=data["signal"])
        except NotFound as exc:
            raise Invalid.for_field("signal", "no such signal", code="not_found") from exc
        dispute = services.dispute_open(
            organisation=org,
            signal=signal,
            kind=data["kind"],
            grounds=data["grounds"],
            evidence=data["evidence"],
            proposed_labels=data["proposed_labels"],
            context=self.audit_context,
        )
        return Response(DisputeOutput(dispute).data, status=201)


class DisputeDetailApi(HubApiView):
    actions = {"GET": "hashbank.dispute.list"}

    @extend_schema(responses=DisputeOutput)
    def get(self, request: Request, dispute_id: str) -> Response:
        dispute = selectors.dispute_visible(
            organisation=self.principal.organisation, public_id=dispute_id
        )
        return Response(DisputeOutput(dispute).data)


class DisputeAppealApi(HubApiView):
    """Appeal a decision once: `POST {"grounds": "…"}`."""

    actions = {"POST": "hashbank.dispute.appeal"}
    error_statuses = {"POST": (409,)}

    class InputSerializer(serializers.Serializer):
        grounds = serializers.CharField(max_length=10_000)

    @extend_schema(request=InputSerializer, responses=DisputeOutput)
    def post(self, request: Request, dispute_id: str) -> Response:
        org = self.principal.organisation
        dispute = selectors.dispute_visible(organisation=org, public_id=dispute_id)
        data = self.validated(self.InputSerializer, request.data)
        dispute = services.dispute_appeal(
            dispute=dispute, organisation=org, grounds=data["grounds"], context=self.audit_context
        )
        return Response(DisputeOutput(dispute).data)


class LookupApi(HubApiView):
    """Look up a batch of up to 10,000 hashes.

    `POST {"queries": [{"signal_type": "pdq", "value": "<64 hex>", "max_distance": 31},
    {"signal_type": "md5", "value": "<32 hex>"}], "max_distance": 31}` → 200
    `{"results": [{"index": 0, "signal_type": "pdq", "matches": [{"signal": 17, "bank":
    "TVEC", "distance": 4, "labels": [...], "confidence": 0.67, "disputed": false, ...}],
    "error": null}]}`. PDQ matches within `max_distance` bits (default 31, at most 63);
    other types match exactly. A malformed query gets its own error naming the field.
    Each hash counts against the organisation's per-minute budget (429 with Retry-After).
    """

    actions = {"POST": "hashbank.lookup"}
    error_statuses = {"POST": (429,)}

    @extend_schema(
        request={"application/json": LOOKUP_BATCH_SCHEMA},
        responses=inline_serializer(
            "LookupResults", {"results": serializers.ListField(child=LookupItemResult())}
        ),
    )
    def post(self, request: Request) -> Response:
        from hashbank.services.lookup import lookup_batch

        body = request.data
        if not isinstance(body, dict):
            raise Invalid.for_field("queries", 'send {"queries": [...]}')
        unknown = sorted(set(body) - {"queries", "max_distance"})
        if unknown:
            raise Invalid.for_field(unknown[0], "unknown field", code="unknown_field")
        results = lookup_batch(
            organisation=self.principal.organisation,
            items=body.get("queries"),
            default_max_distance=body.get("max_distance", 31),
        )
        return Response({"results": results})


class HostedHashApi(HubApiView):
    """Hosted hashing: `POST` an image as multipart field `file` (and `match=true` to also
    look its hashes up) → `{"pdq", "pdq_quality", "md5", "sha256", "format", "width",
    "height", "matches": [...]}`. The bytes are hashed in memory and dropped: never stored,
    never logged. Limits: HOSTED_HASH_MAX_BYTES and HOSTED_HASH_MAX_PIXELS."""

    actions = {"POST": "hashbank.media.hash"}

    class MatchSerializer(serializers.Serializer):
        # A form field is text: "true" or "false", nothing looser.
        match = serializers.ChoiceField(choices=["true", "false"], default="false")

    error_statuses = {"POST": (429,)}

    def initialize_request(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        from hashbank.hosted import InMemoryOnlyUploadHandler

        self.upload_handler = InMemoryOnlyUploadHandler(request)
        request.upload_handlers = [self.upload_handler]
        return super().initialize_request(request, *args, **kwargs)

    def get_parsers(self):  # type: ignore[no-untyped-def]
        from rest_framework.parsers import MultiPartParser

        return [MultiPartParser()]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "HostedHashUpload",
                {
                    "file": serializers.FileField(),
                    "match": serializers.ChoiceField(choices=["true", "false"], required=False),
                },
            )
        },
        responses=inline_serializer(
            "HostedHashResult",
            {
                "pdq": serializers.CharField(),
                "pdq_quality": serializers.IntegerField(),
                "md5": serializers.CharField(),
                "sha256": serializers.CharField(),
                "format": serializers.CharField(),
                "width": serializers.IntegerField(),
                "height": serializers.IntegerField(),
                "matches": serializers.ListField(
                    child=serializers.DictField(), required=False, help_text="With `match`."
                ),
            },
        ),
    )
    def post(self, request: Request) -> Response:
        from hashbank.hosted import hash_image
        from hashbank.services.lookup import lookup_batch

        upload = request.FILES.get("file")
        if getattr(self.upload_handler, "too_large", False):
            return Response(
                {
                    "error": {
                        "code": "file_too_large",
                        "message": "the file is too large",
                        "fields": {
                            "file": [{"code": "file_too_large", "message": "the file is too large"}]
                        },
                    }
                },
                status=413,
            )
        if upload is None:
            raise Invalid.for_field(
                "file", "send the image as multipart field 'file'", code="required"
            )
        form = {k: v for k, v in request.data.items() if k == "match"}
        match = self.validated(self.MatchSerializer, form)["match"] == "true"
        data = upload.read()
        hashes = hash_image(data)
        del data
        body = {
            "pdq": hashes.pdq,
            "pdq_quality": hashes.pdq_quality,
            "md5": hashes.md5,
            "sha256": hashes.sha256,
            "format": hashes.format,
            "width": hashes.width,
            "height": hashes.height,
        }
        if match:
            results = lookup_batch(
                organisation=self.principal.organisation,
                items=[
                    {"signal_type": "pdq", "value": hashes.pdq},
                    {"signal_type": "md5", "value": hashes.md5},
                    {"signal_type": "sha256", "value": hashes.sha256},
                ],
            )
            body["matches"] = [m for r in results for m in r["matches"]]
        return Response(body)
