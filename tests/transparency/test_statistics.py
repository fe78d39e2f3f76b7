"""Researchers' statistics: one fixed grid (calendar month × bank × signal type × label);
no count under the minimum cell size, none that subtraction could recover, no hash value,
no member identity."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from hashbank.models import ChangeLogEntry, Signal, Submission
from tests.conftest import random_pdq, submit

_THIS_MONTH = dt.datetime.now(dt.UTC).replace(day=1)
_NEXT_MONTH = (_THIS_MONTH + dt.timedelta(days=32)).replace(day=1)
PERIOD = f"period_start={_THIS_MONTH:%Y-%m}&period_end={_NEXT_MONTH:%Y-%m}"


def test_researchers_never_see_a_cell_under_the_threshold(cast, demo_period, settings):
    settings.STATISTICS_MIN_CELL_SIZE = 3
    researcher = cast["open-harms-lab/researcher"].client()
    response = researcher.get(f"/api/v1/statistics/?{PERIOD}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["min_cell_size"] == 3

    month = f"{_THIS_MONTH:%Y-%m}"
    received: Counter = Counter()
    for submission in Submission.objects.prefetch_related("labels").select_related("bank"):
        for label in submission.labels.all():
            received[(month, submission.bank.name, submission.signal_type, label.slug)] += 1
    cells = {(c["month"], c["bank"], c["signal_type"], c["label"]): c for c in body["cells"]}
    assert set(received) <= set(cells)
    shown = suppressed = 0
    for key, truth in received.items():
        value = cells[key]["counts"]["submissions_received"]
        if truth < 3:
            assert value is None and "submissions_received" in cells[key]["suppressed"]
            suppressed += 1
        elif value is not None:
            assert value == truth
            shown += 1
    assert shown and suppressed  # the demo period has both kinds of cell

    every_count = [
        value for cell in body["cells"] for value in cell["counts"].values() if value is not None
    ]
    assert min(every_count) >= 3
    text = response.content.decode()
    assert not any(value in text for value in Signal.objects.values_list("value", flat=True))
    assert not any(slug in text for slug in ("northwind", "lakeside", "pebble"))


def test_a_filter_returns_exactly_the_cells_of_the_whole_grid(cast, demo_period, settings):
    settings.STATISTICS_MIN_CELL_SIZE = 3
    researcher = cast["open-harms-lab/researcher"].client()
    grid = researcher.get(f"/api/v1/statistics/?{PERIOD}").json()["cells"]
    filtered = researcher.get(f"/api/v1/statistics/?{PERIOD}&label=tvec-glorification").json()
    assert filtered["cells"] == [c for c in grid if c["label"] == "tvec-glorification"]
    assert filtered["cells"]


def _submit_at(cast, signer_for, when: dt.datetime, label: str, count: int) -> None:
    signer = signer_for("northwind/admin")
    values = [random_pdq() for _ in range(count)]
    response = submit(
        cast["northwind/admin"], *(signer.envelope(value=v, labels=[label]) for v in values)
    )
    assert response.status_code in (200, 201, 202), response.content
    Submission.objects.filter(value__in=values).update(received_at=when)


@pytest.fixture
def three_on_one_day(cast, signer_for, settings) -> None:
    """January 2025: twelve submissions labelled glorification spread over the month, and
    three labelled radicalisation, all on the 20th: a count under the minimum of 10."""
    settings.STATISTICS_MIN_CELL_SIZE = 10
    for day in (3, 9, 14, 27):
        when = dt.datetime(2025, 1, day, tzinfo=dt.UTC)
        _submit_at(cast, signer_for, when, "tvec-glorification", 3)
    when = dt.datetime(2025, 1, 20, tzinfo=dt.UTC)
    _submit_at(cast, signer_for, when, "tvec-radicalisation", 3)


def test_overlapping_periods_cannot_be_subtracted_to_reveal_a_small_count(cast, three_on_one_day):
    researcher = cast["open-harms-lab/researcher"].client()
    # The attack: [Jan 1, Jan 20) and [Jan 1, Jan 21) each hold at least ten submissions,
    # and their difference is the three of the 20th. Periods must now be whole months.
    for period, field in [
        ("period_start=2025-01-01&period_end=2025-01-20T00:00:00Z", "period_end"),
        ("period_start=2025-01-02&period_end=2025-02", "period_start"),
        ("period_start=2025-01-01T00:00:00%2B01:00&period_end=2025-02", "period_start"),
    ]:
        response = researcher.get(f"/api/v1/statistics/?{period}")
        assert response.status_code == 400, period
        assert field in response.json()["error"]["fields"]


def test_coarser_groupings_cannot_be_subtracted_from_the_grid(cast, three_on_one_day):
    researcher = cast["open-harms-lab/researcher"].client()
    # The attack: the TVEC total of January (15) less its glorification cell (12) is the
    # radicalisation cell (3). There is only the one grid now.
    january = "period_start=2025-01&period_end=2025-02"
    refused = researcher.get(f"/api/v1/statistics/?{january}&group_by=month,bank")
    assert refused.status_code == 400
    assert "group_by" in refused.json()["error"]["fields"]

    body = researcher.get(f"/api/v1/statistics/?{january}").json()
    cells = {c["label"]: c for c in body["cells"]}
    assert cells["tvec-radicalisation"]["counts"]["submissions_received"] is None
    # January's total (15, which a report of the month states) less the shown cells must
    # not give the hidden one: the lone hidden cell takes another with it.
    assert cells["tvec-glorification"]["counts"]["submissions_received"] is None
    assert "submissions_received" in cells["tvec-glorification"]["suppressed"]


def test_a_month_never_has_exactly_one_hidden_cell_of_a_metric(cast, three_on_one_day):
    researcher = cast["open-harms-lab/researcher"].client()
    body = researcher.get("/api/v1/statistics/?period_start=2024-07&period_end=2025-07").json()
    hidden: Counter = Counter()
    for cell in body["cells"]:
        for metric in cell["suppressed"]:
            hidden[(cell["month"], metric)] += 1
        if {"submissions_approved", "submissions_rejected"} & set(cell["suppressed"]):
            assert {"submissions_approved", "submissions_rejected"} <= set(cell["suppressed"])
    assert hidden and all(n != 1 for n in hidden.values())


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("period_start=0001-01&period_end=2025-01", "period_start"),
        ("period_start=0001-01-01T00:00:00%2B01:00", "period_start"),
        ("period_end=0001-01-01", "period_end"),
        ("period_end=9999-12-31T23:59:59-14:00", "period_end"),
        ("period_start=2025-13", "period_start"),
        ("period_start=2025-02-30", "period_start"),
        ("period_start=yesterday", "period_start"),
        ("period_start=2025-01-01T00:00:00", "period_start"),  # no offset: which midnight?
        ("period_start=2020-01&period_end=2025-01", "period_end"),  # over 36 months
        ("period_start=2025-03&period_end=2025-01", "period_end"),
    ],
)
def test_a_bad_period_is_a_400_naming_the_field(cast, query, field):
    response = cast["open-harms-lab/researcher"].client().get(f"/api/v1/statistics/?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_it_refuses_non_researchers(cast):
    for actor in ("northwind/admin", "ruritania-ctu/liaison"):
        assert cast[actor].client().get(f"/api/v1/statistics/?{PERIOD}").status_code == 403


def test_a_hidden_zero_is_no_cover_for_a_lone_hidden_count(cast, signer_for, three_on_one_day):
    from tests.conftest import approve_all

    # A December submission approved in January: its cell has signals_added 1 and
    # submissions_received 0, hidden too, but anyone can guess that zero.
    signer = signer_for("northwind/admin")
    value = random_pdq()
    submit(
        cast["northwind/admin"],
        signer.envelope(value=value, bank="HATE", labels=["hate-dehumanisation"]),
    )
    Submission.objects.filter(value=value).update(
        received_at=dt.datetime(2024, 12, 30, tzinfo=dt.UTC)
    )
    approve_all()
    ChangeLogEntry.objects.update(created_at=dt.datetime(2025, 1, 5, tzinfo=dt.UTC))

    researcher = cast["open-harms-lab/researcher"].client()
    body = researcher.get("/api/v1/statistics/?period_start=2025-01&period_end=2025-02").json()
    cells = {c["label"]: c for c in body["cells"]}
    assert cells["hate-dehumanisation"]["suppressed"][0] == "submissions_received"
    # Without the guessable zero, radicalisation is the only hidden count of January.
    assert cells["tvec-radicalisation"]["counts"]["submissions_received"] is None
    assert cells["tvec-glorification"]["counts"]["submissions_received"] is None


def test_a_blank_filter_is_refused_naming_it(cast):
    researcher = cast["open-harms-lab/researcher"].client()
    response = researcher.get(f"/api/v1/statistics/?{PERIOD}&signal_type=")
    assert response.status_code == 400
    assert "signal_type" in response.json()["error"]["fields"]
