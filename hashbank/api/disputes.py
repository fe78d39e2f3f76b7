"""Disputes of a signal or its labels, and their appeals."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import extend_schema, extend_schema_field
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
    DisputeOutcome,
    Label,
)


class ForwardedOutput(serializers.Serializer):
    origin_hub = serializers.CharField()
    state = serializers.ChoiceField(
        choices=["pending", "forwarded", "decided", "following", "applied"],
        help_text="following: the origin's decision is applied here and an appeal there may "
        "still change it; applied: the origin's decision is final and applied here.",
    )
    forwarded_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    origin_outcome = serializers.ChoiceField(choices=DisputeOutcome.choices, allow_null=True)
    origin_appeal_outcome = serializers.ChoiceField(choices=DisputeOutcome.choices, allow_null=True)


class DisputeOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    signal = serializers.IntegerField(source="signal_id")
    bank = serializers.CharField(source="signal.bank.name")
    signal_type = serializers.CharField(source="signal.signal_type")
    value = serializers.CharField(source="signal.value")
    opened_by = serializers.CharField(source="opened_by.slug")
    proposed_labels: serializers.SlugRelatedField[Label] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    overdue = serializers.BooleanField(source="is_overdue")
    appealable_until = serializers.DateTimeField(
        allow_null=True,
        help_text="Until when the decision may be appealed; null unless decided and not appealed.",
    )
    final = serializers.BooleanField(
        source="is_final",
        help_text="Nothing can change the outcome any more: the appeal is decided, or the "
        "appeal window closed without one (a peer hub that forwarded the dispute follows it "
        "until then).",
    )
    forwarded = serializers.SerializerMethodField(
        help_text="For a hash received from a peer hub: the dispute as forwarded to that hub, "
        "which decides it (docs/federation-witnessing.md); null otherwise."
    )

    @extend_schema_field(ForwardedOutput(allow_null=True))
    def get_forwarded(self, dispute: Dispute) -> dict[str, Any] | None:
        try:
            forwarded = dispute.forwarded
        except ObjectDoesNotExist:
            return None
        return ForwardedOutput(
            {
                "origin_hub": dispute.signal.bank.origin_hub,
                "state": forwarded.state,
                "forwarded_at": forwarded.forwarded_at,
                "decided_at": forwarded.decided_at,
                "origin_outcome": forwarded.remote_outcome or None,
                "origin_appeal_outcome": forwarded.remote_appeal_outcome or None,
            }
        ).data

    class Meta:
        model = Dispute
        fields = [
            "id",
            "signal",
            "bank",
            "signal_type",
            "value",
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
            "appealable_until",
            "final",
            "forwarded",
        ]


class DisputeListCreateApi(HubApiView):
    """Disputes the caller is a party to, or open one:
    `POST {"signal": 17, "kind": "signal" | "labels", "grounds": "…", "evidence": "…",
    "proposed_labels": ["…"]}`. Instead of `signal`, `bank`, `signal_type` and `value` name
    the listed hash (how a peer hub forwards its members' disputes of hashes it received
    from this hub: it knows them by value, not by this hub's ids)."""

    actions = {"GET": "hashbank.dispute.list", "POST": "hashbank.dispute.open"}
    error_statuses = {"POST": (409,)}
    pagination_class = Pagination

    class InputSerializer(serializers.Serializer):
        signal = serializers.IntegerField(min_value=1, required=False)
        bank = serializers.CharField(max_length=32, required=False)
        signal_type = serializers.CharField(max_length=64, required=False)
        value = serializers.CharField(max_length=1024, required=False)
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
        by_value = [data.get(name) for name in ("bank", "signal_type", "value")]
        if "signal" in data and any(by_value):
            raise Invalid.for_field("signal", "give signal, or bank, signal_type and value")
        if "signal" not in data:
            for name, given in zip(("bank", "signal_type", "value"), by_value, strict=True):
                if not given:
                    raise Invalid.for_field(
                        name if any(by_value) else "signal",
                        "give signal, or bank, signal_type and value",
                        code="required",
                    )
        try:
            if "signal" in data:
                signal = selectors.signal_readable(organisation=org, signal_id=data["signal"])
            else:
                signal = selectors.signal_readable_by_value(
                    organisation=org,
                    bank=data["bank"],
                    signal_type=data["signal_type"],
                    value=data["value"],
                )
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
