"""The access log of lawful requests: who read which request, when and how."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from accounts.audit import AuditContext
from federation.authorities.models import (
    AccessChannel,
    LawfulRequest,
    LawfulRequestAccess,
)


def lawful_request_access_record(
    *,
    requests: Iterable[LawfulRequest],
    context: AuditContext,
    channel: str = AccessChannel.API,
    what: str,
) -> int:
    """Log that the caller read these requests (or their answers). Written even when the
    read happens inside no transaction, and never skipped: the oversight export relies on
    every read being here, staff's included."""
    now = timezone.now()
    rows = [
        LawfulRequestAccess(
            request_public_id=request.public_id,
            request_pk=request.pk,
            accessed_at=now,
            user_id=context.user.pk if context.user else None,
            user_email=context.user.email if context.user else "",
            organisation_id=context.organisation.pk if context.organisation else None,
            organisation_slug=context.organisation.slug if context.organisation else "",
            api_key_prefix=context.api_key_prefix,
            channel=channel,
            what=what,
            ip_address=context.ip_address,
        )
        for request in requests
    ]
    LawfulRequestAccess.objects.bulk_create(rows)
    return len(rows)
