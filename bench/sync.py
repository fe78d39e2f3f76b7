"""Change-log entries per second through GET /api/v1/sync/ over a large log, against the
raw driver and the ORM reading the same pages in the same run; and a first sync through a
signed snapshot against replaying the whole log. Import after django.setup()."""

from __future__ import annotations

import datetime as dt
import gc
import gzip
import hashlib
import json
import os
from collections.abc import Iterable
from typing import Any

import psycopg
import rfc8785
from django.db.models import Count, Max, Min
from django.test import Client

from accounts.hub_identity import hub_identity
from bench.measure import (
    BANK,
    BENCH_DSN,
    LABEL,
    TIME_FORMAT,
    BenchError,
    Row,
    api_client,
    rotated,
    timed,
)
from hashbank.api.sync import MAX_SYNC_PAGE
from hashbank.models import Bank, ChangeLogEntry, Label, MerkleNode, Signal
from hashbank.selectors import changelog_next_sequence
from hashbank.services import transparency
from hashbank.services.changelog import entry_material, leaf_hash
from hashbank.services.snapshots import snapshots_create
from hashfed_wire import hub_signatures, merkle

# Pages are as large as the API allows: what a member catching up asks for.
SYNC_PAGE = MAX_SYNC_PAGE
# Rows generated and sent per COPY while filling the log: large enough that each COPY's
# fixed cost vanishes, small enough to keep this process's memory flat.
COPY_CHUNK = 50_000
# rfc8785.dumps(entry_material(...)) of an `add` of a new PDQ signal in the bench bank, its
# keys in RFC 8785 order; checked against rfc8785 itself on every chunk. Formatting the
# bytes directly is what lets a million entries be made in seconds.
ENTRY_TEMPLATE = (
    '{{"at":"{at}","bank":"{bank}","confidence":0.5,"envelopes":[],"incident_commitment":null,'
    '"labels":["{label}"],'
    '"op":"add","sequence":{sequence},"signal":{signal},"signal_type":"pdq",'
    '"status":"active","value":"{value}"}}'
)

Listed = dict[tuple[str, str, str], dict[str, Any]]


def entry_material_of(*, sequence: int, signal: int, value: str, at: str) -> dict[str, Any]:
    """entry_material's dict for a new, listed PDQ signal of the bench bank and label (the
    bench fills the log without submissions, so no envelope supports it)."""
    return {
        "sequence": sequence,
        "op": "add",
        "at": at,
        "bank": BANK,
        "signal": signal,
        "signal_type": "pdq",
        "value": value,
        "labels": [LABEL],
        "status": "active",
        "confidence": 0.5,
        "incident_commitment": None,
        "envelopes": [],
    }


