"""System checks of the core app, run by `manage.py check` (and `--deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def outbound_loopback_escape_hatch_is_off(**kwargs: Any) -> list[checks.CheckMessage]:
    """The loopback escape hatch of `core.outbound` exists for tests that run a receiver
    on this machine; in production it would let members point the hub at its own services."""
    if settings.WEBHOOK_ALLOW_LOOPBACK:
        return [
            checks.Error(
                "WEBHOOK_ALLOW_LOOPBACK is on: members could make the hub call 127.0.0.1.",
                hint="Unset WEBHOOK_ALLOW_LOOPBACK; it is for tests only.",
                id="core.E001",
            )
        ]
    return []
