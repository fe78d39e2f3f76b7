"""A batch of 1,000 signed submissions lands whole or not at all when the web process is
SIGKILLed mid-request, and the member client's re-run with the same ids completes it
exactly once: a real gunicorn process against the test database, killed at several points
of the request, including while its write transaction is open.

Needs PostgreSQL (the server process must share the test database, and the check watches
the server's transaction in pg_locks); CI runs it in the PostgreSQL pass."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as django_settings
from django.db import connection
from hashfed_client import (
    HubClient,
    HubError,
    Row,
    build_envelopes,
    public_key_b64,
    utc_now_rfc3339,
)

from accounts.models import Organisation
from hashbank.models import ChangeLogEntry, ReviewState, Signal, Submission
from tests.conftest import random_pdq

pytestmark = pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs PostgreSQL shared with a real server process (CI's PostgreSQL pass)",
)

BATCH = 1000


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """gunicorn serving the hub against the test database, in its own process group so
    that SIGKILL takes the master and its worker down together (an orphaned worker could
    otherwise finish the request after its master died)."""

    tmp_path: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "HUB_ORIGIN": django_settings.HUB_ORIGIN,
            "HUB_STATE_DIR": str(self.tmp_path / "state"),
            "HUB_SIGNING_KEY_FILE": str(django_settings.HUB_SIGNING_KEY_FILE),
            "SECRET_KEY": django_settings.SECRET_KEY,
            "API_KEY_LAST_USED_RESOLUTION": "0",
        }
        gunicorn = Path(sys.executable).with_name("gunicorn")
        log = (self.tmp_path / f"server-{self.starts}.log").open("w")
        self.process = subprocess.Popen(
            [
                str(gunicorn),
                "federation.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--threads",
                "1",
                "--timeout",
                "120",
                "--no-control-socket",
                "--access-logfile",
                "-",
            ],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(self.log())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not start\n{self.log()}")

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp_path.glob("server-*.log")))


def _writing_submissions() -> bool:
    """Whether another session holds a write lock on the submissions table: the server is
    inside the batch's transaction (reads take no such lock, and it lasts to the end)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'hashbank_submission' AND l.mode = 'RowExclusiveLock' "
            "AND l.pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


def _landed(ids: list[str], values: list[str]) -> tuple[int, int, int]:
    return (
        Submission.objects.filter(submission_id__in=ids).count(),
        Signal.objects.filter(value__in=values, status="active").count(),
        ChangeLogEntry.objects.filter(signal__value__in=values).count(),
    )


def _send_in_background(client: HubClient, envelopes: list[dict]) -> tuple[threading.Thread, list]:
    outcome: list = []

    def send() -> None:
        try:
            outcome.append(client.submit(envelopes))
        except HubError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, outcome


# When to kill: as soon as the server is seen inside the write transaction, just after
# that transaction ended, or after a fixed delay from sending.
KILL_POINTS = ["in_transaction", "after_commit", 0.05, 2.0]


def test_a_killed_server_leaves_a_batch_whole_or_absent_and_a_rerun_completes_it_once(
    transactional_db, cast, tmp_path
):
    northwind = Organisation.objects.get(slug="northwind")
    # A trusted contributor's batch is approved and listed on arrival: the same request
    # then writes submissions, signals, change-log entries and audit records.
    northwind.trusted_contributor = True
    northwind.save(update_fields=["trusted_contributor"])
    api_key = cast["northwind/admin"].account.api_key
    server = Server(tmp_path)
    outcomes = []
    try:
        server.start()
        member_key = Ed25519PrivateKey.generate()
        HubClient(server.url, api_key, attempts=1).register_signing_key(
            public_key_b64(member_key), name="kill drill"
        )
        for kill_point in KILL_POINTS:
            rows = [
                Row(
                    line=n + 2,
                    signal_type="pdq",
                    value=random_pdq(),
                    labels=("tvec-glorification",),
                )
                for n in range(BATCH)
            ]
            # Fixed ids and signing time: the re-run sends byte-for-byte the same envelopes.
            built, errors = build_envelopes(
                rows,
                private_key=member_key,
                bank="TVEC",
                organisation="northwind",
                audience=django_settings.HUB_ORIGIN,
                created_at=utc_now_rfc3339(),
                id_namespace=uuid.uuid4(),
            )
            assert not errors
            envelopes = [envelope for _, envelope in built]
            ids = [e["payload"]["id"] for e in envelopes]
            values = [row.value for row in rows]

            thread, first_try = _send_in_background(
                HubClient(server.url, api_key, attempts=1, timeout=120), envelopes
            )
            seen_in_transaction = False
            if kill_point in ("in_transaction", "after_commit"):
                deadline = time.monotonic() + 60
                while not (seen_in_transaction := _writing_submissions()):
                    assert thread.is_alive(), (first_try, server.log())
                    assert time.monotonic() < deadline, server.log()
                    time.sleep(0.005)
            if kill_point == "after_commit":
                # The lock is gone once the transaction has ended: killed while the answer
                # is being written, so the client never hears that its batch landed.
                while _writing_submissions():
                    time.sleep(0.005)
                seen_in_transaction = False
            elif isinstance(kill_point, float):
                time.sleep(kill_point)
            server.kill()
            thread.join(timeout=60)
            assert first_try, "the killed request did not end"

            # Whole or nothing: submissions, the signals they listed, their log entries.
            landed = _landed(ids, values)
            assert landed in {(0, 0, 0), (BATCH, BATCH, BATCH)}, (kill_point, landed)
            if seen_in_transaction:
                # Killed while the transaction was open: it rolled back.
                assert landed == (0, 0, 0), server.log()
            started = time.monotonic()

            server.start()
            # The member client, with its retries, sends the same batch again.
            results = HubClient(server.url, api_key).submit(envelopes)
            statuses = {r["status"] for r in results}
            expected = "replayed" if landed[0] == BATCH else "accepted"
            assert statuses == {expected}, (kill_point, landed, statuses, results[0])
            assert [r["id"] for r in results] == ids
            assert {r["review_state"] for r in results} == {ReviewState.APPROVED}
            # And once more: everything is a replay, nothing is written twice.
            again = HubClient(server.url, api_key).submit(envelopes)
            assert {r["status"] for r in again} == {"replayed"}
            assert _landed(ids, values) == (BATCH, BATCH, BATCH)
            assert (
                Submission.objects.filter(submission_id__in=ids, review_state="approved").count()
                == BATCH
            )
            outcomes.append((kill_point, "whole" if landed[0] else "none"))
            print(f"{kill_point}: re-run of {BATCH} took {time.monotonic() - started:.1f} s")
    finally:
        server.stop()
    # The drill killed one request before its batch committed and one after.
    assert ("in_transaction", "none") in outcomes, outcomes
    assert ("after_commit", "whole") in outcomes, outcomes
    print("kill points and what the killed request left:", outcomes)
