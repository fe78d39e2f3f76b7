"""OpenAPI naming: views nest their `InputSerializer` / `OutputSerializer`, so components are
named after the view (`ApiKeyListCreateInput`) instead of colliding as `Input`/`Output`."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema


class HubAutoSchema(AutoSchema):
    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):  # type: ignore[no-untyped-def]
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        qualname = type(serializer).__qualname__
        if "." in qualname:
            outer, inner = qualname.rsplit(".", 1)[-2:]
            outer = outer.removesuffix("Api")
            inner = inner.removesuffix("Serializer")
            return f"{outer}{inner}"
        return name
