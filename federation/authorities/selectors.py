"""Reads of lawful requests. Every query starts from the caller's organisation: a request
is visible to the authority that filed it and, once forwarded, to the platforms it
addresses; to everyone else it does not exist (404)."""

from __future__ import annotations

import datetime as dt

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.models import Organisation, OrganisationKind
from accounts.selectors import platforms_active
from core.errors import NotFound
from federation.authorities.models import (
    OPEN_STATES,
    LawfulRequest,
    LawfulRequestAccess,
)


def overdue_q(now: dt.datetime | None = None) -> Q:
    """Requests whose platforms still owe an answer after the deadline."""
    return Q(state__in=OPEN_STATES, deadline__lt=now or timezone.now())


def lawful_requests_visible_to(*, organisation: Organisation) -> QuerySet[LawfulRequest]:
    requests = LawfulRequest.objects.select_related("authority").prefetch_related(
        "addressees__organisation"
    )
    if organisation.kind == OrganisationKind.AUTHORITY:
        return requests.filter(authority=organisation)
    if organisation.kind == OrganisationKind.PLATFORM:
        # Platforms see a request only once staff have validated and forwarded it.
        return requests.filter(
            addressees__organisation=organisation, forwarded_at__isnull=False
        ).distinct()
    return requests.none()


def lawful_requests_open_visible_to(*, organisation: Organisation) -> QuerySet[LawfulRequest]:
    """The visible requests the platforms still owe an answer to, nearest deadline first."""
    return (
        lawful_requests_visible_to(organisation=organisation)
        .filter(state__in=OPEN_STATES)
        .order_by(F("deadline").asc(nulls_last=True), "received_at")
    )


def lawful_request_visible(*, organisation: Organisation, public_id: str) -> LawfulRequest:
    request = (
        lawful_requests_visible_to(organisation=organisation).filter(public_id=public_id).first()
    )
    if request is None:
        raise NotFound("No such lawful request.")
    return request


def platforms_addressable() -> QuerySet[Organisation]:
    """The platforms an authority may address: the active member platforms, by name. Only
    names and slugs are meant to be shown: filing must tell an authority nothing more."""
    return platforms_active().order_by("name")


def access_log_for(*, request: LawfulRequest | None = None) -> QuerySet[LawfulRequestAccess]:
    log = LawfulRequestAccess.objects.all()
    if request is not None:
        log = log.filter(request_public_id=request.public_id)
    return log.order_by("accessed_at", "id")
