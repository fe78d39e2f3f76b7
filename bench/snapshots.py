"""Signed snapshots at scale: the build streamed out of PostgreSQL with COPY against a raw
COPY of the same entries in the same run, the ORM path (SQLite's) on the same data with the
same bytes, and a new member's first sync through the client's snapshot code (download,
verify, load) and then the log from the snapshots' position. Import after django.setup()."""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path

import psycopg
from django.test import Client
from hashfed_client.snapshots import snapshot_records, snapshot_verify, snapshots_apply
from hashfed_client.sync import SyncState

from accounts.hub_identity import hub_identity
from bench.measure import BANK, BENCH_DSN, BenchError, Row, api_client, rotated, timed
from bench.sync import changelog_check, changelog_fill, page_api, records_hide_from_collector
from hashbank.models import Bank, ChangeLogEntry, Snapshot
from hashbank.selectors import changelog_next_sequence
from hashbank.services.snapshots import snapshot_lines_orm, snapshot_write, snapshots_create

ROUNDS = 3
# Entries appended after the snapshots, which a new member then reads from the log.
AFTER_SNAPSHOT = 10_000


def raw_copy_out(bank_id: int, head: int) -> int:
    """The floor: the bank's entries as text out of COPY, read and dropped. Returns bytes."""
    table = ChangeLogEntry._meta.db_table
    received = 0
    with psycopg.connect(BENCH_DSN) as connection, connection.cursor() as cursor:
        statement = (
            f"COPY (SELECT convert_from(entry, 'UTF8') FROM {table} "
            f"WHERE bank_id = {int(bank_id)} AND sequence < {int(head)}) TO STDOUT"
        )
        with cursor.copy(statement) as copy:
            for row in copy:
                received += len(row)
    return received


def first_sync(client: Client) -> tuple[dict[str, float], int, int]:
    """What `hashfed sync --no-verify --from-snapshot` does for a new member, its phases
    timed apart: the listing and downloads, the checks (SHA-256 and signatures), the load
    (inflate, parse, key), then the log from the snapshots' position to the head. Returns
    the seconds by phase, the signals held and the bytes received."""
    identity = hub_identity()
    seconds = {"download": 0.0, "verify": 0.0, "load": 0.0, "log": 0.0}
    state = SyncState()
    received = 0
    started = time.perf_counter()
    listing = client.get("/api/v1/sync/snapshots/").json()
    files = []
    for item in listing:
        response = client.get(item["download"])
        # A FileResponse streams; the test client's response type does not say so.
        data = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        response.close()
        files.append((item, data))
        received += len(data)
    seconds["download"] = time.perf_counter() - started
    keys = [identity.public_key_raw]
    for item, data in files:
        started = time.perf_counter()
        snapshot_verify(item, data, origin=identity.origin, hub_public_keys=keys)
        seconds["verify"] += time.perf_counter() - started
        started = time.perf_counter()
        snapshots_apply(state.signals, snapshot_records(data, bank=item["bank"]))
        seconds["load"] += time.perf_counter() - started
        records_hide_from_collector()
    position = listing[0]["up_to_sequence"]
    state.cursor, state.last_sequence = position, position - 1
    started = time.perf_counter()
    while True:
        body = page_api(client, state.cursor)
        received += len(body)
        page = json.loads(body)
        state.apply(page["entries"])
        state.cursor, state.head = page["next_cursor"], page["head"]
        if not page["entries"] or state.cursor >= page["head"]:
            break
    seconds["log"] = time.perf_counter() - started
    return seconds, len(state.signals), received


