"""Mentor pages: the organisations a person mentors and each one's progress. Who mentors
whom is governance's; these pages only show it."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import NotFound
from federation.governance import selectors
from federation.portal.pages import signed_in


@login_required
def mentoring(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/mentoring.html",
        {"mentorships": selectors.mentorships_of(user=signed_in(request))},
    )


@login_required
def mentee(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        mentorship = selectors.mentee_of(user=signed_in(request), slug=slug)
    except NotFound:
        raise Http404 from None
    organisation = mentorship.mentee
    return render(
        request,
        "portal/mentee.html",
        {
            "organisation": organisation,
            "mentorship": mentorship,
            "checklist": selectors.onboarding_checklist(organisation=organisation),
            "figures": selectors.organisation_figures(organisation=organisation),
            "targets": selectors.criterion_targets_of(organisation=organisation),
        },
    )
