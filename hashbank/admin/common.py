"""Shared pieces of the hash bank admin: links, searches, intermediate action pages."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.errors import ServiceError

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


def _bound_form(form_class: type[forms.Form], request: HttpRequest) -> forms.Form:
    """The action's form, bound once the staff member submits the intermediate page."""
    if "apply" in request.POST:
        return form_class(request.POST)
    return form_class()


def _action_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    form: forms.Form,
    action: str,
    title: str,
    intro: str,
    submit_label: str,
    template: str = "admin/hashbank/action_form.html",
) -> TemplateResponse:
    """The intermediate page of an action: the form, and the selection carried through as
    hidden inputs so that submitting it runs the action again with `apply` set."""
    request.current_app = model_admin.admin_site.name
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "opts": model_admin.model._meta,
        "queryset": queryset,
        "form": form,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "submit_label": submit_label,
        "media": model_admin.media + form.media,
    }
    return TemplateResponse(request, template, context)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that are history (the change log, snapshots): looked at, never touched."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def apply_each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    objects: Iterable[Any],
    service: Callable[[Any], object],
    *,
    level: int = messages.ERROR,
) -> int:
    """Run a service on each selected object. A refusal (ServiceError) is reported for that
    object and the others go on; returns how many succeeded."""
    done = 0
    for obj in objects:
        try:
            service(obj)
        except ServiceError as exc:
            model_admin.message_user(request, f"{obj}: {exc.message}", level)
            continue
        done += 1
    return done


def _json_block(raw: bytes) -> str:
    """Stored JSON bytes as staff read them: indented with sorted keys, or as text if they
    do not parse (the bytes are shown whatever they hold)."""
    try:
        text = json.dumps(json.loads(raw), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        text = raw.decode("utf-8", errors="replace")
    return format_html('<pre class="hub-pre-wrap">{}</pre>', text)
