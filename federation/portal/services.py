"""Writes behind the portal's forms: each one hands what a valid form holds to the service
of the app that owns it, and puts what that service refuses back on the form, worded for
the person who typed it. They return what was made, or None when the form now carries the
errors to show."""

from __future__ import annotations

import enum
from typing import Any

from django.utils.translation import gettext as _
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services as accounts_services
from accounts.audit import AuditContext
from accounts.models import ApiKey, Membership, SigningKey, User
from core.errors import Conflict, NotFound, ServiceError
from federation.authorities import services as authorities_services
from federation.authorities.models import LawfulRequest
from federation.authorities.personal_data import personal_data_hints
from federation.authorities.services import FiledRequest
from federation.governance import selectors as governance_selectors
from federation.governance import services as governance_services
from federation.governance.forms import ApplicationForm, MessageForm
from federation.governance.models import ApplicationState, MembershipApplication, Mentorship
from federation.portal.forms import (
    ApiKeyIssueForm,
    InvitationAcceptForm,
    InviteForm,
    LawfulRequestAnswerForm,
    LawfulRequestFileForm,
    SecondFactorTokenForm,
    SigningKeyRegisterForm,
    TargetDateForm,
)
from federation.portal.pages import acting


def api_key_issue_from_form(
    *, form: ApiKeyIssueForm, membership: Membership, context: AuditContext
) -> tuple[ApiKey, str] | None:
    """Issue the key a valid form describes, with at most the person's own rights: the key
    and its secret, shown once."""
    try:
        return accounts_services.api_key_issue(
            organisation=membership.organisation,
            issuer=acting(membership),
            context=context,
            **form.cleaned_data,
        )
    except ServiceError as exc:
        for field, problems in exc.fields.items():
            for problem in problems:
                form.add_error(field if field in form.fields else None, problem["message"])
        return None


def signing_key_register_from_form(
    *, form: SigningKeyRegisterForm, membership: Membership, context: AuditContext
) -> SigningKey | None:
    try:
        return accounts_services.signing_key_register(
            organisation=membership.organisation,
            public_key=form.cleaned_data["public_key"],
            name=form.cleaned_data["name"],
            issuer=acting(membership),
            context=context,
        )
    except ServiceError as exc:
        form.add_error(
            "public_key",
            exc.fields.get("public_key", [{"message": exc.message}])[0]["message"],
        )
        return None


class ApplicationSaved(enum.Enum):
    DRAFT = "draft"
    AWAITING_ANSWER = "awaiting_answer"
    SUBMITTED = "submitted"
    NOT_SUBMITTABLE = "not_submittable"


def application_to_edit(
    *, applicant: User, may_start_over: bool, language: str, context: AuditContext
) -> MembershipApplication | None:
    """The application `applicant` may edit now, started when they have none (or, with
    `may_start_over`, when their last one was decided); None when they should see its
    status instead."""
    application = governance_selectors.application_of(user=applicant)
    if application is None or application.state in (
        ApplicationState.APPROVED,
        ApplicationState.REJECTED,
    ):
        if application is not None and not may_start_over:
            return None
        application = governance_services.application_start(
            applicant=applicant, language=language, context=context
        )
    return application if application.is_editable else None


def application_save_from_form(
    *,
    application: MembershipApplication,
    form: ApplicationForm,
    submit: bool,
    language: str,
    context: AuditContext,
) -> ApplicationSaved:
    """Save what a valid form holds, then, when asked to, submit it. Saved first, so even
    an incomplete submission keeps everything that was typed; what submitting still lacks
    goes on the form (NOT_SUBMITTABLE). An application awaiting an answer to staff is sent
    by answering, not from the form."""
    application = governance_services.application_save(
        application=application,
        facts=form.facts(),
        evidence=form.evidence(),
        language=language,
        context=context,
    )
    if not submit:
        return ApplicationSaved.DRAFT
    if application.state == ApplicationState.NEEDS_INFORMATION:
        return ApplicationSaved.AWAITING_ANSWER
    try:
        governance_services.application_submit(application=application, context=context)
    except ServiceError as exc:
        for field, problems in exc.fields.items():
            target = form.field_for_missing(field)
            for problem in problems:
                form.add_error(
                    target, _("Required to submit: %(what)s") % {"what": problem["message"]}
                )
        return ApplicationSaved.NOT_SUBMITTABLE
    return ApplicationSaved.SUBMITTED


def application_answer_from_form(
    *, form: MessageForm, application: MembershipApplication, context: AuditContext
) -> bool:
    """Send the applicant's message on a valid form to staff; False when refused (the
    reason on the form)."""
    try:
        governance_services.application_answer(
            application=application, body=form.cleaned_data["body"], context=context
        )
    except ServiceError as exc:
        form.add_error("body", exc.message)
        return False
    return True


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
            % {"count": authorities_services.MAX_SUBJECT_ITEMS},
        )
    else:
        form.add_error(None, _("Name at least one URL, content hash or account."))


