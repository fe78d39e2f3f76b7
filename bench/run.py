"""Throughput of the hub on PostgreSQL: signed submissions in, the change log out.

    .venv/bin/python bench/run.py [ingest|sync|transparency|hashing|all] [--quick] [--keep]
        [--log-size N]
    .venv/bin/python bench/run.py peer-pull [--entries N]

Every figure is printed next to a baseline measured in the same run, as a ratio: on a
small shared machine the figures alone move too much from run to run to be compared with
those of another day. docs/benchmarks.md describes the scenarios and the latest figures.

The run owns one PostgreSQL database, `hashfed_bench` on 127.0.0.1:5432 (another name in
HASHFED_BENCH_DATABASE): it is dropped and created at the start, and dropped at the end
unless --keep is given. The ingest scenario sends its requests over HTTP to gunicorn (two
workers, deploy/gunicorn.conf.py) started on the bench database, and sync-verify runs the hub
under gunicorn and the member client's own code over HTTP (bench/sync_http.py) before its
in-process rows; the others go through django.test.Client: the whole Django request stack in
this process, without a socket.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

# Run as a script, Python puts bench/ on the path; the project's packages live one up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import (
    BENCH_DATABASE,
    BENCH_DSN,
    HUB_ORIGIN,
    SERVER_DSN,
    BenchError,
    Row,
    format_table,
)

REPO = Path(__file__).resolve().parent.parent
RESULTS_FILE = REPO / "bench" / "results" / "latest.json"
# Databases that other work on this server relies on: never dropped, never written.
PROTECTED_DATABASES = frozenset({"test", "test_test", "postgres"})


def database_drop(*, then_create: bool) -> None:
    if BENCH_DATABASE in PROTECTED_DATABASES:
        raise BenchError(f"refusing to drop {BENCH_DATABASE!r}")
    # CREATE and DROP DATABASE run from another database than the one they act on; the
    # maintenance database is only connected to, nothing in it is read or written.
    with psycopg.connect(f"{SERVER_DSN}/postgres", autocommit=True) as server:
        name = sql.Identifier(BENCH_DATABASE)
        server.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if then_create:
            server.execute(sql.SQL("CREATE DATABASE {}").format(name))


def django_start(state_dir: Path) -> dict[str, str]:
    """Point Django at the bench database with production-like settings, migrate, and load
    the demo cast, taxonomy and banks. Returns each demo person's API key by
    "organisation/role"."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "federation.settings",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DATABASE}",
            "HUB_STATE_DIR": str(state_dir),
            "HUB_ORIGIN": HUB_ORIGIN,
            # As deploy/hashfed.env.example: with DEBUG on, every query would be recorded.
            "DEBUG": "0",
            "DB_CONN_MAX_AGE": "60",
            # The test client speaks plain HTTP, which the hub redirects when DEBUG is off.
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    # Whatever the calling shell points elsewhere (a broker, a key, a media folder) must not
    # leak into the run: tasks run in-process and all state stays in state_dir.
    for name in (
        "ALLOWED_HOSTS",
        "CELERY_BROKER_URL",
        "HUB_SIGNING_KEY_FILE",
        "MEDIA_ROOT",
        "PDQ_INDEX_DIR",
        "SECRET_KEY",
        "SECRET_KEY_FILE",
    ):
        os.environ.pop(name, None)
    # Requests name the hub by its origin, in process and over HTTP alike.
    os.environ["ALLOWED_HOSTS"] = HUB_ORIGIN

    import django

    django.setup()

    from django.core.management import call_command
    from django.test import override_settings

    from accounts.demo import load_demo_cast
    from hashbank.demo import demo_shared_list_load

    call_command("migrate", interactive=False, verbosity=0)
    # Nobody signs in during the run; a slow password hash would only lengthen the setup.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        cast = load_demo_cast()
    # The taxonomy and banks, but not the demo hashes: the change log starts empty.
    demo_shared_list_load()
    return {f"{account.organisation}/{account.role}": account.api_key for account in cast}


def django_stop() -> None:
    if "django.db" in sys.modules:
        from django.db import connections

        connections.close_all()


def machine() -> dict[str, Any]:
    import django

    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    with psycopg.connect(BENCH_DSN) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": row[0] if row else "",
    }


