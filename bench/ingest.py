"""Signed submissions per second through POST /api/v1/submissions/ over real HTTP: gunicorn
(deploy/gunicorn.conf.py, two workers) in front of the bench database, fed batches of 1,000
by two client connections at once, against two baselines measured slice by slice in the
same run: verifying the same envelopes in two processes without a database (what the two
workers could do at most), and a raw COPY of the rows the API stores (what PostgreSQL could
take at most). Import after django.setup().
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import Organisation, SigningKey
from accounts.services import signing_key_register
from bench.measure import (
    BANK,
    BENCH_DSN,
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
# Two workers, two cores: two batches in flight at once keep both busy.
CONNECTIONS = 2
REPO = Path(__file__).resolve().parent.parent


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


class Gunicorn:
    """The hub as deployed: gunicorn with deploy/gunicorn.conf.py, two workers, in front of
    the bench database (the environment django_start set). Each worker takes one connection
    at a time (`--worker-connections 1`), so the two client connections land on the two
    workers rather than queueing in one."""

    def __init__(self, state_dir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = state_dir / "gunicorn.log"
        env = {
            **os.environ,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(CONNECTIONS),
            "GUNICORN_THREADS": "1",
            "ALLOWED_HOSTS": HUB_ORIGIN,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        }
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--config",
                    str(REPO / "deploy" / "gunicorn.conf.py"),
                    "--worker-connections",
                    "1",
                    "--chdir",
                    str(REPO),
                    "federation.wsgi:application",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited; see {self.log}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz", headers={"Host": HUB_ORIGIN})
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"gunicorn did not answer /healthz within 60 s; see {self.log}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class HttpMember:
    """A member's client: one keep-alive HTTP connection per sending thread."""

    def __init__(self, port: int, api_key: str) -> None:
        self.port = port
        self.headers = {
            "Host": HUB_ORIGIN,
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
        }
        self.local = threading.local()

    def post(self, body: bytes, *, expected: int) -> dict[str, Any]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port)
        conn.request("POST", "/api/v1/submissions/", body=body, headers=self.headers)
        response = conn.getresponse()
        content = response.read()
        if response.status != 200:
            raise BenchError(f"POST /api/v1/submissions/: {response.status} {content[:500]!r}")
        result: dict[str, Any] = json.loads(content)
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


def copy_rows(body: bytes, signer: MemberSigner, receipt: str) -> list[tuple[Any, ...]]:
    """The column values (all but the id) of the rows the API stores for these envelopes,
    in Submission's column order, ready for COPY."""
    organisation = Organisation.objects.get(slug=signer.organisation)
    key = SigningKey.objects.get(key_id=signer.key_id)
    bank = Bank.objects.get(name=BANK)
    fields = [f for f in Submission._meta.concrete_fields if not f.primary_key]
    rows = []
    now = timezone.now()
    for item in json.loads(body)["submissions"]:
        envelope = envelope_from_obj(item)
        row = Submission(
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
            received_at=now,
            receipt=receipt,
        )
        rows.append(tuple(getattr(row, f.attname) for f in fields))
    return rows


# One connection per sending thread, opened on its first batch, as a hub worker keeps its own.
_copy_connections = threading.local()


def raw_copy(rows: list[tuple[Any, ...]], label_id: int) -> None:
    """The floor under the API's writes: the same submission and label rows, ids from the
    sequence, COPY on a plain psycopg connection, one transaction."""
    table = Submission._meta.db_table
    labels_table = Submission.labels.through._meta.db_table
    columns = ", ".join(
        str(f.column) for f in Submission._meta.concrete_fields if not f.primary_key
    )
    conn = getattr(_copy_connections, "conn", None)
    if conn is None:
        conn = _copy_connections.conn = psycopg.connect(BENCH_DSN)
    with conn.transaction():
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, len(rows)],
            )
        ]
        with conn.cursor() as cursor:
            with cursor.copy(f"COPY {table} (id, {columns}) FROM STDIN") as copy:
                for new_id, row in zip(ids, rows, strict=True):
                    copy.write_row((new_id, *row))
            with cursor.copy(f"COPY {labels_table} (submission_id, label_id) FROM STDIN") as copy:
                for new_id in ids:
                    copy.write_row((new_id, label_id))


def statements_for_batch(api_key: str, signer: MemberSigner, count: int) -> int:
    """How many SQL statements (savepoints and COPY included) a batch of `count` costs,
    counted in this process through the same Django stack (not through gunicorn, whose
    workers do not record queries); this batch is never one of the timed ones."""
    client = api_client(api_key)
    body = signer.body(count)
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/submissions/", data=body, content_type="application/json")
    if response.status_code != 200 or response.json()["accepted"] != count:
        raise BenchError(
            f"statement count batch: {response.status_code} {response.content[:300]!r}"
        )
    return len(queries)


def _two_at_once(pool: ThreadPoolExecutor, calls: Sequence[Callable[[], object]]) -> None:
    for future in [pool.submit(call) for call in calls]:
        future.result()


