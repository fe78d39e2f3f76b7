"""Consortium staff in admin, in a real browser, past their second factor: a moderator works
through the submissions review queue, a governance officer decides an application."""

from __future__ import annotations

import pytest

from federation.governance.models import MembershipApplication
from hashbank.demo import demo_signals_load
from hashbank.models import Submission
from tests.browser.conftest import admin_sign_in, requires_chromium, staff_decides, sync_api

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True)]
expect = sync_api.expect


def test_a_moderator_approves_and_rejects_submissions(hub, journey, mailoutbox):
    demo_signals_load()
    pending = list(Submission.objects.filter(review_state="pending").order_by("received_at"))
    approved, rejected = pending[0], pending[1]
    page = journey.new_page()
    admin_sign_in(journey, page, hub, "moderator@consortium.example")

    journey.visit(page, f"{hub}/admin/hashbank/submission/?review_state__exact=pending", "queue")
    expect(page.get_by_role("heading", level=1)).to_have_text("Submissions review queue")
    expect(page.locator("#result_list tbody tr")).to_have_count(len(pending))

    page.check(f"input[name=_selected_action][value='{approved.pk}']")
    page.select_option("select[name=action]", "approve_selected")
    journey.visit(page, page.get_by_role("button", name="Go", exact=True).click, "approved")
    expect(page.locator(".messagelist")).to_contain_text("1 submission approved.")

    page.check(f"input[name=_selected_action][value='{rejected.pk}']")
    page.select_option("select[name=action]", "reject_with_reason")
    journey.visit(page, page.get_by_role("button", name="Go", exact=True).click, "reject-reason")
    expect(page.get_by_role("heading", level=1)).to_have_text("Reject submissions")
    page.get_by_label("Reason").fill("A news report about the attack, not the attack itself.")
    journey.visit(page, page.get_by_role("button", name="Reject").click, "rejected")
    expect(page.locator(".messagelist")).to_contain_text(
        "1 submission rejected. The submitting organisation is told why in one email."
    )
    expect(page.locator("#result_list tbody tr")).to_have_count(len(pending) - 2)

    approved.refresh_from_db()
    rejected.refresh_from_db()
    assert (approved.review_state, rejected.review_state) == ("approved", "rejected")
    assert rejected.review_reason == "A news report about the attack, not the attack itself."
    assert any("not the attack itself" in message.body for message in mailoutbox)
    assert len(journey.shots()) == 2 * journey.visited


def test_a_governance_officer_rejects_an_application(hub, journey, submitted_application):
    page = journey.new_page()
    admin_sign_in(journey, page, hub, "governance@consortium.example")
    journey.visit(page, f"{hub}/admin/governance/membershipapplication/", "applications")
    expect(page.locator("#result_list")).to_contain_text("Tiny Pics")
    journey.visit(page, page.get_by_role("link", name="Tiny Pics").first.click, "application")
    expect(page.locator("body")).to_contain_text("Criteria checklist")

    staff_decides(
        journey,
        page,
        hub,
        submitted_application.pk,
        "reject",
        "Your platform does not yet publish rules against violent extremism.",
    )
    application = MembershipApplication.objects.get(pk=submitted_application.pk)
    assert application.state == "rejected"
    journey.visit(page, f"{hub}/admin/governance/membershipapplication/", "decided")
    expect(page.locator("#result_list")).to_contain_text("Rejected")
    assert len(journey.shots()) == 2 * journey.visited
