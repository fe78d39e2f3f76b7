"""A person whose video was wrongly removed, in a real browser and in French: from the home
page to the help for their country, then a complaint without an account, answered with a
reference and an acknowledgement addressed to them alone."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from federation.complaints.models import Complaint
from tests.browser.conftest import requires_chromium, sync_api

pytestmark = [requires_chromium, pytest.mark.django_db(transaction=True)]
expect = sync_api.expect


def test_an_affected_person_finds_help_and_files_a_complaint(hub, journey, mailoutbox):
    call_command("load_help_resources", stdout=io.StringIO())
    page = journey.new_page()
    page.context.add_cookies([{"name": "django_language", "value": "fr", "url": hub}])
    journey.visit(page, f"{hub}/", "home")
    expect(page.locator("html")).to_have_attribute("lang", "fr")

    journey.visit(page, page.get_by_role("link", name="Aide", exact=True).first.click, "help")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Aide")
    journey.visit(page, page.get_by_role("link", name="France").click, "help-france")
    expect(page.get_by_role("heading", level=1)).to_contain_text("France")
    expect(page.get_by_role("link", name="PHAROS").first).to_be_visible()

    journey.visit(page, f"{hub}/help/", "help-again")
    journey.visit(page, page.get_by_role("link", name="Déposer une réclamation").click, "form")
    # A first try without the reason and the consent: the form says what is missing and
    # keeps what was typed.
    page.get_by_label("Votre adresse électronique").fill("camille@example.org")
    page.get_by_label("Plateforme", exact=False).first.fill("Northwind Video")
    page.get_by_label("Date du retrait", exact=False).first.fill("2026-12-01")
    send = page.get_by_role("button", name="Envoyer la réclamation")
    journey.visit(page, send.click, "form-errors")
    expect(page.get_by_label("Votre adresse électronique")).to_have_value("camille@example.org")
    assert Complaint.objects.count() == 0

    page.get_by_label("Pourquoi", exact=False).first.fill(
        "Ma vidéo montre une manifestation pacifique, pas une attaque."
    )
    page.get_by_label("Ce qui a été retiré", exact=False).first.fill(
        "Une vidéo d'une manifestation, filmée avec mon téléphone."
    )
    page.get_by_role("checkbox").check()
    journey.visit(page, send.click, "sent")
    expect(page.get_by_role("heading", level=1)).to_have_text("Réclamation reçue")
    reference = page.locator("#complaint-reference").inner_text()
    complaint = Complaint.objects.get()
    assert complaint.reference == reference

    # One acknowledgement to the person alone; staff who triage complaints are told apart.
    [acknowledgement] = [m for m in mailoutbox if "camille@example.org" in m.to]
    assert acknowledgement.to == ["camille@example.org"]
    assert reference in acknowledgement.body
    assert all("camille@example.org" not in m.body for m in mailoutbox if m is not acknowledgement)
    assert len(journey.shots()) == 2 * journey.visited
