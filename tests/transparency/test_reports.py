"""Transparency reports: generated in the background for a period, previewed, published;
the numbers match counts made here independently of the report code."""

from __future__ import annotations

from collections import Counter

from django.test import Client

from accounts.models import Organisation, User
from federation.authorities.models import LawfulRequest, LawfulRequestAddressee
from federation.transparency.models import TransparencyReport
from hashbank.models import ChangeLogEntry, Dispute, Opinion, Signal, Submission
from tests.conftest import sign_in


def staff_client() -> Client:
    return sign_in(Client(), User.objects.get(email="governance@consortium.example"))


def _admin_datetime(prefix: str, value) -> dict:
    return {f"{prefix}_0": value.date().isoformat(), f"{prefix}_1": value.strftime("%H:%M:%S")}


def request_report(start, end, django_capture_on_commit_callbacks) -> TransparencyReport:
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client().post(
            "/admin/transparency/transparencyreport/add/",
            {
                "title": "Demo period",
                **_admin_datetime("period_start", start.replace(microsecond=0)),
                **_admin_datetime("period_end", end.replace(microsecond=0) + _second()),
            },
        )
    assert response.status_code == 302, response.content
    return TransparencyReport.objects.get()


def _second():
    import datetime as dt

    return dt.timedelta(seconds=1)


def test_a_report_for_a_period_matches_independent_counts(
    demo_period, django_capture_on_commit_callbacks
):
    start, end = demo_period
    report = request_report(start, end, django_capture_on_commit_callbacks)
    assert report.state == "draft"
    data = report.data

    listed = Signal.objects.exclude(status="removed")
    assert data["signals"]["listed_at_end"] == listed.count() == 34  # 35 approved, 1 overturned
    assert data["signals"]["by_bank"] == dict(Counter(s.bank.name for s in listed))
    assert data["signals"]["by_signal_type"] == dict(Counter(s.signal_type for s in listed))
    assert data["signals"]["by_label"] == dict(
        Counter(label.slug for s in listed for label in s.labels.all())
    )
    assert data["signals"]["by_dsa_category"] == dict(
        Counter(
            category
            for s in listed
            for category in {label.dsa_category or "NOT_MAPPED" for label in s.labels.all()}
        )
    )
    assert data["signals"]["added"] == ChangeLogEntry.objects.filter(op="add").count() == 35
    assert data["signals"]["removed"] == 1

    assert data["submissions"]["received"] == Submission.objects.count() == 40
    assert data["submissions"]["approved"] == 35
    assert data["submissions"]["rejected"] == 2
    assert data["submissions"]["median_hours_to_decision"] is not None

    assert data["opinions"]["by_kind"] == dict(
        sorted(Counter(Opinion.objects.values_list("kind", flat=True)).items())
    )
    assert data["disputes"] == {
        "filed": Dispute.objects.count(),
        "decided": 2,
        "upheld": 1,
        "overturned": 1,
        "relabelled": 0,
        "median_hours_to_decision": data["disputes"]["median_hours_to_decision"],
        "appeals": 0,
        "appeal_outcomes": {},
    }
    assert data["disputes"]["filed"] == 3

    requests = LawfulRequest.objects.all()
    assert data["lawful_requests"]["filed"] == requests.count() == 3
    assert data["lawful_requests"]["by_kind"] == {
        "information": 1,
        "notice": 1,
        "removal_order": 1,
    }
    assert data["lawful_requests"]["by_jurisdiction"] == {"DE": 2, "FR": 1}
    assert data["lawful_requests"]["by_outcome"] == {"actioned": 1, "declined": 1}
    # Every deadline falls after the period (they run from forwarding, just now), so no
    # answer was due in it: the share is undefined rather than a flattering 1.0.
    assert all(a.request.deadline >= end for a in LawfulRequestAddressee.objects.all())
    assert data["lawful_requests"]["answers_due"] == 0
    assert data["lawful_requests"]["answered_within_deadline_share"] is None

    platforms = Organisation.objects.filter(kind="platform", status="active")
    assert data["members"]["platforms"] == platforms.count()
    assert data["members"]["platforms_by_tier"] == dict(
        sorted(Counter(platforms.values_list("tier", flat=True)).items())
    )
    assert data["members"]["by_kind"]["platform"] == platforms.count()
    [incident] = data["incidents"]
    assert incident["slug"] == "demo-crisis"
    assert incident["debrief"]["members_reached"] == platforms.count()


def test_staff_publish_only_after_previewing(demo_period, django_capture_on_commit_callbacks):
    start, end = demo_period
    report = request_report(start, end, django_capture_on_commit_callbacks)
    client = staff_client()
    publish = {"action": "publish", "_selected_action": [report.pk]}

    client.post("/admin/transparency/transparencyreport/", publish)
    report.refresh_from_db()
    assert report.state == "draft"
    assert Client().get(f"/transparency/{report.public_id}/").status_code == 404

    preview = client.get(f"/admin/transparency/transparencyreport/{report.pk}/preview/")
    assert preview.status_code == 200
    assert b"Preview: not published" in preview.content
    client.post("/admin/transparency/transparencyreport/", publish)
    report.refresh_from_db()
    assert report.state == "published"

    public = Client()
    page = public.get(f"/transparency/{report.public_id}/")
    assert page.status_code == 200
    assert page.content.count(b"<svg") >= 8
    assert str(report) in public.get("/transparency/").content.decode()
    downloaded = public.get(f"/transparency/{report.public_id}.json").json()
    assert downloaded["signals"] == report.data["signals"]
    rows = public.get(f"/transparency/{report.public_id}.csv").content.decode().splitlines()
    # The stored keys for programs, then a label for people.
    assert rows[0] == "section,metric,value,label"
    assert "signals,listed_at_end,34,Hashes: Listed at the end of the period" in rows
    assert 'lawful_requests,by_jurisdiction.DE,2,"Lawful requests, by jurisdiction: DE"' in rows


def test_a_period_ending_before_it_starts_is_a_form_error_not_a_crash(cast):
    import datetime as dt

    start = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
    response = staff_client().post(
        "/admin/transparency/transparencyreport/add/",
        {
            "title": "Backwards",
            **_admin_datetime("period_start", start),
            **_admin_datetime("period_end", start - dt.timedelta(days=1)),
        },
    )
    assert response.status_code == 200
    assert "period_end" in response.context["adminform"].form.errors
    assert not TransparencyReport.objects.exists()


def test_a_report_near_year_one_is_generated_not_a_crash(cast, django_capture_on_commit_callbacks):
    import datetime as dt

    start = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    report = request_report(
        start, start + dt.timedelta(days=31), django_capture_on_commit_callbacks
    )
    assert report.state == "draft", report.error
    assert report.data["submissions"]["received"] == 0
