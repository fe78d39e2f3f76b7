"""Crisis incidents: declaration in admin notifies members and named authorities by email
and signed webhook; the fast path approves tagged submissions on arrival; closing produces
the debrief; webhook URLs that point inwards are refused; failing receivers get retries
with exponential backoff, every attempt visible to the member."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import json
import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import Organisation, User
from federation.incidents.models import Incident, WebhookDelivery
from federation.incidents.services import webhook_delivery_send
from hashbank.models import ChangeLogEntry, Signal, Submission
from hashfed_wire import provenance
from tests.conftest import assert_no_inline_code, sign_in, submit


def staff_client() -> Client:
    return sign_in(Client(), User.objects.get(email="governance@consortium.example"))


def declaration(slug: str = "harbour-attack-2026", authorities: tuple[str, ...] = ()) -> dict:
    return {
        "slug": slug,
        "title": "Harbour attack livestream",
        "description": "Attack filmed and streamed; copies spreading.",
        "level": "3",
        "started_at_0": (timezone.now() - dt.timedelta(hours=2)).strftime("%Y-%m-%d"),
        "started_at_1": (timezone.now() - dt.timedelta(hours=2)).strftime("%H:%M:%S"),
        "named_authorities": [Organisation.objects.get(slug=s).pk for s in authorities],
    }


def declare_in_admin(
    slug: str = "harbour-attack-2026", authorities: tuple[str, ...] = ()
) -> Incident:
    """Fill in the form, then confirm who will be told."""
    client = staff_client()
    confirm = client.post(ADD, declaration(slug, authorities))
    assert confirm.status_code == 200, confirm.content
    response = client.post(ADD, hidden_inputs(confirm.content.decode()))
    assert response.status_code == 302, response.content
    return Incident.objects.get(slug=slug)


ADD = "/admin/incidents/incident/add/"


def hidden_inputs(page: str) -> dict[str, list[str]]:
    """What a page's form carries through as hidden inputs, as a browser would submit it."""
    form = page[page.index('<form method="post"') :]
    data: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form):
        data.setdefault(html.unescape(name), []).append(html.unescape(value))
    return data


def register(actor, url: str):
    return actor.client().post("/api/v1/webhooks/", {"url": url}, format="json")


def test_a_declared_incident_reaches_members_by_email_and_signed_webhook(
    cast, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    response = register(cast["northwind/admin"], receiver.url)
    assert response.status_code == 201, response.content
    secret = response.json()["secret"]
    endpoint_id = response.json()["id"]
    assert secret.startswith("whsec_")
    assert (
        "secret"
        not in cast["northwind/admin"].client().get(f"/api/v1/webhooks/{endpoint_id}/").json()
    )

    with django_capture_on_commit_callbacks(execute=True):
        incident = declare_in_admin(authorities=("ruritania-ctu",))

    [delivery] = receiver.requests
    timestamp = delivery.headers["X-Hashfed-Timestamp"]
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + delivery.body, hashlib.sha256
    ).hexdigest()
    assert delivery.headers["X-Hashfed-Signature"] == f"v1={expected}"
    assert abs(int(timestamp) - timezone.now().timestamp()) < 60
    assert delivery.headers["X-Hashfed-Event"] == "incident.declared"
    assert delivery.headers["Idempotency-Key"] == delivery.headers["X-Hashfed-Delivery"]
    body = delivery.json
    assert body["id"] == delivery.headers["X-Hashfed-Delivery"]
    assert body["data"]["incident"] == incident.slug
    assert body["data"]["level"] == 3

    recipients = {address for message in mail.outbox for address in message.to}
    assert {"admin@northwind.example", "admin@lakeside.example", "admin@pebble.example"} <= (
        recipients
    )
    assert "liaison@ruritania.example" in recipients
    assert "admin@shadyshare.example" not in recipients  # suspended: not an active member
    assert set(incident.notices.values_list("organisation__slug", flat=True)) == {
        "northwind",
        "lakeside",
        "pebble",
        "ruritania-ctu",
    }

    attempts = (
        cast["northwind/admin"]
        .client()
        .get(f"/api/v1/webhooks/{endpoint_id}/deliveries/")
        .json()["results"]
    )
    assert [(d["state"], [a["outcome"] for a in d["attempts"]]) for d in attempts] == [
        ("delivered", ["succeeded"])
    ]
    # The authority named on the incident follows it; another organisation does not.
    seen = cast["ruritania-ctu/liaison"].client().get("/api/v1/incidents/").json()
    assert [i["slug"] for i in seen["results"]] == [incident.slug]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://0.0.0.0/hook",
    ],
)
def test_it_refuses_webhook_urls_pointing_at_internal_addresses(cast, url):
    response = register(cast["northwind/admin"], url)
    assert response.status_code == 400, url
    assert response.json()["error"]["fields"]["url"][0]["code"] == "unsafe_url"


