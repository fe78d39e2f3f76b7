"""The governance admin pages with Django's test client: staff decide on applications and
members; the criteria command loads the published fixture."""

from __future__ import annotations

from accounts.audit import AuditContext
from accounts.models import Organisation
from federation.governance import services
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
