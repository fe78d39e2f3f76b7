"""The governance admin pages with Django's test client: staff decide on applications and
members; the criteria command loads the published fixture."""

from __future__ import annotations

import re

from accounts.audit import AuditContext
from accounts.models import Organisation
from federation.governance import services
from tests.conftest import assert_no_inline_code, view_only_staff
from tests.governance.conftest import signed_in


def test_admin_decides_through_the_decision_page(
    submitted_application, staff, mailoutbox, django_capture_on_commit_callbacks
):
    client = signed_in(staff)
    page = client.get(
        f"/admin/governance/membershipapplication/{submitted_application.pk}/change/"
    ).content.decode()
    assert "Criteria checklist" in page and "https://tinypics.example/rules" in page
    decide = f"/admin/governance/membershipapplication/{submitted_application.pk}/decide/"
    refused = client.post(decide, {"decision": "approve_probation", "message": "x"})
    assert "needs a mentor" in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(decide, {"decision": "reject", "message": "Not yet."})
    assert response.status_code == 302
    submitted_application.refresh_from_db()
    assert submitted_application.state == "rejected"
    assert any("Not yet." in m.body for m in mailoutbox)


def test_admin_suspends_and_reinstates_a_member(cast, staff):
    pebble = Organisation.objects.get(slug="pebble")
    client = signed_in(staff)
    url = f"/admin/governance/memberorganisation/{pebble.pk}/decide/"
    assert client.post(url, {"decision": "suspend", "reason": "Spam."}).status_code == 302
    pebble.refresh_from_db()
    assert pebble.status == "suspended" and pebble.status_reason == "Spam."
    client.post(url, {"decision": "reinstate", "reason": "Resolved."})
    pebble.refresh_from_db()
    assert pebble.status == "active"
    client.post(url, {"decision": "tier", "tier": "full", "reason": "Meets everything."})
    pebble.refresh_from_db()
    assert pebble.tier == "full"


def test_the_criteria_command_loads_the_fixture(db):
    from django.core.management import call_command

    call_command("load_membership_criteria")
    services.criteria_load(context=AuditContext.system())
    from federation.governance.models import Criterion

    assert Criterion.objects.count() == 6


def test_the_decision_page_has_one_heading_and_a_full_breadcrumb(submitted_application, staff):
    client = signed_in(staff)
    change = f"/admin/governance/membershipapplication/{submitted_application.pk}/change/"
    page = client.get(f"{change[: -len('change/')]}decide/").content.decode()
    assert page.count("<h1") == 1
    assert f"<h1>Decide on {submitted_application}</h1>" in page
    crumbs = page[page.index('<div class="breadcrumbs">') :]
    crumbs = crumbs[: crumbs.index("</div>")]
    assert [part.strip() for part in re.sub(r"<[^>]+>", "", crumbs).split("&rsaquo;")] == [
        "Home",
        "Governance",
        "Membership applications",
        str(submitted_application),
        "Decide",
    ]
    assert f'href="{change}"' in crumbs
    assert_no_inline_code(page)


def test_a_refused_decision_says_each_problem_once_in_words(submitted_application, staff):
    client = signed_in(staff)
    decide = f"/admin/governance/membershipapplication/{submitted_application.pk}/decide/"
    page = client.post(decide, {"decision": "approve_probation", "message": "x"})
    assert page.status_code == 200
    text = page.content.decode()
    assert text.count("Approval on probation needs a mentor.") == 1
    assert page.context["form"].errors == {"mentor_user": ["Approval on probation needs a mentor."]}
    assert "mentor:" not in text, "no raw field name"

    both = client.post(
        decide,
        {
            "decision": "approve_probation",
            "message": "x",
            "mentor_user": staff.pk,
            "mentor_organisation": Organisation.objects.get(slug="northwind").pk,
        },
    ).content.decode()
    assert both.count("Choose one mentor: a person or an organisation.") == 1
    submitted_application.refresh_from_db()
    assert submitted_application.state == "submitted"


def test_the_decision_page_is_closed_to_staff_who_may_not_decide(
    submitted_application, alice, cast
):
    decide = f"/admin/governance/membershipapplication/{submitted_application.pk}/decide/"
    viewer = signed_in(view_only_staff())
    assert viewer.get(decide).status_code == 403
    assert viewer.post(decide, {"decision": "reject", "message": "No."}).status_code == 403
    member = signed_in(alice.user)
    assert (
        "/admin/login/" in member.post(decide, {"decision": "reject", "message": "No."})["Location"]
    )
    submitted_application.refresh_from_db()
    assert submitted_application.state == "submitted"
