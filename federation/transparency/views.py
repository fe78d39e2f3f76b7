"""The public transparency pages: no login, published reports only, charts drawn on the
server, JSON and CSV downloads of exactly the stored numbers."""

from __future__ import annotations

import csv
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from core.errors import NotFound
from federation.transparency import labels, selectors
from federation.transparency.charts import bar_chart_svg
from federation.transparency.models import TransparencyReport

# The sections of the page, in order; each shows its single figures, then each of its
# breakdowns as a table (count and share of the total) and a bar chart.
PAGE_SECTIONS = ("members", "signals", "submissions", "opinions", "disputes", "lawful_requests")


def _breakdown(data: dict[str, Any], section: str, name: str, title: str) -> dict[str, Any]:
    values = labels.breakdown(data, section, name)
    total = sum(values.values())
    ordered = sorted(values.items(), key=lambda item: (-item[1], item[0]))
    return {
        "key": f"{section}-{name}",
        "title": title,
        "rows": [
            (label, labels.number(count), labels.percentage(count / total if total else None))
            for label, count in ordered
        ],
        # The caption above names the chart: not drawn a second time inside it.
        "chart": bar_chart_svg(title, values, show_title=False),
    }


def report_context(report: TransparencyReport) -> dict[str, Any]:
    data = report.data
    sections = [
        {
            "key": section,
            "title": labels.SECTIONS[section],
            "rows": labels.figure_rows(data, section),
            "breakdowns": [
                _breakdown(data, section, name, str(title))
                for (of, name), (title, _) in labels.BREAKDOWNS.items()
                if of == section
            ],
        }
        for section in PAGE_SECTIONS
    ]
    incidents = [
        {
            **incident,
            "state_label": labels.incident_state(str(incident.get("state", ""))),
            "debrief_rows": [
                (labels.debrief_label(name), labels.number(value))
                for name, value in (incident.get("debrief") or {}).items()
            ],
        }
        for incident in data.get("incidents", [])
    ]
    return {"report": report, "data": data, "sections": sections, "incidents": incidents}


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
    previous, following = selectors.report_neighbours(report=report)
    return render(
        request,
        "transparency/report.html",
        {**report_context(report), "previous": previous, "next": following},
    )


def report_json(request: HttpRequest, public_id: str) -> JsonResponse:
    report = _published(public_id)
    response = JsonResponse(
        {"id": str(report.public_id), "title": str(report), **report.data},
        json_dumps_params={"indent": 2},
    )
    response["Content-Disposition"] = f'attachment; filename="transparency-{report.public_id}.json"'
    return response


def report_csv(request: HttpRequest, public_id: str) -> HttpResponse:
    report = _published(public_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="transparency-{report.public_id}.csv"'
    writer = csv.writer(response)
    # The keys stay as stored (section, metric) for programs; the label is for people.
    writer.writerow(["section", "metric", "value", "label"])
    for *path, value in labels.csv_flatten(report.data):
        writer.writerow([path[0], ".".join(path[1:]), value, labels.csv_label(tuple(path))])
    return response
