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
from hashbank.models import (
    Label,
    ReviewState,
    Submission,
)
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


class SubmissionItemResult(serializers.Serializer):
    index = serializers.IntegerField(min_value=0)
    id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["accepted", "replayed", "rejected"])
    review_state = serializers.CharField(allow_null=True)
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
