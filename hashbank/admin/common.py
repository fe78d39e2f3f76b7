"""Shared pieces of the hash bank admin: links and searches."""

from __future__ import annotations

import json
import uuid

from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

BANK_GRANTS = ("hashbank.read_bank", "hashbank.contribute_bank")


def _admin_link(obj: models.Model, text: object) -> str:
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text)


def _short(value: str, length: int = 16) -> str:
    return value if len(value) <= length else value[:length] + "…"


def _value_search(term: str, *, value_field: str = "value") -> Q:
    """A hash matches on its exact value or a prefix; values are stored normalised (hex in
    lowercase), so the lowercased term is tried too."""
    term = term.strip()
    return Q(**{f"{value_field}__startswith": term}) | Q(
        **{f"{value_field}__startswith": term.lower()}
    )


def _uuid_or_none(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term.strip())
    except ValueError:
        return None


def _json_block(raw: bytes) -> str:
    """Stored JSON bytes as staff read them: indented with sorted keys, or as text if they
    do not parse (the bytes are shown whatever they hold)."""
    try:
        text = json.dumps(json.loads(raw), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        text = raw.decode("utf-8", errors="replace")
    return format_html('<pre class="hub-pre-wrap">{}</pre>', text)
