"""The public help pages, by country, in English and in French, and their data: loaded from
fixtures/victim_support.json, edited by staff in admin."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.audit import AuditContext
from accounts.models import AuditEvent
from federation.complaints.models import HelpCountry, HelpResource
from federation.complaints.services import help_resources_load
from tests.conftest import sign_in

FIXTURE = json.loads((Path(settings.BASE_DIR) / "fixtures" / "victim_support.json").read_text())


def test_the_fixture_is_complete_in_both_languages():
    codes = {country["code"] for country in FIXTURE["countries"]}
    assert {"fr", "be", "de", "gb", "nz", "us", "ca"} <= codes
    keys = set()
    for country in FIXTURE["countries"]:
        assert country["name"]["en"] and country["name"]["fr"]
        assert country["resources"], country["code"]
        for item in country["resources"]:
            assert item["key"] not in keys
            keys.add(item["key"])
            assert item["kind"] in {"helpline", "hotline", "authority", "legal"}
            assert item["harms"] and set(item["harms"]) <= {"terrorism", "child_abuse", "hate"}
            assert item["website"].startswith("https://"), item["key"]
            for text in ("name", "description"):
                assert item[text]["en"].strip() and item[text]["fr"].strip(), item["key"]


def test_the_index_lists_the_countries_in_english_and_french(help_loaded):
    page = Client().get("/help/").content.decode()
    assert "Help for people affected by terrorist content" in page
    for code, name in (("fr", "France"), ("gb", "United Kingdom"), ("nz", "New Zealand")):
        assert f'href="{reverse("portal:help-country", args=[code])}"' in page
        assert name in page
    assert f'href="{reverse("portal:complaint")}"' in page
    french = Client().get("/help/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<html lang="fr">' in french
    assert "Royaume-Uni" in french and "Allemagne" in french
    assert "Help for people affected" not in french


def test_a_country_page_lists_its_organisations_by_kind_in_each_language(help_loaded):
    response = Client().get("/help/fr/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Help in France" in page
    assert "If someone is in immediate danger, call 112." in page
    assert 'href="https://www.internet-signalement.gouv.fr"' in page
    assert "Hotline for reporting illegal content" in page
    assert "Legal redress and compensation" in page
    assert "Defender of Rights" in page
    assert 'href="tel:3018"' in page
    assert "Belgium" not in page and "Child Focus" not in page
    french = Client().get("/help/gb/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Aide et soutien\u00a0: Royaume-Uni" in french
    assert "Téléphone\u00a0:" in french and 'href="tel:08001111"' in french
    assert "Signaler des contenus terroristes en ligne (GOV.UK)" in french
    assert "Report online terrorist material (GOV.UK)" not in french


def test_an_unknown_or_empty_country_is_a_404(help_loaded):
    assert Client().get("/help/zz/").status_code == 404
    HelpResource.objects.filter(country__code="be").update(active=False)
    assert Client().get("/help/be/").status_code == 404
    assert 'href="/help/be/"' not in Client().get("/help/").content.decode()
    HelpCountry.objects.filter(code="fr").update(active=False)
    assert Client().get("/help/fr/").status_code == 404


def test_the_home_page_links_to_help_and_to_complaints(cast):
    for language in ("en", "fr"):
        page = Client().get("/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert f'href="{reverse("portal:help")}"' in page
        assert f'href="{reverse("portal:complaint")}"' in page


def test_a_reload_adds_what_is_missing_and_keeps_staff_edits(help_loaded):
    countries, resources = help_loaded
    assert countries == len(FIXTURE["countries"])
    assert resources == sum(len(c["resources"]) for c in FIXTURE["countries"])
    HelpResource.objects.filter(key="fr-pharos").update(name_en="PHAROS (edited)")
    HelpResource.objects.filter(key="gb-iwf").delete()
    assert help_resources_load(context=AuditContext.system()) == (0, 1)
    assert HelpResource.objects.get(key="fr-pharos").name_en == "PHAROS (edited)"


def test_staff_edit_the_help_pages_in_admin_and_each_edit_is_audited(cast, help_loaded):
    from accounts.models import User

    officer = sign_in(Client(), User.objects.get(email="governance@consortium.example"))
    country = HelpCountry.objects.get(code="nz")
    response = officer.post(
        f"/admin/complaints/helpcountry/{country.pk}/change/",
        {
            "code": "NZ",
            "name_en": "New Zealand",
            "name_fr": "Nouvelle-Zélande",
            "emergency_number": "111",
            "active": "on",
            "resources-TOTAL_FORMS": "0",
            "resources-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.filter(action="complaints.helpcountry.changed").get()
    assert event.actor_email == "governance@consortium.example"
    # The code is kept as the page's address has it.
    assert HelpCountry.objects.get(pk=country.pk).code == "nz"
    assert Client().get("/help/nz/", HTTP_ACCEPT_LANGUAGE="fr").status_code == 200
