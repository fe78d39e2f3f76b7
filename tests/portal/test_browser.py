"""The portal in a real browser: Playwright driving Debian's Chromium headless against the
live server. A small platform signs up, verifies its email, applies in French, answers a
request for information, is approved as an associate with a mentor, and its new admin
creates the first keys while the onboarding checklist advances.

Screenshots of the key pages go to var/screenshots/ (the folder is printed)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from federation.governance.models import MembershipApplication

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(django_settings.BASE_DIR) / "var" / "screenshots"
STAFF_PASSWORD = "staff passphrase for the browser test"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (./dev setup)"
)


@pytest.fixture
def browser():
    # Playwright's sync API runs an event loop in this thread, and Django refuses ORM calls
    # from a thread with a running loop. The test's own ORM calls (reading what the live
    # server wrote) never overlap a browser call, so the guard has nothing to protect here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def portal(live_server, settings, cast, criteria):
    settings.HUB_PUBLIC_URL = live_server.url
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    staff = User.objects.get(email="governance@consortium.example")
    staff.set_password(STAFF_PASSWORD)
    staff.save()
    TOTPDevice.objects.create(user=staff, name="Staff phone", confirmed=True)
    return live_server.url


def _current_code(email: str) -> str:
    """What the person's authenticator app shows now."""
    device = TOTPDevice.objects.get(user__email=email, confirmed=True)
    return f"{totp(device.bin_key, step=device.step, digits=device.digits):0{device.digits}d}"


