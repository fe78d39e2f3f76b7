"""Sync reads from a real PostgreSQL streaming replica, and never answers a page behind the
caller's cursor: the test starts its own primary and replica clusters (initdb, then
pg_basebackup and streaming replication) on free ports, serves the hub with gunicorn on both,
pauses the replica's replay and checks what members read (docs/operations.md, "Read
replica"). Needs PostgreSQL's server programs and the PostgreSQL pass of CI."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings as django_settings

_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
_IS_ROOT = os.geteuid() == 0

pytestmark = [
    pytest.mark.skipif(
        django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="the PostgreSQL pass runs it",
    ),
    pytest.mark.skipif(not _BIN, reason="needs PostgreSQL's server programs (initdb, pg_ctl)"),
]

ADD_ENTRIES = """
import base64, datetime as dt, sys, uuid
import django
django.setup()
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.utils import timezone
from accounts.audit import AuditContext
from accounts.models import Organisation, User
from accounts.services import signing_key_register
from hashbank.models import Submission
from hashbank.services import submission_approve, submission_batch_create
from hashfed_wire.envelope import sign_payload
import secrets

northwind = Organisation.objects.get(slug="northwind")
private_key = Ed25519PrivateKey.generate()
raw = private_key.public_key().public_bytes(
    serialization.Encoding.Raw, serialization.PublicFormat.Raw
)
key = signing_key_register(
    organisation=northwind, public_key=base64.b64encode(raw).decode(), name="replica test",
    context=AuditContext.system(), valid_from=timezone.now() - dt.timedelta(days=1),
)
items = [
    sign_payload(private_key, {
        "version": 1, "audience": settings.HUB_ORIGIN, "id": str(uuid.uuid4()),
        "created_at": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "organisation": "northwind", "key_id": key.key_id, "bank": "TVEC",
        "signal_type": "pdq", "value": secrets.token_hex(32),
        "labels": ["tvec-glorification"],
    })
    for _ in range(int(sys.argv[1]))
]
results = submission_batch_create(
    organisation=northwind, items=items, context=AuditContext.system()
)
assert all(r.status == "accepted" for r in results), results
staff = User.objects.get(email="moderator@consortium.example")
for submission in Submission.objects.filter(review_state="pending"):
    submission_approve(submission=submission, context=AuditContext(user=staff))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_postgres(*command: str, cwd: Path | None = None) -> None:
    """Run a PostgreSQL server program as the postgres user (it refuses root)."""
    argv = ["runuser", "-u", "postgres", "--", *command] if _IS_ROOT else list(command)
    subprocess.run(argv, check=True, cwd=cwd, capture_output=True, timeout=180)


