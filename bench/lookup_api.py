"""Lookup end to end: 1,000-query batches through the HTTP API, gunicorn in front, PostgreSQL
behind, against a list of 1,000,000 PDQ signals.

    .venv/bin/python bench/lookup_api.py [--signals 1000000] [--batches 10] [--keep]

Baselines measured in the same run, on the same queries: the lookup service called in
process (no HTTP, no gunicorn) and the PDQ index alone (no database). The run owns the
PostgreSQL database `hashfed_bench_lookup` on 127.0.0.1:5432: dropped and created at the
start, dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SERVER_DSN = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "hashfed_bench_lookup"
RESULTS = REPO / "bench" / "results" / "lookup_api.json"


def recreate_database(drop_only: bool = False) -> None:
    with psycopg.connect(f"{SERVER_DSN}/postgres", autocommit=True) as server:
        name = sql.Identifier(DATABASE)
        server.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if not drop_only:
            server.execute(sql.SQL("CREATE DATABASE {}").format(name))


def flip(value: int, bits: int, rng: random.Random) -> int:
    for position in rng.sample(range(256), bits):
        value ^= 1 << position
    return value


def populate(count: int, rng: random.Random) -> list[int]:
    """COPY `count` listed PDQ signals (one label each) into the bench database."""
    from hashbank.models import Bank, Label

    bank_id = Bank.objects.get(name="TVEC").pk
    label_id = Label.objects.get(slug="tvec-glorification").pk
    values = [rng.getrandbits(256) for _ in range(count)]
    with psycopg.connect(f"{SERVER_DSN}/{DATABASE}") as connection, connection.cursor() as cur:
        with cur.copy(
            "COPY hashbank_signal (id, bank_id, signal_type, value, status, labels_decided, "
            "delisted_by_decision, confidence, legal_hold, incident, first_listed_at, "
            "updated_at) FROM STDIN"
        ) as copy:
            for pk, value in enumerate(values, start=1):
                copy.write_row(
                    (
                        pk,
                        bank_id,
                        "pdq",
                        f"{value:064x}",
                        "active",
                        False,
                        False,
                        0.67,
                        False,
                        "",
                        "2026-01-01T00:00:00Z",
                        "2026-01-01T00:00:00Z",
                    )
                )
        with cur.copy("COPY hashbank_signal_labels (signal_id, label_id) FROM STDIN") as copy:
            for pk in range(1, count + 1):
                copy.write_row((pk, label_id))
        cur.execute("SELECT setval(pg_get_serial_sequence('hashbank_signal', 'id'), %s)", [count])
        connection.commit()
    return values


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(url: str, key: str, body: bytes) -> tuple[float, dict]:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        payload = json.loads(response.read())
    return time.perf_counter() - started, payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    rng = random.Random(20261125)
    state = Path(tempfile.mkdtemp(prefix="hashfed-bench-lookup-"))
    env = {
        "DJANGO_SETTINGS_MODULE": "federation.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        "HUB_STATE_DIR": str(state),
        "PDQ_INDEX_DIR": str(state / "pdq-index"),
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOOKUP_RATE_PER_MINUTE": str(10**9),
        "DB_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    os.environ.pop("CELERY_BROKER_URL", None)
    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import override_settings

    from accounts.demo import load_demo_cast
    from hashbank.demo import demo_shared_list_load

    call_command("migrate", interactive=False, verbosity=0)
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        keys = {f"{a.organisation}/{a.role}": a.api_key for a in load_demo_cast()}
    demo_shared_list_load()

    started = time.perf_counter()
    values = populate(args.signals, rng)
    populate_seconds = time.perf_counter() - started

    from hashbank.matching.matcher import matcher, pdq_index_build

    started = time.perf_counter()
    pdq_index_build()
    build_seconds = time.perf_counter() - started

    # Half the queries are near-duplicates of listed hashes (0–31 bits away), half random.
    batches = []
    for _ in range(args.batches + 1):
        queries = []
        for position in range(1000):
            if position % 2 == 0:
                value = flip(rng.choice(values), rng.randint(0, 31), rng)
            else:
                value = rng.getrandbits(256)
            queries.append({"signal_type": "pdq", "value": f"{value:064x}"})
        batches.append(queries)

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "federation.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--timeout",
            "120",
        ],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        key = keys["lakeside/analyst"]
        url = f"{base}/api/v1/lookup/"
        # Two warm-up batches, one per gunicorn worker: each maps the index files once.
        for queries in batches[:2]:
            post(url, key, json.dumps({"queries": queries}).encode())
        http, matched = [], 0
        for queries in batches[1:]:
            seconds, payload = post(url, key, json.dumps({"queries": queries}).encode())
            http.append(seconds)
            matched += sum(1 for r in payload["results"] if r["matches"])
    finally:
        server.terminate()
        server.wait(timeout=30)

    from accounts.models import Organisation
    from hashbank.services.lookup import lookup_batch

    lakeside = Organisation.objects.get(slug="lakeside")
    service, index_only = [], []
    for queries in batches[1:]:
        started = time.perf_counter()
        lookup_batch(organisation=lakeside, items=queries)
        service.append(time.perf_counter() - started)
        hashes = [q["value"] for q in queries]
        started = time.perf_counter()
        matcher().search_many(hashes, [31] * len(hashes))
        index_only.append(time.perf_counter() - started)

    rows = [
        ("HTTP API (gunicorn, 2 workers) + PostgreSQL", http),
        ("lookup service in process (baseline: no HTTP)", service),
        ("PDQ index alone (baseline: no database)", index_only),
    ]
    p50 = {name: statistics.median(times) for name, times in rows}
    print(
        f"\n{args.signals:,} PDQ signals; {args.batches} batches of 1,000 queries "
        f"(half near-duplicates); populate {populate_seconds:.1f} s (COPY), "
        f"index build {build_seconds:.1f} s; queries with a match: {matched:,}"
    )
    print(f"{'path':<50} {'p50 s':>8} {'max s':>8} {'queries/s':>10} {'vs HTTP':>8}")
    for name, times in rows:
        print(
            f"{name:<50} {p50[name]:>8.3f} {max(times):>8.3f} {1000 / p50[name]:>10,.0f} "
            f"{p50[name] / p50[rows[0][0]]:>7.2f}x"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "signals": args.signals,
                "batches": args.batches,
                "matched_queries": matched,
                "populate_seconds": populate_seconds,
                "index_build_seconds": build_seconds,
                "p50_seconds": p50,
                "max_seconds": {n: max(t) for n, t in rows},
            },
            indent=2,
        )
    )
    from django.db import connections

    connections.close_all()
    if not args.keep:
        recreate_database(drop_only=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
