"""The firewall at the data level: nothing an authority can read depends on what the hash
bank holds, and a researcher reads nothing that does except the aggregate statistics.

The route-level firewall (403 on every hash-bank route) is walked in
tests/accounts/test_permission_matrix.py. Here the same hub lives through the same steps
twice, from one saved point: once with the hash bank left alone, once with the bank
changed (signals and submissions added, among them the very hash an authority's
preservation request names, a dispute opened, the request's legal hold matching). Staff
validate and forward the authority's requests, a platform answers, an incident naming the
authority closes, and the authority files again, in both. Then every route of the URL
conf is fetched with the authority's API key and with its portal session, and its emails
and webhook bodies are collected: both worlds must read byte for byte the same.

Normalised, and only these: clock readings (read before the bank is, see the test on
validation below) and the identifiers of the requests filed inside each world (random
UUIDs, and database ids that PostgreSQL does not hand out again after a rollback).
"""

from __future__ import annotations

import datetime as dt
import difflib
import itertools
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from django.core import mail
from django.db import transaction
from django.test import Client
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import ApiKey, AuditEvent, Organisation, SigningKey, User
from core.routes import all_routes, is_admin_route
from federation.authorities.models import LawfulRequest, LegalHold
from federation.incidents.models import Incident, WebhookDelivery, WebhookEndpoint
from federation.incidents.services import incident_close, incident_declare
from federation.incidents.webhooks import secret_seal
from federation.transparency.models import TransparencyReport
from federation.transparency.services import (
    transparency_report_generate,
    transparency_report_mark_previewed,
    transparency_report_publish,
    transparency_report_request,
)
from hashbank.models import Bank, Signal, Snapshot
from hashbank.services.disputes import dispute_open
from taxii.selectors import collection_id_of
from tests.conftest import Actor, approve_all, random_pdq, sign_in, submit
from tests.governance.conftest import signed_in

AUTHORITY = "ruritania-ctu/liaison"
RESEARCHER = "open-harms-lab/researcher"
# The one route a researcher reads that is built from the hash bank, by design: counts
# with small cells suppressed (tests/transparency/test_statistics.py).
AGGREGATE_STATISTICS = "transparency:statistics"

CLOCK = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
# The id a member gives the submission of the named hash, tried in URLs in both worlds.
SUBMISSION_ID = str(uuid.UUID(int=3))
FORM_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
NONCE = re.compile(r'nonce="[^"]+"')
# The second-factor enrolment page shows a fresh random TOTP secret (and its QR code) on each
# visit: random, not derived from anything the hub holds.
TOTP_SECRET = re.compile(r'<div class="qr"[^>]*>.*?</div>|id="totp-secret">[^<]*<', re.S)
# Durations: an incident's is its closing time less its declaration time (both shown);
# a webhook attempt's is how long the authority's own endpoint took to answer.
DURATION = re.compile(r'"duration_(seconds|ms)":\s*\d+')


class Rollback(Exception):
    pass


@contextmanager
def world():
    """Changes inside are undone at the end (a savepoint of the test's transaction)."""
    try:
        with transaction.atomic():
            yield
            raise Rollback
    except Rollback:
        pass


@dataclass(frozen=True)
class Probes:
    """Identifiers of hash-bank objects to try in URLs, fixed before the worlds part: some
    exist in neither world, some only once the bank has changed."""

    signal_ids: list[str]
    snapshot_ids: list[str]
    submission_ids: list[str]
    dispute_ids: list[str]


def _next_ids(model: type, count: int = 3) -> list[str]:
    last = model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return [str(last + n) for n in range(1, count + 1)]


