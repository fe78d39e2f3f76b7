"""Disputes of a signal or its labels, and their appeals."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import HubApiView
from core.errors import Invalid, NotFound
from core.pagination import Pagination, paginate
from hashbank import selectors, services
from hashbank.models import (
    Dispute,
    DisputeKind,
    Label,
)


class DisputeOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    signal = serializers.IntegerField(source="signal_id")
    bank = serializers.CharField(source="signal.bank.name")
    opened_by = serializers.CharField(source="opened_by.slug")
    proposed_labels: serializers.SlugRelatedField[Label] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
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
