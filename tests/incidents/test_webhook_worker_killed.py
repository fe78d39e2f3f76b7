"""A webhook delivery is never lost nor processed twice when the Celery worker sending it
is killed mid-delivery: a real worker process against Redis and PostgreSQL, SIGKILLed
while the receiver holds its request, then a second worker finishes the job.

Needs PostgreSQL (the worker process must share the test database, and SKIP LOCKED is the
claim being tested) and Redis; CI runs it in the PostgreSQL pass."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import Organisation
from federation.incidents.models import (
    AttemptOutcome,
    DeliveryState,
    Incident,
    WebhookDelivery,
)
from federation.incidents.services import (
    incident_declare,
    webhook_deliveries_requeue_due,
    webhook_endpoint_register,
)

BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")

pytestmark = pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs PostgreSQL shared with a real Celery worker process (CI's PostgreSQL pass)",
)


def _redis_or_skip():
    import redis

    client = redis.Redis.from_url(BROKER_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {BROKER_URL}")
    return client


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


def _start_worker(tmp_path: Path, name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "WEBHOOK_ALLOW_LOOPBACK": "1",
        "WEBHOOK_TIMEOUT_SECONDS": "2",
        "WEBHOOK_DELIVERY_LEASE_SECONDS": "3",
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "HUB_STATE_DIR": str(tmp_path / "state"),
        # Every process of one hub shares its secrets (webhook secrets are sealed with a key
        # derived from SECRET_KEY), as in production where they come from the environment.
        "SECRET_KEY": django_settings.SECRET_KEY,
    }
    celery = Path(sys.executable).with_name("celery")
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen(
        [
            str(celery),
            "-A",
            "federation",
            "worker",
            "--pool",
            "solo",
            "--hostname",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def celery_through_redis():
    """Send tasks from this process to Redis instead of running them in-process."""
    from federation.celery import app

    redis_client = _redis_or_skip()
    redis_client.flushdb()
    previous = (app.conf.broker_url, app.conf.task_always_eager, app.conf.broker_transport_options)
    app.conf.update(
        broker_url=BROKER_URL,
        task_always_eager=False,
        broker_transport_options={"visibility_timeout": 5},
    )
    # Pools built by earlier tests point at the old broker; start from fresh ones.
    app._after_fork()
    yield app
    app.conf.update(
        broker_url=previous[0],
        task_always_eager=previous[1],
        broker_transport_options=previous[2],
    )
    app.pool.force_close_all()
    # Forget the closed pools again: Celery serialises even eager tasks through a producer,
    # and the next test's must come from a fresh pool.
    app._after_fork()
    redis_client.flushdb()


def test_a_killed_worker_neither_loses_nor_duplicates_a_delivery(
    transactional_db, cast, receiver, settings, tmp_path, celery_through_redis
):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    for slug in ("northwind", "lakeside", "pebble"):
        webhook_endpoint_register(
            organisation=Organisation.objects.get(slug=slug),
            url=receiver.url,
            description=slug,
            context=AuditContext.system(),
        )
    # The receiver holds the first request it gets, so the worker is mid-delivery.
    receiver.release = threading.Event()
    workers: list[subprocess.Popen] = []
    try:
        workers.append(_start_worker(tmp_path, "first"))
        incident_declare(
            incident=Incident(
                slug="worker-kill-drill",
                title="Drill",
                description="Delivery under failure",
                level=2,
                started_at=timezone.now(),
            ),
            authorities=[],
            context=AuditContext.system(),
        )
        rows = list(WebhookDelivery.objects.values_list("public_id", flat=True))
        assert len(rows) == 3

        assert receiver.arrived.wait(timeout=60), (tmp_path / "first.log").read_text()
        held_key = receiver.requests[0].headers["X-Hashfed-Delivery"]
        held = WebhookDelivery.objects.get(public_id=held_key)
        assert held.state == DeliveryState.SENDING
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=30)
        # The receiver finishes processing what it received; the answer goes nowhere.
        receiver.release.set()

        workers.append(_start_worker(tmp_path, "second"))

        def all_delivered() -> bool:
            # The periodic job does this every 30 seconds; here, every fifth of one.
            webhook_deliveries_requeue_due()
            return WebhookDelivery.objects.filter(state=DeliveryState.DELIVERED).count() == len(
                rows
            )

        _wait_for(all_delivered, 90, "every delivery to be delivered")
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()

    # Every outbox row reached the receiver and was processed exactly once.
    assert sorted(receiver.processed) == sorted(str(r) for r in rows)
    assert len(receiver.processed) == len(set(receiver.processed)) == 3
    # The held one really was sent twice (that is what the receiver's dedupe is for).
    assert [r.headers["X-Hashfed-Delivery"] for r in receiver.requests].count(held_key) >= 2
    for delivery in WebhookDelivery.objects.prefetch_related("tries"):
        outcomes = [t.outcome for t in delivery.tries.all()]
        assert outcomes.count(AttemptOutcome.SUCCEEDED) == 1, outcomes
    held.refresh_from_db()
    assert next(t.outcome for t in held.tries.all()) == AttemptOutcome.INTERRUPTED