def _url_values(org: Organisation, probes: Probes) -> dict[str, list[str]]:
    """For each URL parameter of the URL conf, the values the reader may hold, plus one it
    does not."""
    missing = str(uuid.UUID(int=1))
    requests = LawfulRequest.objects.filter(authority=org).order_by("pk")
    endpoints = WebhookEndpoint.objects.filter(organisation=org).order_by("pk")
    reports = TransparencyReport.objects.order_by("pk")
    api_keys = ApiKey.objects.filter(organisation=org).values_list("prefix", flat=True)
    signing_keys = SigningKey.objects.filter(organisation=org).values_list("key_id", flat=True)
    return {
        "request_id": [*(str(r.public_id) for r in requests), missing],
        "prefix": [*api_keys, "hf_missing"],
        "key_id": [*signing_keys, "0" * 64],
        "endpoint_id": [*(str(e.public_id) for e in endpoints), missing],
        "slug": [org.slug, "northwind"],
        "country": ["fr", "zz"],
        "public_id": [*(str(r.public_id) for r in reports), missing],
        "token": ["not-a-token"],
        "uidb64": ["MQ"],
        "signal_id": probes.signal_ids,
        "snapshot_id": probes.snapshot_ids,
        "submission_id": probes.submission_ids,
        "dispute_id": probes.dispute_ids,
        "bank": ["TVEC", "CSAM", "NOSUCHBANK"],
        "path": ["0/000.p/1", "entries/000.p/1"],
        # Envelope digests and TAXII ids: the readers here are refused these routes whatever
        # the value, so the refusal is what is compared.
        "digest": ["0" * 64, "f" * 64],
        "collection_id": [
            *(collection_id_of(bank) for bank in Bank.objects.order_by("name")),
            missing,
        ],
        "object_id": [f"indicator--{missing}"],
    }


def every_url(org: Organisation, probes: Probes) -> list[tuple[str, str]]:
    """Every route of the URL conf a reader might GET, each parameter filled with every
    value from `_url_values` (an unknown parameter fails here: give it values)."""
    values = _url_values(org, probes)
    urls = []
    for route in all_routes():
        if is_admin_route(route):
            continue  # staff only: tests/accounts/test_permission_matrix.py
        if route.actions and "GET" not in route.actions:
            continue  # an API route with no read
        names = re.findall(r"<(?:\w+:)?(\w+)>", route.pattern)
        for combination in itertools.product(*(values[name] for name in names)):
            path = "/" + route.pattern
            for name, value in zip(names, combination, strict=True):
                path = re.sub(rf"<(?:\w+:)?{name}>", value, path)
            urls.append((route.name, path))
    return urls


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def _identifiers(org: Organisation) -> list[tuple[str, str]]:
    """The identifiers of what the reader itself created, in creation order."""
    pairs = []
    for n, request in enumerate(LawfulRequest.objects.filter(authority=org).order_by("pk")):
        pairs += [
            (str(request.public_id), f"<request {n}>"),
            (str(request.public_id)[:8], f"<request {n}>"),
            (
                f'"target_type":"authorities.lawfulrequest","target_id":"{request.pk}"',
                f'"target_type":"authorities.lawfulrequest","target_id":"<request {n}>"',
            ),
        ]
    deliveries = WebhookDelivery.objects.filter(endpoint__organisation=org).order_by("pk")
    for n, delivery in enumerate(deliveries):
        pairs.append((str(delivery.public_id), f"<delivery {n}>"))
    return pairs


def normalised(text: str, identifiers: list[tuple[str, str]]) -> str:
    for raw, placeholder in identifiers:
        text = text.replace(raw, placeholder)
    text = FORM_TOKEN.sub('name="csrfmiddlewaretoken" value="<token>"', text)
    text = NONCE.sub('nonce="<nonce>"', text)
    text = TOTP_SECRET.sub("<totp secret>", text)
    text = DURATION.sub(r'"duration_\1":"<time>"', text)
    return CLOCK.sub("<time>", text)


def everything_readable(actor: Actor, probes: Probes) -> dict[str, str]:
    """What `actor`'s organisation can read: every URL with its API key and its portal
    session, the emails its people received, the webhook bodies its endpoints were sent."""
    org, user = actor.org, actor.user
    seen: dict[str, str] = {}
    for channel, client in (("api key", actor.client()), ("portal", signed_in(user))):
        for name, url in every_url(org, probes):
            response = client.get(url)
            assert response.status_code != 500, url
            seen[f"{channel} GET {url} ({name})"] = (
                f"{response.status_code} {response.get('Location', '')}\n{_body(response)}"
            )
    people = set(org.memberships.values_list("user__email", flat=True))
    for n, message in enumerate(m for m in mail.outbox if people & set(m.recipients())):
        seen[f"email {n}"] = f"{sorted(people & set(message.recipients()))}\n{message.subject}"
        seen[f"email {n}"] += f"\n{message.body}"
    deliveries = WebhookDelivery.objects.filter(endpoint__organisation=org).order_by("pk")
    for n, delivery in enumerate(deliveries):
        seen[f"webhook {n}"] = f"{delivery.event}\n{delivery.body}"
    identifiers = _identifiers(org)
    return {normalised(k, identifiers): normalised(v, identifiers) for k, v in seen.items()}


