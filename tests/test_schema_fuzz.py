"""The published OpenAPI schema tells the truth: schemathesis runs every operation with
every check (server errors, undocumented statuses, responses that break their schema, valid
input refused, invalid input accepted, authentication ignored, ...) against a live hub with
the demo cast, as a platform admin, an authority liaison, a researcher and anonymously.
Any failure fails the test.

It takes a few minutes, so it runs in the PostgreSQL pass of .ci/run (or with
HASHFED_SCHEMA_FUZZ=1). tests/schemathesis.toml turns every check on, and off only where an
operation cannot meet one, with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from accounts import services
from accounts.audit import AuditContext
from accounts.models import ApiKeyScope, Organisation

RUN_FUZZ = os.environ.get("DATABASE_URL", "").startswith("postgres") or os.environ.get(
    "HASHFED_SCHEMA_FUZZ"
) in ("1", "true", "yes")

pytestmark = pytest.mark.skipif(
    not RUN_FUZZ, reason="schema fuzzing runs on PostgreSQL (or with HASHFED_SCHEMA_FUZZ=1)"
)

CONFIG = Path(__file__).parent / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# Bounded and reproducible: the same cases on every run.
SEED = 20261128
MAX_EXAMPLES = int(os.environ.get("HASHFED_SCHEMA_FUZZ_EXAMPLES", "8"))

ACTORS = {
    "platform-admin": "northwind/admin",
    "authority": "ruritania-ctu/liaison",
    "researcher": "open-harms-lab/researcher",
    "anonymous": None,
}


def key_set_aside(organisation: Organisation, role: str) -> str:
    """A key of the actor's organisation that the key routes act on instead of the key the
    run is made with."""
    api_key, _ = services.api_key_issue(
        organisation=organisation,
        name="schema fuzz target",
        role=role,
        scope=ApiKeyScope.READ,
        expires_at=None,
        context=AuditContext.system(),
    )
    return api_key.prefix


@pytest.mark.parametrize("actor", ACTORS)
def test_every_operation_keeps_to_the_schema(actor, transactional_db, live_server, cast, tmp_path):
    label = ACTORS[actor]
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "run",
        f"{live_server.url}/api/v1/schema/",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--no-color",
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    prefix = "aaaaaaaaaa"
    if label is not None:
        account = cast[label]
        command += ["--header", f"Authorization: Bearer {account.account.api_key}"]
        prefix = key_set_aside(account.org, account.account.role)
    result = subprocess.run(
        command,
        env={**os.environ, "HASHFED_FUZZ_KEY_PREFIX": prefix},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"schemathesis as {actor}:\n{result.stdout[-20000:]}"
