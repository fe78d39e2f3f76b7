"""Signed submissions per second through POST /api/v1/submissions/, against two baselines
measured batch by batch in the same run: verifying the same envelopes without a database,
and a bulk_create of the rows the API would store. Import after django.setup()."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import Organisation, SigningKey
from accounts.services import signing_key_register
from bench.measure import (
    BANK,
    HUB_ORIGIN,
    LABEL,
    TIME_FORMAT,
    BenchError,
    Row,
    api_client,
    rotated,
    timed,
)
from hashbank.models import Bank, ChangeLogEntry, Label, ReviewState, Submission
from hashbank.services.submissions.intake import MAX_BATCH
from hashfed_wire import provenance
from hashfed_wire.envelope import envelope_from_obj, parse_json_strict, sign_payload, verify

# Batches are as large as the API allows: what a member catching up would send.
BATCH = MAX_BATCH


@dataclass
class MemberSigner:
    """A member's Ed25519 key, registered with the hub, as the member's client holds it."""

    organisation: str
    key_id: str
    public_key_raw: bytes
    private_key: Ed25519PrivateKey

    def envelope(self) -> dict[str, Any]:
        """A signed submission of a random PDQ hash in the bench bank, with one label."""
        payload = {
            "version": 1,
            "audience": HUB_ORIGIN,
            "id": str(uuid.uuid4()),
            "created_at": dt.datetime.now(dt.UTC).strftime(TIME_FORMAT),
            "organisation": self.organisation,
            "key_id": self.key_id,
            "bank": BANK,
            "signal_type": "pdq",
            "value": secrets.token_hex(32),
            "labels": [LABEL],
        }
        return sign_payload(self.private_key, payload)

    def body(self, count: int) -> bytes:
        envelopes = [self.envelope() for _ in range(count)]
        return json.dumps({"submissions": envelopes}).encode()


def member_signer(slug: str) -> MemberSigner:
    private_key = Ed25519PrivateKey.generate()
    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key = signing_key_register(
        organisation=Organisation.objects.get(slug=slug),
        public_key=base64.b64encode(raw).decode(),
        valid_from=timezone.now() - dt.timedelta(days=30),
        context=AuditContext.system(),
    )
    return MemberSigner(slug, key.key_id, raw, private_key)


def submissions_post(client: Client, body: bytes, *, expected: int) -> dict[str, Any]:
    response = client.post("/api/v1/submissions/", data=body, content_type="application/json")
    if response.status_code != 200:
        raise BenchError(f"POST /api/v1/submissions/: {response.status_code} {response.content!r}")
    result: dict[str, Any] = response.json()
    if result["accepted"] != expected:
        refused = [item["error"] for item in result["results"] if item["status"] != "accepted"]
        raise BenchError(
            f"{result['accepted']} of {expected} accepted; first refusal: {refused[:1]}"
        )
    return result


def verify_batch(body: bytes, public_key_raw: bytes) -> None:
    """What the hub does with a batch before it touches the database: parse the body as the
    API's parser does, check each envelope's shape, canonicalise it, verify the signature."""
    parsed = parse_json_strict(body)
    if not isinstance(parsed, dict):
        raise BenchError("the batch body is not a JSON object")
    for item in parsed["submissions"]:
        if not verify(public_key_raw, envelope_from_obj(item)):
            raise BenchError("a pre-signed envelope does not verify")


def submission_rows(body: bytes, signer: MemberSigner) -> list[Submission]:
    """Unsaved Submission rows holding what the API stores for these envelopes."""
    organisation = Organisation.objects.get(slug=signer.organisation)
    key = SigningKey.objects.get(key_id=signer.key_id)
    bank = Bank.objects.get(name=BANK)
    parsed = json.loads(body)
    rows = []
    for item in parsed["submissions"]:
        envelope = envelope_from_obj(item)
        rows.append(
            Submission(
                organisation=organisation,
                submission_id=envelope.id,
                signing_key=key,
                canonical_payload=envelope.canonical,
                payload_digest=hashlib.sha256(envelope.canonical).hexdigest(),
                signature=envelope.signature_b64,
                envelope_digest=provenance.envelope_digest(
                    envelope.canonical, envelope.signature, key.key_id
                ),
                bank=bank,
                signal_type=envelope.signal_type,
                value=envelope.value,
                created_at=envelope.created_at,
                received_at=timezone.now(),
            )
        )
    return rows


def submissions_bulk_insert(rows: list[Submission], label_id: int) -> None:
    through = Submission.labels.through
    with transaction.atomic():
        created = Submission.objects.bulk_create(rows)
        through.objects.bulk_create(
            [through(submission_id=row.pk, label_id=label_id) for row in created]
        )


def statements_for_batch(client: Client, signer: MemberSigner, count: int) -> str:
    """How many SQL statements (savepoints included) a batch of `count` costs, on a batch of
    its own: recording queries slows them, so this batch is never one of the timed ones."""
    body = signer.body(count)
    with CaptureQueriesContext(connection) as queries:
        submissions_post(client, body, expected=count)
    return f"{len(queries):,} SQL statements for a batch of {count}"


def bench_ingest(api_keys: dict[str, str], *, quick: bool) -> list[Row]:
    batches = 2 if quick else 10
    northwind = member_signer("northwind")
    lakeside = member_signer("lakeside")
    label_id = Label.objects.get(slug=LABEL).pk
    print(f"ingest: signing {2 * batches + 1} batches of {BATCH:,} envelopes (not timed)")
    bodies = [northwind.body(BATCH) for _ in range(batches)]
    insert_rows = [submission_rows(northwind.body(BATCH), northwind) for _ in range(batches)]
    trusted_body = lakeside.body(BATCH)

    member = api_client(api_keys["northwind/admin"])
    trusted_member = api_client(api_keys["lakeside/admin"])
    # The first request imports and builds what every later one reuses: not a steady state.
    submissions_post(member, northwind.body(10), expected=10)
    pending_statements = statements_for_batch(member, northwind, 100)
    trusted_statements = statements_for_batch(trusted_member, lakeside, 100)

    times: dict[str, list[float]] = {"verify": [], "api": [], "insert": []}
    for index in range(batches):
        steps: list[tuple[str, Callable[[], object]]] = [
            ("verify", partial(verify_batch, bodies[index], northwind.public_key_raw)),
            ("api", partial(submissions_post, member, bodies[index], expected=BATCH)),
            ("insert", partial(submissions_bulk_insert, insert_rows[index], label_id)),
        ]
        for name, step in rotated(steps, index):
            seconds, _ = timed(step)
            times[name].append(seconds)
        print(
            f"  batch {index + 1}/{batches}: API {times['api'][-1]:.2f} s, "
            f"verify {times['verify'][-1]:.3f} s, bulk_create {times['insert'][-1]:.3f} s"
        )

    def batch_row(scenario: str, name: str, key: str, **extra: Any) -> Row:
        return Row(
            scenario,
            name,
            n=BATCH * batches,
            seconds=sum(times[key]),
            unit="submissions/s",
            p50_seconds=statistics.median(times[key]),
            **extra,
        )

    verify = batch_row(
        "ingest: verify only (parse, envelope_from_obj, verify)",
        "verify only",
        "verify",
        baseline=True,
    )
    insert = batch_row(
        "ingest: bulk_create (Submission + label rows)", "bulk_create", "insert", baseline=True
    )
    pending = batch_row(
        "ingest: API POST, pending review (Northwind)",
        "API pending",
        "api",
        note=pending_statements,
    ).compared_with(verify, insert)

    entries_before = ChangeLogEntry.objects.count()
    seconds, result = timed(partial(submissions_post, trusted_member, trusted_body, expected=BATCH))
    if any(item["review_state"] != ReviewState.APPROVED for item in result["results"]):
        raise BenchError("a trusted contributor's submission was not approved on arrival")
    if ChangeLogEntry.objects.count() - entries_before != BATCH:
        raise BenchError("each approved submission should have appended one log entry")
    print(f"  trusted batch: API {seconds:.2f} s")
    trusted = Row(
        "ingest: API POST, trusted: approved + Signal + log entry (Lakeside)",
        "API trusted",
        n=BATCH,
        seconds=seconds,
        unit="submissions/s",
        p50_seconds=seconds,
        note=f"one batch; {trusted_statements}",
    ).compared_with(verify, insert, pending)
    return [verify, insert, pending, trusted]
