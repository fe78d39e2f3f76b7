"""Researchers' statistics: the report's aggregates, queryable by period, bank, label and
signal type, with small cells suppressed."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import HubApiView
from federation.transparency import selectors

MAX_PERIOD_DAYS = 3 * 366


class StatisticsApi(HubApiView):
    """Counts per cell of `group_by` (any of month, bank, signal_type, label; all four by
    default) for `[period_start, period_end)` (default: the last twelve months), optionally
    filtered by bank, signal_type and label. Metrics: submissions_received,
    submissions_approved, submissions_rejected, signals_added. Any count under the minimum
    cell size is `null` and named in the cell's `suppressed` list; there are no hash values
    and no member identities.

    `GET /api/v1/statistics/?period_start=2026-01-01T00:00:00Z&period_end=2026-04-01T00:00:00Z
    &group_by=month,bank` → `{"min_cell_size": 10, "cells": [{"month": "2026-01",
    "bank": "TVEC", "counts": {"submissions_received": 42, "submissions_rejected": null, ...},
    "suppressed": ["submissions_rejected", ...]}]}`
    """

    actions = {"GET": "transparency.statistics.read"}

    class InputSerializer(serializers.Serializer):
        period_start = serializers.DateTimeField(required=False)
        period_end = serializers.DateTimeField(required=False)
        group_by = serializers.CharField(
            required=False, default=",".join(selectors.STATISTICS_DIMENSIONS)
        )
        bank = serializers.CharField(required=False, max_length=32)
        signal_type = serializers.CharField(required=False, max_length=32)
        label = serializers.CharField(required=False, max_length=100)

        def validate_group_by(self, value: str) -> tuple[str, ...]:
            names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
            unknown = [n for n in names if n not in selectors.STATISTICS_DIMENSIONS]
            if unknown:
                raise serializers.ValidationError(
                    f"unknown dimension {unknown[0]!r}; use "
                    + ", ".join(selectors.STATISTICS_DIMENSIONS)
                )
            return names

        def validate(self, attrs: dict) -> dict:
            # Without a period: the last twelve months.
            attrs.setdefault("period_end", timezone.now())
            attrs.setdefault("period_start", attrs["period_end"] - dt.timedelta(days=365))
            if attrs["period_end"] <= attrs["period_start"]:
                raise serializers.ValidationError({"period_end": "must be after period_start"})
            if (attrs["period_end"] - attrs["period_start"]).days > MAX_PERIOD_DAYS:
                raise serializers.ValidationError({"period_end": "at most three years at once"})
            return attrs

    @extend_schema(
        parameters=[InputSerializer],
        responses=inline_serializer(
            "Statistics",
            {
                "min_cell_size": serializers.IntegerField(),
                "cells": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        # A plain dict, not the QueryDict: DRF reads an empty value in a QueryDict as "not
        # given", while the schema (and this API) say a given filter is not blank.
        params = self.validated(self.InputSerializer, request.query_params.dict())
        cells = selectors.statistics_cells(
            start=params["period_start"],
            end=params["period_end"],
            group_by=params["group_by"],
            bank=params.get("bank"),
            signal_type=params.get("signal_type"),
            label=params.get("label"),
        )
        return Response({"min_cell_size": settings.STATISTICS_MIN_CELL_SIZE, "cells": cells})
