"""Reads of lawful requests. Every query starts from the caller's organisation: a request
is visible to the authority that filed it and, once forwarded, to the platforms it
addresses; to everyone else it does not exist (404).

Whoever shows a request to someone (API, portal, admin) reads it through read_lawful_request
or read_lawful_requests, which write the access log themselves: a reader cannot forget it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import Organisation, OrganisationKind
from accounts.selectors import platforms_active
from core.errors import NotFound
from federation.authorities.models import (
    OPEN_STATES,
    AccessChannel,
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


PageT = TypeVar("PageT", bound=Sequence[LawfulRequest])


@dataclass(frozen=True)
class Reader:
    """Who reads lawful requests and through which channel: what each access-log row
    records. `organisation` is the organisation whose view of the requests is read; only
    consortium staff (Reader.staff) read every request."""

    context: AuditContext
    channel: str
    organisation: Organisation | None

    @classmethod
    def staff(cls, context: AuditContext) -> Reader:
        return cls(context=context, channel=AccessChannel.ADMIN, organisation=None)


def _readable_by(reader: Reader) -> QuerySet[LawfulRequest]:
    if reader.organisation is None:
        return LawfulRequest.objects.select_related("authority", "filed_by").prefetch_related(
            "addressees__organisation"
        )
    return lawful_requests_visible_to(organisation=reader.organisation)


def _log_reads(requests: Sequence[LawfulRequest], *, reader: Reader, purpose: str) -> None:
    """One access-log row per request read. Written even when the read happens inside no
    transaction, and never skipped: the oversight export relies on every read being here,
    staff's included."""
    context = reader.context
    now = timezone.now()
    LawfulRequestAccess.objects.bulk_create(
        LawfulRequestAccess(
            request_public_id=request.public_id,
            request_pk=request.pk,
            accessed_at=now,
            user_id=context.user.pk if context.user else None,
            user_email=context.user.email if context.user else "",
            organisation_id=context.organisation.pk if context.organisation else None,
            organisation_slug=context.organisation.slug if context.organisation else "",
            api_key_prefix=context.api_key_prefix,
            channel=reader.channel,
            what=purpose,
            ip_address=context.ip_address,
        )
        for request in requests
    )


def read_lawful_request(reader: Reader, request_id: str, *, purpose: str) -> LawfulRequest:
    """The request `request_id` (its public id) as `reader` may see it, with the read
    logged. Raises NotFound for a request the reader may not see (nothing is logged)."""
    request = _readable_by(reader).filter(public_id=request_id).first()
    if request is None:
        raise NotFound("No such lawful request.")
    _log_reads([request], reader=reader, purpose=purpose)
    return request


def read_lawful_requests(
    reader: Reader,
    *,
    purpose: str,
    page: Callable[[QuerySet[LawfulRequest]], PageT],
    overdue: bool = False,
    open_only: bool = False,
) -> PageT:
    """The page of the requests `reader` may see that `page` cuts from them (the caller's
    pagination), each one logged as read. `overdue` keeps those past their deadline;
    `open_only` those still owed an answer, nearest deadline first."""
    requests = _readable_by(reader)
    if overdue:
        requests = requests.filter(overdue_q())
    if open_only:
        requests = requests.filter(state__in=OPEN_STATES).order_by(
            F("deadline").asc(nulls_last=True), "received_at"
        )
    shown = page(requests)
    _log_reads(list(shown), reader=reader, purpose=purpose)
    return shown