def changelog_fill(total: int) -> int:
    """Add new listed signals and their `add` entries until the log holds `total` entries,
    numbered on from the current head without gaps. Returns how many were added."""
    head = changelog_next_sequence()
    missing = total - head
    if missing <= 0:
        return 0
    bank_id = Bank.objects.get(name=BANK).pk
    label_id = Label.objects.get(slug=LABEL).pk
    signal_table = Signal._meta.db_table
    links_table = Signal.labels.through._meta.db_table
    log_table = ChangeLogEntry._meta.db_table
    node_table = MerkleNode._meta.db_table
    # The entries extend the bench bank's Merkle tree: their places in it, and the nodes
    # they complete, as changelog_append would store them.
    tree_size = transparency.tree_size(bank_id)
    right_edge = transparency.tree_right_edge(bank_id, tree_size)
    copies = {
        "signals": f"COPY {signal_table} (id, bank_id, signal_type, value, status, "
        "labels_decided, delisted_by_decision, confidence, legal_hold, incident, "
        "first_listed_at, updated_at) FROM STDIN",
        "links": f"COPY {links_table} (signal_id, label_id) FROM STDIN",
        "entries": f"COPY {log_table} (sequence, bank_id, bank_index, signal_id, op, entry, "
        "leaf_hash, created_at) FROM STDIN",
        "nodes": f'COPY {node_table} (bank_id, level, "index", hash) FROM STDIN',
    }
    started_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with psycopg.connect(BENCH_DSN) as connection, connection.cursor() as cursor:
        row = cursor.execute(f"SELECT coalesce(max(id), 0) FROM {signal_table}").fetchone()
        first_signal = (row[0] if row else 0) + 1
        for chunk_start in range(0, missing, COPY_CHUNK):
            count = min(COPY_CHUNK, missing - chunk_start)
            values = os.urandom(32 * count).hex()
            lines: dict[str, list[str]] = {name: [] for name in copies}
            leaves: list[bytes] = []
            for offset in range(count):
                number = chunk_start + offset
                sequence, signal = head + number, first_signal + number
                value = values[64 * offset : 64 * offset + 64]
                moment = started_at + dt.timedelta(microseconds=number)
                at, stored_at = moment.strftime(TIME_FORMAT), moment.isoformat()
                entry = ENTRY_TEMPLATE.format(
                    at=at, bank=BANK, label=LABEL, sequence=sequence, signal=signal, value=value
                ).encode()
                if offset == 0:
                    material = entry_material_of(
                        sequence=sequence, signal=signal, value=value, at=at
                    )
                    if rfc8785.dumps(material) != entry:
                        raise BenchError("the entry template no longer matches RFC 8785 output")
                lines["signals"].append(
                    f"{signal}\t{bank_id}\tpdq\t{value}\tactive\tf\tf\t0.5\tf\t\t"
                    f"{stored_at}\t{stored_at}\n"
                )
                lines["links"].append(f"{signal}\t{label_id}\n")
                # bytea in COPY's text format: \x and hex digits, the backslash escaped.
                leaves.append(bytes.fromhex(leaf_hash(entry)))
                lines["entries"].append(
                    f"{sequence}\t{bank_id}\t{tree_size + number}\t{signal}\tadd\t"
                    f"\\\\x{entry.hex()}\t{leaves[-1].hex()}\t{stored_at}\n"
                )
            appended = merkle.append_leaves(tree_size + chunk_start, right_edge, leaves)
            right_edge = appended.right_edge
            lines["nodes"] = [
                f"{bank_id}\t{level}\t{index}\t{value.hex()}\n"
                for level, index, value in appended.nodes
                if level > 0
            ]
            for name, statement in copies.items():
                with cursor.copy(statement) as copy:
                    copy.write("".join(lines[name]))
            print(f"  {chunk_start + count:,} of {missing:,} entries copied")
        # The signals were given their ids: the next one the hub creates must not collide.
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{signal_table}', 'id'), "
            f"(SELECT max(id) FROM {signal_table}))"
        )
        connection.commit()
    # Without this the first reader of the copied rows would pay for setting their hint
    # bits, and the planner would know nothing of a million new rows.
    with psycopg.connect(BENCH_DSN, autocommit=True) as connection:
        for table in (signal_table, links_table, log_table, node_table):
            connection.execute(f"VACUUM (ANALYZE) {table}")
    return missing