def _run_other_benchmarks(scenario: str, *, quick: bool) -> int:
    """The matching and lookup benchmarks are scripts of their own (each owns its data);
    this runs them in turn so one command covers every benchmark."""
    import subprocess

    bench = REPO / "bench"
    commands = []
    if scenario == "everything":
        commands.append([sys.executable, str(bench / "run.py"), "all"] + (["--quick"] * quick))
    if scenario in ("matching", "everything"):
        sizes = "100000,1000000" if quick else "100000,1000000,10000000"
        commands.append([sys.executable, str(bench / "matching.py"), "--sizes", sizes])
    if scenario in ("lookup", "everything"):
        signals = "100000" if quick else "1000000"
        commands.append([sys.executable, str(bench / "lookup_api.py"), "--signals", signals])
    for command in commands:
        result = subprocess.run(command, cwd=REPO, check=False)
        if result.returncode:
            return result.returncode
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Throughput of the hub on PostgreSQL.")
    parser.add_argument(
        "scenario",
        nargs="?",
        choices=[
            "ingest",
            "sync",
            "transparency",
            "all",
            "sync-verify",
            "peer-pull",
            "snapshots",
            "hashing",
            "matching",
            "lookup",
            "everything",
        ],
        default="all",
        help="all = ingest + sync + transparency (the banks' Merkle trees) + hashing (hosted "
        "hashing of videos and images against decoding and the reference hasher); matching = "
        "bench/matching.py (PDQ index vs faiss and threatexchange); lookup = "
        "bench/lookup_api.py (HTTP API at 1M); everything = all three; sync-verify = the "
        "member client's sync with its checks of the list on and off (--log-size entries), over "
        "HTTP against the hub under gunicorn, then in process; snapshots = the snapshot build "
        "(COPY) against a raw COPY, and a first sync from it (--log-size signals); peer-pull = a "
        "hub pulling a peer hub's bank with full verification (bench/peer_pull.py) beside a "
        "member client's verified sync of the same log (--entries)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="4 ingest batches per row, 100,000 entries"
    )
    parser.add_argument(
        "--log-size",
        type=int,
        default=None,
        help="transparency and sync-verify: log entries in the tree the appends and proofs work on "
        "(default 100,000 with --quick, else 1,000,000)",
    )
    parser.add_argument(
        "--entries",
        type=int,
        default=1_000_000,
        help="peer-pull: entries in the peer's log (default 1,000,000)",
    )
    parser.add_argument("--keep", action="store_true", help=f"keep {BENCH_DATABASE} afterwards")
    args = parser.parse_args(argv)
    if args.scenario in ("matching", "lookup", "everything"):
        return _run_other_benchmarks(args.scenario, quick=args.quick)

    load_at_start = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    if load_at_start > cores / 2:
        # Baselines cancel a uniform slowdown, not a fight for cores: the API rows keep two
        # processes busy (this one and a PostgreSQL backend), the verify baseline one.
        print(
            f"warning: load average {load_at_start:.2f} on {cores} cores before the run; "
            "other work will depress the figures, database-bound rows the most"
        )
    state_dir = Path(tempfile.mkdtemp(prefix="hashfed-bench-"))
    print(f"database {BENCH_DATABASE} dropped and created; hub state in {state_dir}")
    print(
        "ingest over HTTP (gunicorn, 2 workers); other requests through django.test.Client: "
        "the full Django stack, in process, no socket"
    )
    if args.scenario == "sync-verify":
        print("sync-verify first runs the hub under gunicorn and the client over real HTTP")
    started = time.perf_counter()
    try:
        database_drop(then_create=True)
        api_keys = django_start(state_dir)
        # Only now: these modules import the project's models.
        from bench.hashing import bench_hashing
        from bench.ingest import bench_ingest
        from bench.peer_pull import bench_peer_pull
        from bench.snapshots import bench_snapshots
        from bench.sync import bench_sync
        from bench.sync_http import bench_sync_http
        from bench.sync_verify import bench_sync_verify
        from bench.transparency_log import bench_transparency

        rows: list[Row] = []
        if args.scenario in ("ingest", "all"):
            rows += bench_ingest(api_keys, quick=args.quick, state_dir=state_dir)
        if args.scenario in ("sync", "all"):
            rows += bench_sync(api_keys, quick=args.quick)
        if args.scenario in ("transparency", "all"):
            log_size = args.log_size or (100_000 if args.quick else 1_000_000)
            rows += bench_transparency(api_keys, quick=args.quick, log_size=log_size)
        if args.scenario == "sync-verify":
            total = args.log_size or (100_000 if args.quick else 500_000)
            rows += bench_sync_http(api_keys, total=total, state_dir=state_dir)
            rows += bench_sync_verify(api_keys, total=total)
        if args.scenario == "peer-pull":
            rows += bench_peer_pull(api_keys, total=args.entries, state_dir=state_dir)
        if args.scenario == "snapshots":
            rows += bench_snapshots(
                api_keys, total=args.log_size or (100_000 if args.quick else 1_000_000)
            )
        if args.scenario in ("hashing", "all"):
            rows += bench_hashing(api_keys, quick=args.quick)
        load_at_end = os.getloadavg()[0]
        report: dict[str, Any] = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "mode": "quick" if args.quick else "full",
            "scenario": args.scenario,
            "machine": machine(),
            "total_seconds": round(time.perf_counter() - started, 1),
            "load_average": {"start": load_at_start, "end": load_at_end},
            "rows": [row.as_dict() for row in rows],
        }
    finally:
        django_stop()
        if args.keep:
            print(f"kept the database {BENCH_DATABASE} and {state_dir}")
        else:
            database_drop(then_create=False)
            shutil.rmtree(state_dir, ignore_errors=True)

    print()
    print(format_table(rows))
    # The scenarios run on their own keep their figures apart from the full run's.
    results = (
        RESULTS_FILE.with_name(f"{args.scenario}.json")
        if args.scenario in ("snapshots", "peer-pull")
        else RESULTS_FILE
    )
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(
        f"\n{report['mode']} run in {report['total_seconds']} s, load average "
        f"{load_at_start:.2f} before and {load_at_end:.2f} after, "
        f"on {cores} cores; figures in {results}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
