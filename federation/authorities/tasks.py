"""Background work of lawful requests: notifications and the overdue reminder. Tasks take
ids, run on commit, and are safe to run twice (a repeated email is the worst case)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from accounts.models import Organisation, OrganisationKind, Role, User
from federation.authorities.models import LawfulRequest


def _emails(organisation: Organisation, roles: tuple[str, ...]) -> list[str]:
    return list(
        organisation.memberships.filter(role__in=roles).values_list("user__email", flat=True)
    )


def _staff_emails() -> list[str]:
    return list(User.objects.filter(is_staff=True, is_active=True).values_list("email", flat=True))


@shared_task(acks_late=True)
def notify_lawful_request_event(request_pk: int, event: str) -> int:
    """Tell whoever must act: staff of a new request, platforms of a forwarded or overdue
    one, the authority of a refusal or an answer. The email names the request, never its
    subject (that stays behind authentication and the access log)."""
    request = LawfulRequest.objects.select_related("authority").get(pk=request_pk)
    authority_emails = _emails(request.authority, (Role.LIAISON,))
    platform_emails = [
        email
        for addressee in request.addressees.filter(answered_at__isnull=True).select_related(
            "organisation"
        )
        for email in _emails(addressee.organisation, (Role.ADMIN, Role.ANALYST))
        if addressee.organisation.kind == OrganisationKind.PLATFORM
    ]
    recipients = {
        "filed": _staff_emails(),
        "forwarded": platform_emails,
        "refused": authority_emails,
        "answered": authority_emails,
        "overdue": _staff_emails() + platform_emails,
    }.get(event, [])
    if not recipients:
        return 0
    deadline = f" Deadline: {request.deadline:%Y-%m-%d %H:%M} UTC." if request.deadline else ""
    return send_mail(
        subject=f"[Hashfed] {request.get_kind_display()} {str(request.public_id)[:8]}: {event}",
        message=(
            f"Lawful request {request.public_id} ({request.get_kind_display()}, "
            f"{request.jurisdiction}) is now {request.get_state_display().lower()}.{deadline}\n"
            "Read it through the API (every read is logged)."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=sorted(set(recipients)),
    )


@shared_task(acks_late=True)
def remind_overdue_lawful_requests() -> list[int]:
    from federation.authorities.services import lawful_requests_remind_overdue

    return lawful_requests_remind_overdue()
