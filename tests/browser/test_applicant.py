"""A small platform signs up in a real browser, verifies its email, applies in French,
answers a request for information, is approved as an associate with a mentor, and its new
admin creates the first keys while the onboarding checklist advances."""

from __future__ import annotations

import base64
import urllib.request

import pytest

from federation.governance.models import MembershipApplication
from tests.browser.conftest import (
    admin_sign_in,
    link_in,
    portal_sign_in,
    requires_chromium,
    staff_decides,
    sync_api,
)

pytestmark = requires_chromium


@pytest.mark.django_db(transaction=True)
def test_a_french_applicant_joins_through_the_portal(hub, journey, mailoutbox):
    url = hub
    page = journey.new_page()
    expect = sync_api.expect

    journey.visit(page, f"{url}/membership/", "membership")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    # The language switch, as a French-speaking applicant would use it.
    page.select_option("#language-switch", "fr")
    journey.visit(page, page.get_by_role("button", name="Change").click, "membership-fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", level=1)).to_have_text("Rejoindre le consortium")

    journey.visit(page, page.get_by_role("link", name="Adhérer").click, "signup")
    page.get_by_label("Votre nom").fill("Chloé Martin")
    page.get_by_label("Adresse électronique professionnelle").fill("chloe@petitforum.example")
    page.fill("#id_password", "un mot de passe assez long")
    page.get_by_label("Mot de passe, à nouveau").fill("un mot de passe assez long")
    journey.visit(page, page.get_by_role("button", name="Créer le compte").click, "signup-sent")
    expect(page.get_by_role("heading", level=1)).to_have_text("Consultez vos courriels")

    verify_link = link_in(mailoutbox, r"http://\S+/portal/verify/\S+/")
    journey.visit(page, verify_link, "application")
    expect(page.locator(".messages")).to_contain_text("Votre adresse électronique est confirmée")
    expect(page.get_by_role("heading", level=1)).to_have_text("Demande d'adhésion")

    page.get_by_label("Nom de la plateforme").fill("Petit Forum")
    page.get_by_label("Site web").fill("https://petitforum.example")
    page.get_by_label("Pays (code à deux lettres, p. ex. FR)").fill("fr")
    page.get_by_label("Ce qu'est la plateforme et qui l'utilise").fill(
        "Un forum de discussion pour les amateurs de photographie."
    )
    page.get_by_label("Taille").select_option("tiny")
    page.locator("#id_ev_tos-prohibits-tvec_url").fill("https://petitforum.example/regles")
    journey.visit(
        page, page.get_by_role("button", name="Enregistrer le brouillon").click, "draft-saved"
    )
    expect(page.locator(".messages")).to_contain_text("Brouillon enregistré")

    # Come back later: sign out, sign in, and everything typed is still there.
    page.get_by_role("button", name="Se déconnecter").click()
    portal_sign_in(journey, page, url, "chloe@petitforum.example", "un mot de passe assez long")
    expect(page.locator("#application-state")).to_have_text("Brouillon")
    journey.visit(page, None, "application-status-draft")
    journey.visit(
        page, page.get_by_role("link", name="Poursuivre votre demande").click, "application-again"
    )
    expect(page.get_by_label("Nom de la plateforme")).to_have_value("Petit Forum")
    expect(page.locator("#id_ev_tos-prohibits-tvec_url")).to_have_value(
        "https://petitforum.example/regles"
    )

    # Submitting an incomplete application keeps the draft and says what is missing.
    journey.visit(page, page.get_by_role("button", name="Soumettre la demande").click, "incomplete")
    expect(page.locator("#form-errors")).to_contain_text("Requis pour soumettre")
    page.locator("#id_ev_acts-on-reports-and-appeals_text").fill(
        "Deux modératrices traitent les signalements sous 24 heures ; les recours vont à l'autre."
    )
    page.locator("#id_ev_trust-and-safety-contact_text").fill(
        "Chloé Martin, fondatrice, chloe@petitforum.example"
    )
    page.locator("#id_ev_shares-and-gives-feedback_answer").select_option("yes")
    page.locator("#id_ev_shares-and-gives-feedback_text").fill("Oui, volontiers.")
    journey.visit(page, page.get_by_role("button", name="Soumettre la demande").click, "submitted")
    expect(page.locator("#submitted-confirmation")).to_contain_text("Petit Forum")
    assert any(
        m.to == ["chloe@petitforum.example"] and "Petit Forum" in m.subject for m in mailoutbox
    )
    journey.visit(
        page, page.get_by_role("link", name="Voir où en est votre demande").click, "status"
    )
    expect(page.locator("#application-state")).to_have_text("Soumise")

    application = MembershipApplication.objects.get(applicant__email="chloe@petitforum.example")
    assert application.language == "fr"

    staff_page = journey.new_page()
    admin_sign_in(journey, staff_page, url, "governance@consortium.example")
    staff_decides(
        journey,
        staff_page,
        url,
        application.pk,
        "request_information",
        "How many people review reports, and how fast?",
    )

    journey.visit(page, f"{url}/portal/application/status/", "information-requested")
    expect(page.locator("#application-state")).to_have_text("Informations demandées")
    expect(page.locator("main")).to_contain_text("How many people review reports")
    page.get_by_label("Votre message").fill("Deux personnes, sous 24 heures, week-end compris.")
    journey.visit(page, page.get_by_role("button", name="Envoyer la réponse").click, "answered")
    expect(page.locator("#application-state")).to_have_text("Soumise")

    staff_decides(
        journey,
        staff_page,
        url,
        application.pk,
        "approve_associate",
        "Welcome as an associate member.",
        mentor="moderator@consortium.example",
    )

    set_password = link_in(mailoutbox, r"http://\S+/portal/set-password/\S+/\S+/")
    page.get_by_role("button", name="Se déconnecter").click()
    journey.visit(page, set_password, "set-password")
    page.fill("#id_new_password1", "un tout nouveau mot de passe")
    page.fill("#id_new_password2", "un tout nouveau mot de passe")
    journey.visit(
        page, page.get_by_role("button", name="Enregistrer le mot de passe").click, "password-set"
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Mot de passe enregistré")

    portal_sign_in(journey, page, url, "chloe@petitforum.example", "un tout nouveau mot de passe")
    expect(page.get_by_role("heading", level=1)).to_have_text("Petit Forum")
    expect(page.locator("#mentor")).to_contain_text("moderator@consortium.example")
    step = page.locator("#onboarding-checklist li")
    expect(step.and_(page.locator("[data-step=api_key]"))).to_have_attribute("data-done", "false")
    journey.visit(page, None, "dashboard-new-member")

    journey.visit(page, page.get_by_role("link", name="Clés d'API").first.click, "api-keys")
    page.get_by_label("Nom (ce qui utilise cette clé)").fill("serveur de modération")
    page.get_by_label("Rôle de la clé").select_option("analyst")
    page.get_by_label("Portée").select_option("read_write")
    journey.visit(
        page, page.get_by_role("button", name="Créer la clé d'API").click, "api-key-shown"
    )
    secret = page.locator("#issued-secret").inner_text().strip()
    assert secret.startswith("hf_")

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public_key = base64.b64encode(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
    journey.visit(
        page, page.get_by_role("link", name="Clés de signature").first.click, "signing-keys"
    )
    page.locator("#id_name").fill("clé principale")
    page.get_by_label("Clé publique Ed25519 (PEM, ou les 32 octets bruts en base64)").fill(
        public_key
    )
    journey.visit(page, page.get_by_role("button", name="Enregistrer la clé").click, "key-saved")
    expect(page.locator(".messages")).to_contain_text("Clé de signature")

    # The member's software syncs with the new key: the checklist notices.
    request = urllib.request.Request(
        f"{url}/api/v1/sync/", headers={"Authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200

    journey.visit(
        page, page.get_by_role("link", name="Tableau de bord").first.click, "checklist-advanced"
    )
    for done in ("api_key", "signing_key", "first_sync"):
        expect(page.locator(f"#onboarding-checklist [data-step={done}]")).to_have_attribute(
            "data-done", "true"
        )
    expect(page.locator("#onboarding-checklist [data-step=first_lookup]")).to_have_attribute(
        "data-done", "false"
    )
    assert len(journey.shots()) == 2 * journey.visited
