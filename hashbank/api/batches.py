"""What the batch endpoints (submissions, lookup) share: the batch body, and one error per
item."""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import serializers

from core.errors import Invalid


class BatchInput(serializers.Serializer):
    """A batch body: an object with a non-empty list `items_field` (of `items_noun`) and the
    other declared fields, nothing else. Only the batch's shape is checked here; its items
    go on as sent, for the service judges each on its own (a malformed item is rejected in
    its own result, the others go on) and checks the batch's length. Shape errors name the
    field in the API's error shape."""

    items_field: ClassVar[str]
    items_noun: ClassVar[str]

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        return False, data  # a null body is refused below like any other non-object

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise Invalid.for_field(self.items_field, f'send {{"{self.items_field}": [...]}}')
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise Invalid.for_field(unknown[0], "unknown field", code="unknown_field")
        items = data.get(self.items_field)
        if not isinstance(items, list) or not items:
            raise Invalid.for_field(
                self.items_field, f"a non-empty list of {self.items_noun}", code="required"
            )
        return {
            name: data[name] if name in data else field.get_default()
            for name, field in self.fields.items()
        }


class ItemError(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True)
