"""The incidents and webhooks API: follow incidents, register endpoints, watch every
delivery attempt."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import HubApiView
from accounts.permissions import HASH_BANK_FIREWALLED_KINDS
from core.api_input import QueryText, query_params
from core.pagination import Pagination, paginate
from federation.incidents import selectors, services
from federation.incidents.models import (
    Incident,
    IncidentState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


class IncidentOutput(serializers.ModelSerializer):
    class Meta:
        model = Incident
        fields = [
            "slug",
            "title",
            "description",
            "level",
            "state",
            "started_at",
            "declared_at",
            "closed_at",
            "debrief",
        ]


class FirewalledIncidentOutput(IncidentOutput):
    """An incident as a named authority reads it: the debrief without hash-bank figures."""

    debrief = serializers.SerializerMethodField()

    def get_debrief(self, incident: Incident) -> dict:
        return selectors.debrief_without_hash_bank(incident.debrief)


class IncidentListApi(HubApiView):
    """Incidents, newest first; `?state=open` for the ones whose fast path is open,
    `?slug=` for one. Tag a submission's payload with `"incident": "<slug>"` to use it.
    (Incidents are shared by every member, so there is no per-object route.)"""

    actions = {"GET": "incidents.incident.list"}
    pagination_class = Pagination

    class FilterSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=IncidentState.choices, required=False)
        slug = QueryText(required=False, max_length=64)

    @extend_schema(parameters=[FilterSerializer], responses=IncidentOutput(many=True))
    def get(self, request: Request) -> Response:
        params = query_params(self.FilterSerializer, request)
        incidents = selectors.incidents_visible_to(organisation=self.principal.organisation)
        if "state" in params:
            incidents = incidents.filter(state=params["state"])
        if params.get("slug"):
            incidents = incidents.filter(slug=params["slug"])
        firewalled = self.principal.organisation.kind in HASH_BANK_FIREWALLED_KINDS
        return paginate(self, incidents, FirewalledIncidentOutput if firewalled else IncidentOutput)


class EndpointOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "active", "created_at", "disabled_at"]


class WebhookEndpointListCreateApi(HubApiView):
    """Register a webhook endpoint, or list one's organisation's endpoints.

    `POST {"url": "https://hooks.example.org/hashfed", "description": "SOC"}` → 201 with
    `"secret": "whsec_..."`, shown this once: keep it to verify `X-Hashfed-Signature`
    (docs/incidents.md). URLs resolving to loopback, link-local or private addresses are
    refused (`400 unsafe_url`).
    """

    actions = {"GET": "incidents.webhook.list", "POST": "incidents.webhook.manage"}
    pagination_class = Pagination

    class InputSerializer(serializers.Serializer):
        url = serializers.URLField(max_length=2000)
        description = serializers.CharField(
            max_length=200, required=False, allow_blank=True, default=""
        )

    @extend_schema(responses=EndpointOutput(many=True))
    def get(self, request: Request) -> Response:
        endpoints = selectors.webhook_endpoints_of(organisation=self.principal.organisation)
        return paginate(self, endpoints, EndpointOutput)

    @extend_schema(request=InputSerializer, responses={201: EndpointOutput})
    def post(self, request: Request) -> Response:
        data = self.validated(self.InputSerializer, request.data)
        endpoint, secret = services.webhook_endpoint_register(
            organisation=self.principal.organisation, context=self.audit_context, **data
        )
        return Response({**EndpointOutput(endpoint).data, "secret": secret}, status=201)


class WebhookEndpointDetailApi(HubApiView):
    """One endpoint; `DELETE` disables it (deliveries not yet sent are dropped)."""

    actions = {"GET": "incidents.webhook.list", "DELETE": "incidents.webhook.manage"}
    error_statuses = {"DELETE": (409,)}

    @extend_schema(responses=EndpointOutput)
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.webhook_endpoint_of(
            organisation=self.principal.organisation, public_id=endpoint_id
        )
        return Response(EndpointOutput(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.webhook_endpoint_of(
            organisation=self.principal.organisation, public_id=endpoint_id
        )
        services.webhook_endpoint_disable(endpoint=endpoint, context=self.audit_context)
        return Response(status=204)


class AttemptOutput(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "number",
            "started_at",
            "finished_at",
            "outcome",
            "status_code",
            "error",
            "duration_ms",
        ]


class DeliveryOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    attempts = AttemptOutput(source="tries", many=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "state",
            "created_at",
            "next_attempt_at",
            "delivered_at",
            "last_error",
            "attempts",
        ]


class WebhookDeliveryListApi(HubApiView):
    """Every delivery to one endpoint, newest first, each with every attempt (status code,
    error, duration): `id` is the idempotency key the receiver saw."""

    actions = {"GET": "incidents.webhook.list"}
    pagination_class = Pagination

    @extend_schema(responses=DeliveryOutput(many=True))
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.webhook_endpoint_of(
            organisation=self.principal.organisation, public_id=endpoint_id
        )
        return paginate(self, selectors.webhook_deliveries_of(endpoint=endpoint), DeliveryOutput)
