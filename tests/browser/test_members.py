"""People of member organisations in a real browser: a mentor follows their mentee, an
authority liaison files a lawful request and follows it to its answer, a platform's admin
acknowledges and answers one."""

from __future__ import annotations

import pytest

from accounts.audit import AuditContext
from accounts.models import Organisation, User
from federation.authorities.models import LawfulRequest
from federation.authorities.services import (
    lawful_request_acknowledge,
    lawful_request_answer,
    lawful_request_validate,
)
from federation.governance.services import mentor_assign
from tests.browser.conftest import portal_sign_in, requires_chromium, sync_api
from tests.portal.test_access import _forwarded_request

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True)]
expect = sync_api.expect
PDQ = "f" * 64


def _staff() -> AuditContext:
    return AuditContext(user=User.objects.get(email="governance@consortium.example"))


def test_a_mentor_follows_their_mentee(hub, journey, cast):
    mentor_assign(
        organisation=Organisation.objects.get(slug="pebble"),
        mentor_organisation=Organisation.objects.get(slug="lakeside"),
        context=_staff(),
    )
    mentor = cast["lakeside/admin"].account
    page = journey.new_page()
    portal_sign_in(journey, page, hub, mentor.email, mentor.password)
    journey.visit(page, None, "dashboard")
    expect(page.get_by_role("heading", level=1)).to_have_text("Lakeside Social")

    journey.visit(page, f"{hub}/portal/mentoring/", "mentoring")
    expect(page.get_by_role("heading", level=1)).to_have_text("Organisations you mentor")
    journey.visit(page, page.get_by_role("link", name="Pebble Forum").click, "mentee")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pebble Forum")
    expect(page.locator("main")).to_contain_text("Tier: Associate member. Status: Active.")
    checklist = page.locator("#onboarding-checklist")
    expect(checklist.locator("[data-step=api_key]")).to_have_attribute("data-done", "true")
    expect(checklist.locator("[data-step=signing_key]")).to_have_attribute("data-done", "false")
    journey.visit(page, page.get_by_role("link", name="All your mentees").click, "back")
    expect(page.get_by_role("link", name="Pebble Forum")).to_be_visible()
    assert len(journey.shots()) == 2 * journey.visited


def test_an_authority_files_a_lawful_request_and_follows_it(hub, journey, cast):
    liaison = cast["ruritania-ctu/liaison"].account
    page = journey.new_page()
    portal_sign_in(journey, page, hub, liaison.email, liaison.password)
    journey.visit(page, None, "dashboard")
    journey.visit(page, page.get_by_role("link", name="File a lawful request").click, "form")
    expect(page.get_by_role("heading", level=1)).to_have_text("File a lawful request")

    page.get_by_label("Kind of request").select_option("removal_order")
    page.get_by_label("Urgency").select_option("immediate")
    page.get_by_label("Officer responsible").fill("Inspector R. Example")
    page.get_by_label("Legal basis (statute and article)").fill("Regulation (EU) 2021/784, art. 3")
    page.get_by_label("Jurisdiction (two-letter country code, or EU)").fill("de")
    page.get_by_label("Northwind Video").check()
    page.get_by_label("URLs of the content").fill("https://video.northwind.example/v/8d2f")
    page.get_by_label("Content hashes").fill(f"pdq {PDQ}")
    page.get_by_label("Description").fill("Livestream of an attack, re-uploaded.")
    journey.visit(page, page.get_by_role("button", name="File the request").click, "filed")
    expect(page.locator(".messages")).to_contain_text("Request filed.")
    expect(page.locator("#request-state")).to_have_text("Submitted, awaiting validation")

    # Staff check it and forward it; Northwind acknowledges and answers.
    request = LawfulRequest.objects.get()
    lawful_request_validate(request=request, context=_staff())
    northwind = Organisation.objects.get(slug="northwind")
    admin = AuditContext(user=User.objects.get(email="admin@northwind.example"))
    lawful_request_acknowledge(request=request, organisation=northwind, context=admin)
    lawful_request_answer(
        request=request,
        organisation=northwind,
        outcome="actioned",
        details="Video removed within the hour.",
        context=admin,
    )

    journey.visit(page, page.get_by_role("link", name="All lawful requests").click, "listing")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Lawful requests")
    row = page.locator(f"#request-{request.public_id}")
    expect(row).to_contain_text("1 of 1")
    journey.visit(page, row.get_by_role("link").click, "answered")
    expect(page.locator("#request-state")).to_have_text("Answered by every addressed platform")
    expect(page.locator("#answers")).to_contain_text("Northwind Video")
    expect(page.locator("#answers")).to_contain_text("Video removed within the hour.")
    assert len(journey.shots()) == 2 * journey.visited


def test_a_platform_answers_a_lawful_request(hub, journey, cast):
    request = _forwarded_request(Organisation.objects.get(slug="northwind"))
    admin = cast["northwind/admin"].account
    page = journey.new_page()
    portal_sign_in(journey, page, hub, admin.email, admin.password)
    journey.visit(page, None, "dashboard")
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Video")
    row = page.locator(f"#request-{request.public_id}")
    expect(row).to_contain_text("Removal order")
    expect(row).to_contain_text("Not acknowledged")

    journey.visit(page, row.get_by_role("link").click, "request")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Removal order")
    journey.visit(page, page.get_by_role("button", name="Acknowledge receipt").click, "received")
    expect(page.locator(".messages")).to_contain_text("Receipt acknowledged.")
    expect(page.get_by_role("button", name="Acknowledge receipt")).to_have_count(0)

    page.check("input[name=outcome][value=partial]")
    page.get_by_label("What was done, or why not").fill("Video removed; the account is elsewhere.")
    journey.visit(page, page.get_by_role("button", name="Send the answer").click, "answered")
    expect(page.locator(".messages")).to_contain_text("Answer sent to the authority.")
    expect(page.locator("#answers")).to_contain_text("Partially actioned")
    expect(page.get_by_role("button", name="Send the answer")).to_have_count(0)
    request.refresh_from_db()
    assert request.state == "answered"
    assert len(journey.shots()) == 2 * journey.visited
