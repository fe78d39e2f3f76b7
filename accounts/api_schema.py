"""OpenAPI naming: views nest their `InputSerializer` / `OutputSerializer`, so components are
named after the view (`ApiKeyListCreateInput`) instead of colliding as `Input`/`Output`."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": True},
            },
            "required": ["code", "message", "fields"],
        }
    },
    "required": ["error"],
}
# What accounts.api_input.StrictJSONParser (or Django, for form and multipart bodies)
# answers before any endpoint runs: docs/api.md, "Request bodies".
_BODY_ERRORS = {
    "400": "invalid_json, too_deep, duplicate_key, invalid_character or invalid fields",
    "413": "request_too_large or too_many_fields",
    "415": "unsupported_media_type",
}


class HubAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):  # type: ignore[no-untyped-def]
        responses = super()._get_response_bodies(direction)
        if self.method in ("POST", "PUT", "PATCH"):
            for code, description in _BODY_ERRORS.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
                    },
                )
        return responses

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):  # type: ignore[no-untyped-def]
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        qualname = type(serializer).__qualname__
        if "." in qualname:
            outer, inner = qualname.rsplit(".", 1)[-2:]
            outer = outer.removesuffix("Api")
            inner = inner.removesuffix("Serializer")
            return f"{outer}{inner}"
        return name
