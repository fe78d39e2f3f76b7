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


def test_every_public_page_leads_home(cast):
    for path in ("/membership/", "/portal/login/", "/portal/signup/"):
        page = Client().get(path).content.decode()
        assert f'href="{reverse("portal:site-home")}"' in page, path