def bench_ingest(api_keys: dict[str, str], *, quick: bool, state_dir: Path) -> list[Row]:
    rounds = 2 if quick else 5
    batches = rounds * CONNECTIONS
    northwind = member_signer("northwind")
    lakeside = member_signer("lakeside")
    label_id = Label.objects.get(slug=LABEL).pk
    print(f"ingest: signing {3 * batches} batches of {BATCH:,} envelopes (not timed)")
    pending_bodies = [northwind.body(BATCH) for _ in range(batches)]
    trusted_bodies = [lakeside.body(BATCH) for _ in range(batches)]
    copy_bodies = [northwind.body(BATCH) for _ in range(batches)]

    pending_statements = statements_for_batch(api_keys["northwind/admin"], northwind, BATCH)
    trusted_statements = statements_for_batch(api_keys["lakeside/admin"], lakeside, BATCH)
    # The raw copy stores receipts as long as the API's (one of them, from the batch above).
    receipt = Submission.objects.exclude(receipt="").values_list("receipt", flat=True).first()
    copy_batches = [copy_rows(body, northwind, receipt or "") for body in copy_bodies]

    print(f"ingest: gunicorn, {CONNECTIONS} workers, over HTTP; {CONNECTIONS} connections")
    server = Gunicorn(state_dir)
    verifiers = ProcessPoolExecutor(CONNECTIONS)
    senders = ThreadPoolExecutor(CONNECTIONS)
    try:
        member = HttpMember(server.port, api_keys["northwind/admin"])
        trusted_member = HttpMember(server.port, api_keys["lakeside/admin"])
        # Each worker imports and builds on its first request what every later one reuses,
        # and each verifying process imports the wire package: warm both, untimed.
        for client, signer in ((member, northwind), (trusted_member, lakeside)):
            warm = [partial(client.post, signer.body(10), expected=10) for _ in range(2)]
            _two_at_once(senders, warm)
        list(verifiers.map(verify_batch, [northwind.body(2)] * 2, [northwind.public_key_raw] * 2))

        entries_before = ChangeLogEntry.objects.count()
        times: dict[str, list[float]] = {"verify": [], "copy": [], "pending": [], "trusted": []}
        for turn in range(rounds):
            pair = slice(turn * CONNECTIONS, (turn + 1) * CONNECTIONS)

            def verify_pair(pair: slice = pair) -> None:
                list(
                    verifiers.map(
                        verify_batch,
                        pending_bodies[pair],
                        [northwind.public_key_raw] * CONNECTIONS,
                    )
                )

            steps: list[tuple[str, Callable[[], object]]] = [
                ("verify", verify_pair),
                (
                    "copy",
                    partial(
                        _two_at_once,
                        senders,
                        [partial(raw_copy, rows, label_id) for rows in copy_batches[pair]],
                    ),
                ),
                (
                    "pending",
                    partial(
                        _two_at_once,
                        senders,
                        [partial(member.post, b, expected=BATCH) for b in pending_bodies[pair]],
                    ),
                ),
                (
                    "trusted",
                    partial(
                        _two_at_once,
                        senders,
                        [
                            partial(trusted_member.post, b, expected=BATCH)
                            for b in trusted_bodies[pair]
                        ],
                    ),
                ),
            ]
            for name, step in rotated(steps, turn):
                seconds, _ = timed(step)
                times[name].append(seconds)
            print(
                f"  round {turn + 1}/{rounds} ({CONNECTIONS} batches each): "
                + ", ".join(f"{name} {times[name][-1]:.2f} s" for name in times)
            )
        if ChangeLogEntry.objects.count() - entries_before != BATCH * batches:
            raise BenchError("each trusted submission should have appended one log entry")
        if (
            Submission.objects.filter(organisation__slug="lakeside")
            .exclude(review_state=ReviewState.APPROVED)
            .exists()
        ):
            raise BenchError("a trusted contributor's submission was not approved on arrival")
    finally:
        senders.shutdown()
        verifiers.shutdown()
        server.stop()

    def row(scenario: str, name: str, key: str, **extra: Any) -> Row:
        return Row(
            scenario,
            name,
            n=BATCH * batches,
            seconds=sum(times[key]),
            unit="submissions/s",
            # Two batches per slice: the time one pair takes, per batch.
            p50_seconds=statistics.median(times[key]),
            **extra,
        )

    copy = row(
        "ingest: raw COPY of the stored rows (psycopg, 2 connections)",
        "raw COPY",
        "copy",
        baseline=True,
    )
    verify_only = row(
        "ingest: verify only (parse, check, verify; 2 processes, no database)",
        "verify only",
        "verify",
        baseline=True,
    )
    pending = row(
        "ingest: HTTP POST, pending review (Northwind)",
        "HTTP pending",
        "pending",
        note=f"{pending_statements} SQL statements for a batch of {BATCH:,}",
    ).compared_with(verify_only, copy)
    trusted = row(
        "ingest: HTTP POST, trusted: approved + Signal + log entry (Lakeside)",
        "HTTP trusted",
        "trusted",
        note=f"{trusted_statements} SQL statements for a batch of {BATCH:,}",
    ).compared_with(verify_only, copy, pending)
    return [copy, verify_only, pending, trusted]
