"""The guard that keeps held records: a signal or submission under an active legal hold
cannot be deleted, whatever code path tries (admin, shell, a future purge job).

A `pre_delete` receiver rather than a check in one service, because a hold must also stop
deletions nobody has written yet; bulk deletes of querysets send the signal per object too.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete

from core.errors import Conflict
from hashbank.models import Signal, Submission


class RecordUnderLegalHold(Conflict):
    default_code = "legal_hold"


def _refuse_deleting_held(sender: type, instance: Any, **kwargs: Any) -> None:
    if isinstance(instance, Signal):
        held = instance.legal_hold or instance.legal_holds.filter(lifted_at__isnull=True).exists()
    else:
        held = instance.legal_holds.filter(lifted_at__isnull=True).exists()
    if held:
        raise RecordUnderLegalHold(
            f"{instance} is under a legal hold; staff must lift the hold before it can be deleted"
        )


def connect_deletion_guard() -> None:
    for model in (Signal, Submission):
        pre_delete.connect(
            _refuse_deleting_held, sender=model, dispatch_uid=f"legal-hold-{model.__name__}"
        )