def bench_snapshots(api_keys: dict[str, str], *, total: int) -> list[Row]:
    print(f"snapshots: filling the change log to {total:,} entries with COPY")
    fill_seconds, appended = timed(lambda: changelog_fill(total))
    changelog_check(total)
    bank = Bank.objects.get(name=BANK)
    head = changelog_next_sequence()

    print(f"snapshots: {ROUNDS} rounds of a raw COPY out and a snapshot build, in turn")
    seconds = {"raw": 0.0, "build": 0.0}
    copied = 0
    built: list[Snapshot] = []

    def raw() -> None:
        nonlocal copied
        took, copied = timed(lambda: raw_copy_out(bank.pk, head))
        seconds["raw"] += took

    def build() -> None:
        took, snapshots = timed(snapshots_create)
        seconds["build"] += took
        built[:] = snapshots

    for turn in range(ROUNDS):
        for step in rotated([raw, build], turn):
            step()
    [snapshot] = [s for s in built if s.bank_id == bank.pk]
    if snapshot.signal_count != total or snapshot.up_to_sequence != head:
        raise BenchError(f"the snapshot holds {snapshot.signal_count} signals, not {total}")

    print("snapshots: the ORM path (SQLite's) on the same data")
    with tempfile.TemporaryDirectory() as folder:
        orm_seconds, (_, orm_sha256, orm_count) = timed(
            lambda: snapshot_write(snapshot_lines_orm(bank, head), Path(folder), "orm")
        )
    if (orm_sha256, orm_count) != (snapshot.sha256, snapshot.signal_count):
        raise BenchError("the COPY path and the ORM path wrote different files")

    print(f"snapshots: {AFTER_SNAPSHOT:,} entries more, then a new member's first sync")
    changelog_fill(total + AFTER_SNAPSHOT)
    # The client's requests name the hub's host, which the bench's settings allow.
    phases, held, received = first_sync(api_client(api_keys["northwind/analyst"]))
    if held != total + AFTER_SNAPSHOT:
        raise BenchError(f"the first sync holds {held} signals, not {total + AFTER_SNAPSHOT}")
    sync_seconds = sum(phases.values())
    size = Path(snapshot.file_name).name

    fill = Row(
        "snapshots: fill the log (COPY signals, labels, entries)",
        "fill",
        appended,
        fill_seconds,
        "entries/s",
        note="setup, not a hub code path",
    )
    raw_row = Row(
        "snapshots: raw COPY out of the bank's entries (read, dropped)",
        "raw COPY",
        total * ROUNDS,
        seconds["raw"],
        "entries/s",
        baseline=True,
        note=f"{copied / 2**20:,.0f} MiB of text a round",
    )
    build_row = Row(
        "snapshots: build, COPY path (snapshots_create)",
        "snapshot build",
        total * ROUNDS,
        seconds["build"],
        "signals/s",
        note=f"gzip {snapshot_size(snapshot) / 2**20:,.0f} MiB; "
        f"10,000,000 at this rate: {10 * seconds['build'] / ROUNDS:,.0f} s (extrapolated)",
    ).compared_with(raw_row)
    orm_row = Row(
        "snapshots: build, ORM path (SQLite's; same bytes)",
        "ORM build",
        orm_count,
        orm_seconds,
        "signals/s",
        note=f"{size} written byte for byte alike",
    ).compared_with(raw_row)
    build_row.compared_with(orm_row)
    sync_row = Row(
        "snapshots: first sync (download, verify, load, then the log)",
        "first sync",
        held,
        sync_seconds,
        "signals/s",
        note=", ".join(f"{name} {value:.2f} s" for name, value in phases.items())
        + f"; {received / 2**20:,.0f} MiB received; "
        f"10,000,000 at this rate: {sync_seconds * 10_000_000 / held:,.0f} s (extrapolated)",
    ).compared_with(raw_row)
    return [fill, raw_row, build_row, orm_row, sync_row]


def snapshot_size(snapshot: Snapshot) -> int:
    from hashbank.services.snapshots import snapshot_directory

    path = snapshot_directory() / snapshot.file_name
    if hashlib.sha256(path.read_bytes()).hexdigest() != snapshot.sha256:
        raise BenchError("the snapshot's file is not the one signed")
    return path.stat().st_size
