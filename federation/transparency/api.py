"""Researchers' statistics: submissions and newly listed signals per cell of one fixed
grid (calendar month × bank × signal type × label), with small cells suppressed."""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import HubApiView
from core.api_input import QueryText, query_params
from core.api_schema import Error
from federation.transparency import selectors

MAX_PERIOD_MONTHS = 36
# The hub's data starts well after 2000; the bound also keeps month arithmetic in range.
FIRST_YEAR, LAST_YEAR = 2000, 9998
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _add_months(month: dt.datetime, months: int) -> dt.datetime:
    index = month.year * 12 + month.month - 1 + months
    return month.replace(year=index // 12, month=index % 12 + 1)


def _months_between(start: dt.datetime, end: dt.datetime) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-\d{2}", "example": "2026-01"})
class MonthField(serializers.Field):
    """The first instant of a calendar month (UTC), written `2026-01`, `2026-01-01` or
    `2026-01-01T00:00:00Z`; any other instant is refused rather than rounded, so a query
    can only name months of the grid."""

    default_error_messages = {
        "invalid": "a month of the grid: YYYY-MM (or that month's first day, 00:00 UTC)",
        "range": f"a month from {FIRST_YEAR}-01 to {LAST_YEAR}-12",
    }

    def to_internal_value(self, data: object) -> dt.datetime:
        text = str(data).strip()[:40]
        try:
            if found := _MONTH.match(text):
                value = dt.datetime(int(found[1]), int(found[2]), 1, tzinfo=dt.UTC)
            elif (day := parse_date(text)) is not None:
                value = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            elif (moment := parse_datetime(text)) is not None and moment.tzinfo is not None:
                value = moment.astimezone(dt.UTC)
            else:
                self.fail("invalid")
        except (ValueError, OverflowError):
            self.fail("invalid")
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            self.fail("range")
        if value != selectors.month_start(value):
            self.fail("invalid")
        return value

    def to_representation(self, value: dt.datetime) -> str:
        return value.strftime("%Y-%m")


class StatisticsApi(HubApiView):
    """Counts per cell of the fixed grid calendar month (UTC) × bank × signal_type × label,
    for the months `[period_start, period_end)` (default: the twelve whole months before
    this one; at most 36), optionally only one bank, signal_type or label. Metrics:
    submissions_received, submissions_approved, submissions_rejected, signals_added. A count
    under the minimum cell size, or one that subtraction could recover, is `null` and named
    in the cell's `suppressed` list. There are no hash values and no member identities.

    `GET /api/v1/statistics/?period_start=2026-01&period_end=2026-04&bank=TVEC` →
    `{"min_cell_size": 10, "period_start": "2026-01", "period_end": "2026-04",
    "cells": [{"month": "2026-01", "bank": "TVEC", "signal_type": "pdq",
    "label": "tvec-glorification", "counts": {"submissions_received": 42,
    "submissions_approved": null, "submissions_rejected": null, "signals_added": 31},
    "suppressed": ["submissions_approved", "submissions_rejected"]}]}`
    """

    actions = {"GET": "transparency.statistics.read"}

    class InputSerializer(serializers.Serializer):
        period_start = MonthField(
            required=False, help_text="first month, YYYY-MM (default: twelve months back)"
        )
        period_end = MonthField(
            required=False, help_text="the month after the last, YYYY-MM (default: this month)"
        )
        bank = QueryText(required=False, max_length=32)
        signal_type = QueryText(required=False, max_length=32)
        # A field named `label` shadows Field.label in the stubs; DRF collects declared
        # fields by its metaclass, so the attribute is never read as a label.
        label = QueryText(required=False, max_length=100)  # type: ignore[assignment]
        group_by = QueryText(
            required=False,
            help_text="not accepted: every cell is month × bank × signal_type × label",
        )

        def validate_group_by(self, value: str) -> str:
            # Cells of a coarser grouping are sums of the grid's cells; publishing both
            # would let one be subtracted from the other, recovering a suppressed cell.
            raise serializers.ValidationError(
                "the statistics have one fixed grid: month, bank, signal_type, label; "
                "filter with bank, signal_type or label instead"
            )

        def validate(self, attrs: dict) -> dict:
            if "period_end" not in attrs:
                attrs["period_end"] = selectors.month_start(timezone.now())
            if "period_start" not in attrs:
                attrs["period_start"] = _add_months(attrs["period_end"], -12)
            if attrs["period_end"] <= attrs["period_start"]:
                raise serializers.ValidationError({"period_end": "must be after period_start"})
            if _months_between(attrs["period_start"], attrs["period_end"]) > MAX_PERIOD_MONTHS:
                raise serializers.ValidationError(
                    {"period_end": f"at most {MAX_PERIOD_MONTHS} months at once"}
                )
            return attrs

    @extend_schema(
        parameters=[InputSerializer],
        responses={
            200: inline_serializer(
                "Statistics",
                {
                    "min_cell_size": serializers.IntegerField(),
                    "period_start": serializers.CharField(help_text="YYYY-MM"),
                    "period_end": serializers.CharField(help_text="YYYY-MM, exclusive"),
                    "cells": inline_serializer(
                        "StatisticsCell",
                        {
                            "month": serializers.CharField(help_text="YYYY-MM"),
                            "bank": serializers.CharField(),
                            "signal_type": serializers.CharField(),
                            "label": serializers.CharField(allow_null=True),
                            "counts": inline_serializer(
                                "StatisticsCounts",
                                {
                                    m: serializers.IntegerField(allow_null=True)
                                    for m in selectors.STATISTICS_METRICS
                                },
                            ),
                            "suppressed": serializers.ListField(
                                child=serializers.ChoiceField(choices=selectors.STATISTICS_METRICS)
                            ),
                        },
                        many=True,
                    ),
                },
            ),
            400: OpenApiResponse(Error, description="a parameter is invalid; `fields` names it"),
            401: OpenApiResponse(Error, description="no or an unknown API key or session"),
            403: OpenApiResponse(Error, description="not a researcher or governance officer"),
        },
    )
    def get(self, request: Request) -> Response:
        params = query_params(self.InputSerializer, request)
        cells = selectors.statistics_cells(
            start=params["period_start"],
            end=params["period_end"],
            bank=params.get("bank"),
            signal_type=params.get("signal_type"),
            label=params.get("label"),
        )
        return Response(
            {
                "min_cell_size": settings.STATISTICS_MIN_CELL_SIZE,
                "period_start": params["period_start"].strftime("%Y-%m"),
                "period_end": params["period_end"].strftime("%Y-%m"),
                "cells": cells,
            }
        )
