"""Portal pages for lawful requests: authority liaisons file and follow their requests,
addressed platforms acknowledge and answer them.

Each page needs the matrix action the equivalent API view declares and reads through the
same selectors, so another organisation's request answers 404. Every page that shows a
request reads it through authorities.selectors.read_lawful_request(s), which log the read on
the portal channel.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Membership
from core.errors import NotFound, ServiceError
from federation.authorities import selectors, services
from federation.authorities.models import LawfulRequest
from federation.portal.forms import LawfulRequestAnswerForm, LawfulRequestFileForm
from federation.portal.pages import audit_context, form_status, member_page
from federation.portal.selectors import (
    lawful_request_page_of,
    lawful_requests_page_of,
)
from federation.portal.services import (
    AnswerSent,
    lawful_request_answer_from_form,
    lawful_request_file_from_form,
    personal_data_notes,
)


def _visible(membership: Membership, request_id: uuid.UUID) -> LawfulRequest:
    """The request a write acts on (not shown, so not logged as read)."""
    try:
        return selectors.lawful_request_visible(
            organisation=membership.organisation, public_id=str(request_id)
        )
    except NotFound:
        raise Http404 from None


@member_page("authorities.request.list")
def lawful_requests(request: HttpRequest, membership: Membership) -> HttpResponse:
    context = lawful_requests_page_of(
        request,
        membership,
        overdue_only=request.GET.get("overdue") == "true",
        page_number=request.GET.get("page"),
    )
    return render(request, "portal/lawful_requests.html", context)


@member_page("authorities.request.file")
def lawful_request_file(request: HttpRequest, membership: Membership) -> HttpResponse:
    organisation = membership.organisation
    platforms = [(p.slug, p.name) for p in selectors.platforms_addressable()]
    form = LawfulRequestFileForm(
        request.POST or None, platforms=platforms, initial={"issuing_authority": organisation.name}
    )
    if request.method == "POST" and form.is_valid():
        context = audit_context(request, membership)
        filed = lawful_request_file_from_form(form=form, membership=membership, context=context)
        if filed is not None:
            for note in personal_data_notes(form, filed.warnings):
                messages.warning(request, note)
            messages.success(
                request, _("Request filed. Staff will check it, then forward it to the platforms.")
            )
            return redirect(
                "portal:lawful-request", slug=organisation.slug, request_id=filed.request.public_id
            )
    if form.is_bound and form.errors:
        messages.error(request, _("Some fields need correcting; nothing was filed yet."))
    return render(
        request,
        "portal/lawful_request_form.html",
        {"organisation": organisation, "membership": membership, "form": form},
        status=form_status(form),
    )


def _detail_page(
    request: HttpRequest,
    membership: Membership,
    request_id: uuid.UUID,
    *,
    answer_form: LawfulRequestAnswerForm,
    status: int = 200,
) -> HttpResponse:
    try:
        context = lawful_request_page_of(request, membership, request_id)
    except NotFound:
        raise Http404 from None
    return render(
        request,
        "portal/lawful_request.html",
        {**context, "answer_form": answer_form},
        status=status,
    )


@member_page("authorities.request.list")
def lawful_request_detail(
    request: HttpRequest, membership: Membership, request_id: uuid.UUID
) -> HttpResponse:
    return _detail_page(request, membership, request_id, answer_form=LawfulRequestAnswerForm())


@require_POST
@member_page("authorities.request.answer")
def lawful_request_acknowledge(
    request: HttpRequest, membership: Membership, request_id: uuid.UUID
) -> HttpResponse:
    lawful_request = _visible(membership, request_id)
    try:
        services.lawful_request_acknowledge(
            request=lawful_request,
            organisation=membership.organisation,
            context=audit_context(request, membership),
        )
    except ServiceError:
        messages.error(request, _("This request is no longer open to acknowledge."))
    else:
        messages.success(request, _("Receipt acknowledged. The authority can see it."))
    return redirect(
        "portal:lawful-request", slug=membership.organisation.slug, request_id=request_id
    )


@require_POST
@member_page("authorities.request.answer")
def lawful_request_answer(
    request: HttpRequest, membership: Membership, request_id: uuid.UUID
) -> HttpResponse:
    form = LawfulRequestAnswerForm(request.POST)
    if form.is_valid():
        sent = lawful_request_answer_from_form(
            form=form,
            lawful_request=_visible(membership, request_id),
            membership=membership,
            context=audit_context(request, membership),
        )
        if sent == AnswerSent.NOT_OPEN:
            messages.error(
                request,
                _("Your organisation has already answered, or the request is no longer open."),
            )
        elif sent == AnswerSent.SENT:
            messages.success(request, _("Answer sent to the authority."))
        if not form.errors:
            slug = membership.organisation.slug
            return redirect("portal:lawful-request", slug=slug, request_id=request_id)
    return _detail_page(request, membership, request_id, answer_form=form, status=400)
