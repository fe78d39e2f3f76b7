"""Writes of the crisis protocol and of webhooks: declaring and closing incidents,
registering endpoints, writing the outbox and sending what it holds."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import AuditContext, audit_record
from accounts.models import Organisation, OrganisationKind
from accounts.permissions import HASH_BANK_FIREWALLED_KINDS
from core import outbound
from core.errors import Conflict, Invalid
from federation.incidents import webhooks
from federation.incidents.models import (
    AttemptOutcome,
    DeliveryState,
    Incident,
    IncidentNotice,
    IncidentState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

logger = logging.getLogger(__name__)


@transaction.atomic
def webhook_endpoint_register(
    *, organisation: Organisation, url: str, description: str, context: AuditContext
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its secret, which is shown this once.
    Raises Invalid for a URL the hub must not call (see `core.outbound`)."""
    try:
        outbound.outbound_check(url)
    except outbound.UnsafeUrl as exc:
        raise Invalid.for_field("url", str(exc), code="unsafe_url") from exc
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint.objects.create(
        organisation=organisation,
        url=url,
        description=description,
        secret=webhooks.secret_seal(secret),
        created_by=context.user,
    )
    audit_record(
        action="incidents.webhook.registered",
        context=context,
        target=endpoint,
        organisation=organisation,
        detail={"url": url},
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, context: AuditContext) -> None:
    """Stop sending to an endpoint; deliveries not yet sent are dropped as failed."""
    if not endpoint.active:
        raise Conflict("this endpoint is already disabled", code="already_disabled")
    endpoint.active = False
    endpoint.disabled_at = timezone.now()
    endpoint.save(update_fields=["active", "disabled_at"])
    endpoint.deliveries.filter(state=DeliveryState.PENDING).update(
        state=DeliveryState.FAILED, last_error="endpoint disabled"
    )
    audit_record(
        action="incidents.webhook.disabled",
        context=context,
        target=endpoint,
        organisation=endpoint.organisation,
    )


