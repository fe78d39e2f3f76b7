"""Help for people affected by the content the consortium works against, by country, and
the complaint route for anyone whose content was wrongly matched or removed (no account
needed)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.principal import client_ip
from core.errors import NotFound
from federation.complaints import selectors, services
from federation.complaints.forms import ComplaintForm
from federation.portal.pages import form_status, language
from hashbank.services.lookup import RateLimited

_SENT_KEY = "complaint_reference"


def help_index(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/help.html", {"countries": list(selectors.help_countries())})


def help_country(request: HttpRequest, country: str) -> HttpResponse:
    try:
        place, by_kind = selectors.help_country(country)
    except NotFound:
        raise Http404 from None
    return render(request, "portal/help_country.html", {"country": place, "by_kind": by_kind})


def complaint(request: HttpRequest) -> HttpResponse:
    """The form. A robot that fills the hidden field is shown the same confirmation as a
    person, with a reference that names nothing, and nothing is filed or sent. A hash given
    is never looked up: the answer is the same whether or not it is listed."""
    form = ComplaintForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_robot:
        request.session[_SENT_KEY] = services.decoy_reference()
        return redirect("portal:complaint-sent")
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            filed = services.complaint_file(
                email=data["email"],
                platform=data["platform"],
                removed_on=data["removed_on"],
                content_url=data["content_url"],
                content_description=data["content_description"],
                reason=data["reason"],
                hash_value=data["hash_value"].strip(),
                language=language(),
                ip_address=client_ip(request),
            )
        except RateLimited as exc:
            response = render(
                request,
                "portal/complaint_limited.html",
                {
                    "retry_minutes": -(-exc.retry_after // 60),
                    "contact_email": settings.HUB_CONTACT_EMAIL,
                },
                status=429,
            )
            response["Retry-After"] = str(exc.retry_after)
            return response
        request.session[_SENT_KEY] = filed.reference
        return redirect("portal:complaint-sent")
    return render(
        request,
        "portal/complaint.html",
        {"form": form, "retention_days": settings.HUB_COMPLAINT_RETENTION_DAYS},
        status=form_status(form),
    )


def complaint_sent(request: HttpRequest) -> HttpResponse:
    return render(
        request, "portal/complaint_sent.html", {"reference": request.session.get(_SENT_KEY)}
    )
