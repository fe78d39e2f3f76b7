"""Journeys in a real browser: Playwright drives Debian's Chromium headless against the live
server. Every page a journey visits is checked with axe-core (no serious or critical
accessibility violation) and for Content-Security-Policy violations, and is photographed
at desktop and phone widths into var/screenshots/<journey>/; at either width nothing on it
may reach past the screen's edge (wide tables scroll in their own box)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.governance.conftest import (  # noqa: F401
    criteria,
    make_applicant,
    staff,
    staff_context,
    submitted_application,
)

sync_api = pytest.importorskip("playwright.sync_api")
axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright")

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
# Desktop first (the width pages are read at), then a phone's.
WIDTHS = {1440: 900, 390: 844}
BLOCKING_IMPACTS = {"serious", "critical"}
# The elements that reach past the right edge of the viewport, if the page scrolls sideways:
# the deepest ones (their ancestors overflow only because of them), by tag, id and class.
OVERFLOWING = """() => {
  const limit = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= limit) return [];
  const scrolls = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const s = getComputedStyle(p).overflowX;
      if (s === 'auto' || s === 'scroll' || s === 'hidden') return true;
    }
    return false;
  };
  const wide = [...document.body.querySelectorAll('*')].filter(
    (el) => el.getBoundingClientRect().right > limit + 1 && !scrolls(el));
  return wide.filter((el) => !wide.some((o) => o !== el && el.contains(o))).slice(0, 5)
    .map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (typeof el.className === 'string' && el.className
        ? '.' + el.className.split(' ').join('.') : ''));
}"""

requires_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (./dev setup)"
)


def csp_violations(page) -> list[str]:
    """Collects what Chromium reports as blocked by the Content-Security-Policy."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return violations


def accessibility_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page: rule, impact and the elements."""
    results = axe_sync.Axe().run(page)
    return [
        f"{rule['id']} ({rule['impact']}): {', '.join(str(n['target']) for n in rule['nodes'])}"
        for rule in results.response["violations"]
        if rule["impact"] in BLOCKING_IMPACTS
    ]


class Journey:
    """One person's way through the hub: their browser pages, and every page they visit
    checked and photographed in order."""

    def __init__(self, browser, name: str) -> None:
        self.browser = browser
        self.folder = SCREENSHOTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.visited = 0
        self._violations: dict[int, list[str]] = {}

    def new_page(self):
        width, height = next(iter(WIDTHS.items()))
        page = self.browser.new_context(viewport={"width": width, "height": height}).new_page()
        page.set_default_timeout(10_000)
        self._violations[id(page)] = csp_violations(page)
        return page

    def visit(self, page, url_or_action: str | Callable[[], object] | None, name: str) -> None:
        """Goes to a URL (or does what leads to the next page; None: the page as it is now),
        then checks the page and photographs it."""
        if isinstance(url_or_action, str):
            page.goto(url_or_action)
        elif url_or_action is not None:
            url_or_action()
        page.wait_for_load_state()
        blocked = self._violations[id(page)]
        assert not blocked, f"{name} ({page.url}): CSP violations: {blocked}"
        problems = accessibility_violations(page)
        # axe-core itself applies styles the policy refuses: not the page's doing.
        blocked.clear()
        assert not problems, f"{name} ({page.url}): accessibility violations:\n" + "\n".join(
            problems
        )
        self.visited += 1
        first = next(iter(WIDTHS.items()))
        for width, height in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            # Nothing is wider than the screen: a wide table or text scrolls in its own box.
            wide = page.evaluate(OVERFLOWING)
            assert not wide, f"{name} ({page.url}) at {width} px: wider than the screen: {wide}"
            path = self.folder / f"{self.visited:02d}-{name}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
        page.set_viewport_size({"width": first[0], "height": first[1]})

    def shots(self) -> list[Path]:
        return sorted(self.folder.glob("*.png"))


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
def hub(live_server, settings, cast, criteria) -> str:  # noqa: F811
    """The live hub with the demo cast; consortium staff have a password and an
    authenticator for admin."""
    settings.HUB_PUBLIC_URL = live_server.url
    # The cast's passwords are stored with the fast hasher the cast fixture loads them with.
    settings.PASSWORD_HASHERS = [
        *settings.PASSWORD_HASHERS,
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    for person in User.objects.filter(is_staff=True):
        person.set_password(STAFF_PASSWORD)
        person.save()
        TOTPDevice.objects.create(user=person, name="Staff phone", confirmed=True)
    return live_server.url


@pytest.fixture
def journey(browser, request) -> Journey:
    """A journey named after its test: screenshots go to var/screenshots/<name>/."""
    return Journey(browser, request.node.name.removeprefix("test_"))


def current_code(email: str) -> str:
    """What the person's authenticator app shows now."""
    device = TOTPDevice.objects.get(user__email=email, confirmed=True)
    return f"{totp(device.bin_key, step=device.step, digits=device.digits):0{device.digits}d}"


def link_in(mailoutbox, pattern: str) -> str:
    for message in reversed(mailoutbox):
        found = re.search(pattern, message.body)
        if found:
            return found.group(0)
    raise AssertionError(f"no email with {pattern}: {[m.subject for m in mailoutbox]}")


def portal_sign_in(journey: Journey, page, url: str, email: str, password: str) -> None:
    journey.visit(page, f"{url}/portal/login/", "sign-in")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.locator("form:has(#id_username) button[type=submit]").click()


def admin_sign_in(journey: Journey, page, url: str, email: str) -> None:
    """Password, then the second factor: the password alone does not open admin."""
    journey.visit(page, f"{url}/admin/login/", "admin-sign-in")
    page.fill("#id_username", email)
    page.fill("#id_password", STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Second factor")
    journey.visit(page, None, "admin-second-factor")
    page.get_by_label("Code").fill(current_code(email))
    page.get_by_role("button", name="Confirm").click()
    sync_api.expect(page.locator("#site-name")).to_contain_text("Hashfed")


def staff_decides(
    journey: Journey,
    page,
    url: str,
    application_pk: int,
    decision: str,
    message: str,
    mentor: str | None = None,
) -> None:
    journey.visit(
        page,
        f"{url}/admin/governance/membershipapplication/{application_pk}/change/",
        "admin-application",
    )
    journey.visit(page, page.get_by_role("link", name="Decide…").click, "admin-decide")
    page.check(f"input[name=decision][value={decision}]")
    page.fill("textarea[name=message]", message)
    if mentor:
        page.select_option("select[name=mentor_user]", label=mentor)
    journey.visit(page, page.get_by_role("button", name="Record decision").click, "admin-decided")
    sync_api.expect(page.locator(".messagelist")).to_contain_text("Decision recorded")
