"""A published report reads as a report, in English and in French: human labels rather
than stored keys, shares as percentages in the reader's number format, links to the
reports before and after it, and a CSV of plain strings."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.test import Client
from django.utils import timezone

from federation.transparency.models import ReportState, TransparencyReport
from tests.accounts.test_content_security_policy import _directives

DATA = {
    "period": {"start": "2025-01-01T00:00:00+00:00", "end": "2026-01-01T00:00:00+00:00"},
    "members": {
        "platforms": 1234,
        "by_kind": {"peer_hub": 2, "platform": 1234, "research": 1},
        "platforms_by_tier": {"associate": 4, "full": 1230},
        "joined": 3,
        "left": 0,
    },
    "signals": {
        "listed_at_end": 10,
        "added": 12,
        "removed": 2,
        "updated": 0,
        "by_bank": {"TVEC": 10},
        "by_signal_type": {"pdq": 7, "md5": 3},
        "by_label": {"tvec-glorification": 10},
        "by_dsa_category": {"STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH": 9, "NOT_MAPPED": 1},
        "incident_hashes": 0,
    },
    "submissions": {
        "received": 20,
        "approved": 12,
        "rejected": 3,
        "approved_on_arrival": 1,
        "median_hours_to_decision": 4.5,
    },
    "opinions": {"total": 2, "by_kind": {"true_positive": 2}},
    "disputes": {
        "filed": 1,
        "decided": 1,
        "upheld": 1,
        "overturned": 0,
        "relabelled": 0,
        "median_hours_to_decision": None,
        "appeals": 0,
        "appeal_outcomes": {},
    },
    "lawful_requests": {
        "filed": 8,
        "by_kind": {"removal_order": 8},
        "by_jurisdiction": {"DE": 8},
        "refused_by_staff": 0,
        "answers": 8,
        "by_outcome": {"actioned": 8},
        "median_hours_to_answer": 0.5,
        "answers_due": 8,
        "answered_late_or_missing": 7,
        "answered_within_deadline_share": 0.125,
    },
    "incidents": [
        {
            "slug": "demo-crisis",
            "title": "Demo crisis",
            "level": 2,
            "state": "closed",
            "started_at": "2025-03-01T00:00:00+00:00",
            "declared_at": "2025-03-01T00:00:00+00:00",
            "closed_at": "2025-03-02T00:00:00+00:00",
            "debrief": {"members_reached": 5, "time_to_first_hash_seconds": 90},
        }
    ],
}


def _published(year: int) -> TransparencyReport:
    now = timezone.now()
    return TransparencyReport.objects.create(
        period_start=dt.datetime(year, 1, 1, tzinfo=dt.UTC),
        period_end=dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC),
        state=ReportState.PUBLISHED,
        data=DATA,
        previewed_at=now,
        published_at=now,
    )


@pytest.fixture
def reports(cast) -> list[TransparencyReport]:
    return [_published(year) for year in (2024, 2025, 2026)]


def _page(report: TransparencyReport, language: str) -> str:
    response = Client().get(f"/transparency/{report.public_id}/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert _directives(response)["style-src"] == ["'self'"]
    body = response.content.decode()
    assert "<script" not in body and " style=" not in body and "<style" not in body
    return body


def test_the_english_page_shows_labels_and_percentages(reports):
    body = _page(reports[1], "en")
    assert '<html lang="en">' in body
    for label in (
        "Peer hub",
        "Research organisation",
        "Associate member",
        "Illegal or harmful speech",
        "No DSA category",
        "Glorification of terrorist acts",
        "PDQ (pictures)",
        "True positive",
        "Removal order",
        "Actioned",
        "Members reached",
    ):
        assert label in body, label
    for key in (
        "peer_hub",
        "STATEMENT_CATEGORY",
        "NOT_MAPPED",
        "tvec-glorification",
        "removal_order",
    ):
        assert key not in body, key
    assert ">12.5%<" in body
    assert ">99.8%<" in body  # member platforms among the 1,237 organisations taking part
    assert ">70%<" in body  # PDQ among the hashes listed
    assert ">1,234<" in body  # the number of member platforms, grouped
    assert ">4.5<" in body


def test_the_french_page_is_in_french_with_french_numbers(reports):
    body = _page(reports[1], "fr")
    assert '<html lang="fr">' in body
    assert "Hub pair" in body or "Plateforme membre" in body
    assert "Discours illicite ou préjudiciable" in body
    assert "Rapports de transparence" in body
    assert ">12,5\u00a0%<" in body
    assert ">99,8\u00a0%<" in body
    assert ">1\u00a0234<" in body
    assert ">4,5<" in body
    assert "Members reached" not in body


def test_a_report_links_to_the_reports_before_and_after_it_and_to_the_index(reports):
    first, middle, last = reports
    body = _page(middle, "en")
    assert f'rel="prev" href="/transparency/{first.public_id}/"' in body
    assert f'rel="next" href="/transparency/{last.public_id}/"' in body
    assert 'href="/transparency/"' in body
    oldest = _page(first, "en")
    assert 'rel="prev"' not in oldest
    assert f'rel="next" href="/transparency/{middle.public_id}/"' in oldest
    newest = _page(last, "en")
    assert 'rel="next"' not in newest


def test_a_draft_is_nobodys_neighbour(reports):
    first, middle, last = reports
    TransparencyReport.objects.filter(pk=middle.pk).update(state=ReportState.DRAFT)
    body = _page(first, "en")
    assert f'rel="next" href="/transparency/{last.public_id}/"' in body


def test_the_csv_holds_plain_strings_with_human_labels(reports):
    for language, label in [
        ("en", "Organisations taking part (consortium excluded), by kind: Peer hub"),
        ("fr", "Organisations participantes (hors consortium), par type\u00a0: Hub pair"),
    ]:
        response = Client().get(
            f"/transparency/{reports[0].public_id}.csv", HTTP_ACCEPT_LANGUAGE=language
        )
        assert response.status_code == 200
        text = response.content.decode()
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["section", "metric", "value", "label"]
        assert ["members", "by_kind.peer_hub", "2", label] in rows
        assert "<" not in text and "__proxy__" not in text and "lazy" not in text
        by_key = {(row[0], row[1]): row for row in rows}
        assert by_key[("lawful_requests", "answered_within_deadline_share")][2] == "0.125"
        assert by_key[("incidents", "demo-crisis.title")][2] == "Demo crisis"
        assert by_key[("disputes", "median_hours_to_decision")][2] == ""
        assert all(len(row) == 4 and all(isinstance(cell, str) for cell in row) for row in rows)
