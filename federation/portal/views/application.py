"""The membership application as its applicant sees it: the form, then its status and the
conversation with consortium staff. The process itself is governance's services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from federation.governance import selectors
from federation.governance.forms import ApplicationForm, MessageForm
from federation.governance.models import ApplicationState, MembershipApplication
from federation.portal.pages import audit_context, form_status, language, signed_in
from federation.portal.selectors import application_page_of
from federation.portal.services import (
    ApplicationSaved,
    application_answer_from_form,
    application_save_from_form,
    application_to_edit,
)


def _saved_message(saved: ApplicationSaved, application: MembershipApplication) -> str:
    if saved == ApplicationSaved.DRAFT and application.state == ApplicationState.DRAFT:
        return _("Draft saved. You can come back to it at any time.")
    # Awaiting the answer to staff's request for information: saving never sends it.
    return _(
        "Changes saved. Information requested: answer consortium staff's request below to "
        "send your application back to them."
    )


def _form_page(
    request: HttpRequest,
    form: ApplicationForm,
    application: MembershipApplication,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "portal/application_form.html",
        {
            "form": form,
            "application": application,
            "information_request": selectors.information_requested(application=application),
        },
        status=status,
    )


@login_required
def application_edit(request: HttpRequest) -> HttpResponse:
    context = audit_context(request)
    application = application_to_edit(
        applicant=signed_in(request),
        may_start_over=request.method == "POST",
        language=language(),
        context=context,
    )
    if application is None:
        return redirect("portal:application-status")
    criteria = list(selectors.criteria_current())
    if request.method != "POST":
        initial = ApplicationForm.initial_for(application)
        return _form_page(request, ApplicationForm(initial=initial, criteria=criteria), application)
    form = ApplicationForm(request.POST, criteria=criteria)
    if not form.is_valid():
        messages.error(request, _("Some fields need correcting; nothing was saved yet."))
        return _form_page(request, form, application, status=400)
    saved = application_save_from_form(
        application=application,
        form=form,
        submit="submit" in request.POST,
        language=language(),
        context=context,
    )
    if saved == ApplicationSaved.NOT_SUBMITTABLE:
        messages.error(request, _("Your draft is saved, but it cannot be submitted yet."))
        return _form_page(request, form, application, status=400)
    if saved == ApplicationSaved.SUBMITTED:
        return redirect("portal:application-submitted")
    messages.success(request, _saved_message(saved, application))
    if saved == ApplicationSaved.DRAFT:
        return redirect("portal:application-edit")
    return redirect("portal:application-status")


@login_required
def application_submitted(request: HttpRequest) -> HttpResponse:
    """The confirmation an applicant sees once their application is submitted (an email
    says the same)."""
    application = selectors.application_of(user=signed_in(request))
    if application is None or application.submitted_at is None:
        return redirect("portal:application-edit")
    return render(request, "portal/application_submitted.html", {"application": application})


@login_required
def application_status(request: HttpRequest) -> HttpResponse:
    application = selectors.application_of(user=signed_in(request))
    if application is None:
        return redirect("portal:application-edit")
    form = MessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        context = audit_context(request)
        if application_answer_from_form(form=form, application=application, context=context):
            messages.success(request, _("Message sent to consortium staff."))
            return redirect("portal:application-status")
    page = {**application_page_of(application), "form": form}
    return render(request, "portal/application_status.html", page, status=form_status(form))
