"""What every app's admin builds on: admins of history, which only show, and actions that
ask for a form first (a reason, a decision) on an intermediate page, then run a service on
each selected object."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accounts.audit import AuditContext
from core.errors import ServiceError

ACTION_FORM_TEMPLATE = "admin/action_form.html"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that are history (the change log, the audit trail, decisions): looked at,
    never touched."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """History shown beside its parent record (answers sent, quarantines): never touched
    from there."""

    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OverdueFilter(admin.SimpleListFilter):
    """Filters a list on whether its records are past their deadline; a subclass says what
    overdue means for its records (`overdue`, a Q for the current time)."""

    title = "overdue"
    parameter_name = "overdue"

    def overdue(self) -> Q:
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("yes", "overdue"), ("no", "not overdue")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(self.overdue())
        if self.value() == "no":
            return queryset.exclude(self.overdue())
        return queryset


def sentence(text: str) -> str:
    """A service's message as a page shows it: capitalised and ended with a full stop."""
    text = text.strip()
    if not text:
        return text
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def form_add_service_error(
    form: forms.Form, exc: ServiceError, fields: dict[str, str] | None = None
) -> None:
    """Put a service's refusal on the form it came from, each problem once and in words:
    a problem with a field goes beside that field (`fields` maps the service's field names
    to the form's where they differ), any other on top of the form; the overall message
    only when no field problem says it already."""
    fields = fields or {}
    placed = False
    for name, problems in exc.fields.items():
        target = fields.get(name, name)
        for problem in problems:
            form.add_error(target if target in form.fields else None, sentence(problem["message"]))
            placed = True
    if not placed:
        form.add_error(None, sentence(exc.message))


def bound_form(form_class: type[forms.Form], request: HttpRequest) -> forms.Form:
    """The action's form, bound once the staff member submits the intermediate page."""
    if "apply" in request.POST:
        return form_class(request.POST)
    return form_class()


def action_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    form: forms.Form,
    action: str,
    title: str,
    intro: str,
    submit_label: str,
    template: str = ACTION_FORM_TEMPLATE,
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
            model_admin.message_user(request, f"{obj}: {sentence(exc.message)}", level)
            continue
        done += 1
    return done


def apply_each_with_form(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    form_class: type[forms.Form],
    action: str,
    title: str,
    intro: str,
    submit_label: str,
    service: Callable[[Any, dict[str, Any], AuditContext], object],
    done: Callable[[int], str],
) -> TemplateResponse | None:
    """An action that asks for a form first (typically the reason the audit trail and the
    people concerned read): the intermediate page until the form is submitted valid, then
    `service(obj, cleaned_data, context)` on each selected object (see apply_each) and
    `done(count)` as the success message when any succeeded."""
    form = bound_form(form_class, request)
    if not (form.is_bound and form.is_valid()):
        return action_page(
            model_admin,
            request,
            queryset,
            form=form,
            action=action,
            title=title,
            intro=intro,
            submit_label=submit_label,
        )
    context = AuditContext.from_request(request)
    data = form.cleaned_data
    count = apply_each(model_admin, request, queryset, lambda obj: service(obj, data, context))
    if count:
        model_admin.message_user(request, done(count), messages.SUCCESS)
    return None
