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

from accounts.errors import Conflict, NotFound, ServiceError
from accounts.models import Membership
from federation.authorities import selectors, services
from federation.authorities.models import LawfulRequest
from federation.authorities.personal_data import personal_data_hints
from federation.portal.forms import LawfulRequestAnswerForm, LawfulRequestFileForm
from federation.portal.pages import audit_context, form_status, member_page
from federation.portal.selectors import (
    lawful_request_page_of,
    lawful_requests_page_of,
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


def _filing_error(form: LawfulRequestFileForm, path: str, code: str) -> None:
    """Put an error of the filing service on the field it concerns, in the reader's
    language. The form checks the same things first, so these mostly catch races (a
    platform suspended while the form was open)."""
    field, _dot, index = path.partition(".")
    number = int(index.split(".")[0]) + 1 if index[:1].isdigit() else 0
    if field == "addressed_platforms":
        form.add_error(
            field, _("Platform %(number)s is not an active member platform.") % {"number": number}
        )
    elif field == "subject_hashes":
        form.add_error(field, _("Hash %(number)s is not valid.") % {"number": number})
    elif code == "subject_too_large":
        form.add_error(
            None,
            _("At most %(count)s URLs, hashes and accounts in one request.")
            % {"count": services.MAX_SUBJECT_ITEMS},
        )
    else:
        form.add_error(None, _("Name at least one URL, content hash or account."))


def _personal_data_notes(form: LawfulRequestFileForm, warnings: dict) -> list[str]:
    """The filing service's field-level warnings, worded for the person who typed them."""
    data = form.cleaned_data
    fields = {"description": (str(form.fields["description"].label), data["description"])}
    for index, url in enumerate(data["subject_urls"]):
        fields[f"subject_urls.{index}"] = (_("URL %(number)s") % {"number": index + 1}, url)
    for index, account in enumerate(data["subject_accounts"]):
        fields[f"subject_accounts.{index}"] = (
            _("Account %(number)s") % {"number": index + 1},
            account,
        )
    notes = []
    for path in warnings:
        label, text = fields.get(path, (path, ""))
        what = ", ".join(_(hint) for hint in personal_data_hints(text)) or _("personal data")
        notes.append(
            _(
                "%(field)s looks like it contains %(what)s. The request is filed; if the "
                "platforms do not need this, tell consortium staff before they forward it."
            )
            % {"field": label, "what": what}
        )
    return notes


@member_page("authorities.request.file")
def lawful_request_file(request: HttpRequest, membership: Membership) -> HttpResponse:
    organisation = membership.organisation
    platforms = [(p.slug, p.name) for p in selectors.platforms_addressable()]
    form = LawfulRequestFileForm(
        request.POST or None, platforms=platforms, initial={"issuing_authority": organisation.name}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            filed = services.lawful_request_file(
                authority=organisation,
                filed_by=request.user,  # type: ignore[arg-type]
                kind=data["kind"],
                issuing_authority=data["issuing_authority"],
                officer=data["officer"],
                legal_basis=data["legal_basis"],
                jurisdiction=data["jurisdiction"],
                addressed=data["addressed_platforms"],
                subject_urls=data["subject_urls"],
                subject_hashes=data["subject_hashes"],
                subject_accounts=data["subject_accounts"],
                description=data["description"],
                urgency=data["urgency"],
                context=audit_context(request, membership),
            )
        except ServiceError as exc:
            for path, problems in exc.fields.items() or [("", [{"code": exc.code}])]:
                _filing_error(form, path, problems[0]["code"])
        else:
            for note in _personal_data_notes(form, filed.warnings):
                messages.warning(request, note)
            messages.success(
                request,
                _("Request filed. Staff will check it, then forward it to the platforms."),
            )
            return redirect(
                "portal:lawful-request",
                slug=organisation.slug,
                request_id=filed.request.public_id,
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
    lawful_request = _visible(membership, request_id)
    form = LawfulRequestAnswerForm(request.POST)
    if form.is_valid():
        try:
            services.lawful_request_answer(
                request=lawful_request,
                organisation=membership.organisation,
                outcome=form.cleaned_data["outcome"],
                details=form.cleaned_data["details"],
                context=audit_context(request, membership),
            )
        except Conflict:
            messages.error(
                request,
                _("Your organisation has already answered, or the request is no longer open."),
            )
        except ServiceError:
            form.add_error("details", _("Say why the request was declined, or what was done."))
        else:
            messages.success(request, _("Answer sent to the authority."))
        if not form.errors:
            return redirect(
                "portal:lawful-request",
                slug=membership.organisation.slug,
                request_id=request_id,
            )
    return _detail_page(request, membership, request_id, answer_form=form, status=400)
