"""Background work of the crisis protocol: sending webhook deliveries from the outbox and
the periodic safety net, and incident emails. Tasks take ids and are safe to run twice:
a delivery is claimed in the database before it is sent."""

from __future__ import annotations

from celery import shared_task
from django.urls import reverse

from accounts.mail import email_people, hub_url, people_acting_for
from accounts.models import OrganisationKind
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
    """Email the people who act for the notified organisations, one message each, in each
    one's language: platforms' admins and analysts, authorities' liaisons."""
    incident = Incident.objects.get(pk=incident_pk)
    link = hub_url(reverse("incidents:incident-list") + f"?slug={incident.slug}")
    sent = 0
    for notice in incident.notices.select_related("organisation"):
        authority = notice.organisation.kind == OrganisationKind.AUTHORITY
        sent += email_people(
            recipients=people_acting_for(organisation=notice.organisation),
            template="incidents/email/incident_event.txt",
            # Only member platforms submit hashes; authorities are told how to follow.
            context={"incident": incident, "event": event, "submits": not authority, "link": link},
        )
    return sent