def _csp_violations(page) -> list[str]:
    """Collects what Chromium reports as blocked by the Content-Security-Policy."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return violations


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _link_in(mailoutbox, pattern: str) -> str:
    for message in reversed(mailoutbox):
        found = re.search(pattern, message.body)
        if found:
            return found.group(0)
    raise AssertionError(f"no email with {pattern}: {[m.subject for m in mailoutbox]}")


def _staff_decides(
    staff_page,
    url: str,
    application_pk: int,
    decision: str,
    message: str,
    mentor: str | None = None,
) -> None:
    staff_page.goto(f"{url}/admin/governance/membershipapplication/{application_pk}/change/")
    staff_page.get_by_role("link", name="Decide…").click()
    staff_page.check(f"input[name=decision][value={decision}]")
    staff_page.fill("textarea[name=message]", message)
    if mentor:
        staff_page.select_option("select[name=mentor_user]", label=mentor)
    staff_page.get_by_role("button", name="Record decision").click()
    sync_api.expect(staff_page.locator(".messagelist")).to_contain_text("Decision recorded")


@pytest.mark.django_db(transaction=True)
def test_a_small_platform_joins_through_the_portal(portal, browser, mailoutbox):
    url = portal
    applicant = browser.new_context()
    page = applicant.new_page()
    page.set_default_timeout(10_000)
    applicant_violations = _csp_violations(page)
    expect = sync_api.expect

    page.goto(f"{url}/membership/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    _shot(page, "01-membership")

    # The language switch, as a French-speaking applicant would use it.
    page.select_option("#language-switch", "fr")
    page.get_by_role("button", name="Change").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", level=1)).to_have_text("Rejoindre le consortium")

    page.get_by_role("link", name="Adhérer").click()
    page.get_by_label("Votre nom").fill("Chloé Martin")
    page.get_by_label("Adresse électronique professionnelle").fill("chloe@petitforum.example")
    page.fill("#id_password", "un mot de passe assez long")
    page.get_by_label("Mot de passe, à nouveau").fill("un mot de passe assez long")
    _shot(page, "02-signup")
    page.get_by_role("button", name="Créer le compte").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Consultez vos courriels")

    verify_link = _link_in(mailoutbox, r"http://\S+/portal/verify/\S+/")
    page.goto(verify_link)
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
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    expect(page.locator(".messages")).to_contain_text("Brouillon enregistré")
    _shot(page, "03-application-draft-fr")

    # Come back later: sign out, sign in, and everything typed is still there.
    page.get_by_role("button", name="Se déconnecter").click()
    page.goto(f"{url}/portal/login/")
    page.fill("#id_username", "chloe@petitforum.example")
    page.fill("#id_password", "un mot de passe assez long")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("#application-state")).to_have_text("Brouillon")
    page.get_by_role("link", name="Poursuivre votre demande").click()
    expect(page.get_by_label("Nom de la plateforme")).to_have_value("Petit Forum")
    expect(page.locator("#id_ev_tos-prohibits-tvec_url")).to_have_value(
        "https://petitforum.example/regles"
    )

    # Submitting an incomplete application keeps the draft and says what is missing.
    page.get_by_role("button", name="Soumettre la demande").click()
    expect(page.locator("#form-errors")).to_contain_text("Requis pour soumettre")
    page.locator("#id_ev_acts-on-reports-and-appeals_text").fill(
        "Deux modératrices traitent les signalements sous 24 heures ; les recours vont à l'autre."
    )
    page.locator("#id_ev_trust-and-safety-contact_text").fill(
        "Chloé Martin, fondatrice, chloe@petitforum.example"
    )
    page.locator("#id_ev_shares-and-gives-feedback_answer").select_option("yes")
    page.locator("#id_ev_shares-and-gives-feedback_text").fill("Oui, volontiers.")
    page.get_by_role("button", name="Soumettre la demande").click()
    expect(page.locator("#submitted-confirmation")).to_contain_text("Petit Forum")
    assert any(
        m.to == ["chloe@petitforum.example"] and "Petit Forum" in m.subject for m in mailoutbox
    )
    page.get_by_role("link", name="Voir où en est votre demande").click()
    expect(page.locator("#application-state")).to_have_text("Soumise")
    _shot(page, "04-application-submitted-fr")

    application = MembershipApplication.objects.get(applicant__email="chloe@petitforum.example")
    assert application.language == "fr"

    staff_page = browser.new_context().new_page()
    staff_violations = _csp_violations(staff_page)
    staff_page.goto(f"{url}/admin/login/")
    staff_page.fill("#id_username", "governance@consortium.example")
    staff_page.fill("#id_password", STAFF_PASSWORD)
    staff_page.get_by_role("button", name="Log in").click()
    # The password alone does not open admin: the second factor comes next.
    expect(staff_page.get_by_role("heading", level=1)).to_have_text("Second factor")
    staff_page.get_by_label("Code").fill(_current_code("governance@consortium.example"))
    staff_page.get_by_role("button", name="Confirm").click()
    expect(staff_page.locator("#site-name")).to_contain_text("Hashfed")
    staff_page.goto(f"{url}/admin/governance/membershipapplication/{application.pk}/change/")
    expect(staff_page.locator("body")).to_contain_text("Criteria checklist")
    _shot(staff_page, "05-admin-application-review")
    _staff_decides(
        staff_page,
        url,
        application.pk,
        "request_information",
        "How many people review reports, and how fast?",
    )

    page.goto(f"{url}/portal/application/status/")
    expect(page.locator("#application-state")).to_have_text("Informations demandées")
    expect(page.locator("main")).to_contain_text("How many people review reports")
    page.get_by_label("Votre message").fill("Deux personnes, sous 24 heures, week-end compris.")
    page.get_by_role("button", name="Envoyer la réponse").click()
    expect(page.locator("#application-state")).to_have_text("Soumise")
    _shot(page, "06-information-answered-fr")

    _staff_decides(
        staff_page,
        url,
        application.pk,
        "approve_associate",
        "Welcome as an associate member.",
        mentor="moderator@consortium.example",
    )
    _shot(staff_page, "07-admin-approved")

    set_password = _link_in(mailoutbox, r"http://\S+/portal/set-password/\S+/\S+/")
    page.get_by_role("button", name="Se déconnecter").click()
    page.goto(set_password)
    page.fill("#id_new_password1", "un tout nouveau mot de passe")
    page.fill("#id_new_password2", "un tout nouveau mot de passe")
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mot de passe enregistré")

    page.goto(f"{url}/portal/login/")
    page.fill("#id_username", "chloe@petitforum.example")
    page.fill("#id_password", "un tout nouveau mot de passe")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Petit Forum")
    expect(page.locator("#mentor")).to_contain_text("moderator@consortium.example")
    step = page.locator("#onboarding-checklist li")
    expect(step.and_(page.locator("[data-step=api_key]"))).to_have_attribute("data-done", "false")
    _shot(page, "08-dashboard-new-member")

    page.get_by_role("link", name="Clés d'API").first.click()
    page.get_by_label("Nom (ce qui utilise cette clé)").fill("serveur de modération")
    page.get_by_label("Rôle de la clé").select_option("analyst")
    page.get_by_label("Portée").select_option("read_write")
    page.get_by_role("button", name="Créer la clé d'API").click()
    secret = page.locator("#issued-secret").inner_text().strip()
    assert secret.startswith("hf_")
    _shot(page, "09-api-key-shown-once")

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public_key = base64.b64encode(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
    page.get_by_role("link", name="Clés de signature").first.click()
    page.locator("#id_name").fill("clé principale")
    page.get_by_label("Clé publique Ed25519 (PEM, ou les 32 octets bruts en base64)").fill(
        public_key
    )
    page.get_by_role("button", name="Enregistrer la clé").click()
    expect(page.locator(".messages")).to_contain_text("Clé de signature")
    _shot(page, "10-signing-key-registered")

    # The member's software syncs with the new key: the checklist notices.
    request = urllib.request.Request(
        f"{url}/api/v1/sync/", headers={"Authorization": f"Bearer {secret}"}
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200

    page.get_by_role("link", name="Tableau de bord").first.click()
    for done in ("api_key", "signing_key", "first_sync"):
        expect(page.locator(f"#onboarding-checklist [data-step={done}]")).to_have_attribute(
            "data-done", "true"
        )
    expect(page.locator("#onboarding-checklist [data-step=first_lookup]")).to_have_attribute(
        "data-done", "false"
    )
    _shot(page, "11-dashboard-checklist-advanced")
    print(f"\nportal screenshots: {SCREENSHOTS}")
    assert len(list(SCREENSHOTS.glob("*.png"))) == 11
    assert applicant_violations == []
    assert staff_violations == []
