"""Portal pages for lawful requests: authority liaisons file and follow their requests,
addressed platforms acknowledge and answer them.

Each page needs the matrix action the equivalent API view declares and reads through the
same selectors, so another organisation's request answers 404. Every page that shows a
request writes the read to the access log, as the API does, on the portal channel.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Membership, OrganisationKind
from accounts.permissions import is_granted
from core.errors import Conflict, NotFound, ServiceError
from federation.authorities import selectors, services
from federation.authorities.models import (
    AccessChannel,
    LawfulRequest,
    LawfulRequestAddressee,
    LawfulRequestState,
)
from federation.authorities.personal_data import personal_data_hints
from federation.governance.forms import LawfulRequestAnswerForm, LawfulRequestFileForm
from federation.governance.views import _context, _status, member_page

PAGE_SIZE = 50


@dataclass(frozen=True)
class RequestRow:
    """A request as a list shows it to one organisation: an authority sees how many of the
    addressed platforms answered, a platform sees its own acknowledgement and answer."""

    request: LawfulRequest
    addressed: int
    answered: int
    own: LawfulRequestAddressee | None


def request_rows(requests: Iterable[LawfulRequest], *, membership: Membership) -> list[RequestRow]:
    rows = []
    for lawful_request in requests:
        addressees = list(lawful_request.addressees.all())
        rows.append(
            RequestRow(
                request=lawful_request,
                addressed=len(addressees),
                answered=sum(1 for a in addressees if a.answered_at is not None),
                own=next(
                    (a for a in addressees if a.organisation_id == membership.organisation_id),
                    None,
                ),
            )
        )
    return rows


def record_reads(
    request: HttpRequest, membership: Membership, requests: Iterable[LawfulRequest], what: str
) -> None:
    services.lawful_request_access_record(
        requests=requests,
        context=_context(request, membership),
        channel=AccessChannel.PORTAL,
        what=what,
    )


def _visible(membership: Membership, request_id: uuid.UUID) -> LawfulRequest:
    try:
        return selectors.lawful_request_visible(
            organisation=membership.organisation, public_id=str(request_id)
        )
    except NotFound:
        raise Http404 from None


@member_page("authorities.request.list")
def lawful_requests(request: HttpRequest, membership: Membership) -> HttpResponse:
    organisation = membership.organisation
    requests = selectors.lawful_requests_visible_to(organisation=organisation)
    overdue_only = request.GET.get("overdue") == "true"
    if overdue_only:
        requests = requests.filter(selectors.overdue_q())
    page = Paginator(requests, PAGE_SIZE).get_page(request.GET.get("page"))
    record_reads(request, membership, page.object_list, "request.list")
    return render(
        request,
        "governance/lawful_requests.html",
        {
            "organisation": organisation,
            "membership": membership,
            "rows": request_rows(page.object_list, membership=membership),
            "page": page,
            "overdue_only": overdue_only,
            "is_authority": organisation.kind == OrganisationKind.AUTHORITY,
            "can_file": is_granted(
                "authorities.request.file", kind=organisation.kind, role=membership.role
            ),
        },
    )


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
                context=_context(request, membership),
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
                "governance:lawful-request",
                slug=organisation.slug,
                request_id=filed.request.public_id,
            )
    if form.is_bound and form.errors:
        messages.error(request, _("Some fields need correcting; nothing was filed yet."))
    return render(
        request,
        "governance/lawful_request_form.html",
        {"organisation": organisation, "membership": membership, "form": form},
        status=_status(form),
    )


def _detail_page(
    request: HttpRequest,
    membership: Membership,
    lawful_request: LawfulRequest,
    *,
    answer_form: LawfulRequestAnswerForm,
    status: int = 200,
) -> HttpResponse:
    organisation = membership.organisation
    record_reads(request, membership, [lawful_request], "request.detail")
    [row] = request_rows([lawful_request], membership=membership)
    # Like the API: a platform sees its own acknowledgement and answer, never another's.
    if organisation.kind == OrganisationKind.AUTHORITY:
        addressees = list(lawful_request.addressees.all())
    else:
        addressees = [row.own] if row.own else []
    may_answer = row.own is not None and is_granted(
        "authorities.request.answer", kind=organisation.kind, role=membership.role
    )
    return render(
        request,
        "governance/lawful_request.html",
        {
            "organisation": organisation,
            "membership": membership,
            "lawful_request": lawful_request,
            "row": row,
            "addressees": addressees,
            "can_acknowledge": may_answer
            and row.own.acknowledged_at is None  # type: ignore[union-attr]
            and lawful_request.state
            in (LawfulRequestState.FORWARDED, LawfulRequestState.ACKNOWLEDGED),
            "can_answer": may_answer
            and row.own.answered_at is None  # type: ignore[union-attr]
            and lawful_request.state
            in (LawfulRequestState.FORWARDED, LawfulRequestState.ACKNOWLEDGED),
            "answer_form": answer_form,
        },
        status=status,
    )


@member_page("authorities.request.list")
def lawful_request_detail(
    request: HttpRequest, membership: Membership, request_id: uuid.UUID
) -> HttpResponse:
    lawful_request = _visible(membership, request_id)
    return _detail_page(request, membership, lawful_request, answer_form=LawfulRequestAnswerForm())


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
            context=_context(request, membership),
        )
    except ServiceError:
        messages.error(request, _("This request is no longer open to acknowledge."))
    else:
        messages.success(request, _("Receipt acknowledged. The authority can see it."))
    return redirect(
        "governance:lawful-request", slug=membership.organisation.slug, request_id=request_id
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
                context=_context(request, membership),
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
                "governance:lawful-request",
                slug=membership.organisation.slug,
                request_id=request_id,
            )
    lawful_request = _visible(membership, request_id)
    return _detail_page(request, membership, lawful_request, answer_form=form, status=400)
