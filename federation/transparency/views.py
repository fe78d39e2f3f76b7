"""The public transparency pages: no login, published reports only, charts drawn on the
server, JSON and CSV downloads of exactly the stored numbers."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from core.errors import NotFound
from federation.transparency import selectors
from federation.transparency.charts import bar_chart_svg
from federation.transparency.models import TransparencyReport

# (section, breakdown, chart title) drawn as bar charts, in page order.
CHARTS = [
    ("members", "by_kind", "Organisations taking part (consortium excluded), by kind"),
    ("members", "platforms_by_tier", "Member platforms by tier"),
    ("signals", "by_bank", "Hashes listed at the end of the period, by bank"),
    ("signals", "by_signal_type", "Hashes listed, by signal type"),
    ("signals", "by_label", "Hashes listed, by label"),
    ("signals", "by_dsa_category", "Hashes listed, by EU DSA statement category"),
    ("opinions", "by_kind", "Opinions recorded, by kind"),
    ("lawful_requests", "by_kind", "Lawful requests, by kind"),
    ("lawful_requests", "by_jurisdiction", "Lawful requests, by jurisdiction"),
    ("lawful_requests", "by_outcome", "Answers to lawful requests, by outcome"),
]


def report_context(report: TransparencyReport) -> dict[str, Any]:
    data = report.data
    charts = [
        bar_chart_svg(title, data.get(section, {}).get(breakdown, {}))
        for section, breakdown, title in CHARTS
    ]
    return {"report": report, "data": data, "charts": charts}


def report_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "transparency/report_list.html", {"reports": selectors.reports_published()}
    )


def _published(public_id: str) -> TransparencyReport:
    try:
        return selectors.report_published(public_id=public_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def report_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    report = _published(public_id)
    return render(request, "transparency/report.html", report_context(report))


def report_json(request: HttpRequest, public_id: str) -> JsonResponse:
    report = _published(public_id)
    response = JsonResponse(
        {"id": str(report.public_id), "title": str(report), **report.data},
        json_dumps_params={"indent": 2},
    )
    response["Content-Disposition"] = f'attachment; filename="transparency-{report.public_id}.json"'
    return response


def csv_rows(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[list[str]]:
    """Every number of a report as (section, metric, key, value); nested dicts flatten into
    the key, incident debriefs into one row per figure."""
    for name, value in data.items():
        path = (*prefix, str(name))
        if isinstance(value, dict):
            yield from csv_rows(value, path)
        elif isinstance(value, list):
            for item in value:
                key = item.get("slug", "") if isinstance(item, dict) else ""
                yield from csv_rows(item if isinstance(item, dict) else {"": item}, (*path, key))
        else:
            yield [path[0], ".".join(path[1:]), "" if value is None else json.dumps(value)]


def report_csv(request: HttpRequest, public_id: str) -> HttpResponse:
    report = _published(public_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="transparency-{report.public_id}.csv"'
    writer = csv.writer(response)
    writer.writerow(["section", "metric", "value"])
    writer.writerows(csv_rows(report.data))
    return response
