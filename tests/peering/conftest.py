"""Two hubs in one test: hub A runs as a process of its own (its own database, state
folder, origin and signing key; migrated, set up through `manage.py shell` calls to
tests/peering/on_hub.py, served by gunicorn on a free loopback port), hub B is the test's
own Django (pytest-django's database; `live_server` when A must call B).

On SQLite, A's database is a file under the test's tmp_path, copied from one migrated
once per run. With DATABASE_URL set (PostgreSQL), A's database is `<name>_peer_a` (a
third hub, `<name>_peer_c`), created from `<name>_peer_template` (migrated once per run)
and dropped at teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dj_database_url
import pytest
from django.conf import settings as django_settings

ROOT = Path(django_settings.BASE_DIR)
START_TIMEOUT = 90.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


def _pg_admin(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as admin:
        for statement in statements:
            admin.execute(statement)


@dataclass
class PeerHub:
    """A hub in a process of its own. `call` runs a function of tests/peering/on_hub.py
    inside it; `start` serves it over HTTP at `url`."""

    name: str
    origin: str
    home: Path
    database_url: str
    url: str = ""
    process: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    peer: dict[str, Any] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "PYTEST_", "HUB_", "GUNICORN_"))
        }
        return {
            **inherited,
            "DJANGO_SETTINGS_MODULE": "federation.settings",
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT), str(ROOT / "client"), inherited.get("PYTHONPATH", "")]
            ),
            "HUB_ENV": "development",
            "DEBUG": "0",
            "DATABASE_URL": self.database_url,
            "HUB_ORIGIN": self.origin,
            "HUB_STATE_DIR": str(self.home / "state"),
            "HUB_SIGNING_KEY_FILE": str(self.home / "hub-ed25519.pem"),
            "SECRET_KEY": f"peering-tests-{self.name}-" + "x" * 40,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "WEBHOOK_ALLOW_LOOPBACK": "1",
            "CELERY_BROKER_URL": "",
            **self.extra_env,
        }

    def manage(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"hub {self.name}: manage.py {' '.join(args)[:200]} failed:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
            )
        return result.stdout

    def call(self, function: str, **kwargs: Any) -> Any:
        """`tests.peering.on_hub.<function>(**kwargs)` inside the hub; its JSON answer."""
        code = (
            "import json; from tests.peering import on_hub; "
            f"print('\\n@@' + json.dumps(on_hub.{function}(**json.loads({json.dumps(kwargs)!r}))))"
        )
        out = self.manage("shell", "-c", code)
        return json.loads(out.rsplit("\n@@", 1)[1])

    def start(self) -> str:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = (self.home / "gunicorn.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "federation.wsgi", "-c", "deploy/gunicorn.conf.py"],
            cwd=ROOT,
            env={
                **self.env,
                "GUNICORN_BIND": f"127.0.0.1:{port}",
                "GUNICORN_WORKERS": "2",
                "GUNICORN_THREADS": "2",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"hub {self.name} exited: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/.well-known/hashfed", timeout=5):
                    return self.url
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"hub {self.name} did not answer: {self.log()}") from None
                time.sleep(0.2)

    def log(self) -> str:
        path = self.home / "gunicorn.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture(scope="session")
def peer_hub_template(tmp_path_factory) -> Iterator[str]:
    """A migrated, empty hub database, made once per run: each hub process gets a copy.
    Yields its URL (a SQLite file, or a PostgreSQL database dropped at the end)."""
    home = tmp_path_factory.mktemp("peer-template")
    pg = _postgres_url()
    if pg:
        name = dj_database_url.parse(pg)["NAME"] + "_peer_template"
        _pg_admin(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        url = _with_database(pg, name)
    else:
        url = f"sqlite:///{home / 'template.sqlite3'}"
    PeerHub("template", "template.test", home, url).manage("migrate", "--noinput")
    yield url
    if pg:
        _pg_admin(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def peer_hub_factory(peer_hub_template, tmp_path) -> Iterator[Any]:
    """Makes hub processes (`make("a", "hub-a.test")`) from the migrated template; stops
    them and drops their databases at teardown."""
    made: list[tuple[PeerHub, str | None]] = []
    pg = _postgres_url()

    def make(name: str, origin: str) -> PeerHub:
        home = tmp_path / f"hub-{name}"
        (home / "state").mkdir(parents=True)
        if pg:
            template = dj_database_url.parse(peer_hub_template)["NAME"]
            database = dj_database_url.parse(pg)["NAME"] + f"_peer_{name}"
            _pg_admin(
                pg,
                f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)',
                f'CREATE DATABASE "{database}" TEMPLATE "{template}"',
            )
            url = _with_database(pg, database)
        else:
            database = None
            path = home / "db.sqlite3"
            shutil.copyfile(peer_hub_template.removeprefix("sqlite:///"), path)
            url = f"sqlite:///{path}"
        hub = PeerHub(name, origin, home, url)
        made.append((hub, database))
        return hub

    yield make
    for hub, database in made:
        hub.stop()
        if database and pg:
            _pg_admin(pg, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def hub_a(peer_hub_factory, settings) -> Iterator[PeerHub]:
    """Hub A, set up (demo cast and banks, a peer hub organisation for this test's hub B
    sharing TVEC and OPEN, never PRIV) and serving. `hub_a.peer` holds what B needs: the
    API key A issued to B, A's origin and verifier key."""
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    hub = peer_hub_factory("a", "hub-a.test")
    hub.peer = hub.call("prepare", peer_slug="hub-b", peer_origin=django_settings.HUB_ORIGIN)
    hub.start()
    yield hub
    hub.stop()
