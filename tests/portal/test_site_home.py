"""The public home page at `/`, in English and in French."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from hashbank.models import Label


def test_the_home_page_says_what_the_consortium_does_and_links_onwards(cast, settings):
    settings.HUB_CONTACT_EMAIL = "contact@consortium.example"
    response = Client().get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "A shared list of hashes, open to platforms of every size" in page
    assert "What the consortium does, and what it does not do" in page
    assert "How hash sharing works, and where it stops" in page
    for name in ("portal:membership", "portal:signup", "portal:login"):
        assert f'href="{reverse(name)}"' in page, name
    assert 'href="mailto:contact@consortium.example"' in page
    # The taxonomy, by readable name, under readable category headings.
    labels = list(Label.objects.filter(active=True))
    assert labels
    for label in labels:
        assert label.name in page, label.slug
    assert "Terrorist and violent-extremist content" in page
    assert ">tvec<" not in page


def test_the_home_page_in_french(cast):
    page = Client().get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<html lang="fr">' in page
    assert "Une liste d'empreintes partagée, ouverte aux plateformes de toute taille" in page
    assert "Ce que fait le consortium, et ce qu'il ne fait pas" in page
    assert "Contenus terroristes et extrémistes violents" in page
    assert "A shared list of hashes" not in page
    assert "What the consortium does" not in page
    # Every label of the taxonomy is in French, none left marked as English.
    for label in Label.objects.filter(active=True):
        assert label.description not in page, label.slug
    assert "<dt>Apologie d'actes terroristes</dt>" in page.replace("&#x27;", "'")
    assert 'lang="en"><dt>' not in page


def test_a_label_the_catalogue_lacks_is_shown_in_english_marked_as_such(cast):
    Label.objects.create(
        slug="tvec-new-label",
        name="A label added by staff",
        category="tvec",
        severity=2,
        description="Not translated yet.",
        taxonomy_version="2026.2",
    )
    page = Client().get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert (
        '<div lang="en"><dt>A label added by staff</dt><dd>Not translated yet.</dd></div>' in page
    )


def test_the_taxonomy_text_marked_for_translation_is_the_fixtures(db):
    """hashbank/taxonomy_text.py carries every name and description of
    fixtures/taxonomy.json (and nothing else), so the catalogue keeps them all."""
    import json
    from pathlib import Path

    from django.conf import settings

    from hashbank.taxonomy_text import TAXONOMY_TEXT

    taxonomy = json.loads((Path(settings.BASE_DIR) / "fixtures" / "taxonomy.json").read_text())
    texts = {label[key] for label in taxonomy["labels"] for key in ("name", "description")}
    assert texts == set(TAXONOMY_TEXT)


def test_every_public_page_leads_home(cast):
    for path in ("/membership/", "/portal/login/", "/portal/signup/"):
        page = Client().get(path).content.decode()
        assert f'href="{reverse("portal:site-home")}"' in page, path
