"""Emails of governance. Tasks take ids, are enqueued on commit by the services, and are
safe to run twice (a second email is the worst case, never a wrong one)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Organisation, Role, User


def portal_url(path: str) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + path


def _send(template: str, context: dict, recipients: list[str], language: str) -> int:
    """Render `governance/email/<template>.txt`: its first line is the subject."""
    if not recipients:
        return 0
    with translation.override(language):
        subject, _, body = render_to_string(f"governance/email/{template}.txt", context).partition(
            "\n"
        )
    return send_mail(
        subject=subject.strip(),
        message=body.strip() + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )


@shared_task(acks_late=True)
def send_verification_email(user_pk: int, language: str) -> int:
    from federation.governance.services import verification_token

    user = User.objects.get(pk=user_pk)
    if user.is_active:
        return 0
    with translation.override(language):
        link = portal_url(reverse("governance:verify", args=[verification_token(user)]))
    return _send("verify", {"user": user, "link": link}, [user.email], language)


@shared_task(acks_late=True)
def notify_staff_of_application(application_pk: int) -> int:
    from federation.governance.models import MembershipApplication

    application = MembershipApplication.objects.get(pk=application_pk)
    link = portal_url(
        reverse("admin:governance_membershipapplication_change", args=[application.pk])
    )
    return _send(
        "staff_application",
        {"application": application, "link": link},
        [settings.GOVERNANCE_STAFF_EMAIL],
        "en",
    )


@shared_task(acks_late=True)
def notify_applicant_of_message(message_pk: int) -> int:
    from federation.governance.models import ApplicationMessage

    message = ApplicationMessage.objects.select_related("application__applicant").get(pk=message_pk)
    application = message.application
    with translation.override(application.language):
        link = portal_url(reverse("governance:application-status"))
    return _send(
        "applicant_message",
        {"application": application, "message": message, "link": link},
        [application.applicant.email],
        application.language,
    )


@shared_task(acks_late=True)
def send_member_invitation(user_pk: int, organisation_pk: int) -> int:
    """Invite the new member's admin: a set-password link (Django's password-reset token,
    so it stops working once used) and the way to the member dashboard."""
    user = User.objects.get(pk=user_pk)
    organisation = Organisation.objects.get(pk=organisation_pk)
    language = getattr(getattr(organisation, "application", None), "language", "en")
    with translation.override(language):
        set_password = portal_url(
            reverse(
                "governance:set-password",
                args=[
                    urlsafe_base64_encode(force_bytes(user.pk)),
                    default_token_generator.make_token(user),
                ],
            )
        )
        dashboard = portal_url(reverse("governance:dashboard", args=[organisation.slug]))
    return _send(
        "invitation",
        {
            "user": user,
            "organisation": organisation,
            "set_password": set_password,
            "dashboard": dashboard,
        },
        [user.email],
        language,
    )


@shared_task(acks_late=True)
def notify_organisation_decision(decision_pk: int) -> int:
    from federation.governance.models import OrganisationDecision

    decision = OrganisationDecision.objects.select_related("organisation").get(pk=decision_pk)
    organisation = decision.organisation
    admins = list(
        organisation.memberships.filter(role=Role.ADMIN).values_list("user__email", flat=True)
    )
    language = getattr(getattr(organisation, "application", None), "language", "en")
    with translation.override(language):
        link = portal_url(reverse("governance:dashboard", args=[organisation.slug]))
    return _send(
        "organisation_decision",
        {
            "decision": decision,
            "organisation": organisation,
            "link": link,
            "appeals_email": settings.GOVERNANCE_APPEALS_EMAIL,
        },
        admins,
        language,
    )
