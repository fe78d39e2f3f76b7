"""Pagination of API lists: `limit` and `offset`, in the envelope
`{"count", "next", "previous", "results"}`."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from core.api_base import ApiView
from core.api_input import QueryInteger, query_params

# Offsets reach PostgreSQL as a bigint.
MAX_OFFSET = 2**63 - 1


class Pagination(LimitOffsetPagination):
    """`limit` (1 to 1000, default 100) and `offset`, read like every other query
    parameter: anything but a number in range is a 400 naming it."""

    default_limit = 100
    max_limit = 1000

    class InputSerializer(serializers.Serializer):
        limit = QueryInteger(min_value=1, max_value=1000, default=100)
        offset = QueryInteger(default=0)

    def get_limit(self, request) -> int:
        return query_params(self.InputSerializer, request)["limit"]

    def get_offset(self, request) -> int:
        return query_params(self.InputSerializer, request)["offset"]

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            "limit": {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            "offset": {"minimum": 0, "maximum": MAX_OFFSET, "default": 0},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds[parameter["name"]])
        return parameters


def paginate(
    view: ApiView, queryset: QuerySet[Any], serializer_class: type[serializers.BaseSerializer[Any]]
) -> Response:
    """One page of `queryset` in the envelope `{"count", "next", "previous", "results"}`;
    the view declares `pagination_class = Pagination` so its schema shows the envelope."""
    assert view.pagination_class is not None, "the view declares pagination_class"
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
