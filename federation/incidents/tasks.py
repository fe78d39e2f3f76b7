"""Background work of the crisis protocol: sending webhook deliveries from the outbox and
the periodic safety net, and incident emails. Tasks take ids and are safe to run twice:
a delivery is claimed in the database before it is sent."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from accounts.models import OrganisationKind, Role
from federation.incidents.models import Incident


@shared_task(acks_late=True)
def deliver_webhook(delivery_pk: int) -> str:
    from federation.incidents.services import webhook_delivery_send

    return webhook_delivery_send(delivery_pk=delivery_pk)


@shared_task(acks_late=True)
def requeue_due_webhooks() -> int:
    from federation.incidents.services import webhook_deliveries_requeue_due

    return len(webhook_deliveries_requeue_due())


@shared_task(acks_late=True)
def notify_incident_event(incident_pk: int, event: str) -> int:
    """Email the people who act for the notified organisations: platforms' admins and
    analysts, authorities' liaisons."""
    incident = Incident.objects.get(pk=incident_pk)
    recipients: set[str] = set()
    for notice in incident.notices.select_related("organisation"):
        roles = (
            (Role.LIAISON,)
            if notice.organisation.kind == OrganisationKind.AUTHORITY
            else (Role.ADMIN, Role.ANALYST)
        )
        recipients.update(
            notice.organisation.memberships.filter(role__in=roles).values_list(
                "user__email", flat=True
            )
        )
    if not recipients:
        return 0
    lines = [
        f"{incident.get_level_display()}: {incident.title}",
        "",
        incident.description,
        "",
        f"Tag submissions with incident {incident.slug!r} for the fast path."
        if event == "declared"
        else "The incident is closed; the fast path is shut.",
    ]
    return send_mail(
        subject=f"[Hashfed] Incident {incident.slug} {event}",
        message="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=sorted(recipients),
    )
