"""Recording members' sync activity."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Organisation
from hashbank.models import SyncStatus

# A sync reads many pages in a row; one write a minute is enough to know who keeps up.
SYNC_RECORD_RESOLUTION = dt.timedelta(seconds=60)


def sync_record(*, organisation: Organisation, cursor: int) -> None:
    """Note that the organisation read the log up to `cursor` (at most one write a minute)."""
    now = timezone.now()
    updated = SyncStatus.objects.filter(
        organisation=organisation, last_synced_at__lt=now - SYNC_RECORD_RESOLUTION
    ).update(last_synced_at=now, last_cursor=cursor)
    if updated or SyncStatus.objects.filter(organisation=organisation).exists():
        return
    try:
        with transaction.atomic():
            SyncStatus.objects.create(
                organisation=organisation,
                first_synced_at=now,
                last_synced_at=now,
                last_cursor=cursor,
            )
    except IntegrityError:
        pass  # another page of the same sync recorded it first
