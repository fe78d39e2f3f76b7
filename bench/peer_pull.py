"""A hub pulling a peer hub's bank with full verification, beside a member client's
verified sync of the same log in the same run (docs/federation.md, docs/benchmarks.md).

Hub A is the bench database's hub (`--entries` entries in TVEC, checkpoints signed), served
by gunicorn; the member client (`hashfed sync`'s `sync_list` with its checks on) reads it
first. Hub B is a process of its own with its own database (`<bench database>_peer_b`,
dropped at the end): it registers the agreement with A and pulls TVEC through the outbound
policy, checking every page's signature, checkpoint, consistency proof and the entries
against the signed tree, then importing them into its own bank and logging them again in
its own log, a page per transaction. Import after django.setup().

    python -m bench.peer_pull b '<json config>'   (what bench_peer_pull runs as hub B)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def bench_peer_pull(api_keys: dict[str, str], *, total: int, state_dir: Path) -> list[Any]:
    import psycopg
    from hashfed_client.hub import HubClient
    from hashfed_client.sync import sync_list
    from hashfed_client.verify import CheckpointPolicy, LogVerifier, parse_key

    from accounts.hub_identity import hub_identity
    from bench.measure import BENCH_DATABASE, SERVER_DSN, BenchError, Row
    from bench.sync import changelog_fill
    from bench.sync_http import hub_under_gunicorn
    from hashbank.services.transparency import checkpoints_issue

    print(f"peer-pull: filling hub A's log to {total:,} entries")
    changelog_fill(total)
    checkpoints_issue()
    identity = hub_identity()
    vkey = identity.note_verifier_key
    # The demo's peer hub is shared TVEC (demo_shared_list_load): B pulls with its key.
    peer_key = api_keys["southern-hub/peer"]
    member_key = api_keys["northwind/admin"]
    b_database = f"{BENCH_DATABASE}_peer_b"
    with psycopg.connect(f"{SERVER_DSN}/postgres", autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{b_database}" WITH (FORCE)')
        server.execute(f'CREATE DATABASE "{b_database}"')
    try:
        with hub_under_gunicorn(state_dir / "peer-a-gunicorn.log") as url:
            work = Path(tempfile.mkdtemp(prefix="peer-pull-", dir=state_dir))
            client = HubClient(url, member_key)
            verifier = LogVerifier(
                CheckpointPolicy(parse_key(vkey)), client.consistency_proof, hub=url
            )
            started = time.perf_counter()
            state = sync_list(
                client,
                out=work / "list.ndjson",
                state_path=work / "state.json",
                hub_public_key=identity.public_key_raw,
                verifier=verifier,
            )
            client_seconds = time.perf_counter() - started
            if len(state.signals) < total:
                raise BenchError(f"the client synced {len(state.signals)} of {total} entries")
            config = {
                "database": f"{SERVER_DSN}/{b_database}",
                "state_dir": str(work / "hub-b"),
                "url": url,
                "origin": identity.origin,
                "vkey": vkey,
                "api_key": peer_key,
            }
            print("peer-pull: hub B migrates, then pulls")
            result = subprocess.run(
                [sys.executable, "-m", "bench.peer_pull", "b", json.dumps(config)],
                cwd=REPO,
                env={
                    **os.environ,
                    "PYTHONPATH": os.pathsep.join(
                        [str(REPO), str(REPO / "client"), os.environ.get("PYTHONPATH", "")]
                    ),
                },
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise BenchError(f"hub B failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
            pulled = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        with psycopg.connect(f"{SERVER_DSN}/postgres", autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{b_database}" WITH (FORCE)')
    if pulled["entries"] < total or pulled["error"]:
        raise BenchError(f"hub B pulled {pulled['entries']} of {total}: {pulled['error']}")
    client_row = Row(
        "peer-pull: member client's verified sync (sync_list) of A's log over HTTP",
        "client sync",
        total,
        client_seconds,
        "entries/s",
        baseline=True,
    )
    pull_row = Row(
        "peer-pull: hub B pulls A's bank, verified, imported and logged again",
        "peer pull",
        total,
        pulled["seconds"],
        "entries/s",
        note=f"{pulled['pages']} pages; B's own log holds {pulled['logged']:,} entries",
    ).compared_with(client_row)
    return [client_row, pull_row]


def _hub_b(config: dict[str, Any]) -> None:
    """Hub B: its own database and state, migrated; the agreement with A; one timed pull."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "federation.settings",
            "DATABASE_URL": config["database"],
            "HUB_STATE_DIR": config["state_dir"],
            "HUB_ORIGIN": "hub-b.bench",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "SECRET_KEY": "peer-pull-bench-" + "x" * 40,
            # A listens on 127.0.0.1: the outbound policy's loopback escape hatch.
            "WEBHOOK_ALLOW_LOOPBACK": "1",
        }
    )
    for name in ("HUB_SIGNING_KEY_FILE", "CELERY_BROKER_URL", "ALLOWED_HOSTS"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from accounts.audit import AuditContext
    from accounts.services import organisation_create
    from federation.peering.models import PeeringAgreement
    from federation.peering.services import PULL_PAGE, received_bank_pull, received_bank_register
    from hashbank.models import ChangeLogEntry

    context = AuditContext.system()
    organisation = organisation_create(
        slug="hub-a", name="Hub A", kind="peer_hub", country="BE", context=context
    )
    agreement = PeeringAgreement.objects.create(
        organisation=organisation,
        origin=config["origin"],
        base_url=config["url"],
        public_key=config["vkey"],
        pull_credential=config["api_key"],
    )
    received = received_bank_register(
        agreement=agreement,
        remote_name="TVEC",
        may_pass_on=False,
        local_name="TVEC-A",
        context=context,
    )
    profile = os.environ.get("HASHFED_BENCH_PROFILE")
    profiler = __import__("cProfile").Profile() if profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    result = received_bank_pull(received)
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(Path(profile) / "peer-pull-b.prof"))
    received.refresh_from_db()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "entries": result.entries,
                "error": result.error,
                "pages": -(-result.entries // PULL_PAGE),
                "logged": ChangeLogEntry.objects.filter(bank=received.bank).count(),
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["b"]:
        _hub_b(json.loads(sys.argv[2]))