def changelog_check(total: int) -> None:
    """The log numbers its entries 0..total-1 without gaps, and sampled entries are exactly
    what entry_material and leaf_hash give for their signal."""
    summary = ChangeLogEntry.objects.aggregate(
        n=Count("pk"), low=Min("sequence"), high=Max("sequence")
    )
    if (summary["n"], summary["low"], summary["high"]) != (total, 0, total - 1):
        raise BenchError(f"the log should number 0..{total - 1} without gaps: {summary}")
    for sequence in sorted({0, total // 3, total // 2, total - 1}):
        logged = ChangeLogEntry.objects.select_related("signal__bank").get(sequence=sequence)
        entry = bytes(logged.entry)
        expected = rfc8785.dumps(
            entry_material(logged.signal, op=logged.op, sequence=sequence, at=logged.created_at)
        )
        if entry != expected or logged.leaf_hash != leaf_hash(entry):
            raise BenchError(f"entry {sequence} is not what the hub would have logged")


def page_raw(cursor: psycopg.Cursor[Any], position: int) -> tuple[int, int]:
    rows = cursor.execute(
        "SELECT sequence, entry FROM hashbank_changelogentry WHERE sequence >= %s "
        "ORDER BY sequence LIMIT %s",
        (position, SYNC_PAGE),
    ).fetchall()
    return len(rows), (rows[-1][0] + 1 if rows else position)


def page_orm(position: int) -> tuple[int, int]:
    rows = list(
        ChangeLogEntry.objects.filter(sequence__gte=position)
        .order_by("sequence")
        .values_list("sequence", "entry")[:SYNC_PAGE]
    )
    # As the sync selector does: the driver's buffers become the bytes sent out.
    entries = [bytes(entry) for _, entry in rows]
    return len(entries), (rows[-1][0] + 1 if rows else position)


def page_api(client: Client, position: int) -> bytes:
    response = client.get("/api/v1/sync/", {"cursor": position, "limit": SYNC_PAGE})
    if response.status_code != 200:
        raise BenchError(f"GET /api/v1/sync/: {response.status_code} {response.content!r}")
    return response.content


def list_apply(listed: Listed, records: Iterable[dict[str, Any]]) -> int:
    """Apply records as a member's client does: add and update set the record keyed by
    (bank, signal type, value), remove deletes it. Returns how many were applied."""
    count = 0
    for record in records:
        key = (record["bank"], record["signal_type"], record["value"])
        if record.get("op") == "remove":
            listed.pop(key, None)
        else:
            listed[key] = record
        count += 1
        if count % SYNC_PAGE == 0:
            records_hide_from_collector()
    records_hide_from_collector()
    return count


def records_hide_from_collector() -> None:
    """This one process plays both the hub and the member. Once applied, the member's
    records leave the cyclic collector's sight, or every collection the hub's work triggers
    would also walk a million long-lived dicts that a real hub process never holds."""
    gc.freeze()


class LogReaders:
    """Three ways of reading one page of the log, each adding up its own time and count:
    the raw driver, the ORM, and the sync API as a member calls it. The member's client then
    parses and applies the page, timed apart: that is no work of the hub's."""

    def __init__(self, cursor: psycopg.Cursor[Any], client: Client) -> None:
        self.cursor, self.client = cursor, client
        self.seconds = {"raw": 0.0, "orm": 0.0, "api": 0.0, "client": 0.0}
        self.read = {"raw": 0, "orm": 0, "api": 0}
        self.bytes_received = 0
        self.listed: Listed = {}

    def raw(self, position: int) -> int:
        seconds, (count, next_cursor) = timed(lambda: page_raw(self.cursor, position))
        self.seconds["raw"] += seconds
        self.read["raw"] += count
        return next_cursor

    def orm(self, position: int) -> int:
        seconds, (count, next_cursor) = timed(lambda: page_orm(position))
        self.seconds["orm"] += seconds
        self.read["orm"] += count
        return next_cursor

    def api(self, position: int) -> int:
        seconds, body = timed(lambda: page_api(self.client, position))
        self.seconds["api"] += seconds
        self.bytes_received += len(body)
        parse_seconds, page = timed(lambda: json.loads(body))
        apply_seconds, count = timed(lambda: list_apply(self.listed, page["entries"]))
        self.seconds["client"] += parse_seconds + apply_seconds
        self.read["api"] += count
        return int(page["next_cursor"])


def log_read_three_ways(client: Client, total: int) -> LogReaders:
    pages = -(-total // SYNC_PAGE) + 1
    with psycopg.connect(BENCH_DSN, autocommit=True) as connection, connection.cursor() as cursor:
        # One untimed pass brings the table into memory, so that no reader pays for the disk.
        position = 0
        for _ in range(pages):
            _, position = page_raw(cursor, position)
            if position >= total:
                break
        readers = LogReaders(cursor, client)
        position = 0
        for page in range(pages):
            next_cursors = {
                step(position) for step in rotated([readers.raw, readers.orm, readers.api], page)
            }
            if len(next_cursors) != 1:
                raise BenchError(f"the readers disagree on the page after {position}")
            position = next_cursors.pop()
            if position >= total:
                break
        else:
            raise BenchError(f"the log's head was not reached in {pages} pages")
    if set(readers.read.values()) != {total}:
        raise BenchError(f"each reader should have read {total} entries: {readers.read}")
    return readers


def sync_through_snapshot(client: Client) -> tuple[Listed, int]:
    """A member's first sync from the signed snapshots: list them, download each readable
    bank's file, check its hash and the hub's signature, read the NDJSON, then sync the log
    from the snapshots' position to the head. Returns the list and the bytes received."""
    identity = hub_identity()
    listed: Listed = {}
    received = 0
    snapshots = client.get("/api/v1/sync/snapshots/").json()
    if not snapshots:
        raise BenchError("no snapshot is listed")
    for snapshot in snapshots:
        response = client.get(snapshot["download"])
        # A FileResponse streams; the test client's response type does not say so.
        data = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        response.close()
        received += len(data)
        # Raises HubSignatureError: a snapshot that does not verify ends the run.
        hub_signatures.verify_snapshot(
            identity.public_key_raw,
            snapshot["signature"],
            origin=identity.origin,
            bank=snapshot["bank"],
            up_to_sequence=snapshot["up_to_sequence"],
            sha256=hashlib.sha256(data).hexdigest(),
        )
        list_apply(listed, (json.loads(line) for line in gzip.decompress(data).splitlines()))
    position = snapshots[0]["up_to_sequence"]
    for _ in range(100):
        body = page_api(client, position)
        received += len(body)
        page = json.loads(body)
        list_apply(listed, page["entries"])
        position = page["next_cursor"]
        if position >= page["head"]:
            break
    else:
        raise BenchError("the sync after the snapshots did not reach the head")
    return listed, received


def bench_sync(api_keys: dict[str, str], *, quick: bool) -> list[Row]:
    total = 100_000 if quick else 1_000_000
    print(f"sync: filling the change log to {total:,} entries with COPY")
    fill_seconds, appended = timed(lambda: changelog_fill(total))
    changelog_check(total)
    fill = Row(
        "sync: fill the log (COPY signals, labels, entries)",
        "fill",
        appended,
        fill_seconds,
        "entries/s",
        note="setup, not a hub code path; includes generating the entries and VACUUM ANALYZE",
    )

    analyst = api_client(api_keys["northwind/analyst"])
    page_api(analyst, 0)
    print(f"sync: reading {total:,} entries in pages of {SYNC_PAGE:,}, three ways")
    # What earlier scenarios left behind is no concern of these figures either.
    records_hide_from_collector()
    readers = log_read_three_ways(analyst, total)
    seconds = readers.seconds
    raw = Row(
        "sync: raw psycopg keyset read",
        "raw psycopg",
        total,
        seconds["raw"],
        "entries/s",
        baseline=True,
    )
    orm = Row(
        "sync: ORM values_list read",
        "ORM values_list",
        total,
        seconds["orm"],
        "entries/s",
        baseline=True,
    )
    api = Row(
        "sync: API GET /api/v1/sync/ (hub side)",
        "API sync",
        total,
        seconds["api"],
        "entries/s",
        note=f"{readers.bytes_received / 2**20:,.0f} MiB of JSON sent",
    ).compared_with(raw, orm)
    replay = Row(
        "sync: first sync by log replay (API + client parse + apply)",
        "log replay",
        total,
        seconds["api"] + seconds["client"],
        "entries/s",
        baseline=True,
        note=f"of which the client's JSON parse and apply: {seconds['client']:.2f} s",
    )

    print("sync: building signed snapshots, then a first sync from them")
    build_seconds, snapshots = timed(snapshots_create)
    signals = sum(snapshot.signal_count for snapshot in snapshots)
    download_seconds, (listed, received) = timed(lambda: sync_through_snapshot(analyst))
    if (
        signals != total
        or changelog_next_sequence() != total
        or listed.keys() != readers.listed.keys()
    ):
        raise BenchError("the snapshots and the replayed log do not give the same list")
    listed_count = len(listed)
    # Both copies of the list are done with; whatever stays alive is the collector's again.
    del listed
    readers.listed = {}
    gc.unfreeze()
    build = Row(
        "sync: snapshot build (snapshots_create)",
        "snapshot build",
        signals,
        build_seconds,
        "signals/s",
    ).compared_with(replay)
    first_sync = Row(
        "sync: first sync via snapshot (download, verify, gunzip, parse, apply)",
        "snapshot sync",
        listed_count,
        download_seconds,
        "signals/s",
        note=f"{received / 2**20:,.0f} MiB of gzip NDJSON received",
    ).compared_with(replay)
    build_and_sync = Row(
        "sync: snapshot build + first sync via snapshot",
        "snapshot build + sync",
        listed_count,
        build_seconds + download_seconds,
        "signals/s",
    ).compared_with(replay)
    return [fill, raw, orm, api, replay, build, first_sync, build_and_sync]