def webhook_event_enqueue(
    *, organisations: Iterable[Organisation], event: str, data: dict[str, Any]
) -> list[WebhookDelivery]:
    """Write one outbox row per active endpoint of these organisations, in the caller's
    transaction, and have them sent once it commits. The body is fixed now, so what is
    signed and sent on any attempt is exactly what was decided in the transaction."""
    now = timezone.now()
    deliveries = []
    endpoints = WebhookEndpoint.objects.filter(
        organisation__in=list(organisations), active=True
    ).select_related("organisation")
    for endpoint in endpoints:
        public_id = uuid.uuid4()
        body = json.dumps(
            {
                "id": str(public_id),
                "event": event,
                "created_at": now.isoformat(),
                "organisation": endpoint.organisation.slug,
                "data": data,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        deliveries.append(
            WebhookDelivery(
                public_id=public_id, endpoint=endpoint, event=event, body=body, next_attempt_at=now
            )
        )
    WebhookDelivery.objects.bulk_create(deliveries)
    pks = [
        d.pk
        for d in WebhookDelivery.objects.filter(public_id__in=[d.public_id for d in deliveries])
    ]
    transaction.on_commit(lambda: _enqueue_sends(pks))
    return deliveries


def _enqueue_sends(pks: list[int], countdown: float | None = None) -> None:
    from federation.incidents.tasks import deliver_webhook

    for pk in pks:
        deliver_webhook.apply_async(args=[pk], countdown=countdown)


def webhook_delivery_claim(
    *, delivery_pk: int, now: dt.datetime | None = None
) -> tuple[WebhookDelivery, WebhookAttempt] | None:
    """Take a due delivery for this worker: pending and due, or sending with a lease that
    ran out (its worker died mid-send; that attempt is marked interrupted). Rows another
    worker holds are skipped, not waited for (SKIP LOCKED). Returns None when there is
    nothing to do: delivered, failed, not yet due, or leased to a live worker."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_pk)
            .filter(
                Q(state=DeliveryState.PENDING, next_attempt_at__lte=now)
                | Q(state=DeliveryState.SENDING, lease_expires_at__lt=now)
            )
            .select_related("endpoint")
            .first()
        )
        if delivery is None:
            return None
        if delivery.state == DeliveryState.SENDING:
            delivery.tries.filter(outcome="").update(
                outcome=AttemptOutcome.INTERRUPTED, finished_at=now, error="worker lost"
            )
        delivery.state = DeliveryState.SENDING
        delivery.attempts += 1
        delivery.lease_expires_at = now + dt.timedelta(
            seconds=settings.WEBHOOK_DELIVERY_LEASE_SECONDS
        )
        delivery.save(update_fields=["state", "attempts", "lease_expires_at"])
        attempt = WebhookAttempt.objects.create(
            delivery=delivery, number=delivery.attempts, started_at=now
        )
    return delivery, attempt


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    body = delivery.body.encode("utf-8")
    timestamp = int(time.time())
    try:
        # Checked again at sending time, against the addresses the connection will use:
        # the name may resolve elsewhere than it did at registration (DNS rebinding).
        target = outbound.outbound_check(delivery.endpoint.url)
        response = outbound.outbound_post(
            target,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Hashfed-Webhooks/1",
                "X-Hashfed-Event": delivery.event,
                "X-Hashfed-Delivery": str(delivery.public_id),
                "Idempotency-Key": str(delivery.public_id),
                "X-Hashfed-Timestamp": str(timestamp),
                "X-Hashfed-Signature": webhooks.webhook_signature(
                    secret=webhooks.secret_open(delivery.endpoint.secret),
                    timestamp=timestamp,
                    body=body,
                ),
            },
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        )
    except outbound.UnsafeUrl as exc:
        return None, str(exc)[:500]
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status < 300:
        return response.status, ""
    return response.status, f"HTTP {response.status}"


def webhook_delivery_send(*, delivery_pk: int, now: dt.datetime | None = None) -> str:
    """Claim, send once, record. Returns the delivery's state afterwards, or "skipped"
    when there was nothing to claim. The HTTP call runs outside any transaction, so no
    lock is held while a receiver is slow; the lease covers that time instead.

    Receivers may see a delivery more than once (the worker can die after the receiver
    answered but before the result is written); they dedupe on X-Hashfed-Delivery."""
    claimed = webhook_delivery_claim(delivery_pk=delivery_pk, now=now)
    if claimed is None:
        return "skipped"
    delivery, attempt = claimed
    started = time.monotonic()
    status_code, error = _post(delivery)
    elapsed_ms = int((time.monotonic() - started) * 1000)
    finished = now or timezone.now()
    with transaction.atomic():
        current = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        attempt.finished_at = finished
        attempt.status_code = status_code
        attempt.error = error
        attempt.duration_ms = elapsed_ms
        attempt.outcome = AttemptOutcome.FAILED if error else AttemptOutcome.SUCCEEDED
        attempt.save()
        if current.state != DeliveryState.SENDING or current.attempts != attempt.number:
            # Our lease ran out and another worker took over: its result decides.
            return current.state
        if not error:
            current.state = DeliveryState.DELIVERED
            current.delivered_at = finished
            current.last_error = ""
        elif current.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            current.state = DeliveryState.FAILED
            current.last_error = error
        else:
            delay = webhooks.retry_delay(current.attempts)
            current.state = DeliveryState.PENDING
            current.next_attempt_at = finished + delay
            current.last_error = error
            pk = current.pk
            transaction.on_commit(lambda: _enqueue_sends([pk], countdown=delay.total_seconds()))
        current.lease_expires_at = None
        current.save(
            update_fields=[
                "state",
                "delivered_at",
                "last_error",
                "next_attempt_at",
                "lease_expires_at",
            ]
        )
    return current.state


def webhook_deliveries_requeue_due(*, now: dt.datetime | None = None) -> list[int]:
    """Send again whatever is due and has no live worker: pending rows past their time and
    sending rows whose lease ran out. The periodic safety net behind the retry schedule
    (a lost broker message or a dead worker never loses a delivery)."""
    now = now or timezone.now()
    pks = list(
        WebhookDelivery.objects.filter(
            Q(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            | Q(state=DeliveryState.SENDING, lease_expires_at__lt=now)
        ).values_list("pk", flat=True)[:1000]
    )
    _enqueue_sends(pks)
    return pks


def _incident_payload(incident: Incident) -> dict[str, Any]:
    return {
        "incident": incident.slug,
        "title": incident.title,
        "description": incident.description,
        "level": incident.level,
        "state": incident.state,
        "started_at": incident.started_at.isoformat(),
        "declared_at": incident.declared_at.isoformat(),
        "closed_at": incident.closed_at.isoformat() if incident.closed_at else None,
    }


@transaction.atomic
def incident_declare(
    *, incident: Incident, authorities: Iterable[Organisation], context: AuditContext
) -> Incident:
    """Declare an (unsaved) incident: it opens the fast path for its slug, and every active
    member platform and each named authority is notified at once, by email and through
    their webhooks (outbox rows in this same transaction)."""
    if Incident.objects.filter(slug=incident.slug).exists():
        raise Conflict(f"an incident {incident.slug!r} exists already", code="duplicate_slug")
    from federation.incidents.selectors import incident_audience

    authorities = [a for a in authorities if a.kind == OrganisationKind.AUTHORITY]
    incident.state = IncidentState.OPEN
    incident.declared_at = timezone.now()
    incident.declared_by = context.user
    incident.save()
    incident.named_authorities.set(authorities)
    notified = incident_audience(authorities=authorities)
    IncidentNotice.objects.bulk_create(
        IncidentNotice(incident=incident, organisation=org, notified_at=incident.declared_at)
        for org in notified
    )
    webhook_event_enqueue(
        organisations=notified, event="incident.declared", data=_incident_payload(incident)
    )
    audit_record(
        action="incidents.incident.declared",
        context=context,
        target=incident,
        detail={"level": incident.level, "notified": len(notified)},
    )
    from federation.incidents.tasks import notify_incident_event

    pk = incident.pk
    transaction.on_commit(lambda: notify_incident_event.delay(pk, "declared"))
    return incident


@transaction.atomic
def incident_close(*, incident: Incident, context: AuditContext) -> Incident:
    """Close the incident (the fast path shuts for its slug) and store its debrief; those
    notified at the declaration hear of the closure the same way."""
    from federation.incidents.selectors import debrief_for, incident_debrief

    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if incident.state == IncidentState.CLOSED:
        raise Conflict("this incident is already closed", code="already_closed")
    incident.state = IncidentState.CLOSED
    incident.closed_at = timezone.now()
    incident.closed_by = context.user
    incident.debrief = incident_debrief(incident)
    incident.save(update_fields=["state", "closed_at", "closed_by", "debrief"])
    notified = [notice.organisation for notice in incident.notices.select_related("organisation")]
    # Authorities receive only the debrief figures that say nothing of the hash bank.
    for firewalled in (False, True):
        organisations = [
            org for org in notified if (org.kind in HASH_BANK_FIREWALLED_KINDS) == firewalled
        ]
        if not organisations:
            continue
        debrief = debrief_for(debrief=incident.debrief, organisation=organisations[0])
        webhook_event_enqueue(
            organisations=organisations,
            event="incident.closed",
            data={**_incident_payload(incident), "debrief": debrief},
        )
    audit_record(
        action="incidents.incident.closed",
        context=context,
        target=incident,
        detail=incident.debrief,
    )
    from federation.incidents.tasks import notify_incident_event

    pk = incident.pk
    transaction.on_commit(lambda: notify_incident_event.delay(pk, "closed"))
    return incident
