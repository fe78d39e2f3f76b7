"""The lawful requests API: authorities file and follow, addressed platforms acknowledge
and answer. Every read is written to the access log."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import HubApiView
from accounts.models import Organisation, OrganisationKind
from core.api_input import query_params
from core.pagination import Pagination
from federation.authorities import selectors, services
from federation.authorities.models import (
    AccessChannel,
    AnswerOutcome,
    LawfulRequest,
    LawfulRequestAddressee,
    LawfulRequestKind,
    Urgency,
)
from federation.authorities.services import MAX_SUBJECT_ITEMS


class AddresseeOutput(serializers.ModelSerializer):
    organisation = serializers.CharField(source="organisation.slug")

    class Meta:
        model = LawfulRequestAddressee
        fields = ["organisation", "acknowledged_at", "outcome", "details", "answered_at"]


class LawfulRequestOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    authority = serializers.CharField(source="authority.slug")
    subject = serializers.SerializerMethodField()
    overdue = serializers.BooleanField(source="is_overdue")
    addressees = serializers.SerializerMethodField()

    class Meta:
        model = LawfulRequest
        fields = [
            "id",
            "kind",
            "authority",
            "issuing_authority",
            "officer",
            "legal_basis",
            "jurisdiction",
            "subject",
            "description",
            "urgency",
            "state",
            "received_at",
            "deadline_hours",
            "forwarded_at",
            "deadline",
            "overdue",
            "refusal_reason",
            "addressees",
        ]

    def get_subject(self, request: LawfulRequest) -> dict[str, Any]:
        return {
            "urls": request.subject_urls,
            "hashes": request.subject_hashes,
            "accounts": request.subject_accounts,
        }

    def get_addressees(self, request: LawfulRequest) -> list[dict[str, Any]]:
        # A platform sees its own acknowledgement and answer, not other platforms' answers.
        viewer: Organisation = self.context["viewer"]
        addressees = list(request.addressees.all())
        if viewer.kind != OrganisationKind.AUTHORITY:
            addressees = [a for a in addressees if a.organisation_id == viewer.pk]
        return list(AddresseeOutput(addressees, many=True).data)


class LawfulRequestSubjectHash(serializers.Serializer):
    signal_type = serializers.CharField(max_length=32)
    value = serializers.CharField(max_length=10_000)


class LawfulRequestSubject(serializers.Serializer):
    """At least one item, and at most 1,000 in all (the service checks both)."""

    urls = serializers.ListField(
        child=serializers.URLField(max_length=2000),
        required=False,
        default=list,
        max_length=MAX_SUBJECT_ITEMS,
    )
    hashes = serializers.ListField(
        child=LawfulRequestSubjectHash(), required=False, default=list, max_length=MAX_SUBJECT_ITEMS
    )
    accounts = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        default=list,
        max_length=MAX_SUBJECT_ITEMS,
    )


def _reader(view: HubApiView) -> selectors.Reader:
    """The caller as a reader of lawful requests: what their access-log rows record."""
    return selectors.Reader(
        context=view.audit_context,
        channel=AccessChannel.API,
        organisation=view.principal.organisation,
    )


class LawfulRequestListCreateApi(HubApiView):
    """File a lawful request (authorities), or list the requests one filed or that address
    one's platform, newest first; `?overdue=true` keeps the overdue ones.

    `POST {"kind": "removal_order", "issuing_authority": "...", "officer": "...",
    "legal_basis": "Regulation (EU) 2021/784, art. 3", "jurisdiction": "DE",
    "addressed_platforms": ["northwind"], "subject": {"urls": ["https://..."],
    "hashes": [{"signal_type": "pdq", "value": "..."}], "accounts": ["@handle"]},
    "description": "...", "urgency": "urgent"}` → 201 with the request and
    `"warnings": {"description": [{"code": "possible_personal_data", ...}]}`.
    """

    actions = {"GET": "authorities.request.list", "POST": "authorities.request.file"}
    pagination_class = Pagination

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=LawfulRequestKind.choices)
        issuing_authority = serializers.CharField(max_length=200)
        officer = serializers.CharField(max_length=200)
        legal_basis = serializers.CharField(max_length=2000)
        jurisdiction = serializers.RegexField(r"^([A-Za-z]{2}|EU)$", max_length=8)
        addressed_platforms = serializers.ListField(
            child=serializers.SlugField(max_length=64), allow_empty=False, max_length=100
        )
        subject = LawfulRequestSubject()
        description = serializers.CharField(
            max_length=10_000, required=False, allow_blank=True, default=""
        )
        urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.ROUTINE)

    class FilterSerializer(serializers.Serializer):
        overdue = serializers.BooleanField(required=False, default=False)

    @extend_schema(parameters=[FilterSerializer], responses=LawfulRequestOutput(many=True))
    def get(self, request: Request) -> Response:
        params = query_params(self.FilterSerializer, request)
        org = self.principal.organisation
        paginator = self.pagination_class()
        page = selectors.read_lawful_requests(
            _reader(self),
            purpose="request.list",
            page=lambda requests: paginator.paginate_queryset(requests, request, view=self) or [],
            overdue=params["overdue"],
        )
        data = LawfulRequestOutput(page, many=True, context={"viewer": org}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=InputSerializer, responses={201: LawfulRequestOutput})
    def post(self, request: Request) -> Response:
        data = self.validated(self.InputSerializer, request.data)
        subject = data.pop("subject")
        filed = services.lawful_request_file(
            authority=self.principal.organisation,
            filed_by=self.principal.user,
            addressed=data.pop("addressed_platforms"),
            subject_urls=subject["urls"],
            subject_hashes=[dict(h) for h in subject["hashes"]],
            subject_accounts=subject["accounts"],
            context=self.audit_context,
            **data,
        )
        output = LawfulRequestOutput(filed.request, context={"viewer": filed.request.authority})
        return Response({**output.data, "warnings": filed.warnings}, status=201)


class LawfulRequestDetailApi(HubApiView):
    """One request with its status and answers (a platform sees its own answer only)."""

    actions = {"GET": "authorities.request.list"}

    @extend_schema(responses=LawfulRequestOutput)
    def get(self, request: Request, request_id: str) -> Response:
        org = self.principal.organisation
        lawful_request = selectors.read_lawful_request(
            _reader(self), request_id, purpose="request.detail"
        )
        return Response(LawfulRequestOutput(lawful_request, context={"viewer": org}).data)


class LawfulRequestAcknowledgeApi(HubApiView):
    """An addressed platform confirms receipt: `POST` with no body → the request."""

    actions = {"POST": "authorities.request.answer"}
    error_statuses = {"POST": (409,)}

    @extend_schema(request=None, responses=LawfulRequestOutput)
    def post(self, request: Request, request_id: str) -> Response:
        org = self.principal.organisation
        lawful_request = selectors.lawful_request_visible(organisation=org, public_id=request_id)
        services.lawful_request_acknowledge(
            request=lawful_request, organisation=org, context=self.audit_context
        )
        # The response carries the request: a read like any other.
        lawful_request = selectors.read_lawful_request(
            _reader(self), request_id, purpose="request.acknowledge"
        )
        return Response(LawfulRequestOutput(lawful_request, context={"viewer": org}).data)


class LawfulRequestAnswerApi(HubApiView):
    """An addressed platform answers, once: `{"outcome": "actioned" | "partial" |
    "declined", "details": "what was done, or why not"}` (details required unless
    actioned)."""

    actions = {"POST": "authorities.request.answer"}
    error_statuses = {"POST": (409,)}

    class InputSerializer(serializers.Serializer):
        outcome = serializers.ChoiceField(choices=AnswerOutcome.choices)
        details = serializers.CharField(max_length=10_000, required=False, allow_blank=True)

    @extend_schema(request=InputSerializer, responses=LawfulRequestOutput)
    def post(self, request: Request, request_id: str) -> Response:
        data = self.validated(self.InputSerializer, request.data)
        org = self.principal.organisation
        lawful_request = selectors.lawful_request_visible(organisation=org, public_id=request_id)
        services.lawful_request_answer(
            request=lawful_request,
            organisation=org,
            outcome=data["outcome"],
            details=data.get("details", ""),
            context=self.audit_context,
        )
        lawful_request = selectors.read_lawful_request(
            _reader(self), request_id, purpose="request.answer"
        )
        return Response(LawfulRequestOutput(lawful_request, context={"viewer": org}).data)
