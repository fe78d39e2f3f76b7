"""The member client's sync over real HTTP: the hub under gunicorn as deploy/ runs it (its
gunicorn.conf.py, gthread workers, 2 of them), against the bench database, and the client's
own code in this process: `sync_list`, the function `hashfed sync` calls, with its checks
of the list on (`hashfed sync`) and off (`hashfed sync --no-verify`), writing its state and
its list to files as the command does. Beside them, in the same run and in a rotating order:
a raw psycopg read of the same pages' rows, and the pages fetched over HTTP with nothing
done to them (the hub and the transport alone). Import after django.setup()."""

from __future__ import annotations

import contextlib
import cProfile
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from hashfed_client.hub import MAX_SYNC_LIMIT, HubClient
from hashfed_client.sync import SyncState, hub_public_key_of, sync_list
from hashfed_client.verify import CheckpointPolicy, LogVerifier, hub_verifier

from bench.measure import BENCH_DSN, BenchError, Row, rotated
from bench.sync import SYNC_PAGE, changelog_check, changelog_fill, page_raw
from hashbank.models import Bank
from hashbank.services import transparency

REPO = Path(__file__).resolve().parent.parent
GUNICORN_WORKERS = 2
ROUNDS = 2
# A folder for cProfile's statistics of each timed read in this process (the client's side):
# `python -m pstats <file>`. Profiling slows what it measures; leave unset for the figures.
PROFILE_DIR = os.environ.get("HASHFED_BENCH_PROFILE", "")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def hub_under_gunicorn(log_path: Path) -> Iterator[str]:
    """gunicorn serving the hub on a free loopback port, with this process's settings (the
    bench database, state folder and origin); yields its base URL and stops it after."""
    port = _free_port()
    environment = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(GUNICORN_WORKERS),
        "ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "federation.wsgi",
        "-c",
        str(REPO / "deploy" / "gunicorn.conf.py"),
    ]
    base_url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise BenchError(f"gunicorn exited with {server.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(f"{base_url}/.well-known/hashfed", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError(f"gunicorn did not answer in 60 s; see {log_path}") from None
                time.sleep(0.2)
        yield base_url
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class Runs:
    """Each way of reading the log, run ROUNDS times in a rotating order; adds up times."""

    def __init__(self, client: HubClient, verifier: LogVerifier, total: int) -> None:
        self.client, self.verifier, self.total = client, verifier, total
        self.seconds: dict[str, float] = {}
        self.pages_bytes = 0
        self.verified_state: SyncState | None = None
        self.listed: dict[str, int] = {}
        self.writes: dict[str, float] = {}

    def _time(self, name: str, call: Callable[[], int]) -> None:
        profiler = cProfile.Profile() if PROFILE_DIR else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        count = call()
        if profiler is not None:
            profiler.disable()
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
        if profiler is not None:
            profiler.dump_stats(Path(PROFILE_DIR) / f"{name}-{time.monotonic_ns()}.prof")
        if count != self.total:
            raise BenchError(f"{name} read {count} entries, not {self.total}")

    def raw(self) -> int:
        with psycopg.connect(BENCH_DSN, autocommit=True) as connection:
            cursor, position, count = connection.cursor(), 0, 0
            while position < self.total:
                read, position = page_raw(cursor, position)
                count += read
        return count

    def fetch(self) -> int:
        position, received = 0, 0
        while True:
            raw, _ = self.client.sync_raw(position, MAX_SYNC_LIMIT)
            received += len(raw)
            # The page's last bytes hold next_cursor and head: enough to go on, unparsed.
            position = _next_cursor(raw)
            if position >= self.total:
                break
        self.pages_bytes = received
        return position

    def sync(self, verifier: LogVerifier | None) -> int:
        folder = Path(tempfile.mkdtemp(prefix="hashfed-bench-sync-"))
        try:
            state = sync_list(
                self.client,
                out=folder / "list.ndjson",
                state_path=folder / "state.json",
                hub_public_key=None if verifier is None else verifier.policy.hub_key.public_key,
                verifier=verifier,
            )
            name = "verified" if verifier else "unverified"
            self.listed[name] = len(state.signals)
            # What sync_list's last step costs, timed again apart (not part of the row):
            # the whole state and the whole list written, flushed and renamed into place.
            started = time.perf_counter()
            state.save(folder / "again.state.json")
            state.write_list(folder / "again.ndjson")
            self.writes[name] = self.writes.get(name, 0.0) + time.perf_counter() - started
            if verifier is not None:
                self.verified_state = state
            return state.last_sequence + 1
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def round(self, turn: int) -> None:
        steps: list[tuple[str, Callable[[], int]]] = [
            ("raw", self.raw),
            ("fetch", self.fetch),
            ("unverified", lambda: self.sync(None)),
            ("verified", lambda: self.sync(self.verifier)),
        ]
        for name, call in rotated(steps, turn):
            self._time(name, call)


def _next_cursor(raw: bytes) -> int:
    tail = raw[raw.rindex(b'"next_cursor":') + len(b'"next_cursor":') :]
    return int(tail[: tail.index(b",")])


def bench_sync_http(api_keys: dict[str, str], *, total: int, state_dir: Path) -> list[Row]:
    print(f"sync-verify: filling the change log to {total:,} entries with COPY")
    changelog_fill(total)
    changelog_check(total)
    print(f"sync-verify: gunicorn ({GUNICORN_WORKERS} workers, deploy/gunicorn.conf.py)")
    with hub_under_gunicorn(state_dir / "gunicorn.log") as base_url:
        client = HubClient(base_url, api_keys["northwind/analyst"])
        identity = client.hub_identity()
        policy = CheckpointPolicy(
            hub_verifier(str(identity.get("origin", "")), hub_public_key_of(client))
        )
        verifier = LogVerifier(policy, client.consistency_proof, hub=client.base_url)
        runs = Runs(client, verifier, total)
        # One untimed pass: the table in memory, both workers started and connected.
        runs.raw()
        for _ in range(GUNICORN_WORKERS):
            runs.fetch()
        print(
            f"sync-verify: {ROUNDS} rounds of four reads of {total:,} entries over HTTP, "
            f"pages of {SYNC_PAGE:,}"
        )
        for turn in range(ROUNDS):
            runs.round(turn)
    state = runs.verified_state
    if state is None or runs.listed["verified"] != runs.listed["unverified"]:
        raise BenchError("the verified and unverified syncs hold different lists")
    for bank, tree in state.trees.items():
        bank_id = Bank.objects.get(name=bank).pk
        size = transparency.tree_size(bank_id)
        if (tree.edge.size, tree.edge.root()) != (size, transparency.tree_root(bank_id, size)):
            raise BenchError(f"the verified sync's tree of {bank} is not the hub's")
    n = total * ROUNDS
    seconds = runs.seconds
    raw = Row(
        "sync-verify (HTTP): raw psycopg read of the pages' rows",
        "raw psycopg",
        n,
        seconds["raw"],
        "entries/s",
        baseline=True,
    )
    fetch = Row(
        "sync-verify (HTTP): pages fetched by the client, nothing done to them",
        "HTTP fetch",
        n,
        seconds["fetch"],
        "entries/s",
        note=f"{runs.pages_bytes / 2**20:,.0f} MiB a sync; hub + loopback HTTP + urllib",
    ).compared_with(raw)
    unverified = Row(
        "sync-verify (HTTP): sync_list without checks (hashfed sync --no-verify)",
        "sync unverified",
        n,
        seconds["unverified"],
        "entries/s",
        baseline=True,
        note=f"of which writing the state and list files once: {runs.writes['unverified']:.2f} s",
    ).compared_with(raw, fetch)
    verified = Row(
        "sync-verify (HTTP): sync_list with checks (hashfed sync)",
        "sync verified",
        n,
        seconds["verified"],
        "entries/s",
        note="signature, split, checkpoints, leaf hashes, right edges, proofs, apply, "
        f"state and list files (writing them once: {runs.writes['verified']:.2f} s)",
    ).compared_with(raw, fetch, unverified)
    return [raw, fetch, unverified, verified]
