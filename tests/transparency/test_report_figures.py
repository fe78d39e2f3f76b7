"""Every figure of a transparency report, against its definition in docs/transparency.md,
on the known quarter of conftest.py: each expected value is counted by hand there."""

from __future__ import annotations

import datetime as dt

import pytest

from federation.authorities.services import lawful_request_answer
from federation.transparency.selectors import report_data_compute
from tests.transparency.conftest import _lawful_request


@pytest.fixture
def report(known_quarter) -> dict:
    start, end = known_quarter
    return report_data_compute(start=start, end=end)


def test_members_are_the_platforms_active_at_the_end_by_their_status_then(report):
    # northwind, lakeside, pebble, shadyshare (suspended only in June), early; not gone
    # (offboarded in March), not late (created on the first instant after).
    assert report["members"]["platforms"] == 5
    assert report["members"]["by_kind"] == {
        "authority": 1,
        "peer_hub": 1,
        "platform": 5,
        "research": 1,
    }


def test_member_tiers_are_the_tiers_at_the_end_of_the_period(report):
    assert report["members"]["platforms_by_tier"] == {"associate": 2, "full": 2, "probation": 1}


def test_joined_counts_only_platforms_created_in_the_half_open_period(report):
    # "early" at the first instant; not the consortium or the lab (created in the period
    # but not members), not "late" (created at the end, which is outside).
    assert report["members"]["joined"] == 1


def test_left_counts_platforms_offboarded_in_the_period(report):
    assert report["members"]["left"] == 1


def test_submissions_count_arrivals_and_decisions_in_the_period(report):
    assert report["submissions"] == {
        "received": 4,  # 01-01 00:00, 01-10, 02-01, 03-31; not 12-31 nor 04-01 00:00
        "approved": 2,  # decided 01-10 and 02-01; the 03-31 one was decided on 04-01
        "rejected": 1,  # received in December, rejected on 01-01
        "approved_on_arrival": 0,
        "median_hours_to_decision": 4.0,  # median of 2, 4 and 10 hours
    }


def test_signals_replay_the_change_log_up_to_the_end(report):
    signals = report["signals"]
    assert signals["listed_at_end"] == 1  # added 01-10; the 02-01 one removed on 03-11
    assert signals["added"] == 2
    assert signals["removed"] == 1
    assert signals["updated"] == 0
    assert signals["by_bank"] == {"TVEC": 1}
    assert signals["by_signal_type"] == {"pdq": 1}
    assert signals["by_label"] == {"tvec-glorification": 1, "tvec-radicalisation": 1}
    assert signals["by_dsa_category"] == {"STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH": 1}
    assert signals["incident_hashes"] == 0


def test_opinions_count_those_recorded_or_changed_in_the_period(report):
    assert report["opinions"] == {"total": 1, "by_kind": {"true_positive": 1}}


def test_disputes_count_filings_and_decisions_in_the_period(report):
    assert report["disputes"] == {
        "filed": 2,
        "decided": 2,
        "upheld": 1,
        "overturned": 1,
        "relabelled": 0,
        "median_hours_to_decision": 27.0,  # median of 24 and 30 hours
        "appeals": 0,
        "appeal_outcomes": {},
    }


def test_lawful_requests_count_filings_and_answers_in_the_period(report):
    requests = report["lawful_requests"]
    assert requests["filed"] == 5
    assert requests["by_kind"] == {"information": 1, "notice": 2, "removal_order": 2}
    assert requests["by_jurisdiction"] == {"DE": 3, "FR": 2}
    assert requests["refused_by_staff"] == 1
    assert requests["answers"] == 2
    assert requests["by_outcome"] == {"actioned": 1, "declined": 1}
    assert requests["median_hours_to_answer"] == 24.25  # median of 0.5 and 48 hours


def test_an_overdue_unanswered_removal_order_counts_as_late(report):
    requests = report["lawful_requests"]
    # Due in the quarter: the answered removal order (on time), the unanswered one (late),
    # the notice answered a day late. The information request falls due in April.
    assert requests["answers_due"] == 3
    assert requests["answered_late_or_missing"] == 2
    assert requests["answered_within_deadline_share"] == 0.3333


def test_an_unanswered_request_not_yet_due_is_neither_on_time_nor_late(cast):
    from accounts.audit import AuditContext
    from accounts.models import Organisation

    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=30)
    ahead = (now + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    request = _lawful_request(
        "information",
        "FR",
        now.strftime("%Y-%m-%dT%H:%M"),
        forwarded=now.strftime("%Y-%m-%dT%H:%M"),
        deadline=ahead,
    )
    figures = report_data_compute(start=start, end=end)["lawful_requests"]
    assert figures["answers_due"] == 0
    assert figures["answered_within_deadline_share"] is None

    lawful_request_answer(
        request=request,
        organisation=Organisation.objects.get(slug="northwind"),
        outcome="actioned",
        details="done",
        context=AuditContext.system(),
    )
    figures = report_data_compute(start=start, end=end)["lawful_requests"]
    assert figures["answers_due"] == 1
    assert figures["answered_within_deadline_share"] == 1.0


def test_incidents_are_those_open_at_some_instant_of_the_period(report):
    # Open over [declared, closed): one closed on the first instant of the period was not
    # open during it; one declared on the first instant after is not either.
    assert [i["slug"] for i in report["incidents"]] == ["still-open", "closed-in"]
    closed_in = report["incidents"][1]
    assert closed_in["debrief"] == {"members_reached": 3}
    assert closed_in["closed_at"] == "2025-02-10T00:00:00+00:00"
