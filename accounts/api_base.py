"""The base of every API view: it declares the action each method needs."""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import serializers
from rest_framework.views import APIView

from accounts.audit import AuditContext
from accounts.principal import Principal


class HubApiView(APIView):
    """Subclasses set `actions = {"GET": "accounts.apikey.list", ...}`."""

    actions: ClassVar[dict[str, str]] = {}

    def initial(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().initial(request, *args, **kwargs)
        # The body is read once the caller is known to be allowed, before the handler looks
        # anything up: every endpoint then refuses a malformed, oversized or unsupported body
        # the same way (accounts.api_input.StrictJSONParser).
        if request.method in ("POST", "PUT", "PATCH"):
            _ = request.data

    @property
    def principal(self) -> Principal:
        assert isinstance(self.request.user, Principal)
        return self.request.user

    @property
    def audit_context(self) -> AuditContext:
        return AuditContext.from_request(self.request)

    def validated(self, serializer_class: type[serializers.Serializer], data: Any) -> Any:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
