"""`/healthz`: liveness and readiness of this process, for load balancers and monitoring."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string

# A readiness check returns None when all is well, else what is wrong; apps register theirs
# when they are ready (core depends on no app).
ReadinessCheck = Callable[[], str | None]
_readiness_checks: dict[str, ReadinessCheck] = {}
# Checks whose failure degrades the hub without taking it out of service: `/healthz` still
# answers 200, with status "degraded" and what is wrong.
_degrading_checks: dict[str, ReadinessCheck] = {}


def register_readiness_check(name: str, check: ReadinessCheck) -> None:
    """Add `check` to what `/healthz` runs once the database answers, reported as `name`."""
    _readiness_checks[name] = check


def register_degrading_check(name: str, check: ReadinessCheck) -> None:
    """Add `check` to what `/healthz` runs once the database answers, reported as `name`; a
    problem it reports makes the status "degraded" (still 200) rather than unavailable."""
    _degrading_checks[name] = check


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness: the database answers, every registered readiness check passes
    (the hub key and generated secret on disk are this database's), and, when one is
    configured, the broker answers. 200 with status "degraded" when a degrading check (a
    promise the hub is late on) reports a problem."""
    checks: dict[str, str] = {}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unavailable"
        healthy = False
    if healthy:
        for name, check in _readiness_checks.items():
            problem = check()
            checks[name] = problem or "ok"
            healthy = healthy and problem is None
    degraded = False
    if healthy:
        for name, check in _degrading_checks.items():
            problem = check()
            checks[name] = problem or "ok"
            degraded = degraded or problem is not None
    if settings.CELERY_BROKER_URL:
        # The project's Celery app, named by a setting: its configuration (broker, transport
        # options) is the project's, and celery.current_app is only per thread.
        app = import_string(settings.HEALTHZ_CELERY_APP)
        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            checks["broker"] = "ok"
        except Exception:
            checks["broker"] = "unavailable"
            healthy = False
    else:
        checks["broker"] = "in-process"
    status = "unavailable" if not healthy else "degraded" if degraded else "ok"
    return JsonResponse(
        {"status": status, "checks": checks},
        status=200 if healthy else 503,
    )
