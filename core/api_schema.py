"""The OpenAPI schema, made to say what the API really answers.

Views nest their `InputSerializer` / `OutputSerializer`, so components are named after the
view (`ApiKeyListCreateInput`) instead of colliding as `Input`/`Output`.

Every operation documents the error statuses it can return, all with the one error shape
(`Error`, core/errors.py), derived from what the view is: an action that needs
credentials can answer 401 and 403 (and 400 for an API key put in the URL); a path with
an identifier, 404; a request body, 400, 413 and 415; and whatever the view declares in
`ApiView.error_statuses` (409 where its service raises Conflict, 429 where it is
rate-limited).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class FieldError(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField(help_text="A stable machine-readable code, e.g. `invalid`.")
    message = serializers.CharField()
    # The error shape's key is "fields"; it shadows Serializer.fields in the stubs only,
    # since DRF collects declared fields by its metaclass.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=FieldError()),
        help_text='Field path (`"expires_at"`, `"items.3.payload.bank"`) → its errors.',
    )


class Error(serializers.Serializer):
    """Every error the API returns: `{"error": {"code", "message", "fields"}}`."""

    error = ErrorDetail()


ERROR_DESCRIPTIONS = {
    400: "Invalid input (the fields named in `error.fields`), or an API key in the URL.",
    401: "No credentials, or an unknown, revoked or expired API key.",
    403: "The caller's role, organisation status or key scope does not allow this.",
    404: "Nothing by this identifier that the caller may see.",
    409: "The object's state does not allow this (e.g. already revoked, already answered).",
    413: "`request_too_large` or `too_many_fields`: the body is over the size limit.",
    415: "`unsupported_media_type`: the body is not of a media type this operation reads.",
    422: "The request is well formed but its content does not hold (e.g. a proof that does "
    "not verify).",
    429: "The organisation's lookup budget is spent; retry after `Retry-After` seconds.",
}


class HubAutoSchema(AutoSchema):
    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        qualname = type(serializer).__qualname__
        if "." in qualname:
            outer, inner = qualname.rsplit(".", 1)[-2:]
            outer = outer.removesuffix("Api")
            inner = inner.removesuffix("Serializer")
            # With COMPONENT_SPLIT_REQUEST, request components keep their own suffix.
            suffix = "Request" if name.endswith("Request") else ""
            return f"{outer}{inner}{suffix}"
        return name

    def error_statuses(self) -> list[int]:
        """The error statuses this operation can answer, from what the view is."""
        statuses: set[int] = set()
        credentials_required = getattr(self.view, "credentials_required", None)
        if credentials_required is not None and credentials_required(self.method):
            statuses |= {400, 401, 403}
        if "{" in self.path:
            statuses.add(404)
        if self.method in ("POST", "PUT", "PATCH"):
            # Every body is read before the endpoint runs (core.api_input), even where the
            # endpoint takes none: docs/api.md, "Request bodies".
            statuses |= {400, 413, 415}
        statuses |= set(getattr(self.view, "error_statuses", {}).get(self.method, ()))
        return sorted(statuses)

    def _get_request_body(self, direction="request"):
        # A body whose schema names required fields cannot be left out.
        body = super()._get_request_body(direction)
        if body and any("required" in c.get("schema", {}) for c in body["content"].values()):
            body["required"] = True
        return body

    def _get_response_bodies(self, direction="response"):
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for status in self.error_statuses():
            if str(status) in responses:
                continue
            response = self._get_response_for_code(
                OpenApiResponse(Error, description=ERROR_DESCRIPTIONS[status]),
                str(status),
                direction=direction,
            )
            if status == 429:
                response["headers"] = {
                    "Retry-After": {
                        "schema": {"type": "integer", "minimum": 0},
                        "required": True,
                        "description": "Seconds until the budget allows the request.",
                    }
                }
            responses[str(status)] = response
        return responses