class Clusters:
    """A primary and its streaming replica, each in its own data directory on its own port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = Path(_BIN[-1])
        self.primary_port, self.replica_port = _free_port(), _free_port()
        self.primary, self.replica = root / "primary", root / "replica"

    def url(self, port: int, database: str = "hashfed") -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{database}"

    def start(self) -> None:
        _as_postgres(
            str(self.bin / "initdb"), "-D", str(self.primary), "-U", "postgres", "-A", "trust",
            "--no-sync",
        )  # fmt: skip
        with (self.primary / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.primary_port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\nwal_level = replica\n"
                "max_wal_senders = 4\nfsync = off\n"
            )
        with (self.primary / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        self._pg_ctl(self.primary, "start")
        _as_postgres(
            str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port),
            "-U", "postgres", "-D", str(self.replica), "-R", "-X", "stream", "--no-sync",
        )  # fmt: skip
        with (self.replica / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.replica_port}\nhot_standby = on\n")
        self._pg_ctl(self.replica, "start")
        with psycopg.connect(self.url(self.primary_port, "postgres"), autocommit=True) as db:
            db.execute("CREATE DATABASE hashfed")

    def _pg_ctl(self, data: Path, action: str) -> None:
        extra = ["-m", "fast"] if action == "stop" else []
        _as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(data.parent / f"{data.name}.log"),
            "-w", action, *extra,
        )  # fmt: skip

    def stop(self) -> None:
        for data in (self.replica, self.primary):
            if (data / "postmaster.pid").exists():
                self._pg_ctl(data, "stop")

    def replica_sql(self, sql: str) -> object:
        with psycopg.connect(self.url(self.replica_port), autocommit=True) as db:
            return db.execute(sql).fetchone()[0]

    def wait_replayed(self) -> None:
        """Until the replica has replayed everything the primary wrote."""
        with psycopg.connect(self.url(self.primary_port), autocommit=True) as primary:
            target = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = self.replica_sql(
                f"SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '{target}') >= 0"
            )
            if done:
                return
            time.sleep(0.1)
        raise AssertionError("the replica did not catch up")


@pytest.fixture(scope="module")
def clusters() -> Iterator[Clusters]:
    root = Path(tempfile.mkdtemp(prefix="hashfed-replica-"))
    if _IS_ROOT:
        shutil.chown(root, "postgres", "postgres")
    found = Clusters(root)
    try:
        found.start()
        yield found
    finally:
        found.stop()
        shutil.rmtree(root, ignore_errors=True)


class Hub:
    """The hub on the primary with the replica for reads: manage.py and gunicorn."""

    def __init__(self, clusters: Clusters, state: Path) -> None:
        self.port = _free_port()
        self.env = {
            **os.environ,
            "HUB_ENV": "development",
            "DATABASE_URL": clusters.url(clusters.primary_port),
            "DATABASE_REPLICA_URL": clusters.url(clusters.replica_port),
            "HUB_STATE_DIR": str(state),
            "HUB_ORIGIN": "hub.replica.test",
            "SECRET_KEY": "replica-test-secret-" + "x" * 40,
        }
        self.process: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=django_settings.BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def add_entries(self, count: int) -> None:
        done = subprocess.run(
            [sys.executable, "-c", ADD_ENTRIES, str(count)],
            cwd=django_settings.BASE_DIR,
            env={**self.env, "DJANGO_SETTINGS_MODULE": "federation.settings"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> None:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.log = (Path(self.env["HUB_STATE_DIR"]) / "gunicorn.log").open("w")
        self.process = subprocess.Popen(
            [str(gunicorn), "federation.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "1", "--threads", "2", "--no-control-socket"],
            cwd=django_settings.BASE_DIR, env=self.env, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "gunicorn exited"
            try:
                if requests.get(f"{self.url}/healthz", timeout=20).status_code in (200, 503):
                    return
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        raise AssertionError("gunicorn did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def hub(clusters: Clusters) -> Iterator[tuple[Hub, str]]:
    state = Path(tempfile.mkdtemp(prefix="hashfed-replica-state-"))
    served = Hub(clusters, state)
    served.manage("migrate", "--no-input")
    printed = served.manage("load_demo")
    key = next(
        line.split()[-1]
        for line in printed.splitlines()
        if line.startswith("northwind") and " analyst " in line
    )
    clusters.wait_replayed()
    served.start()
    try:
        yield served, key
    finally:
        served.stop()
        shutil.rmtree(state, ignore_errors=True)


def _page(hub: Hub, key: str, cursor: int) -> requests.Response:
    return requests.get(
        f"{hub.url}/api/v1/sync/",
        params={"cursor": cursor, "limit": 1000},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_sync_reads_the_replica_and_never_answers_behind_the_callers_cursor(clusters, hub):
    served, key = hub
    first = _page(served, key, 0)
    assert first.status_code == 200, first.text
    head = first.json()["head"]
    assert head > 0
    # The first page's checkpoints were signed on the primary: let the replica receive them.
    clusters.wait_replayed()

    # The replica stops replaying; the primary lists more.
    clusters.replica_sql("SELECT pg_wal_replay_pause()")
    try:
        served.add_entries(5)
        with psycopg.connect(clusters.url(clusters.primary_port), autocommit=True) as primary:
            primary_head = primary.execute(
                "SELECT max(sequence) + 1 FROM hashbank_changelogentry"
            ).fetchone()[0]
        assert primary_head > head

        # A member at the replica's head reads the replica: nothing new yet, and no error.
        at_head = _page(served, key, head)
        assert at_head.status_code == 200, at_head.text
        assert (at_head.json()["entries"], at_head.json()["head"]) == ([], head)

        # A member that already read further (on the primary) is answered from the primary,
        # never sent back: its cursor is valid, and it gets what follows it.
        ahead = _page(served, key, primary_head)
        assert ahead.status_code == 200, ahead.text
        assert ahead.json()["head"] == primary_head
        assert ahead.json()["next_cursor"] == primary_head

        # Past the primary's head is the caller's error, as without a replica.
        past = _page(served, key, primary_head + 1)
        assert past.status_code == 400
        assert past.json()["error"]["code"] == "cursor_ahead"
    finally:
        clusters.replica_sql("SELECT pg_wal_replay_resume()")
    clusters.wait_replayed()
    caught_up = _page(served, key, head)
    assert caught_up.status_code == 200, caught_up.text
    body = caught_up.json()
    assert body["head"] == primary_head
    assert len(body["entries"]) == primary_head - head
    # Every page names a signed checkpoint covering it, whichever database answered.
    for bank, state in body["checkpoints"].items():
        assert state["checkpoint"]["size"] >= state["tree_size"], bank


def test_the_replica_database_refuses_writes(clusters, hub):
    """What makes the test above meaningful: the replica is a real hot standby."""
    assert clusters.replica_sql("SELECT pg_is_in_recovery()") is True
    with (
        psycopg.connect(clusters.url(clusters.replica_port), autocommit=True) as replica,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        replica.execute("CREATE TABLE nope (id int)")
