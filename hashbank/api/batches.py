"""What the batch endpoints (submissions, lookup) share: one error per item."""

from __future__ import annotations

from rest_framework import serializers


class ItemError(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True)
