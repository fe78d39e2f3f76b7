"""Researchers' statistics: aggregates by period, bank, label and type; no count under the
minimum cell size, no hash value, no member identity."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from hashbank.models import Signal, Submission

_NOW = dt.datetime.now(dt.UTC)
PERIOD = (
    f"period_start={(_NOW - dt.timedelta(days=300)):%Y-%m-%dT%H:%M:%SZ}"
    f"&period_end={(_NOW + dt.timedelta(days=300)):%Y-%m-%dT%H:%M:%SZ}"
)


def test_researchers_never_see_a_cell_under_the_threshold(cast, demo_period, settings):
    settings.STATISTICS_MIN_CELL_SIZE = 5
    researcher = cast["open-harms-lab/researcher"].client()
    response = researcher.get(f"/api/v1/statistics/?{PERIOD}&group_by=bank,signal_type")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["min_cell_size"] == 5

    received = Counter(Submission.objects.values_list("bank__name", "signal_type"))
    rejected = Counter(
        Submission.objects.filter(review_state="rejected").values_list("bank__name", "signal_type")
    )
    cells = {(c["bank"], c["signal_type"]): c for c in body["cells"]}
    assert set(cells) == set(received)
    shown = suppressed = 0
    for key, cell in cells.items():
        for metric, truth in [
            ("submissions_received", received[key]),
            ("submissions_rejected", rejected[key]),
        ]:
            if truth < 5:
                assert cell["counts"][metric] is None
                assert metric in cell["suppressed"]
                suppressed += 1
            else:
                assert cell["counts"][metric] == truth
                assert metric not in cell["suppressed"]
                shown += 1
    assert shown and suppressed  # the demo period has both kinds of cell

    every_count = [
        value for cell in body["cells"] for value in cell["counts"].values() if value is not None
    ]
    assert min(every_count) >= 5
    text = response.content.decode()
    assert not any(value in text for value in Signal.objects.values_list("value", flat=True))
    assert not any(slug in text for slug in ("northwind", "lakeside", "pebble"))


def test_statistics_filter_by_label_and_group_by_month(cast, demo_period, settings):
    settings.STATISTICS_MIN_CELL_SIZE = 1
    researcher = cast["open-harms-lab/researcher"].client()
    body = researcher.get(
        f"/api/v1/statistics/?{PERIOD}&group_by=month,label&label=tvec-glorification"
    ).json()
    expected = Submission.objects.filter(labels__slug="tvec-glorification").count()
    assert [c["label"] for c in body["cells"]] == ["tvec-glorification"]
    assert body["cells"][0]["counts"]["submissions_received"] == expected
    assert len(body["cells"][0]["month"]) == 7


def test_it_refuses_unknown_dimensions_and_non_researchers(cast):
    researcher = cast["open-harms-lab/researcher"].client()
    bad = researcher.get(f"/api/v1/statistics/?{PERIOD}&group_by=organisation")
    assert bad.status_code == 400
    assert "group_by" in bad.json()["error"]["fields"]
    for actor in ("northwind/admin", "ruritania-ctu/liaison"):
        assert cast[actor].client().get(f"/api/v1/statistics/?{PERIOD}").status_code == 403


def test_a_blank_filter_is_refused_naming_it(cast):
    researcher = cast["open-harms-lab/researcher"].client()
    response = researcher.get(f"/api/v1/statistics/?{PERIOD}&signal_type=")
    assert response.status_code == 400
    assert "signal_type" in response.json()["error"]["fields"]