def differences(
    a: dict[str, str], b: dict[str, str], skip: set[str] | frozenset[str] = frozenset()
) -> list:
    """The reads that differ, each with a diff short enough to read in a failure."""
    found = []
    for key in sorted((set(a) | set(b)) - set(skip)):
        if a.get(key) != b.get(key):
            diff = difflib.unified_diff(
                (b.get(key) or "").splitlines(), (a.get(key) or "").splitlines(), lineterm="", n=0
            )
            found.append((key, "\n".join(list(diff)[2:12])[:2000]))
    return found


def _preservation(liaison: Actor, value: str) -> LawfulRequest:
    response = liaison.client().post(
        "/api/v1/lawful-requests/",
        {
            "kind": "preservation",
            "issuing_authority": "Ruritania Counter-Terrorism Unit",
            "officer": "Inspector R. Example",
            "legal_basis": "Code of Criminal Procedure, s. 100",
            "jurisdiction": "DE",
            "addressed_platforms": ["northwind", "lakeside"],
            "subject": {"hashes": [{"signal_type": "pdq", "value": value}]},
            "description": "Preserve for criminal proceedings.",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return LawfulRequest.objects.get(public_id=response.json()["id"])


def _staff_validate(request: LawfulRequest) -> None:
    staff = Client()
    sign_in(staff, User.objects.get(email="governance@consortium.example"))
    response = staff.post(
        "/admin/authorities/lawfulrequest/",
        {"action": "validate_and_forward", "_selected_action": [request.pk]},
    )
    assert response.status_code == 302


def change_the_hash_bank(cast, signer_for, value: str, incident: Incident) -> None:
    """Add what the authority's request names, and more, through the members' own routes."""
    northwind, lakeside = cast["northwind/admin"], cast["lakeside/admin"]
    envelopes = [
        signer_for("northwind/admin").envelope(
            id=SUBMISSION_ID, value=value, incident=incident.slug
        ),
        signer_for("northwind/admin").envelope(value=random_pdq(), incident=incident.slug),
    ]
    assert submit(northwind, *envelopes).status_code < 300
    assert submit(lakeside, signer_for("lakeside/admin").envelope(value=value)).status_code < 300
    approve_all()
    dispute_open(
        organisation=lakeside.org,
        signal=Signal.objects.get(value=value),
        kind="signal",
        grounds="Not what the label says.",
        context=AuditContext(user=lakeside.user, organisation=lakeside.org),
    )


def the_same_steps(cast, requests: list[LawfulRequest], incident: Incident, value: str) -> None:
    """What happens in both worlds: staff validate and forward, a platform answers, the
    incident closes, the authority files again naming the same hash (API and portal)."""
    for request in requests:
        _staff_validate(request)
    northwind = cast["northwind/admin"]
    for request in requests:
        response = northwind.client().post(
            f"/api/v1/lawful-requests/{request.public_id}/answer/",
            {"outcome": "actioned", "details": "Preserved."},
            format="json",
        )
        assert response.status_code == 200, response.content
    staff = User.objects.get(email="governance@consortium.example")
    incident_close(incident=incident, context=AuditContext(user=staff))
    _preservation(cast[AUTHORITY], value)
    portal = signed_in(cast[AUTHORITY].user)
    response = portal.post(
        "/portal/organisations/ruritania-ctu/lawful-requests/new/",
        {
            "kind": "preservation",
            "urgency": "routine",
            "issuing_authority": "Ruritania Counter-Terrorism Unit",
            "officer": "Inspector R. Example",
            "legal_basis": "Code of Criminal Procedure, s. 100",
            "jurisdiction": "de",
            "addressed_platforms": ["northwind"],
            "subject_hashes": f"pdq {value}",
            "description": "Preserve.",
        },
        follow=True,
    )
    assert response.status_code == 200


def test_nothing_an_authority_or_a_researcher_reads_depends_on_the_hash_bank(
    cast, signer_for, django_capture_on_commit_callbacks
):
    liaison = cast[AUTHORITY]
    value = random_pdq()
    requests = [_preservation(liaison, value), _preservation(liaison, random_pdq())]
    staff = User.objects.get(email="governance@consortium.example")
    incident = incident_declare(
        incident=Incident(
            slug="riverside-attack",
            title="Riverside attack",
            description="Livestreamed attack.",
            level=2,
            started_at=timezone.now(),
        ),
        authorities=[liaison.org],
        context=AuditContext(user=staff),
    )
    # Deliveries to it are refused at sending time (loopback), so nothing leaves the test.
    WebhookEndpoint.objects.create(
        organisation=liaison.org,
        url="http://127.0.0.1:9/hook",
        secret=secret_seal("whsec_firewall"),
    )
    # A published transparency report, so its public pages are read with a real id.
    context = AuditContext(user=staff)
    report = transparency_report_request(
        period_start=timezone.now() - dt.timedelta(days=30),
        period_end=timezone.now(),
        context=context,
    )
    report = transparency_report_generate(report_pk=report.pk)
    transparency_report_mark_previewed(report=report, context=context)
    transparency_report_publish(report=report, context=context)
    probes = Probes(
        signal_ids=_next_ids(Signal),
        snapshot_ids=_next_ids(Snapshot, 1),
        submission_ids=[SUBMISSION_ID],
        dispute_ids=[str(uuid.UUID(int=2))],
    )

    readers = {AUTHORITY: liaison, RESEARCHER: cast[RESEARCHER]}
    seen: dict[str, dict[str, dict[str, str]]] = {}
    held: dict[str, int] = {}
    for bank_changes in (False, True):
        label = "bank changed" if bank_changes else "bank untouched"
        with world():
            mail.outbox.clear()
            with django_capture_on_commit_callbacks(execute=True):
                if bank_changes:
                    change_the_hash_bank(cast, signer_for, value, incident)
                the_same_steps(cast, requests, incident, value)
            held[label] = LegalHold.objects.get(request=requests[0]).signals.count()
            seen[label] = {
                who: everything_readable(reader, probes) for who, reader in readers.items()
            }

    # The bank did change, and the authority's own hold matched it in one world only.
    assert held == {"bank untouched": 0, "bank changed": 1}
    untouched, changed = seen["bank untouched"], seen["bank changed"]
    assert len(untouched[AUTHORITY]) > 100
    # The reads include the authority's own pages, not only refusals.
    for name in (
        "authorities:request-detail",
        "accounts:auditevent-list",
        "incidents:incident-list",
        "incidents:webhook-deliveries",
        "portal:lawful-request",
        "portal:dashboard",
        "transparency_public:report-detail",
    ):
        assert any(
            key.endswith(f"({name})") and value.startswith("200 ")
            for key, value in untouched[AUTHORITY].items()
        ), name
    assert differences(changed[AUTHORITY], untouched[AUTHORITY]) == []

    statistics = {k for k in changed[RESEARCHER] if f"({AGGREGATE_STATISTICS})" in k}
    assert statistics, "the researcher reads the statistics"
    assert differences(changed[RESEARCHER], untouched[RESEARCHER], skip=statistics) == []
    for key in statistics:
        assert value not in changed[RESEARCHER][key]
        assert "northwind" not in changed[RESEARCHER][key]


def test_staff_validation_fixes_what_the_authority_sees_before_the_hold_reads_the_bank(
    cast, signer_for
):
    value = random_pdq()
    submit(cast["northwind/admin"], signer_for("northwind/admin").envelope(value=value))
    approve_all()
    request = _preservation(cast[AUTHORITY], value)
    _staff_validate(request)

    hold = LegalHold.objects.get(request=request)
    assert hold.signals.count() == 1
    placed = AuditEvent.objects.get(action="authorities.legal_hold.placed")
    authority_events = AuditEvent.objects.filter(organisation_id=cast[AUTHORITY].org.pk)
    assert not authority_events.filter(action__startswith="authorities.legal_hold").exists()
    # Every clock reading the authority can see was taken before the bank was read.
    assert all(e.sequence < placed.sequence for e in authority_events)
    request.refresh_from_db()
    assert request.forwarded_at <= hold.placed_at
    assert placed.detail == {"signals": 1, "submissions": 1}
