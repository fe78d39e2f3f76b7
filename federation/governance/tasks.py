"""Emails of governance. Tasks take ids, are enqueued on commit by the services, and are
safe to run twice (a second email is the worst case, never a wrong one)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.mail import Recipient, admins_of, email_people, email_person, hub_url
from accounts.models import Organisation, Role, User


def _template(name: str) -> str:
    """`governance/email/<name>.txt`: its first line is the subject."""
    return f"governance/email/{name}.txt"


def _application_language(organisation: Organisation) -> str:
    return getattr(getattr(organisation, "application", None), "language", "")


@shared_task(acks_late=True)
def send_verification_email(user_pk: int, language: str) -> int:
    from federation.governance.services import verification_token

    user = User.objects.get(pk=user_pk)
    if user.is_active:
        return 0
    link = hub_url(reverse("portal:verify", args=[verification_token(user)]))
    return email_person(
        recipient=Recipient(email=user.email, language=language or Recipient.of(user).language),
        template=_template("verify"),
        context={"user": user, "link": link},
    )


@shared_task(acks_late=True)
def notify_staff_of_application(application_pk: int) -> int:
    from federation.governance.models import MembershipApplication

    application = MembershipApplication.objects.get(pk=application_pk)
    link = hub_url(reverse("admin:governance_membershipapplication_change", args=[application.pk]))
    return email_person(
        recipient=Recipient.mailbox(settings.GOVERNANCE_STAFF_EMAIL),
        template=_template("staff_application"),
        context={"application": application, "link": link},
    )


@shared_task(acks_late=True)
def confirm_application_received(application_pk: int) -> int:
    """Tell the applicant their application reached the consortium, and what comes next."""
    from federation.governance.models import MembershipApplication

    application = MembershipApplication.objects.select_related("applicant").get(pk=application_pk)
    return email_person(
        recipient=Recipient.of(application.applicant, application.language),
        template=_template("application_received"),
        context={"application": application, "link": hub_url(reverse("portal:application-status"))},
    )


@shared_task(acks_late=True)
def notify_applicant_of_message(message_pk: int) -> int:
    from federation.governance.models import ApplicationMessage

    message = ApplicationMessage.objects.select_related("application__applicant").get(pk=message_pk)
    application = message.application
    return email_person(
        recipient=Recipient.of(application.applicant, application.language),
        template=_template("applicant_message"),
        context={
            "application": application,
            "message": message,
            "link": hub_url(reverse("portal:application-status")),
        },
    )


@shared_task(acks_late=True)
def send_member_invitation(user_pk: int, organisation_pk: int) -> int:
    """Invite the new member's admin: a set-password link (Django's password-reset token,
    so it stops working once used) and the way to the member dashboard."""
    user = User.objects.get(pk=user_pk)
    organisation = Organisation.objects.get(pk=organisation_pk)
    set_password = hub_url(
        reverse(
            "portal:set-password",
            args=[
                urlsafe_base64_encode(force_bytes(user.pk)),
                default_token_generator.make_token(user),
            ],
        )
    )
    return email_person(
        recipient=Recipient.of(user, _application_language(organisation)),
        template=_template("invitation"),
        context={
            "user": user,
            "organisation": organisation,
            "set_password": set_password,
            "dashboard": hub_url(reverse("portal:dashboard", args=[organisation.slug])),
        },
    )


@shared_task(acks_late=True)
def send_person_invitation(token: str, language: str) -> int:
    """Email an invitation to its invitee alone, in the language the admin invited in."""
    from federation.governance.services import invitation_read

    invitation = invitation_read(token)
    return email_person(
        recipient=Recipient(email=invitation.email, language=language or settings.LANGUAGE_CODE),
        template=_template("person_invitation"),
        context={
            "invitation": invitation,
            "inviter": invitation.inviter.user,
            "organisation": invitation.organisation,
            "role": dict(Role.choices)[invitation.role],
            "link": hub_url(reverse("portal:invitation-accept", args=[token])),
            "days": settings.GOVERNANCE_INVITATION_MAX_AGE // 86400,
        },
    )


@shared_task(acks_late=True)
def notify_organisation_decision(decision_pk: int) -> int:
    from federation.governance.models import OrganisationDecision

    decision = OrganisationDecision.objects.select_related("organisation").get(pk=decision_pk)
    organisation = decision.organisation
    return email_people(
        recipients=admins_of(
            organisation=organisation, default_language=_application_language(organisation)
        ),
        template=_template("organisation_decision"),
        context={
            "decision": decision,
            "organisation": organisation,
            "link": hub_url(reverse("portal:dashboard", args=[organisation.slug])),
            "appeals_email": settings.GOVERNANCE_APPEALS_EMAIL,
        },
    )