def personal_data_notes(form: LawfulRequestFileForm, warnings: dict[str, Any]) -> list[str]:
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


def lawful_request_file_from_form(
    *, form: LawfulRequestFileForm, membership: Membership, context: AuditContext
) -> FiledRequest | None:
    """File the request a valid form describes, for the authority of `membership`."""
    data = form.cleaned_data
    try:
        return authorities_services.lawful_request_file(
            authority=membership.organisation,
            filed_by=membership.user,
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
            context=context,
        )
    except ServiceError as exc:
        for path, problems in exc.fields.items() or [("", [{"code": exc.code}])]:
            _filing_error(form, path, problems[0]["code"])
        return None


class AnswerSent(enum.Enum):
    SENT = "sent"
    NOT_OPEN = "not_open"
    INVALID = "invalid"


def lawful_request_answer_from_form(
    *,
    form: LawfulRequestAnswerForm,
    lawful_request: LawfulRequest,
    membership: Membership,
    context: AuditContext,
) -> AnswerSent:
    """Send the answer on a valid form for the platform of `membership`. NOT_OPEN when it
    has answered already or the request closed; INVALID (the reason on the form) when the
    details the outcome needs are missing."""
    try:
        authorities_services.lawful_request_answer(
            request=lawful_request,
            organisation=membership.organisation,
            outcome=form.cleaned_data["outcome"],
            details=form.cleaned_data["details"],
            context=context,
        )
    except Conflict:
        return AnswerSent.NOT_OPEN
    except ServiceError:
        form.add_error("details", _("Say why the request was declined, or what was done."))
        return AnswerSent.INVALID
    return AnswerSent.SENT


def second_factor_verify_from_form(
    *, form: SecondFactorTokenForm, user: User, context: AuditContext
) -> Device | None:
    """The device the code on a valid form belongs to, or None (the refusal on the form)."""
    try:
        return accounts_services.second_factor_verify(
            user=user, token=form.cleaned_data["token"], context=context
        )
    except ServiceError as exc:
        form.add_error("token", exc.fields["token"][0]["message"])
        return None


def totp_device_confirm_from_form(
    *, form: SecondFactorTokenForm, device: TOTPDevice, context: AuditContext
) -> list[str] | None:
    """Confirm a pending authenticator with the code on a valid form: its recovery codes,
    shown once, or None (the refusal on the form)."""
    try:
        return accounts_services.totp_device_confirm(
            device=device, token=form.cleaned_data["token"], context=context
        )
    except ServiceError as exc:
        form.add_error("token", exc.fields["token"][0]["message"])
        return None


def _refusal_on_form(form: Any, exc: ServiceError) -> None:
    """Put what a service refused on the fields it names, else on the whole form."""
    if not exc.fields:
        form.add_error(None, exc.message)
    for field, problems in exc.fields.items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem["message"])


def invitation_send_from_form(
    *, form: InviteForm, membership: Membership, language: str, context: AuditContext
) -> bool:
    """Invite the person a valid form names; False when refused (the reason on the form)."""
    try:
        governance_services.invitation_send(
            inviter=membership,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            language=language,
            context=context,
        )
    except ServiceError as exc:
        if exc.code == "conflict" or "email" in exc.fields:
            form.add_error(
                "email",
                _("This person has an account already: ask consortium staff to add them."),
            )
        else:
            _refusal_on_form(form, exc)
        return False
    return True


def invitation_accept_from_form(
    *, form: InvitationAcceptForm, token: str, context: AuditContext
) -> Membership | None:
    try:
        return governance_services.invitation_accept(
            token=token,
            full_name=form.cleaned_data["full_name"],
            password=form.cleaned_data["password"],
            context=context,
        )
    except ServiceError as exc:
        if "password" in exc.fields:
            form.add_error("password", exc.fields["password"][0]["message"])
            return None
        raise


def target_date_set_from_form(
    *, form: TargetDateForm, mentorship: Mentorship, user: User, context: AuditContext
) -> bool:
    """Move a mentee's target date as a valid form asks; False when refused (the reason on
    the form)."""
    try:
        governance_services.criterion_target_reschedule(
            mentorship=mentorship,
            criterion_key=form.cleaned_data["criterion"],
            target_date=form.cleaned_data["target_date"],
            mentor=user,
            context=context,
        )
    except NotFound:
        raise
    except ServiceError as exc:
        if "target_date" in exc.fields:
            form.add_error("target_date", _("Choose today or a later date."))
        else:
            _refusal_on_form(form, exc)
        return False
    return True
