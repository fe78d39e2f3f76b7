"""One signal on the list, and members' opinions of it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import HubApiView
from hashbank import selectors, services
from hashbank.models import (
    Label,
    OpinionKind,
    Signal,
)


# One signal as the API gives it. It differs from a change-log entry or a lookup match
# (selectors.signal_as_listed) in published ways: labels come in taxonomy order, a signal in
# no incident says "", and it carries its timestamps.
class SignalOutput(serializers.ModelSerializer):
    bank = serializers.CharField(source="bank.name")
    labels: serializers.SlugRelatedField[Label] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )

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
