"""Metrics for the operator's scraper alone, structured logs, and one id per request."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from accounts.models import User
from federation.authorities.models import LawfulRequest
from hashbank.models import SyncStatus
from tests.authorities.test_access_log import _forwarded as forwarded_removal_order
from tests.conftest import approve_all, submit

TOKEN = "scrape-token-for-tests"


@pytest.fixture
def scraper(settings) -> Client:
    settings.HUB_METRICS_TOKEN = TOKEN
    return Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def _samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value, for every sample line of a Prometheus text page."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def _scrape(scraper: Client) -> dict[str, float]:
    response = scraper.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return _samples(response.content.decode())


def test_metrics_answer_404_to_everyone_while_no_token_is_set(cast, settings):
    settings.HUB_METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404
    assert Client(HTTP_AUTHORIZATION="Bearer ").get("/metrics").status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Bearer {TOKEN}x", f"bearer {TOKEN}", TOKEN, f"Token {TOKEN}"],
)
def test_metrics_answer_404_without_the_token(cast, scraper, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = Client(**headers).get("/metrics")
    assert response.status_code == 404
    # The same page as any unknown address (but for the address asked for, in the language
    # switch's return path, and the switch's CSRF token): nothing says the metrics exist.
    unknown = Client().get("/metricz").content.replace(b"/metricz", b"/metrics")
    assert _without_csrf_token(response.content) == _without_csrf_token(unknown)


def _without_csrf_token(page: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", page)


def test_metrics_answer_404_to_members_staff_and_authorities(cast, scraper):
    from tests.conftest import sign_in

    for actor in cast:
        assert actor.client().get("/metrics").status_code == 404, actor.label
    for email in ("moderator@consortium.example", "liaison@ruritania.example"):
        browser = sign_in(Client(), User.objects.get(email=email))
        assert browser.get("/metrics").status_code == 404, email


def test_metrics_count_submissions_by_result_and_rejection_code(cast, scraper, alice, signer_for):
    before = _scrape(scraper)
    signer = signer_for("northwind/admin")
    response = submit(alice, signer.envelope(), signer.envelope(), signer.envelope(bank="NOPE"))
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "accepted", "rejected"]
    code = results[2]["error"]["code"]
    after = _scrape(scraper)

    def grew(status: str, code: str = "") -> float:
        name = f'hashfed_ingest_items_total{{code="{code}",status="{status}"}}'
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert (grew("accepted"), grew("rejected", code), grew("replayed")) == (2, 1, 0)
    assert (
        after["hashfed_ingest_batches_total"] - before.get("hashfed_ingest_batches_total", 0) == 1
    )


def test_metrics_report_the_log_head_trees_and_each_members_sync_lag(
    cast, scraper, alice, signer_for
):
    signer = signer_for("northwind/admin")
    submit(alice, *(signer.envelope() for _ in range(7)))
    approve_all()
    samples = _scrape(scraper)
    head = samples["hashfed_changelog_head"]
    assert head > 0
    assert samples['hashfed_tree_size{bank="TVEC"}'] > 0
    assert sum(v for k, v in samples.items() if k.startswith("hashfed_tree_size{")) == head
    assert not any(k.startswith("hashfed_member_sync_lag_entries{") for k in samples)

    page = alice.client().get("/api/v1/sync/", {"cursor": 0, "limit": 3})
    assert page.status_code == 200
    status = SyncStatus.objects.get(organisation__slug="northwind")
    samples = _scrape(scraper)
    lag = samples['hashfed_member_sync_lag_entries{organisation="northwind"}']
    assert lag == head - status.last_cursor
    assert lag > 0
    assert samples['hashfed_member_sync_age_seconds{organisation="northwind"}'] >= 0


def _removal_order(deadline_in: dt.timedelta) -> LawfulRequest:
    """A forwarded removal order (as the access-log tests file one), due `deadline_in` from now."""
    request = forwarded_removal_order(1)
    LawfulRequest.objects.filter(pk=request.pk).update(deadline=timezone.now() + deadline_in)
    return request


def test_metrics_count_open_lawful_requests_near_and_past_their_deadline(cast, scraper):
    before = _scrape(scraper)
    near = before["hashfed_lawful_requests_near_deadline"]
    past = before["hashfed_lawful_requests_past_deadline"]
    _removal_order(dt.timedelta(hours=2))
    _removal_order(dt.timedelta(hours=-1))
    _removal_order(dt.timedelta(days=10))
    after = _scrape(scraper)
    assert after["hashfed_lawful_requests_near_deadline"] == near + 1
    assert after["hashfed_lawful_requests_past_deadline"] == past + 1


def test_metrics_report_webhook_deliveries_and_requests_served(cast, scraper):
    samples = _scrape(scraper)
    assert {"pending", "sending", "delivered", "failed"} <= {
        m.group(1)
        for k in samples
        if (m := re.fullmatch(r'hashfed_webhook_deliveries\{state="(\w+)"\}', k))
    }
    assert "hashfed_webhook_attempts_failed_total" in samples
    # django-prometheus's request counters, by view.
    Client().get("/healthz")
    samples = _scrape(scraper)
    assert any(
        k.startswith("django_http_responses_total_by_status_view_method_total{")
        and 'view="healthz"' in k
        for k in samples
    )


def test_every_response_carries_a_request_id(cast):
    first = Client().get("/healthz")
    second = Client().get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_the_proxys_request_id_is_kept_when_plausible_and_replaced_otherwise(cast):
    kept = Client(HTTP_X_REQUEST_ID="0f3c9a-proxy.1").get("/healthz")
    assert kept["X-Request-ID"] == "0f3c9a-proxy.1"
    for offered in ("", "a" * 65, "bad id", "x\u00e9", "<script>"):
        replaced = Client(HTTP_X_REQUEST_ID=offered).get("/healthz")
        assert re.fullmatch(r"[0-9a-f]{32}", replaced["X-Request-ID"]), offered


def test_log_lines_are_json_with_the_request_id(cast, settings):
    """Production's log format: one JSON object per line, with the request's id."""
    import logging.config

    from pythonjsonlogger.json import JsonFormatter

    config = django_settings.LOGGING["formatters"]["json"]
    formatter = JsonFormatter(
        config["fmt"], rename_fields=config["rename_fields"], timestamp=config["timestamp"]
    )
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    from core.request_id import RequestIdFilter

    handler = Keep()
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("hashbank")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        # Django logs a 404 on django.request, inside the request.
        logging.getLogger("django.request").addHandler(handler)
        response = Client(HTTP_X_REQUEST_ID="req-42").get("/no-such-page")
        assert response.status_code == 404
    finally:
        logging.getLogger("django.request").removeHandler(handler)
        logger.removeHandler(handler)
        logger.setLevel(previous)
    records = [json.loads(line) for line in lines]
    assert records, "the request logged nothing"
    record = records[-1]
    assert record["request_id"] == "req-42"
    assert {"time", "level", "logger", "message"} <= record.keys()
    assert record["level"] == "WARNING" and record["logger"] == "django.request"
    # Outside a request, the id is "-".
    lines.clear()
    logging.getLogger("django.request").addHandler(handler)
    try:
        logging.getLogger("django.request").warning("outside")
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    assert json.loads(lines[-1])["request_id"] == "-"
