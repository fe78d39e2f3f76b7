"""`/metrics`: the hub's Prometheus metrics, for the operator's scraper.

Three sources, one page:
- the requests this process (or, with PROMETHEUS_MULTIPROC_DIR, every web worker) served, by
  view, method and status, with latencies (django-prometheus's middleware);
- counters kept where the work happens (hashbank.metrics: submissions by result and rejection
  code);
- gauges read from the database and the broker at each scrape (`HubCollector`): the change
  log's head, each bank's tree size and checkpoint age, the PDQ index's position and age, the
  Celery queue's depth, each member's sync lag, webhook deliveries by state and failed
  attempts, and lawful requests near or past their deadline.

The page names organisations (sync lag) and counts what only staff may count, so it is for
the operator alone: the scraper presents `Authorization: Bearer <HUB_METRICS_TOKEN>`; anyone
else, and everyone while the token is unset, gets a 404 that does not say the page exists.
docs/operations.md lists the metrics and the alerts to set on them.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.module_loading import import_string
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

import federation.peering.metrics  # noqa: F401  (registers the peering counters)
import hashbank.metrics  # noqa: F401  (registers the hash bank's counters)
from federation.authorities.models import OPEN_STATES, LawfulRequest
from federation.incidents.models import (
    AttemptOutcome,
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
)
from hashbank.matching.matcher import index_current_manifest
from hashbank.models import Bank, Checkpoint, SyncStatus
from hashbank.selectors import bank_sizes_before, changelog_next_sequence

logger = logging.getLogger(__name__)

# The broker is asked for the queue's depth with this timeout, so a dead broker never holds
# a scrape for long (the scrape then reports the depth as missing and `hashfed_broker_up` 0).
BROKER_TIMEOUT_SECONDS = 2.0


def _queue_depth() -> tuple[bool, dict[str, int]]:
    """Whether the broker answered, and the messages waiting in each queue the workers read."""
    if not settings.CELERY_BROKER_URL:
        return True, {}
    app = import_string(settings.HEALTHZ_CELERY_APP)
    queues = [app.conf.task_default_queue or "celery"]
    depths: dict[str, int] = {}
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
            channel = conn.default_channel
            for queue in queues:
                declared = channel.queue_declare(queue=queue, passive=True)
                depths[queue] = int(declared.message_count)
    except Exception:
        logger.warning("metrics: the broker did not answer", exc_info=True)
        return False, {}
    return True, depths


class HubCollector(Collector):
    """The gauges read at each scrape (see the module's docstring)."""

    def describe(self) -> list[Metric]:
        # Nothing read at registration: the database may not exist yet (migrations, checks).
        return []

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        head = GaugeMetricFamily(
            "hashfed_changelog_head", "Entries in the change log (the next entry's number)."
        )
        head_value = changelog_next_sequence()
        head.add_metric([], head_value)
        yield head

        tree = GaugeMetricFamily(
            "hashfed_tree_size", "Entries in each bank's tree.", labels=["bank"]
        )
        checkpoint_size = GaugeMetricFamily(
            "hashfed_checkpoint_size",
            "The size of each bank's newest signed checkpoint.",
            labels=["bank"],
        )
        checkpoint_age = GaugeMetricFamily(
            "hashfed_checkpoint_age_seconds",
            "Seconds since each bank's newest checkpoint was signed.",
            labels=["bank"],
        )
        newest = {
            row["bank"]: row
            for row in Checkpoint.objects.values("bank").annotate(
                size=Max("size"), issued=Max("issued_at")
            )
        }
        # Every bank's tree size in one round trip, up to the head read above.
        sizes = bank_sizes_before(banks=Bank.objects.order_by("name"), sequence=head_value)
        for bank, entries in sizes.items():
            name = bank.name
            tree.add_metric([name], entries)
            signed = newest.get(bank.pk)
            if signed is not None:
                checkpoint_size.add_metric([name], signed["size"])
                checkpoint_age.add_metric([name], (now - signed["issued"]).total_seconds())
        yield tree
        yield checkpoint_size
        yield checkpoint_age

        manifest = index_current_manifest()
        if manifest is not None:
            position = GaugeMetricFamily(
                "hashfed_pdq_index_position",
                "The change-log position the current PDQ index generation was built at.",
            )
            position.add_metric([], manifest["up_to_sequence"])
            behind = GaugeMetricFamily(
                "hashfed_pdq_index_entries_behind",
                "Change-log entries since the current PDQ index generation (replayed by every "
                "lookup until the next build).",
            )
            behind.add_metric([], max(head_value - manifest["up_to_sequence"], 0))
            age = GaugeMetricFamily(
                "hashfed_pdq_index_age_seconds", "Seconds since the current PDQ index was built."
            )
            age.add_metric([], max(time.time() - manifest["built_at"], 0.0))
            size = GaugeMetricFamily(
                "hashfed_pdq_index_hashes", "PDQ hashes in the current index generation."
            )
            size.add_metric([], manifest.get("size", 0))
            yield from (position, behind, age, size)

        broker_ok, depths = _queue_depth()
        if settings.CELERY_BROKER_URL:
            up = GaugeMetricFamily("hashfed_broker_up", "1 when the Celery broker answered.")
            up.add_metric([], 1 if broker_ok else 0)
            yield up
        if depths:
            depth = GaugeMetricFamily(
                "hashfed_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"]
            )
            for queue, count in depths.items():
                depth.add_metric([queue], count)
            yield depth

        lag = GaugeMetricFamily(
            "hashfed_member_sync_lag_entries",
            "Change-log entries between each member's last sync position and the head.",
            labels=["organisation"],
        )
        lag_seconds = GaugeMetricFamily(
            "hashfed_member_sync_age_seconds",
            "Seconds since each member last synced.",
            labels=["organisation"],
        )
        for slug, cursor, synced_at in SyncStatus.objects.values_list(
            "organisation__slug", "last_cursor", "last_synced_at"
        ).order_by("organisation__slug"):
            lag.add_metric([slug], max(head_value - cursor, 0))
            lag_seconds.add_metric([slug], (now - synced_at).total_seconds())
        yield lag
        yield lag_seconds

        deliveries = GaugeMetricFamily(
            "hashfed_webhook_deliveries", "Webhook deliveries in each state.", labels=["state"]
        )
        by_state = dict(
            WebhookDelivery.objects.values_list("state").annotate(n=Count("pk")).order_by()
        )
        for state in DeliveryState.values:
            deliveries.add_metric([state], by_state.get(state, 0))
        yield deliveries
        overdue = GaugeMetricFamily(
            "hashfed_webhook_deliveries_overdue",
            "Pending webhook deliveries due more than a minute ago (the worker is not keeping up).",
        )
        overdue.add_metric(
            [],
            WebhookDelivery.objects.filter(
                state=DeliveryState.PENDING, next_attempt_at__lt=now - timedelta(minutes=1)
            ).count(),
        )
        yield overdue
        failed = CounterMetricFamily(
            "hashfed_webhook_attempts_failed",
            "Webhook delivery attempts that failed or were interrupted.",
        )
        failed.add_metric(
            [],
            WebhookAttempt.objects.filter(
                outcome__in=[AttemptOutcome.FAILED, AttemptOutcome.INTERRUPTED]
            ).count(),
        )
        yield failed

        open_requests = LawfulRequest.objects.filter(state__in=OPEN_STATES, deadline__isnull=False)
        warning = now + timedelta(hours=settings.METRICS_DEADLINE_WARNING_HOURS)
        near = GaugeMetricFamily(
            "hashfed_lawful_requests_near_deadline",
            "Open lawful requests whose deadline falls within METRICS_DEADLINE_WARNING_HOURS.",
        )
        near.add_metric([], open_requests.filter(deadline__gte=now, deadline__lt=warning).count())
        past = GaugeMetricFamily(
            "hashfed_lawful_requests_past_deadline", "Open lawful requests past their deadline."
        )
        past.add_metric([], open_requests.filter(deadline__lt=now).count())
        yield near
        yield past


_HUB_COLLECTOR = HubCollector()
REGISTRY.register(_HUB_COLLECTOR)


def _registry() -> CollectorRegistry:
    """With PROMETHEUS_MULTIPROC_DIR set (gunicorn with several workers), every worker's
    counters added up, plus the gauges read now; else this process's registry, which holds
    both."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(_HUB_COLLECTOR)
    return registry


def _authorised(request: HttpRequest) -> bool:
    token = settings.HUB_METRICS_TOKEN
    if not token:
        return False
    offered = request.headers.get("Authorization", "")
    expected = f"Bearer {token}"
    return hmac.compare_digest(offered.encode(), expected.encode())


def metrics(request: HttpRequest) -> HttpResponse:
    """The metrics in Prometheus's text format, for the bearer of HUB_METRICS_TOKEN; 404 for
    everyone else."""
    if request.method != "GET" or not _authorised(request):
        raise Http404
    body = generate_latest(_registry())
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
