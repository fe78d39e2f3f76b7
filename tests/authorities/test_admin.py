"""A lawful request's page in admin, as staff work it: the subject laid out, the next step
as a button for staff who may take it, nothing to save, and how long it has waited."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import User
from federation.authorities import services
from federation.authorities.models import LawfulRequest
from tests.authorities.test_lawful_requests import PDQ, removal_order
from tests.conftest import assert_no_inline_code, sign_in, view_only_staff

CHANGELIST = "/admin/authorities/lawfulrequest/"


def page_of(request: LawfulRequest) -> str:
    return f"{CHANGELIST}{request.pk}/change/"


def filed(cast, **overrides) -> LawfulRequest:
    liaison = cast["ruritania-ctu/liaison"]
    response = liaison.client().post(
        "/api/v1/lawful-requests/", removal_order(**overrides), format="json"
    )
    assert response.status_code == 201, response.content
    return LawfulRequest.objects.get(public_id=response.json()["id"])


@pytest.fixture
def officer(cast) -> Client:
    return sign_in(Client(), User.objects.get(email="governance@consortium.example"))


def test_the_subject_reads_as_lists_not_json(cast, officer):
    request = filed(cast)
    page = officer.get(page_of(request)).content.decode()
    assert "<dt>URLs</dt>" in page
    assert "<li>https://video.northwind.example/v/8d2f</li>" in page
    assert f"<li>pdq: <code>{PDQ}</code></li>" in page
    assert "<li>@attack_clips_2026</li>" in page
    assert "[&quot;" not in page and '["' not in page, "no raw JSON"
    assert_no_inline_code(page)


def test_validating_from_the_page_forwards_and_leaves_nothing_to_save(cast, officer):
    request = filed(cast)
    page = officer.get(page_of(request)).content.decode()
    validate = f"{CHANGELIST}{request.pk}/validate/"
    assert f'action="{validate}"' in page
    assert 'name="_save"' not in page and 'name="_continue"' not in page

    response = officer.post(validate)
    assert response["Location"] == page_of(request)
    request.refresh_from_db()
    assert request.state == "forwarded" and request.deadline is not None
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"{request} validated and forwarded to the platforms."
    ]
    after = officer.get(page_of(request)).content.decode()
    assert "/validate/" not in after and "/forward/" not in after
    assert 'name="_save"' not in after

    again = officer.post(validate)
    assert f"{request}: This request is forwarded." in [
        str(m) for m in get_messages(again.wsgi_request)
    ]


def test_a_validated_request_is_forwarded_from_its_page(cast, officer):
    request = filed(cast)
    staff = User.objects.get(email="governance@consortium.example")
    services.lawful_request_validate(
        request=request, context=AuditContext(user=staff), forward=False
    )
    page = officer.get(page_of(request)).content.decode()
    assert "/validate/" not in page
    forward = f"{CHANGELIST}{request.pk}/forward/"
    assert f'action="{forward}"' in page
    officer.post(forward)
    request.refresh_from_db()
    assert request.state == "forwarded"


def test_the_steps_are_closed_to_staff_without_the_right_and_to_everyone_else(cast):
    request = filed(cast)
    # The moderators may look at lawful requests, not act on them.
    for client in (
        sign_in(Client(), User.objects.get(email="moderator@consortium.example")),
        sign_in(Client(), view_only_staff()),
    ):
        page = client.get(page_of(request))
        assert page.status_code == 200
        assert "/validate/" not in page.content.decode()
        for step in ("validate", "forward"):
            assert client.post(f"{CHANGELIST}{request.pk}/{step}/").status_code == 403
    for user in (cast["northwind/admin"].user, cast["ruritania-ctu/liaison"].user):
        response = sign_in(Client(), user).post(f"{CHANGELIST}{request.pk}/validate/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    request.refresh_from_db()
    assert request.state == "submitted"


def test_the_steps_take_only_a_post_with_its_csrf_token(cast):
    request = filed(cast)
    client = sign_in(
        Client(enforce_csrf_checks=True), User.objects.get(email="governance@consortium.example")
    )
    assert client.get(f"{CHANGELIST}{request.pk}/validate/").status_code == 405
    assert client.post(f"{CHANGELIST}{request.pk}/validate/").status_code == 403
    request.refresh_from_db()
    assert request.state == "submitted"


def test_a_removal_order_waiting_past_its_hour_stands_out(cast, officer):
    late = filed(cast)
    LawfulRequest.objects.filter(pk=late.pk).update(
        received_at=timezone.now() - dt.timedelta(hours=3, minutes=5)
    )
    fresh = filed(cast)
    notice = filed(cast, kind="notice")
    LawfulRequest.objects.filter(pk=notice.pk).update(
        received_at=timezone.now() - dt.timedelta(hours=3, minutes=5)
    )

    late_page = officer.get(page_of(late)).content.decode()
    assert ">waiting 3\xa0hours</strong>" in late_page
    assert 'class="hub-error"' in late_page
    fresh_page = officer.get(page_of(fresh)).content.decode()
    assert "waiting 0\xa0minutes" in fresh_page
    assert "hub-error" not in fresh_page
    notice_page = officer.get(page_of(notice)).content.decode()
    assert "waiting 3\xa0hours" in notice_page and "hub-error" not in notice_page

    listing = officer.get(CHANGELIST).content.decode()
    assert listing.count(">waiting 3\xa0hours</strong>") == 1

    officer.post(f"{CHANGELIST}{late.pk}/validate/")
    forwarded = officer.get(page_of(late)).content.decode()
    assert "waiting 3" not in forwarded, "once forwarded, the platforms' deadline runs instead"


def test_bulk_steps_are_counted_in_words(cast, officer):
    first, second = filed(cast), filed(cast)
    response = officer.post(
        CHANGELIST, {"action": "validate_and_forward", "_selected_action": [first.pk]}
    )
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "1 request validated and forwarded to the platforms."
    ]
    response = officer.post(
        CHANGELIST, {"action": "close", "_selected_action": [first.pk, second.pk]}
    )
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages[-1] == "2 requests closed."
