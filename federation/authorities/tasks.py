"""Background work of lawful requests: notifications and the overdue reminder. Tasks take
ids, run on commit, and are safe to run twice (a repeated email is the worst case)."""

from __future__ import annotations

from celery import shared_task
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.mail import Recipient, email_people, hub_url, people_acting_for, staff_recipients
from accounts.models import OrganisationKind
from federation.authorities.models import LawfulRequest

EVENTS = {
    "filed": _("filed"),
    "forwarded": _("forwarded"),
    "refused": _("refused"),
    "answered": _("answered"),
    "overdue": _("overdue"),
}


def _audience(request: LawfulRequest, event: str) -> dict[str, tuple[Recipient, str]]:
    """Who must act on `event`, each with the link to the request they can follow: staff
    in admin, the platforms and the authority on their own portal page."""
    staff_link = hub_url(reverse("admin:authorities_lawfulrequest_change", args=[request.pk]))
    groups: list[tuple[list[Recipient], str]] = []
    if event in ("filed", "overdue"):
        groups.append((staff_recipients(), staff_link))
    if event in ("forwarded", "overdue"):
        for addressee in request.addressees.filter(answered_at__isnull=True).select_related(
            "organisation"
        ):
            platform = addressee.organisation
            if platform.kind != OrganisationKind.PLATFORM:
                continue
            link = hub_url(
                reverse("portal:lawful-request", args=[platform.slug, request.public_id])
            )
            groups.append((people_acting_for(organisation=platform), link))
    if event in ("refused", "answered"):
        authority = request.authority
        link = hub_url(reverse("portal:lawful-request", args=[authority.slug, request.public_id]))
        groups.append((people_acting_for(organisation=authority), link))
    audience: dict[str, tuple[Recipient, str]] = {}
    for recipients, link in groups:
        for recipient in recipients:
            audience.setdefault(recipient.email.lower(), (recipient, link))
    return audience


@shared_task(acks_late=True)
def notify_lawful_request_event(request_pk: int, event: str) -> int:
    """Tell whoever must act, one message each: staff of a new request, platforms of a
    forwarded or overdue one, the authority of a refusal or an answer. The email names the
    request, never its subject (that stays behind authentication and the access log), and
    never another recipient."""
    request = LawfulRequest.objects.select_related("authority").get(pk=request_pk)
    audience = _audience(request, event)
    return email_people(
        recipients=[recipient for recipient, _link in audience.values()],
        template="authorities/email/lawful_request_event.txt",
        context=lambda recipient: {
            "request": request,
            "short_id": str(request.public_id)[:8],
            "kind": _(request.get_kind_display()),
            "state": _(request.get_state_display()),
            "event": EVENTS.get(event, event),
            "link": audience[recipient.email.lower()][1],
        },
    )


@shared_task(acks_late=True)
def remind_overdue_lawful_requests() -> list[int]:
    from federation.authorities.services import lawful_requests_remind_overdue

    return lawful_requests_remind_overdue()