def test_a_failing_receiver_gets_retries_with_exponential_backoff(cast, receiver, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    endpoint_id = register(cast["northwind/admin"], receiver.url).json()["id"]
    receiver.script = [500, 503, 500]
    declare_in_admin()  # on-commit sending does not run inside the test's transaction
    delivery = WebhookDelivery.objects.get(endpoint__public_id=endpoint_id)

    now = timezone.now()
    delays = []
    for _ in range(3):
        assert webhook_delivery_send(delivery_pk=delivery.pk, now=now) == "pending"
        delivery.refresh_from_db()
        delays.append((delivery.next_attempt_at - now).total_seconds())
        # Not due yet: nothing is sent.
        assert (
            webhook_delivery_send(delivery_pk=delivery.pk, now=now + dt.timedelta(seconds=1))
            == "skipped"
        )
        now = delivery.next_attempt_at
    assert delays == [30, 60, 120]
    assert webhook_delivery_send(delivery_pk=delivery.pk, now=now) == "delivered"
    assert len(receiver.requests) == 4
    assert len({r.headers["X-Hashfed-Delivery"] for r in receiver.requests}) == 1

    [seen] = (
        cast["northwind/admin"]
        .client()
        .get(f"/api/v1/webhooks/{endpoint_id}/deliveries/")
        .json()["results"]
    )
    assert seen["state"] == "delivered"
    assert [(a["number"], a["outcome"], a["status_code"]) for a in seen["attempts"]] == [
        (1, "failed", 500),
        (2, "failed", 503),
        (3, "failed", 500),
        (4, "succeeded", 200),
    ]
    # Other members never see this endpoint or its deliveries.
    assert (
        cast["lakeside/admin"]
        .client()
        .get(f"/api/v1/webhooks/{endpoint_id}/deliveries/")
        .status_code
        == 404
    )


def test_a_delivery_gives_up_after_the_last_attempt(cast, receiver, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    register(cast["northwind/admin"], receiver.url)
    receiver.script = [500, 500, 500]
    declare_in_admin()
    delivery = WebhookDelivery.objects.get()
    assert webhook_delivery_send(delivery_pk=delivery.pk) == "pending"
    later = timezone.now() + dt.timedelta(hours=1)
    assert webhook_delivery_send(delivery_pk=delivery.pk, now=later) == "failed"
    assert webhook_delivery_send(delivery_pk=delivery.pk, now=later) == "skipped"
    assert len(receiver.requests) == 2


def test_incident_submissions_take_the_fast_path_and_are_marked_in_the_feed(cast, signer_for):
    incident = declare_in_admin()
    northwind = cast["northwind/admin"]  # a full member, not a trusted contributor
    signer = signer_for("northwind/admin")

    response = submit(northwind, signer.envelope(incident=incident.slug))
    [result] = response.json()["results"]
    assert result["status"] == "accepted"
    assert result["review_state"] == "approved"
    submission = Submission.objects.get(submission_id=result["id"])
    assert submission.auto_approved and not submission.post_reviewed  # reviewed afterwards
    assert submission.incident == incident.slug
    assert submission.signal.incident == incident.slug
    entry = ChangeLogEntry.objects.get(signal=submission.signal)
    committed = json.loads(bytes(entry.entry))["incident_commitment"]
    page = northwind.client().get("/api/v1/sync/?cursor=0").json()
    [synced] = [e for e in page["entries"] if e["value"] == submission.value]
    assert synced["incident_commitment"] == committed
    disclosure = page["disclosures"][str(synced["sequence"])]
    assert provenance.open_commitment("incident", committed, disclosure) == incident.slug

    unknown = submit(northwind, signer.envelope(incident="no-such-crisis")).json()["results"][0]
    assert unknown["error"]["code"] == "unknown_incident"

    staff_client().post(
        "/admin/incidents/incident/",
        {"action": "close", "_selected_action": [incident.pk]},
    )
    closed = submit(northwind, signer.envelope(incident=incident.slug)).json()["results"][0]
    assert closed["status"] == "rejected"
    assert closed["error"]["code"] == "incident_closed"


def test_closing_an_incident_produces_its_debrief(cast, signer_for):
    incident = declare_in_admin()
    for actor in ("northwind/admin", "lakeside/admin"):
        submit(cast[actor], signer_for(actor).envelope(incident=incident.slug))
    staff_client().post(
        "/admin/incidents/incident/", {"action": "close", "_selected_action": [incident.pk]}
    )
    incident.refresh_from_db()
    debrief = incident.debrief
    first = Submission.objects.filter(incident=incident.slug).order_by("received_at").first()
    assert incident.state == "closed"
    assert debrief["time_to_first_hash_seconds"] == round(
        (first.received_at - incident.started_at).total_seconds()
    )
    assert debrief["hashes_shared"] == 2 == Signal.objects.filter(incident=incident.slug).count()
    assert debrief["submissions_received"] == 2
    assert debrief["members_contributing"] == 2
    assert debrief["members_reached"] == 3  # northwind, lakeside, pebble: the active platforms
    assert debrief["disputes"] == 0
    page = staff_client().get(f"/admin/incidents/incident/{incident.pk}/change/").content.decode()
    report = page[page.index("<h2>Debrief</h2>") : page.index('id="incident_form"')]
    for heading in ("Timeline", "Speed", "Hashes", "Reach"):
        assert f"<h3>{heading}</h3>" in report
    assert '<th scope="row">Hashes shared</th><td>2</td>' in report
    assert '<th scope="row">Member platforms reached</th><td>3</td>' in report
    assert "First hash received" in report
    assert "hashes_shared" not in page and "{&quot;" not in page, "no raw JSON"
    assert 'name="_save"' not in page, "a closed incident has nothing to save"
    assert_no_inline_code(page)


def test_declaring_shows_who_will_be_told_before_anything_is_sent(
    cast, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    assert register(cast["lakeside/admin"], "http://127.0.0.1:9/hook").status_code == 201
    client = staff_client()
    with django_capture_on_commit_callbacks(execute=True):
        confirm = client.post(ADD, declaration(authorities=("ruritania-ctu",)))
    assert confirm.status_code == 200
    assert not Incident.objects.exists()
    assert mail.outbox == [] and not WebhookDelivery.objects.exists(), "nothing sent yet"
    page = confirm.content.decode()
    audience = confirm.context["audience"]
    names = [entry["organisation"].slug for entry in audience]
    assert sorted(names) == ["lakeside", "northwind", "pebble", "ruritania-ctu"]
    emails = sorted(e for entry in audience for e in entry["emails"])
    assert "admin@northwind.example" in emails and "analyst@northwind.example" in emails
    assert "viewer@northwind.example" not in emails, "viewers are not told"
    assert "4 organisations" in page and "through 1 webhook" in page
    assert f"and {len(set(emails))} email addresses" in page
    for text in ("Northwind Video", "Lakeside Social", "http://127.0.0.1:9/hook", *emails):
        assert text in page
    assert_no_inline_code(page)

    with django_capture_on_commit_callbacks(execute=True):
        declared = client.post(ADD, hidden_inputs(page))
    assert declared.status_code == 302
    incident = Incident.objects.get()
    assert [a.slug for a in incident.named_authorities.all()] == ["ruritania-ctu"]
    assert incident.notices.count() == 4
    assert WebhookDelivery.objects.count() == 1
    assert sorted({m.to[0] for m in mail.outbox}) == sorted(set(emails))


def test_only_staff_who_may_declare_reach_the_confirmation(cast):
    moderator = sign_in(Client(), User.objects.get(email="moderator@consortium.example"))
    assert moderator.post(ADD, declaration()).status_code == 403
    member = sign_in(Client(), cast["northwind/admin"].user)
    assert "/admin/login/" in member.post(ADD, declaration())["Location"]
    assert not Incident.objects.exists()


def test_an_invalid_declaration_shows_the_form_again_not_the_confirmation(cast):
    client = staff_client()
    response = client.post(ADD, {**declaration(), "title": ""})
    assert response.status_code == 200
    assert "audience" not in response.context
    assert response.context["adminform"].form.errors["title"]
    assert not Incident.objects.exists()


def test_webhook_secrets_are_stored_encrypted(cast, settings):
    from federation.incidents.models import WebhookEndpoint
    from federation.incidents.webhooks import secret_open

    settings.WEBHOOK_ALLOW_LOOPBACK = True
    response = (
        cast["northwind/admin"]
        .client()
        .post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook"}, format="json")
    )
    assert response.status_code == 201, response.content
    secret = response.json()["secret"]
    stored = WebhookEndpoint.objects.get().secret
    assert secret not in stored
    assert secret_open(stored) == secret
