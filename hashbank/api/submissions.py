"""Submitting signed statements, and following one's own submissions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import HubApiView
from core.api_input import query_params
from core.pagination import Pagination, paginate
from hashbank import selectors, services
from hashbank.api.batches import BatchInput, ItemError
from hashbank.metrics import ingest_count
from hashbank.models import (
    Label,
    ReviewState,
    Submission,
)
from hashbank.services import inclusion
from hashbank.services.submissions.intake import MAX_BATCH


class SubmissionOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="submission_id")
    bank = serializers.CharField(source="bank.name")
    labels: serializers.SlugRelatedField[Label] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    key_id = serializers.CharField(source="signing_key.key_id")
    envelope_digest = serializers.CharField(
        help_text="what change-log entries name this envelope by (docs/signing.md, section 10)"
    )

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
            "envelope_digest",
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


RECEIPT_HELP = (
    "The hub's signed receipt (docs/transparency-log.md, Receipts), null for a rejected item "
    "(and for a replay of a submission received before receipts existed): a C2SP signed "
    "note signed with the hub key under the hub's host name, whose text is exactly the lines "
    "`hashfed receipt v1`, `<hub host>/banks/<bank>`, `organisation <slug>`, "
    "`submission <uuid>`, `payload-digest <64 hex: SHA-256 of the canonical payload>`, "
    "`received <unix seconds>`, `review-state approved|pending`, `max-delay <seconds>`. "
    "It promises that once approved, the change-log entry listing the value is covered by "
    "a signed checkpoint of the bank within max-delay seconds. A replay returns the same "
    "receipt. Verify with hashfed_wire.receipt.verify_receipt."
)


class SubmissionItemResult(serializers.Serializer):
    index = serializers.IntegerField(min_value=0)
    id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["accepted", "replayed", "rejected"])
    review_state = serializers.CharField(allow_null=True)
    error = ItemError(allow_null=True)
    receipt = serializers.CharField(allow_null=True, help_text=RECEIPT_HELP)


class InclusionEntry(serializers.Serializer):
    sequence = serializers.IntegerField(min_value=0, help_text="the entry's place in the log")
    bank_index = serializers.IntegerField(
        min_value=0, help_text="the entry's leaf index in the bank's Merkle tree"
    )
    leaf_hash = serializers.CharField(help_text="SHA-256(0x00 ‖ entry bytes), hex")
    content = serializers.CharField(
        help_text="the entry's bytes (RFC 8785 JSON, exactly as sync sends them) as text"
    )


class InclusionCheckpoint(serializers.Serializer):
    size = serializers.IntegerField(min_value=1)
    root_hash = serializers.CharField(help_text="hex")
    note = serializers.CharField(help_text="the signed checkpoint note (C2SP tlog-checkpoint)")


class InclusionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    bank = serializers.CharField()
    review_state = serializers.ChoiceField(choices=ReviewState.choices)
    state = serializers.ChoiceField(
        choices=list(inclusion.INCLUSION_STATES),
        help_text="included: `entry`, `checkpoint` and `proof` are set, the proof verifying "
        "the entry's leaf hash against the checkpoint's root; awaiting_checkpoint: approved, "
        "`entry` set, no checkpoint covers it yet, one is promised by `promised_by`; "
        "listed_unreadable: approved and listed in a bank the caller contributes to but may "
        "not read, so no position, checkpoint or proof is given; "
        "pending_review: not yet approved (the promise runs from approval); not_listed: "
        "approved, but the approval listed nothing (its value had been delisted by a "
        "decision, or it was approved before submissions were linked to entries); rejected, "
        "withdrawn: it will not be listed on its strength",
    )
    receipt = serializers.CharField(allow_null=True, help_text=RECEIPT_HELP)
    entry = InclusionEntry(allow_null=True)
    promised_by = serializers.DateTimeField(
        allow_null=True,
        help_text="when a checkpoint covering the entry is due: the entry's append time plus "
        "the maximum delay",
    )
    checkpoint = InclusionCheckpoint(allow_null=True)
    proof = serializers.ListField(
        child=serializers.CharField(),
        allow_null=True,
        help_text="RFC 9162 inclusion proof of `entry.bank_index` in the tree of "
        "`checkpoint.size` entries, hex",
    )


class SubmissionListCreateApi(HubApiView):
    """Submit a batch of signed envelopes, or list one's own submissions.

    `POST {"submissions": [{"payload": {...}, "signature": "<base64>"}, ...]}` (at most
    1,000; the format is in docs/signing.md) → 200 with one result per item, in order:
    `{"index": 0, "id": "<uuid>", "status": "accepted" | "replayed" | "rejected",
    "review_state": "pending", "error": null | {"code", "message", "field"},
    "receipt": "<signed note>" | null}`.
    Each item stands alone: bad items never stop good ones, and nothing is half-written.
    """

    actions = {"GET": "hashbank.submission.list", "POST": "hashbank.submission.create"}
    pagination_class = Pagination

    class InputSerializer(BatchInput):
        items_field = "submissions"
        items_noun = "envelopes"
        submissions = serializers.ListField()

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
        data = self.validated(self.InputSerializer, request.data)
        results = services.submission_batch_create(
            organisation=self.principal.organisation,
            items=data["submissions"],
            context=self.audit_context,
        )
        ingest_count((r.status, r.error["code"] if r.error else None) for r in results)
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


class SubmissionInclusionApi(HubApiView):
    """Where one's own submission stands in its bank's verifiable log: once approved and
    covered by a checkpoint, its entry, the bank's latest checkpoint and the inclusion proof
    to it; otherwise the state says why not (always 200 for one's own submission; another
    organisation's is 404 as one that does not exist)."""

    actions = {"GET": "hashbank.submission.list"}

    @extend_schema(responses=InclusionOutput)
    def get(self, request: Request, submission_id: str) -> Response:
        submission = selectors.submission_of(
            organisation=self.principal.organisation, submission_id=submission_id
        )
        may_read_log = (
            selectors.banks_readable_by(organisation=self.principal.organisation)
            .filter(pk=submission.bank_id)
            .exists()
        )
        answer = inclusion.submission_inclusion(submission, may_read_log=may_read_log)
        return Response(InclusionOutput(answer.as_dict()).data)


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
