"""The backup and restore drill (deploy/backup-drill, docs/operations.md "Backups"): a real
pg_dump of a hub's database restored into a fresh one, whose audit chain and transparency log
verify and whose checkpoints are the source's, byte for byte. Needs PostgreSQL and its
client programs; CI runs it in the PostgreSQL pass."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connection

from hashbank.models import Checkpoint
from hashbank.services.transparency import checkpoints_issue
from tests.conftest import approve_all, submit

pytestmark = [
    pytest.mark.skipif(
        django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs PostgreSQL (CI's PostgreSQL pass)",
    ),
    pytest.mark.skipif(
        not (shutil.which("pg_dump") and shutil.which("pg_restore") and shutil.which("psql")),
        reason="needs PostgreSQL's client programs",
    ),
]

DRILL = django_settings.BASE_DIR / "deploy" / "backup-drill"


def _database_url(name: str | None = None) -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{name or db['NAME']}"
    )


def _hub_env(tmp_path) -> dict[str, str]:
    """The environment of this test's hub, for the commands the drill and the test run."""
    return {
        **os.environ,
        "HUB_ORIGIN": django_settings.HUB_ORIGIN,
        "HUB_STATE_DIR": str(tmp_path / "state"),
        "HUB_SIGNING_KEY_FILE": str(django_settings.HUB_SIGNING_KEY_FILE),
        "SECRET_KEY": django_settings.SECRET_KEY,
    }


def _drill(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DRILL), _database_url()],
        cwd=django_settings.BASE_DIR,
        env={**_hub_env(tmp_path), "PYTHON": sys.executable, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def listed(transactional_db, cast, alice, bob, signer_for):
    """Two members' approved submissions in two rounds, each round's checkpoints signed: a
    log with history, committed where pg_dump sees it."""
    for actor, label in ((alice, "northwind/admin"), (bob, "lakeside/admin")):
        signer = signer_for(label)
        assert submit(actor, *(signer.envelope() for _ in range(5))).status_code == 200
        approve_all()
        checkpoints_issue()
    assert Checkpoint.objects.count() >= 2


def test_a_restored_backup_verifies_and_reproduces_every_checkpoint(listed, tmp_path):
    result = _drill(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    count = Checkpoint.objects.count()
    assert f"OK: {count} checkpoints reproduced exactly" in result.stdout
    assert "audit chain intact" in result.stdout
    # The copy is dropped: no database of the drill is left behind.
    with psycopg.connect(_database_url("postgres"), autocommit=True) as admin:
        left = admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (f"{connection.settings_dict['NAME']}_restored_%",),
        ).fetchall()
    assert left == []


def test_the_drills_checks_find_a_damaged_copy(listed, tmp_path):
    """What the drill runs on the copy fails when the copy is not what was backed up."""
    result = _drill(tmp_path, KEEP_RESTORED="1")
    assert result.returncode == 0, result.stdout + result.stderr
    restored = re.search(r"^restored: (\S+)$", result.stdout, re.M)
    assert restored, result.stdout
    restored_url = restored.group(1)
    try:
        with psycopg.connect(restored_url, autocommit=True) as copy:
            copy.execute(
                "UPDATE hashbank_changelogentry SET entry = convert_to("
                'replace(convert_from(entry, \'UTF8\'), \'"op":"add"\', \'"op":"remove"\'),'
                " 'UTF8') WHERE sequence = (SELECT min(sequence) FROM hashbank_changelogentry)"
            )
        check = subprocess.run(
            [sys.executable, "manage.py", "verify_log"],
            cwd=django_settings.BASE_DIR,
            env={**_hub_env(tmp_path), "DATABASE_URL": restored_url},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert check.returncode == 1, check.stdout + check.stderr
    finally:
        name = restored_url.rsplit("/", 1)[1]
        with psycopg.connect(_database_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
