"""A visitor in a real browser: from the home page to the latest transparency report, and
the home page again in French."""

from __future__ import annotations

import pytest

from accounts.models import User
from federation.transparency.models import TransparencyReport
from tests.browser.conftest import requires_chromium, sync_api
from tests.transparency.conftest import demo_period  # noqa: F401

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True)]
expect = sync_api.expect


def _publish(start, end) -> TransparencyReport:
    from accounts.audit import AuditContext
    from federation.transparency.services import (
        transparency_report_generate,
        transparency_report_mark_previewed,
        transparency_report_publish,
    )

    staff = AuditContext(user=User.objects.get(email="governance@consortium.example"))
    report = TransparencyReport.objects.create(
        title="Transparency report 2026", period_start=start, period_end=end
    )
    report = transparency_report_generate(report_pk=report.pk)
    transparency_report_mark_previewed(report=report, context=staff)
    return transparency_report_publish(report=report, context=staff)


def test_a_visitor_reads_a_transparency_report(hub, journey, demo_period):  # noqa: F811
    report = _publish(*demo_period)
    page = journey.new_page()
    journey.visit(page, f"{hub}/", "home")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Transparency reports")).to_be_visible()

    journey.visit(page, page.get_by_role("link", name="Transparency report 2026").click, "report")
    expect(page.get_by_role("heading", level=1)).to_have_text("Transparency report 2026")
    for section in ("Members", "Hashes", "Submissions", "Disputes", "Lawful requests"):
        expect(page.get_by_role("heading", level=2, name=section, exact=True)).to_be_visible()
    expect(page.locator("svg").first).to_be_visible()  # charts drawn on the server
    expect(page.get_by_role("link", name="CSV")).to_have_attribute(
        "href", f"/transparency/{report.public_id}.csv"
    )

    journey.visit(page, f"{hub}/transparency/", "all-reports")
    expect(page.get_by_role("heading", level=1)).to_have_text("Transparency reports")
    expect(page.get_by_role("link", name="Transparency report 2026")).to_be_visible()

    # The home page in French, through the language switch.
    journey.visit(page, f"{hub}/", "home-again")
    page.select_option("#language-switch", "fr")
    journey.visit(page, page.get_by_role("button", name="Change").click, "home-fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", name="Rapports de transparence")).to_be_visible()
    journey.visit(page, page.get_by_role("link", name="Tous les rapports").click, "reports-fr")
    expect(page.get_by_role("link", name="Transparency report 2026")).to_be_visible()
    assert len(journey.shots()) == 2 * journey.visited
