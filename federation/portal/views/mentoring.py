"""Mentor pages: the organisations a person mentors and each one's progress, where the
mentor also moves the dates its open criteria are due. Who mentors whom is governance's."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from core.errors import NotFound
from federation.governance import selectors
from federation.portal.forms import TargetDateForm
from federation.portal.pages import audit_context, form_status, signed_in
from federation.portal.services import target_date_set_from_form


@login_required
def mentoring(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/mentoring.html",
        {"mentorships": selectors.mentorships_of(user=signed_in(request))},
    )


@login_required
def mentee(request: HttpRequest, slug: str) -> HttpResponse:
    user = signed_in(request)
    try:
        mentorship = selectors.mentee_of(user=user, slug=slug)
    except NotFound:
        raise Http404 from None
    organisation = mentorship.mentee
    form = TargetDateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        context = audit_context(request)
        try:
            saved = target_date_set_from_form(
                form=form, mentorship=mentorship, user=user, context=context
            )
        except NotFound:
            raise Http404 from None
        if saved:
            messages.success(request, _("Target date changed."))
            return redirect("portal:mentee", slug=organisation.slug)
    return render(
        request,
        "portal/mentee.html",
        {
            "organisation": organisation,
            "mentorship": mentorship,
            "checklist": selectors.onboarding_checklist(organisation=organisation),
            "figures": selectors.organisation_figures(organisation=organisation),
            "targets": selectors.criterion_targets_of(organisation=organisation),
            "target_form": form,
            "editable_targets": True,
        },
        status=form_status(form),
    )
