"""Spotting what looks like personal data in free text, so an authority is warned (not
refused: it may be needed) before a request carries more than the platforms need."""

from __future__ import annotations

import re

from django.utils.translation import gettext_noop

# The kinds are English in the API's warnings; the portal translates them.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (gettext_noop("an email address"), re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")),
    # International (+) or national (0) numbers of eight digits or more, with separators.
    (
        gettext_noop("a phone number"),
        re.compile(r"(?<![\w/.:-])(?:\+|0)\d[\d ()-]{6,}\d(?![\w/.:-])"),
    ),
    (
        gettext_noop("a bank account number (IBAN)"),
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}\b"),
    ),
    (gettext_noop("an IP address"), re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")),
    (
        gettext_noop("a date of birth"),
        re.compile(r"\b(?:born|d\.?o\.?b\.?|date of birth)\b", re.IGNORECASE),
    ),
]


def personal_data_hints(text: str) -> list[str]:
    """What kinds of personal data `text` seems to contain (possibly none)."""
    return [what for what, pattern in _PATTERNS if pattern.search(text or "")]


def personal_data_warnings(fields: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    """Field-level warnings in the shape of the API's error fields."""
    warnings: dict[str, list[dict[str, str]]] = {}
    for name, text in fields.items():
        for what in personal_data_hints(text):
            warnings.setdefault(name, []).append(
                {
                    "code": "possible_personal_data",
                    "message": f"this looks like it contains {what}; send only what the "
                    "platforms need to act",
                }
            )
    return warnings
