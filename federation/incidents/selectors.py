"""Reads of incidents and webhooks, from the caller's organisation."""

from __future__ import annotations

from typing import Any

from django.db.models import Min, QuerySet

from accounts.mail import people_acting_for
from accounts.models import Organisation, OrganisationKind
from accounts.permissions import HASH_BANK_FIREWALLED_KINDS
from accounts.selectors import platforms_active
from core.errors import NotFound
from federation.incidents.models import (
    DeliveryState,
    Incident,
    WebhookDelivery,
    WebhookEndpoint,
)
from hashbank.models import Dispute, DisputeOutcome, ReviewState, Submission


def incident_state(slug: str) -> str | None:
    """ "open", "closed", or None for no such incident (the hash bank's fast-path check)."""
    return Incident.objects.filter(slug=slug).values_list("state", flat=True).first()


def incidents_visible_to(*, organisation: Organisation) -> QuerySet[Incident]:
    """Platforms see every incident (they may tag submissions with any open one);
    authorities see those that name them."""
    if organisation.kind == OrganisationKind.PLATFORM:
        return Incident.objects.all()
    if organisation.kind == OrganisationKind.AUTHORITY:
        return Incident.objects.filter(named_authorities=organisation)
    return Incident.objects.none()


def incident_audience(*, authorities: list[Organisation]) -> list[Organisation]:
    """Who a declaration reaches: every active member platform and the named authorities."""
    named = [a for a in authorities if a.kind == OrganisationKind.AUTHORITY]
    return [*platforms_active(), *named]


def incident_audience_detail(*, authorities: list[Organisation]) -> list[dict[str, Any]]:
    """Each organisation a declaration would reach, with the webhooks it would be sent to
    and the people it would email: what staff confirm before declaring."""
    organisations = incident_audience(authorities=authorities)
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(organisation__in=organisations, active=True):
        endpoints.setdefault(endpoint.organisation_id, []).append(endpoint)
    return [
        {
            "organisation": org,
            "webhooks": endpoints.get(org.pk, []),
            "emails": [r.email for r in people_acting_for(organisation=org)],
        }
        for org in organisations
    ]


def webhook_endpoints_of(*, organisation: Organisation) -> QuerySet[WebhookEndpoint]:
    return organisation.webhook_endpoints.all()


def webhook_endpoint_of(*, organisation: Organisation, public_id: str) -> WebhookEndpoint:
    endpoint = organisation.webhook_endpoints.filter(public_id=public_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def webhook_deliveries_of(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return endpoint.deliveries.prefetch_related("tries").order_by("-created_at")


# The debrief figures that say nothing of the hash bank: what an organisation firewalled
# from the bank (a named authority) is shown and sent. Every other figure counts hashes,
# submissions or disputes.
DEBRIEF_FIELDS_WITHOUT_HASH_BANK = ("members_reached", "authorities_reached", "duration_seconds")


def debrief_without_hash_bank(debrief: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in debrief.items() if k in DEBRIEF_FIELDS_WITHOUT_HASH_BANK}


def debrief_for(*, debrief: dict[str, Any], organisation: Organisation) -> dict[str, Any]:
    """The incident debrief as `organisation` may read it."""
    if organisation.kind in HASH_BANK_FIREWALLED_KINDS:
        return debrief_without_hash_bank(debrief)
    return debrief


def incident_debrief(incident: Incident) -> dict[str, Any]:
    """What the incident's fast path achieved: time to the first hash (from the start of
    the event and from the declaration), hashes shared, submissions, members reached and
    contributing, webhook deliveries, and disputes against incident hashes."""
    submissions = Submission.objects.filter(incident=incident.slug)
    first = submissions.aggregate(first=Min("received_at"))["first"]
    approved = submissions.filter(review_state=ReviewState.APPROVED)
    signal_ids = set(approved.values_list("signal_id", flat=True))
    disputes = Dispute.objects.filter(signal_id__in=signal_ids)
    notices = incident.notices.select_related("organisation")
    deliveries = WebhookDelivery.objects.filter(
        event="incident.declared", body__contains=f'"incident":"{incident.slug}"'
    )
    return {
        "time_to_first_hash_seconds": (
            round((first - incident.started_at).total_seconds()) if first else None
        ),
        "time_from_declaration_to_first_hash_seconds": (
            round((first - incident.declared_at).total_seconds()) if first else None
        ),
        "hashes_shared": len(signal_ids),
        "submissions_received": submissions.count(),
        "submissions_approved": approved.count(),
        "submissions_rejected_after_review": submissions.filter(
            review_state=ReviewState.REJECTED
        ).count(),
        "members_contributing": submissions.values("organisation").distinct().count(),
        "members_reached": sum(
            1 for n in notices if n.organisation.kind == OrganisationKind.PLATFORM
        ),
        "authorities_reached": sum(
            1 for n in notices if n.organisation.kind == OrganisationKind.AUTHORITY
        ),
        "webhooks_delivered": deliveries.filter(state=DeliveryState.DELIVERED).count(),
        "webhooks_failed": deliveries.filter(state=DeliveryState.FAILED).count(),
        "disputes": disputes.count(),
        "disputes_overturned": disputes.filter(outcome=DisputeOutcome.OVERTURNED).count(),
        "duration_seconds": (
            round((incident.closed_at - incident.declared_at).total_seconds())
            if incident.closed_at
            else None
        ),
    }
