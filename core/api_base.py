"""The base of every API view: it declares the action each method needs."""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.views import APIView


class ApiView(APIView):
    """Subclasses set `actions = {"GET": "accounts.apikey.list", ...}`, and
    `error_statuses = {"POST": (409,)}` for the error statuses of a method that the API
    schema cannot see from the view itself (core/api_schema.py): 409 where its service
    raises Conflict, 429 where it is rate-limited. A view that pages its list sets
    `pagination_class`, which both the response and the schema follow."""

    actions: ClassVar[dict[str, str]] = {}
    error_statuses: ClassVar[dict[str, tuple[int, ...]]] = {}
    pagination_class: ClassVar[type[BasePagination] | None] = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # The body is read once the caller is known to be allowed, before the handler looks
        # anything up: every endpoint then refuses a malformed, oversized or unsupported body
        # the same way (core.api_input.StrictJSONParser).
        if request.method in ("POST", "PUT", "PATCH"):
            _ = request.data

    def credentials_required(self, method: str) -> bool:
        """Whether `method` needs a known caller (the schema then documents 400, 401 and
        403 for it): here, every method with a declared action."""
        return method in self.actions

    def validated(self, serializer_class: type[serializers.Serializer], data: Any) -> Any:
        serializer = serializer_class(data=data)
        refuse_numbers_as_text(serializer, data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def refuse_numbers_as_text(serializer: serializers.Serializer, data: Any) -> None:
    """DRF's text fields quietly turn a JSON number or boolean into text; the schema says
    `string`, so such a value is refused, naming the field."""
    if not isinstance(data, dict):
        return
    wrong = {
        name: [serializers.ErrorDetail("a string is required", code="invalid")]
        for name, field in serializer.fields.items()
        if isinstance(field, serializers.CharField)
        and isinstance(data.get(name), bool | int | float)
    }
    if wrong:
        raise serializers.ValidationError(wrong)
