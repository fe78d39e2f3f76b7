"""Every way of reading a lawful request writes exactly one access-log row per request read,
on its channel, because every reader goes through the same selectors."""

from __future__ import annotations

from collections import Counter

import pytest
from django.test import Client

from accounts.audit import AuditContext
from accounts.models import Organisation, User
from federation.authorities.models import LawfulRequest, LawfulRequestAccess
from federation.authorities.services import lawful_request_file, lawful_request_validate
from tests.conftest import sign_in


def _forwarded(number: int) -> LawfulRequest:
    liaison = User.objects.get(email="liaison@ruritania.example")
    filed = lawful_request_file(
        authority=Organisation.objects.get(slug="ruritania-ctu"),
        filed_by=liaison,
        kind="removal_order",
        issuing_authority="Ruritania Counter-Terrorism Unit",
        officer="Inspector R. Example",
        legal_basis="Regulation (EU) 2021/784, art. 3",
        jurisdiction="DE",
        addressed=["northwind"],
        subject_urls=[f"https://video.northwind.example/v/{number}"],
        subject_hashes=[],
        subject_accounts=[],
        description="",
        context=AuditContext(user=liaison),
    )
    staff = User.objects.get(email="governance@consortium.example")
    return lawful_request_validate(request=filed.request, context=AuditContext(user=staff))


@pytest.fixture
def requests(cast) -> list[LawfulRequest]:
    return [_forwarded(1), _forwarded(2)]


def _portal(email: str) -> Client:
    return sign_in(Client(), User.objects.get(email=email))


def _rows() -> Counter[tuple[str, str, str]]:
    return Counter(
        (str(row.request_public_id), row.channel, row.what)
        for row in LawfulRequestAccess.objects.all()
    )


def test_a_portal_list_logs_each_request_shown_once(requests):
    response = _portal("admin@northwind.example").get(
        "/portal/organisations/northwind/lawful-requests/"
    )
    assert response.status_code == 200
    assert _rows() == Counter({(str(r.public_id), "portal", "request.list"): 1 for r in requests})


def test_the_dashboard_logs_each_open_request_shown_once(requests):
    response = _portal("admin@northwind.example").get("/portal/organisations/northwind/")
    assert response.status_code == 200
    assert _rows() == Counter({(str(r.public_id), "portal", "request.list"): 1 for r in requests})


def test_a_portal_detail_logs_the_request_once(requests):
    shown = requests[0]
    response = _portal("liaison@ruritania.example").get(
        f"/portal/organisations/ruritania-ctu/lawful-requests/{shown.public_id}/"
    )
    assert response.status_code == 200
    assert _rows() == Counter({(str(shown.public_id), "portal", "request.detail"): 1})


def test_an_api_list_logs_each_request_returned_once(cast, requests):
    response = cast["northwind/admin"].client().get("/api/v1/lawful-requests/")
    assert response.status_code == 200
    assert _rows() == Counter({(str(r.public_id), "api", "request.list"): 1 for r in requests})


def test_an_api_detail_logs_the_request_once(cast, requests):
    shown = requests[1]
    response = (
        cast["ruritania-ctu/liaison"].client().get(f"/api/v1/lawful-requests/{shown.public_id}/")
    )
    assert response.status_code == 200
    assert _rows() == Counter({(str(shown.public_id), "api", "request.detail"): 1})


def test_an_admin_change_view_logs_the_request_once(requests):
    shown = requests[0]
    staff = _portal("governance@consortium.example")
    response = staff.get(f"/admin/authorities/lawfulrequest/{shown.pk}/change/")
    assert response.status_code == 200
    assert _rows() == Counter({(str(shown.public_id), "admin", "admin.detail"): 1})


def test_an_admin_list_logs_each_request_shown_once(requests):
    staff = _portal("governance@consortium.example")
    assert staff.get("/admin/authorities/lawfulrequest/").status_code == 200
    assert _rows() == Counter({(str(r.public_id), "admin", "admin.list"): 1 for r in requests})


def test_a_request_one_may_not_see_is_not_logged(cast, requests):
    outsider = _portal("admin@lakeside.example")
    path = f"/portal/organisations/lakeside/lawful-requests/{requests[0].public_id}/"
    assert outsider.get(path).status_code in (403, 404)
    api = cast["ruritania-ctu/liaison"].client()
    assert (
        api.get("/api/v1/lawful-requests/00000000-0000-0000-0000-000000000000/").status_code == 404
    )
    assert _rows() == Counter()
