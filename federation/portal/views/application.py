"""The membership application as its applicant sees it: the form, then its status and the
conversation with consortium staff. The process itself is governance's services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.errors import ServiceError
from federation.governance import selectors, services
from federation.governance.forms import ApplicationForm, MessageForm
from federation.governance.models import ApplicationState
from federation.portal.pages import audit_context, form_status
from federation.portal.views.public import language


@login_required
def application_edit(request: HttpRequest) -> HttpResponse:
    application = selectors.application_of(user=request.user)  # type: ignore[arg-type]
    if application is None or application.state in (
        ApplicationState.APPROVED,
        ApplicationState.REJECTED,
    ):
        if request.method != "POST" and application is not None:
            return redirect("portal:application-status")
        application = services.application_start(
            applicant=request.user,  # type: ignore[arg-type]
            language=language(),
            context=audit_context(request),
        )
    if not application.is_editable:
        return redirect("portal:application-status")
    criteria = list(selectors.criteria_current())
    if request.method != "POST":
        form = ApplicationForm(initial=ApplicationForm.initial_for(application), criteria=criteria)
        return render(
            request, "portal/application_form.html", {"form": form, "application": application}
        )
    form = ApplicationForm(request.POST, criteria=criteria)
    if not form.is_valid():
        messages.error(request, _("Some fields need correcting; nothing was saved yet."))
        return render(
            request,
            "portal/application_form.html",
            {"form": form, "application": application},
            status=400,
        )
    # Saved first, so even an incomplete submission keeps everything that was typed.
    application = services.application_save(
        application=application,
        facts=form.facts(),
        evidence=form.evidence(),
        language=language(),
        context=audit_context(request),
    )
    if "submit" not in request.POST:
        messages.success(request, _("Draft saved. You can come back to it at any time."))
        return redirect("portal:application-edit")
    try:
        if application.state == ApplicationState.NEEDS_INFORMATION:
            messages.success(request, _("Changes saved. Answer the request below to send them."))
            return redirect("portal:application-status")
        services.application_submit(application=application, context=audit_context(request))
    except ServiceError as exc:
        for field, problems in exc.fields.items():
            target = form.field_for_missing(field)
            for problem in problems:
                form.add_error(
                    target, _("Required to submit: %(what)s") % {"what": problem["message"]}
                )
        messages.error(request, _("Your draft is saved, but it cannot be submitted yet."))
        return render(
            request,
            "portal/application_form.html",
            {"form": form, "application": application},
            status=400,
        )
    messages.success(request, _("Application submitted. Consortium staff will review it."))
    return redirect("portal:application-status")


@login_required
def application_status(request: HttpRequest) -> HttpResponse:
    application = selectors.application_of(user=request.user)  # type: ignore[arg-type]
    if application is None:
        return redirect("portal:application-edit")
    form = MessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.application_answer(
                application=application,
                body=form.cleaned_data["body"],
                context=audit_context(request),
            )
        except ServiceError as exc:
            form.add_error("body", exc.message)
        else:
            messages.success(request, _("Message sent to consortium staff."))
            return redirect("portal:application-status")
    return render(
        request,
        "portal/application_status.html",
        {
            "application": application,
            "missing": selectors.application_missing(application=application)
            if application.is_editable
            else [],
            "conversation": application.messages.select_related("author"),
            "evidence": application.evidence.select_related("criterion"),
            "form": form,
        },
        status=form_status(form),
    )
