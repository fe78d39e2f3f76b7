"""No English the French catalogue knows on a page shown in French: every portal and public
page, as each persona of the demo cast sees it (visitor, applicant, members of every kind),
with the French language cookie. A string of locale/fr/LC_MESSAGES/django.po that appears
in English on such a page was translated but not shown translated (a missing {% trans %},
a gettext at import time, a string formatted before translation...)."""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from accounts.audit import AuditContext
from accounts.models import Organisation, User
from core.routes import all_routes
from federation.governance.services import mentor_assign
from tests.conftest import sign_in
from tests.portal.test_access import _forwarded_request

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "fr" / "LC_MESSAGES" / "django.po"
# Fewer words than this and a string is as likely a name, a code or a shared word.
MIN_WORDS = 3
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")
# Attributes people read or hear as well as the text.
READ_ATTRIBUTES = {"alt", "title", "aria-label", "placeholder"}
PAGES = ("portal:", "transparency_public:")


@dataclass(frozen=True)
class EnglishString:
    msgid: str
    pattern: re.Pattern[str]


def _plain(text: str) -> str:
    """What a string looks like on the page: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


@cache
def english_strings(path: Path = CATALOGUE) -> list[EnglishString]:
    """The catalogue's English strings worth looking for: translated into something else,
    of MIN_WORDS words or more besides placeholders. A placeholder matches any short text."""
    found = []
    for entry in polib.pofile(str(path)):
        if entry.obsolete or "fuzzy" in entry.flags:
            continue
        french = [entry.msgstr] if entry.msgstr else list(entry.msgstr_plural.values())
        for english in filter(None, (entry.msgid, entry.msgid_plural)):
            literal = _plain(english)
            if len(PLACEHOLDER.sub(" ", literal).split()) < MIN_WORDS:
                continue
            if not all(french) or any(literal in _plain(text) for text in french):
                continue  # untranslated, or the French keeps the English as it is
            parts = [
                r"\s+".join(map(re.escape, part.split())) for part in PLACEHOLDER.split(literal)
            ]
            while parts and not parts[0]:
                parts.pop(0)
            while parts and not parts[-1]:
                parts.pop()
            found.append(EnglishString(english, re.compile(r"\b" + r".{1,80}?".join(parts))))
    return found


class _VisibleText(HTMLParser):
    """The text and read attributes of a page, except scripts, styles, and what the page
    itself marks as English (lang="en": the taxonomy's own names, a whole English page)."""

    VOID = {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._open: list[tuple[str, bool]] = []  # (tag, not to be read)

    def _skipping(self) -> bool:
        return bool(self._open) and self._open[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        skip = (
            self._skipping()
            or tag in ("script", "style", "template")
            or (values.get("lang") or "").startswith("en")
        )
        if not skip:
            self.chunks += [value for name, value in attrs if name in READ_ATTRIBUTES and value]
        if tag not in self.VOID:
            self._open.append((tag, skip))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self._skipping():
            self.chunks.append(data)


def visible_text(page: str) -> str:
    parser = _VisibleText()
    parser.feed(page)
    return " ".join(" ".join(parser.chunks).split())


def untranslated(page: str) -> list[str]:
    """The catalogue's English strings shown on the page."""
    text = visible_text(page)
    return [string.msgid for string in english_strings() if string.pattern.search(text)]


def french_client(user: User | None = None) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    return sign_in(client, user) if user else client


def _url_values(organisation: Organisation | None, request_id: str, report_id: str) -> dict:
    slug = organisation.slug if organisation else "northwind"
    api_key = organisation.api_keys.first() if organisation else None
    return {
        "slug": slug,
        "prefix": api_key.prefix if api_key else "hf_missing",
        "key_id": "0" * 64,
        "request_id": request_id,
        "public_id": report_id,
        "token": "not-a-token",
        "uidb64": "MQ",
        "country": "fr",
    }


def _pages(values: dict[str, str]) -> list[str]:
    paths = []
    for route in all_routes():
        if not route.name.startswith(PAGES):
            continue
        path = "/" + route.pattern
        for name in re.findall(r"<(?:\w+:)?(\w+)>", route.pattern):
            path = re.sub(rf"<(?:\w+:)?{name}>", values[name], path)
        paths.append(path)
    return paths


def _published_report() -> str:
    from federation.transparency.models import TransparencyReport
    from federation.transparency.services import (
        transparency_report_generate,
        transparency_report_mark_previewed,
        transparency_report_publish,
    )

    staff = AuditContext(user=User.objects.get(email="governance@consortium.example"))
    report = TransparencyReport.objects.create(
        title="2026", period_start="2026-01-01T00:00Z", period_end="2026-06-01T00:00Z"
    )
    report = transparency_report_generate(report_pk=report.pk)
    transparency_report_mark_previewed(report=report, context=staff)
    transparency_report_publish(report=report, context=staff)
    return str(report.public_id)


def test_every_page_shown_in_french_shows_no_english_the_catalogue_translates(
    cast, submitted_application, make_applicant
):
    mentor_assign(
        organisation=Organisation.objects.get(slug="pebble"),
        mentor_organisation=Organisation.objects.get(slug="lakeside"),
        context=AuditContext(user=User.objects.get(email="governance@consortium.example")),
    )
    request_id = str(_forwarded_request(Organisation.objects.get(slug="northwind")).public_id)
    report_id = _published_report()
    call_command("load_help_resources", stdout=io.StringIO())
    personas: list[tuple[str, User | None, Organisation | None]] = [
        ("visitor", None, None),
        ("applicant who submitted", submitted_application.applicant, None),
        ("applicant just signed up", make_applicant("new@example.org"), None),
        *((a.label, a.user, a.org) for a in cast if a.org.kind != "consortium"),
    ]
    shown: dict[str, list[str]] = {}
    checked = 0
    for label, user, organisation in personas:
        client = french_client(user)
        for path in _pages(_url_values(organisation, request_id, report_id)):
            response = client.get(path)
            if not response.content or "text/html" not in response["Content-Type"]:
                continue  # a redirect, a POST-only route, a download
            page = response.content.decode()
            if response.status_code == 200 and "transparency" not in path:
                assert '<html lang="fr"' in page, (label, path)
            checked += 1
            for msgid in untranslated(page):
                shown.setdefault(f"{path} ({response.status_code})", []).append(
                    f"{label}: {msgid!r}"
                )
    assert checked > 200  # every persona reached its pages
    assert not shown, "English shown in French:\n" + "\n".join(
        f"{path}: {', '.join(found)}" for path, found in sorted(shown.items())
    )


@pytest.mark.parametrize(
    "english",
    [
        "Join the consortium",  # a plain string
        # A string with placeholders, formatted as the page would format it.
        "Pebble is now a member of the consortium (Associate), and you are its administrator.",
        # Markup in the string: compared on what the page shows.
        'Write to <a href="mailto:x@hub.example">x@hub.example</a>. Members use their portal; '
        "authorities use the lawful-request desk they were given access to.",
        # In an attribute read aloud, with the text wrapped differently.
        '<button aria-label="Send the\n  answer">✓</button>',
    ],
)
def test_an_english_string_the_catalogue_translates_is_found_on_a_french_page(db, english):
    page = french_client().get("/membership/").content.decode()
    assert untranslated(page) == []
    injected = page.replace("</main>", f"<p>{english}</p></main>")
    assert len(untranslated(injected)) == 1
    # Unless the page says it is English.
    marked = page.replace("</main>", f'<div lang="en"><p>{english}</p></div></main>')
    assert untranslated(marked) == []


def test_short_strings_and_those_the_french_keeps_are_not_looked_for():
    msgids = {string.msgid for string in english_strings()}
    assert "Dashboard" not in msgids  # one word
    assert "Join the consortium" in msgids
    assert len(msgids) > 200
