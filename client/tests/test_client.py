"""The member-side client, without a hub: parsing, signing, sync state, files, and the
HTTP layer against a small canned server on 127.0.0.1 that records what it receives."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hashfed_client import (
    HubClient,
    HubError,
    InputError,
    Row,
    SyncError,
    SyncState,
    build_envelopes,
    fastjson,
    main,
    parse_csv,
    parse_ndjson,
    row_submission_id,
    write_atomically,
)
from hashfed_client import sync as client_sync
from hashfed_client.readahead import ReadAhead

from hashfed_wire.envelope import envelope_from_obj, key_id_for, verify

# RFC 8032 section 7.1 test 1, as in the published signing vectors.
ALICE_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
API_KEY = "hf_alice_0123456789abcdef"
NAMESPACE = uuid.UUID("6f2c1f4e-8f0e-4d2a-9a57-0d1c2b3a4f5e")
CREATED_AT = "2026-11-25T12:00:00Z"


@pytest.fixture
def alice_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(ALICE_SEED)


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def write_key(path: Path, key: Ed25519PrivateKey) -> Path:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


# A canned hub


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]


@dataclass
class CannedHub:
    """Answers (method, path) with a fixed reply, a callable, or a queue of either."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    routes: dict[tuple[str, str], list[Reply | Callable[[Recorded], Reply]]] = field(
        default_factory=dict
    )

    def on(self, method: str, path: str, *replies: Reply | Callable[[Recorded], Reply]) -> None:
        """The replies are used in turn; the last one keeps answering."""
        self.routes[(method, path)] = list(replies)

    def answer(self, request: Recorded) -> Reply:
        replies = self.routes.get((request.method, request.path))
        if not replies:
            return 404, {"error": {"code": "not_found", "message": "no route", "fields": {}}}
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        return reply(request) if callable(reply) else reply

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]


@pytest.fixture
def hub() -> Iterator[CannedHub]:
    canned = CannedHub()

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Recorded(
                method=method,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=(
                    json.loads(raw)
                    if raw and self.headers.get("Content-Type") == "application/json"
                    else raw or None
                ),
            )
            canned.requests.append(request)
            status, body, *rest = canned.answer(request)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            for name, value in (rest[0] if rest else {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.handle_one("GET")

        def do_POST(self) -> None:
            self.handle_one("POST")

        def do_PUT(self) -> None:
            self.handle_one("PUT")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    canned.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield canned
    server.shutdown()
    server.server_close()
    thread.join()


def identity_and_me(hub: CannedHub) -> None:
    hub.on(
        "GET",
        "/.well-known/hashfed",
        (
            200,
            {"origin": "hub.test", "key_id": "0" * 64, "public_key": "x", "algorithm": "ed25519"},
        ),
    )
    hub.on(
        "GET",
        "/api/v1/me/",
        (200, {"organisation": {"slug": "example-platform", "name": "Ex"}, "role": "analyst"}),
    )


def error(status: int, code: str, message: str = "no", fields: Any = None) -> Reply:
    return status, {"error": {"code": code, "message": message, "fields": fields or {}}}


def accept_all(request: Recorded) -> Reply:
    items = request.body["submissions"]
    results = [
        {
            "index": index,
            "id": envelope["payload"]["id"],
            "status": "accepted",
            "review_state": "pending",
            "error": None,
        }
        for index, envelope in enumerate(items)
    ]
    return 200, {"results": results, "accepted": len(items), "replayed": 0, "rejected": 0}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, hub: CannedHub) -> None:
    monkeypatch.setenv("HASHFED_URL", hub.url)
    monkeypatch.setenv("HASHFED_API_KEY", API_KEY)
    monkeypatch.delenv("HASHFED_API_KEY_FILE", raising=False)


@pytest.fixture
def waits() -> list[float]:
    """Stands in for time.sleep: records the waits instead of waiting."""
    return []


# Reading rows


def test_it_reads_csv_rows_with_labels_note_and_incident() -> None:
    text = (
        f"pdq,{PDQ},graphic-violence;glorification-of-terrorist-acts\n"
        "\n"
        f'md5, {MD5} ,hate-speech,"Vidéo, « revendication »",example-crisis-2026-11\n'
        f"md5,{MD5},hate-speech,,\n"
    )
    rows, errors = parse_csv(io.StringIO(text))
    assert errors == []
    assert rows == [
        Row(1, "pdq", PDQ, ("graphic-violence", "glorification-of-terrorist-acts")),
        Row(
            3,
            "md5",
            MD5,
            ("hate-speech",),
            note="Vidéo, « revendication »",
            incident="example-crisis-2026-11",
        ),
        Row(4, "md5", MD5, ("hate-speech",)),
    ]


def test_it_reads_a_csv_header_with_columns_in_any_order() -> None:
    text = f"signal_type,labels,value,incident,note\npdq,a;b,{PDQ},crisis\nmd5,a,{MD5}\n"
    rows, errors = parse_csv(io.StringIO(text))
    assert errors == []
    assert rows == [Row(2, "pdq", PDQ, ("a", "b"), incident="crisis"), Row(3, "md5", MD5, ("a",))]


def test_it_refuses_a_csv_header_with_an_unknown_column() -> None:
    rows, errors = parse_csv(io.StringIO(f"signal_type,value,labels,colour\npdq,{PDQ},a,red\n"))
    assert rows == []
    assert [(e.line, e.code) for e in errors] == [(1, "invalid_header")]
    assert "colour" in errors[0].message


def test_it_reports_every_bad_csv_row_by_its_line() -> None:
    text = (
        f"pdq,{PDQ}\n"  # too few columns
        f"pdq,{PDQ},a,note,incident,extra\n"  # too many
        f",{PDQ},a\n"  # no signal type
        "pdq,,a\n"  # no value
        f"pdq,{PDQ}, ; \n"  # no label
        f'pdq,{PDQ},"a\nb",note\n'  # a quoted cell over two lines
        f"pdq,{PDQ},a,\n"
        f"pdq,{PDQ},\n"
    )
    rows, errors = parse_csv(io.StringIO(text))
    assert [(e.line, e.code, e.field) for e in errors] == [
        (1, "invalid_row", None),
        (2, "invalid_row", None),
        (3, "missing_field", "signal_type"),
        (4, "missing_field", "value"),
        (5, "missing_field", "labels"),
        (9, "missing_field", "labels"),
    ]
    assert [row.line for row in rows] == [6, 8]
    assert str(errors[2]) == "line 3: missing_field signal_type: signal_type is empty"


def test_it_reads_ndjson_rows_keeping_values_byte_for_byte() -> None:
    text = (
        json.dumps({"signal_type": "raw_text", "value": "  spaced  ", "labels": ["a"]})
        + "\n\n"
        + json.dumps(
            {
                "labels": ["a", "b"],
                "value": PDQ,
                "signal_type": "pdq",
                "note": "🚩",
                "incident": None,
            }
        )
        + "\n"
    )
    rows, errors = parse_ndjson(io.StringIO(text))
    assert errors == []
    assert rows == [
        Row(1, "raw_text", "  spaced  ", ("a",)),
        Row(3, "pdq", PDQ, ("a", "b"), note="🚩"),
    ]


def test_it_reports_every_bad_ndjson_line() -> None:
    lines = [
        "{not json",
        '{"signal_type": "pdq", "signal_type": "md5", "value": "x", "labels": ["a"]}',
        '["pdq"]',
        '{"signal_type": "pdq", "value": "x", "labels": "a"}',
        '{"signal_type": "pdq", "value": "x", "labels": ["a", 1]}',
        '{"signal_type": "pdq", "value": "x", "labels": ["a"], "colour": "red"}',
        '{"signal_type": "pdq", "labels": ["a"]}',
        '{"signal_type": "pdq", "value": "", "labels": ["a"]}',
        '{"signal_type": "pdq", "value": "x", "labels": ["a"], "note": 3}',
        '{"signal_type": "pdq", "value": "x", "labels": ["a"], "note": NaN}',
        '{"signal_type": "pdq", "value": "x", "labels": ["a"]}',
    ]
    rows, errors = parse_ndjson(io.StringIO("\n".join(lines)))
    assert [(e.line, e.code, e.field) for e in errors] == [
        (1, "malformed_json", None),
        (2, "duplicate_key", "signal_type"),
        (3, "invalid_row", None),
        (4, "invalid_field", "labels"),
        (5, "invalid_field", "labels[1]"),
        (6, "unknown_field", "colour"),
        (7, "missing_field", "value"),
        (8, "invalid_field", "value"),
        (9, "invalid_field", "note"),
        (10, "malformed_json", None),
    ]
    assert [row.line for row in rows] == [11]


# Building and signing envelopes


def test_the_envelopes_are_signed_version_1_statements_of_each_row(alice_key) -> None:
    rows = [
        Row(1, "pdq", PDQ, ("graphic-violence",)),
        Row(2, "md5", MD5, ("hate-speech", "a"), note="Vidéo\n🚩", incident="crisis-1"),
    ]
    built, errors = build_envelopes(
        rows,
        private_key=alice_key,
        bank="TVEC",
        organisation="example-platform",
        audience="hub.example.org",
    )
    assert errors == []
    assert [row for row, _ in built] == rows
    first, second = (envelope for _, envelope in built)
    assert first["payload"] == {
        "version": 1,
        "audience": "hub.example.org",
        "id": first["payload"]["id"],
        "created_at": first["payload"]["created_at"],
        "organisation": "example-platform",
        "key_id": key_id_for(raw_public(alice_key)),
        "bank": "TVEC",
        "signal_type": "pdq",
        "value": PDQ,
        "labels": ["graphic-violence"],
    }
    assert uuid.UUID(first["payload"]["id"]).version == 4
    assert first["payload"]["id"] != second["payload"]["id"]
    signed_at = datetime.strptime(first["payload"]["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs((datetime.now(UTC) - signed_at.replace(tzinfo=UTC)).total_seconds()) < 60
    assert second["payload"]["note"] == "Vidéo\n🚩"
    assert second["payload"]["incident"] == "crisis-1"
    for envelope in (first, second):
        assert verify(raw_public(alice_key), envelope_from_obj(envelope))


def test_rows_the_hub_would_refuse_for_their_shape_are_caught_before_sending(alice_key) -> None:
    rows = [
        Row(1, "pdq", PDQ, ("Not A Slug",)),
        Row(2, "PDQ", PDQ, ("a",)),
        Row(3, "pdq", PDQ, ("a", "a")),
        Row(4, "pdq", PDQ, ("a",), note="x" * 501),
        Row(5, "pdq", PDQ, ("a",)),
    ]
    built, errors = build_envelopes(
        rows, private_key=alice_key, bank="TVEC", organisation="p", audience="hub.test"
    )
    assert [(e.line, e.code, e.field) for e in errors] == [
        (1, "invalid_field", "payload.labels[0]"),
        (2, "invalid_field", "payload.signal_type"),
        (3, "invalid_field", "payload.labels[1]"),
        (4, "invalid_field", "payload.note"),
    ]
    assert [row.line for row, _ in built] == [5]


def test_an_id_namespace_makes_a_rerun_sign_the_very_same_envelopes(alice_key) -> None:
    csv_rows, _ = parse_csv(io.StringIO(f"pdq,{PDQ},a;b,note\nmd5,{MD5},a\n"))
    ndjson_rows, _ = parse_ndjson(
        io.StringIO(
            json.dumps({"value": MD5, "signal_type": "md5", "labels": ["a"]})
            + "\n"
            + json.dumps({"signal_type": "pdq", "value": PDQ, "labels": ["a", "b"], "note": "note"})
        )
    )

    def envelopes(rows: list[Row], **changes: Any) -> list[dict[str, Any]]:
        options = {
            "private_key": alice_key,
            "bank": "TVEC",
            "organisation": "p",
            "audience": "hub.test",
            "created_at": CREATED_AT,
            "id_namespace": NAMESPACE,
        } | changes
        return [envelope for _, envelope in build_envelopes(rows, **options)[0]]

    first_run = envelopes(csv_rows)
    assert envelopes(csv_rows) == first_run
    # Same statements in another format and order: same ids, same signatures.
    assert sorted(envelopes(ndjson_rows), key=lambda e: e["payload"]["id"]) == sorted(
        first_run, key=lambda e: e["payload"]["id"]
    )
    ids = [e["payload"]["id"] for e in first_run]
    assert ids[0] == str(
        uuid.uuid5(
            NAMESPACE,
            '{"bank":"TVEC","labels":["a","b"],"note":"note","signal_type":"pdq","value":"'
            + PDQ
            + '"}',
        )
    )
    assert all(uuid.UUID(i).version == 5 for i in ids)
    assert [e["payload"]["id"] for e in envelopes(csv_rows, bank="CSAM")] != ids
    other = uuid.UUID("00000000-0000-4000-8000-000000000000")
    assert [e["payload"]["id"] for e in envelopes(csv_rows, id_namespace=other)] != ids
    changed = Row(1, "pdq", PDQ, ("a",), note="note")
    assert row_submission_id(changed, bank="TVEC", namespace=NAMESPACE) != ids[0]


# Sync state


def entry(sequence: int, op: str, value: str, **extra: Any) -> dict[str, Any]:
    return {
        "sequence": sequence,
        "op": op,
        "bank": extra.pop("bank", "TVEC"),
        "signal": sequence,
        "signal_type": extra.pop("signal_type", "md5"),
        "value": value,
        "labels": extra.pop("labels", ["a"]),
        "status": extra.pop("status", "active"),
        "confidence": 0.8,
        **extra,
    }


def test_the_state_applies_add_update_and_remove_in_order() -> None:
    state = SyncState()
    applied = state.apply(
        [
            entry(1, "add", "aa"),
            entry(2, "add", "bb"),
            entry(3, "update", "aa", labels=["a", "b"], status="disputed"),
            entry(4, "remove", "bb"),
            entry(5, "add", "bb", signal_type="pdq"),
            entry(6, "remove", "never-added"),
            entry(7, "add", "cc", bank="CSAM"),
        ]
    )
    assert applied == 7
    assert state.last_sequence == 7
    assert sorted(state.signals) == [
        ("CSAM", "md5", "cc"),
        ("TVEC", "md5", "aa"),
        ("TVEC", "pdq", "bb"),
    ]
    record = state.signals[("TVEC", "md5", "aa")]
    assert record["labels"] == ["a", "b"]
    assert record["status"] == "disputed"
    assert record["sequence"] == 3
    assert "op" not in record


def test_a_fresh_state_applies_the_first_entry_of_the_log() -> None:
    state = SyncState()
    assert state.apply([entry(0, "add", "aa")]) == 1
    assert set(state.signals) == {("TVEC", "md5", "aa")}


def test_the_state_skips_entries_it_already_applied() -> None:
    state = SyncState()
    state.apply([entry(1, "add", "aa"), entry(2, "add", "bb")])
    applied = state.apply([entry(2, "remove", "bb"), entry(3, "update", "aa", labels=["z"])])
    assert applied == 1
    assert set(state.signals) == {("TVEC", "md5", "aa"), ("TVEC", "md5", "bb")}
    assert state.signals[("TVEC", "md5", "aa")]["labels"] == ["z"]


@pytest.mark.parametrize(
    "entries",
    [
        [entry(1, "add", "aa"), entry(2, "rename", "bb")],
        [entry(2, "add", "aa"), entry(1, "add", "bb")],
        [entry(1, "add", "aa"), {"sequence": 2, "op": "add", "bank": "TVEC"}],
        [entry(1, "add", "aa"), {"op": "add"}],
    ],
)
def test_the_state_refuses_a_page_that_breaks_the_feed_and_changes_nothing(entries) -> None:
    state = SyncState()
    state.apply([entry(0, "add", "kept")])
    before = dict(state.signals)
    with pytest.raises(SyncError):
        state.apply(entries)
    assert state.signals == before
    assert state.last_sequence == 0


def test_the_state_survives_a_round_trip_through_its_file(tmp_path) -> None:
    state = SyncState(hub="http://hub", cursor=8, head=9)
    state.apply([entry(1, "add", "bb"), entry(2, "add", "aa", note="é")])
    state.save(tmp_path / "s.json")
    loaded = SyncState.load(tmp_path / "s.json")
    assert loaded == state
    assert SyncState.load(tmp_path / "absent.json") == SyncState()


def test_a_damaged_state_file_is_refused(tmp_path) -> None:
    (tmp_path / "s.json").write_text('{"format": 1, "cursor": 3}')
    with pytest.raises(InputError):
        SyncState.load(tmp_path / "s.json")


# Atomic writes


def test_an_atomic_write_replaces_the_file(tmp_path) -> None:
    target = tmp_path / "list.ndjson"
    target.write_text("old\n")
    write_atomically(target, iter([b"new ", b"content\n"]))
    assert target.read_text() == "new content\n"
    assert os.listdir(tmp_path) == ["list.ndjson"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_failed_atomic_write_leaves_the_old_file_and_no_debris(tmp_path) -> None:
    target = tmp_path / "list.ndjson"
    target.write_text("old\n")

    def chunks() -> Iterator[bytes]:
        yield b"half of the new"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, chunks())
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["list.ndjson"]


# keygen


def test_keygen_writes_a_private_key_only_its_owner_can_read(tmp_path, capsys) -> None:
    key_file = tmp_path / "signing.pem"
    assert main(["keygen", "--out", str(key_file)]) == 0
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    pem = key_file.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    out = capsys.readouterr().out
    assert out == (
        f"public_key: {base64.b64encode(raw_public(key)).decode()}\n"
        f"key_id: {key_id_for(raw_public(key))}\n"
    )


def test_keygen_refuses_to_overwrite_a_file(tmp_path, capsys) -> None:
    key_file = tmp_path / "signing.pem"
    key_file.write_text("a key already registered")
    assert main(["keygen", "--out", str(key_file)]) == 2
    assert key_file.read_text() == "a key already registered"
    assert "refusing to overwrite" in capsys.readouterr().err


# The HTTP layer


def test_the_api_key_is_sent_in_the_authorization_header_only(hub) -> None:
    identity_and_me(hub)
    hub.on("GET", "/api/v1/sync/", (200, {"entries": [], "next_cursor": 0, "head": 0}))
    client = HubClient(hub.url, API_KEY)
    assert client.me()["organisation"]["slug"] == "example-platform"
    client.sync(0, 10)
    for request in hub.requests:
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        assert API_KEY not in request.path
        assert API_KEY not in json.dumps(request.query)


def test_a_hub_address_with_credentials_or_a_query_is_refused() -> None:
    for address in ("http://user:pw@hub", "http://hub/?api_key=x", "ftp://hub", "hub.example"):
        with pytest.raises(InputError):
            HubClient(address, API_KEY)


def test_hub_errors_carry_the_hubs_code_message_and_fields(hub) -> None:
    fields = {"public_key": [{"code": "invalid_public_key", "message": "expected 32 bytes"}]}
    hub.on("POST", "/api/v1/signing-keys/", error(400, "invalid", "bad key", fields))
    with pytest.raises(HubError) as caught:
        HubClient(hub.url, API_KEY).register_signing_key("AAAA", "2026 key")
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        400,
        "invalid",
        "bad key",
    )
    assert caught.value.fields == fields
    assert hub.requests[0].body == {"public_key": "AAAA", "name": "2026 key"}


def test_an_answer_that_is_not_the_error_shape_still_raises_a_hub_error(hub) -> None:
    hub.on("GET", "/api/v1/me/", (500, b"<html>Internal Server Error</html>"))
    with pytest.raises(HubError) as caught:
        HubClient(hub.url, API_KEY).me()
    assert (caught.value.status, caught.value.code) == (500, "http_500")


def test_a_busy_hub_is_retried_after_the_time_it_asks_for(hub, waits) -> None:
    page = {"entries": [], "next_cursor": 0, "head": 0}
    hub.on(
        "GET",
        "/api/v1/sync/",
        (*error(429, "throttled"), {"Retry-After": "7"}),
        error(503, "unavailable"),
        (200, page),
    )
    assert HubClient(hub.url, API_KEY, sleep=waits.append).sync(0, 10) == page
    assert len(hub.requests) == 3
    assert waits == [7.0, 2.0]


def test_a_hub_that_stays_busy_raises_after_the_last_attempt(hub, waits) -> None:
    hub.on("GET", "/api/v1/me/", error(503, "unavailable"))
    with pytest.raises(HubError) as caught:
        HubClient(hub.url, API_KEY, attempts=3, sleep=waits.append).me()
    assert caught.value.code == "unavailable"
    assert len(hub.requests) == 3


def test_registering_a_key_is_not_retried(hub, waits) -> None:
    hub.on("POST", "/api/v1/signing-keys/", error(503, "unavailable"))
    with pytest.raises(HubError):
        HubClient(hub.url, API_KEY, sleep=waits.append).register_signing_key("AAAA")
    assert len(hub.requests) == 1


def test_an_unreachable_hub_raises_with_status_0(waits) -> None:
    with pytest.raises(HubError) as caught:
        HubClient("http://127.0.0.1:9", API_KEY, attempts=2, sleep=waits.append).me()
    assert (caught.value.status, caught.value.code) == (0, "unreachable")
    assert waits == [1.0]


def test_a_redirect_is_not_followed_so_the_key_stays_with_the_hub(hub) -> None:
    hub.on("GET", "/api/v1/me/", (302, {}, {"Location": "http://elsewhere.example/me/"}))
    with pytest.raises(HubError) as caught:
        HubClient(hub.url, API_KEY).me()
    assert (caught.value.status, caught.value.code) == (302, "redirect")
    assert hub.paths() == ["GET /api/v1/me/"]


def test_submissions_are_posted_in_batches_of_at_most_1000(hub) -> None:
    hub.on("POST", "/api/v1/submissions/", accept_all)
    envelopes = [{"payload": {"id": str(n)}, "signature": "s"} for n in range(2500)]
    results = HubClient(hub.url, API_KEY).submit(envelopes)
    assert [len(r.body["submissions"]) for r in hub.requests] == [1000, 1000, 500]
    assert [r["index"] for r in results] == list(range(2500))
    assert [r["id"] for r in results] == [str(n) for n in range(2500)]


def test_a_batch_answer_missing_results_is_a_bad_response(hub) -> None:
    hub.on("POST", "/api/v1/submissions/", (200, {"results": [], "accepted": 0}))
    with pytest.raises(HubError) as caught:
        HubClient(hub.url, API_KEY).submit([{"payload": {}, "signature": "s"}])
    assert caught.value.code == "bad_response"


def test_snapshots_are_listed(hub) -> None:
    snapshot = {"id": 3, "bank": "TVEC", "up_to_sequence": 120, "sha256": "ab", "signature": "s"}
    hub.on("GET", "/api/v1/sync/snapshots/", (200, [snapshot]))
    assert HubClient(hub.url, API_KEY).snapshots() == [snapshot]


# The submit command


def test_submit_signs_every_row_for_the_callers_organisation_and_the_hub(
    hub, env, tmp_path, alice_key, capsys
) -> None:
    identity_and_me(hub)
    hub.on("POST", "/api/v1/submissions/", accept_all)
    key_file = write_key(tmp_path / "k.pem", alice_key)
    rows = tmp_path / "rows.csv"
    rows.write_text(f"signal_type,value,labels\npdq,{PDQ},a;b\nmd5,{MD5},c\n")

    code = main(["submit", "--key", str(key_file), "--bank", "TVEC", "--file", str(rows)])

    assert code == 0
    captured = capsys.readouterr()
    assert captured.out == "accepted 2, replayed 0, rejected 0 (2 of 2 rows sent)\n"
    assert captured.err == ""
    posted = hub.requests[-1].body["submissions"]
    assert [e["payload"]["value"] for e in posted] == [PDQ, MD5]
    for envelope in posted:
        assert envelope["payload"]["organisation"] == "example-platform"
        assert envelope["payload"]["audience"] == "hub.test"
        assert envelope["payload"]["bank"] == "TVEC"
        assert verify(raw_public(alice_key), envelope_from_obj(envelope))


def test_submit_reports_each_rejected_row_and_exits_1(hub, env, tmp_path, alice_key, capsys):
    def mixed(request: Recorded) -> Reply:
        statuses = ["accepted", "replayed", "rejected"]
        results = []
        for index, envelope in enumerate(request.body["submissions"]):
            status = statuses[index]
            results.append(
                {
                    "index": index,
                    "id": envelope["payload"]["id"],
                    "status": status,
                    "review_state": "pending",
                    "error": (
                        {
                            "code": "unknown_label",
                            "message": "no label 'nope'",
                            "field": "payload.labels[0]",
                        }
                        if status == "rejected"
                        else None
                    ),
                }
            )
        return 200, {"results": results, "accepted": 1, "replayed": 1, "rejected": 1}

    hub.on("POST", "/api/v1/submissions/", mixed)
    key_file = write_key(tmp_path / "k.pem", alice_key)
    rows = tmp_path / "rows.ndjson"
    rows.write_text(
        "\n".join(
            json.dumps({"signal_type": "md5", "value": MD5, "labels": [label]})
            for label in ("a", "b", "nope")
        )
    )
    code = main(
        [
            "submit",
            "--key",
            str(key_file),
            "--bank",
            "TVEC",
            "--file",
            str(rows),
            "--organisation",
            "example-platform",
            "--audience",
            "hub.test",
        ]
    )
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == "accepted 1, replayed 1, rejected 1 (3 of 3 rows sent)\n"
    assert captured.err == "line 3: unknown_label payload.labels[0]: no label 'nope'\n"
    # --organisation and --audience spare the two look-ups.
    assert hub.paths() == ["POST /api/v1/submissions/"]


def test_submit_sends_nothing_when_a_row_is_invalid(hub, env, tmp_path, alice_key, capsys):
    key_file = write_key(tmp_path / "k.pem", alice_key)
    rows = tmp_path / "rows.csv"
    rows.write_text(f"pdq,{PDQ},a\npdq,{PDQ}\n")
    code = main(["submit", "--key", str(key_file), "--bank", "TVEC", "--file", str(rows)])
    assert code == 2
    assert hub.requests == []
    err = capsys.readouterr().err
    assert "line 2: invalid_row: expected 3 to 5 columns, got 2" in err
    assert "nothing was sent" in err


def test_submit_with_an_id_namespace_signs_the_same_bytes_on_a_rerun(
    hub, env, tmp_path, alice_key
) -> None:
    identity_and_me(hub)
    hub.on("POST", "/api/v1/submissions/", accept_all)
    key_file = write_key(tmp_path / "k.pem", alice_key)
    rows = tmp_path / "rows.csv"
    rows.write_text(f"pdq,{PDQ},a\n")
    args = ["submit", "--key", str(key_file), "--bank", "TVEC", "--file", str(rows)]
    args += ["--id-namespace", str(NAMESPACE), "--created-at", "2026-11-25T13:00:00+01:00"]
    assert main(args) == 0
    assert main(args) == 0
    first, second = (r.body for r in hub.requests if r.method == "POST")
    assert first == second
    assert first["submissions"][0]["payload"]["created_at"] == CREATED_AT


def test_an_id_namespace_without_a_pinned_signing_time_is_refused(env, tmp_path, capsys):
    args = ["submit", "--key", "k.pem", "--bank", "TVEC", "--file", "rows.csv"]
    assert main([*args, "--id-namespace", str(NAMESPACE)]) == 2
    assert "--created-at" in capsys.readouterr().err


def test_submit_stops_with_exit_3_when_the_hub_refuses_a_batch(
    hub, env, tmp_path, alice_key, capsys
) -> None:
    identity_and_me(hub)
    hub.on("POST", "/api/v1/submissions/", accept_all, error(403, "read_only_key", "read only"))
    key_file = write_key(tmp_path / "k.pem", alice_key)
    rows = tmp_path / "rows.csv"
    rows.write_text("".join(f"md5,{n:032x},a\n" for n in range(1001)))
    code = main(["submit", "--key", str(key_file), "--bank", "TVEC", "--file", str(rows)])
    assert code == 3
    captured = capsys.readouterr()
    assert captured.out == "accepted 1000, replayed 0, rejected 0 (1000 of 1001 rows sent)\n"
    assert "error: 403 read_only_key: read only" in captured.err


def test_register_key_sends_the_raw_public_key(hub, env, tmp_path, alice_key, capsys) -> None:
    key_id = key_id_for(raw_public(alice_key))
    hub.on("POST", "/api/v1/signing-keys/", (201, {"key_id": key_id, "state": "active"}))
    key_file = write_key(tmp_path / "k.pem", alice_key)
    assert main(["register-key", "--key", str(key_file), "--name", "2026 key"]) == 0
    assert hub.requests[0].body == {
        "public_key": "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "name": "2026 key",
    }
    assert capsys.readouterr().out == f"registered key_id: {key_id}\n"


def test_the_api_key_can_come_from_a_file(hub, env, tmp_path, monkeypatch, alice_key) -> None:
    monkeypatch.delenv("HASHFED_API_KEY")
    (tmp_path / "api-key").write_text("hf_from_file\n")
    monkeypatch.setenv("HASHFED_API_KEY_FILE", str(tmp_path / "api-key"))
    hub.on("POST", "/api/v1/signing-keys/", (201, {"key_id": key_id_for(raw_public(alice_key))}))
    key_file = write_key(tmp_path / "k.pem", alice_key)
    assert main(["register-key", "--key", str(key_file)]) == 0
    assert hub.requests[0].headers["authorization"] == "Bearer hf_from_file"


# The sync command


def serve_feed(hub: CannedHub, entries: list[dict[str, Any]], *, fail_from: int | None = None):
    """A change log of ``entries`` in pages, numbered from 0 as the hub does: cursor N
    asks for entries N and up; a page that is not full moves the cursor to the head."""

    def page(request: Recorded) -> Reply:
        cursor = int(request.query["cursor"][0])
        limit = int(request.query["limit"][0])
        if fail_from is not None and cursor >= fail_from:
            return error(400, "invalid_cursor", "cursor out of range")
        chunk = [e for e in entries if e["sequence"] >= cursor][:limit]
        head = len(entries)
        next_cursor = chunk[-1]["sequence"] + 1 if len(chunk) == limit else max(head, cursor)
        return 200, {"entries": chunk, "next_cursor": next_cursor, "head": head}

    hub.on("GET", "/api/v1/sync/", page)


FEED = [
    entry(0, "add", "cc"),
    entry(1, "add", "aa"),
    entry(2, "add", "bb", bank="CSAM"),
    entry(3, "update", "cc", labels=["x", "y"]),
    entry(4, "remove", "aa"),
    entry(5, "add", "dd", signal_type="pdq"),
    entry(6, "add", "aa"),
]


def test_sync_writes_the_list_sorted_one_signal_per_line(hub, env, tmp_path, capsys) -> None:
    serve_feed(hub, FEED)
    out = tmp_path / "list.ndjson"
    assert main(["sync", "--no-verify", "--out", str(out), "--limit", "3"]) == 0
    lines = out.read_text().splitlines()
    assert [
        tuple(json.loads(line)[k] for k in ("bank", "signal_type", "value")) for line in lines
    ] == [
        ("CSAM", "md5", "bb"),
        ("TVEC", "md5", "aa"),
        ("TVEC", "md5", "cc"),
        ("TVEC", "pdq", "dd"),
    ]
    assert json.loads(lines[2])["labels"] == ["x", "y"]
    assert lines[0] == json.dumps(json.loads(lines[0]), sort_keys=True, separators=(",", ":"))
    assert [r.query["cursor"] for r in hub.requests] == [["0"], ["3"], ["6"]]
    assert all(r.query["limit"] == ["3"] for r in hub.requests)
    state = json.loads((tmp_path / "list.state.json").read_text())
    assert (state["cursor"], state["head"]) == (7, 7)
    assert "4 signals" in capsys.readouterr().out


def test_sync_saves_the_cursor_as_it_goes_at_most_a_page_behind(
    hub, env, tmp_path, monkeypatch
) -> None:
    # Saved on every chance (a large list is saved less often: sync.SAVE_INTERVAL).
    monkeypatch.setattr(client_sync, "SAVE_INTERVAL", 0.0)
    monkeypatch.setattr(client_sync, "SAVE_SHARE", 0)
    state_file = tmp_path / "state.json"
    seen: list[int | None] = []

    def page(request: Recorded) -> Reply:
        # What a crash at this moment would leave on disk.
        seen.append(json.loads(state_file.read_text())["cursor"] if state_file.exists() else None)
        cursor = int(request.query["cursor"][0])
        chunk = [e for e in FEED if e["sequence"] >= cursor][:2]
        return 200, {"entries": chunk, "next_cursor": chunk[-1]["sequence"] + 1, "head": 7}

    hub.on("GET", "/api/v1/sync/", page)
    assert (
        main(
            [
                "sync",
                "--no-verify",
                "--out",
                str(tmp_path / "l.ndjson"),
                "--state",
                str(state_file),
                "--limit",
                "2",
            ]
        )
        == 0
    )
    # Page N+1 is asked for while page N is applied: what a crash leaves is the state after
    # page N-1 or page N, never older.
    allowed = [(None,), (None, 2), (2, 4), (4, 6)]
    assert len(seen) == 4
    assert all(saved in options for saved, options in zip(seen, allowed, strict=True)), seen
    assert json.loads(state_file.read_text())["cursor"] == 7


def test_sync_with_the_default_interval_saves_once_at_the_end(hub, env, tmp_path) -> None:
    state_file = tmp_path / "state.json"
    seen: list[object] = []

    def page(request: Recorded) -> Reply:
        seen.append(state_file.exists())
        cursor = int(request.query["cursor"][0])
        chunk = [e for e in FEED if e["sequence"] >= cursor][:2]
        return 200, {"entries": chunk, "next_cursor": chunk[-1]["sequence"] + 1, "head": 7}

    hub.on("GET", "/api/v1/sync/", page)
    command = ["sync", "--no-verify", "--out", str(tmp_path / "l.ndjson"), "--limit", "2"]
    assert main([*command, "--state", str(state_file)]) == 0
    assert seen == [False, False, False, False]
    assert json.loads(state_file.read_text())["cursor"] == 7


def test_sync_writes_the_same_files_with_or_without_orjson(hub, env, tmp_path, monkeypatch) -> None:
    serve_feed(hub, FEED)
    written = []
    for name in ("with", "without"):
        if name == "without":
            monkeypatch.setattr(fastjson, "orjson", None)
        out = tmp_path / f"{name}.ndjson"
        assert main(["sync", "--no-verify", "--out", str(out), "--limit", "3"]) == 0
        state = SyncState.load(tmp_path / f"{name}.state.json")
        written.append((out.read_bytes(), state.to_json()))
    assert written[0] == written[1]
    assert written[0][0].count(b"\n") == 4


def test_read_ahead_keeps_order_stays_one_page_ahead_and_raises_where_the_page_was() -> None:
    fetched: list[int] = []
    taken: list[int] = []

    def fetch(position: int) -> int:
        # Never more than one page beyond the one the caller works on.
        assert position <= (taken[-1] if taken else 0) + 1
        fetched.append(position)
        if position == 5:
            raise HubError(503, "unavailable", "try later")
        return position

    with ReadAhead(fetch, lambda page: page + 1, 0) as pages, pytest.raises(HubError):
        for page in pages:
            taken.append(page)
    assert taken == [0, 1, 2, 3, 4]
    assert fetched == [0, 1, 2, 3, 4, 5]

    with ReadAhead(lambda position: position, lambda p: None if p >= 3 else p + 1, 1) as pages:
        assert list(pages) == [1, 2, 3]


def test_sync_resumes_from_the_saved_cursor_after_an_interruption(hub, env, tmp_path) -> None:
    out = tmp_path / "list.ndjson"
    out.write_text("the previous complete list\n")
    serve_feed(hub, FEED, fail_from=4)
    assert main(["sync", "--no-verify", "--out", str(out), "--limit", "2"]) == 3
    # The list is only rewritten once it is complete; the state moved on page by page.
    assert out.read_text() == "the previous complete list\n"
    assert json.loads((tmp_path / "list.state.json").read_text())["cursor"] == 4

    hub.requests.clear()
    serve_feed(hub, FEED)
    assert main(["sync", "--no-verify", "--out", str(out), "--limit", "2"]) == 0
    assert [r.query["cursor"] for r in hub.requests] == [["4"], ["6"]]
    values = [json.loads(line)["value"] for line in out.read_text().splitlines()]
    assert values == ["bb", "aa", "cc", "dd"]

    hub.requests.clear()
    assert main(["sync", "--no-verify", "--out", str(out), "--limit", "2"]) == 0
    assert [r.query["cursor"] for r in hub.requests] == [["7"]]


def test_sync_refuses_a_state_made_against_another_hub(hub, env, tmp_path, capsys) -> None:
    SyncState(hub="https://other.example", cursor=5).save(tmp_path / "list.state.json")
    assert main(["sync", "--no-verify", "--out", str(tmp_path / "list.ndjson")]) == 2
    assert "other.example" in capsys.readouterr().err
    assert hub.requests == []


def test_sync_stops_when_the_cursor_does_not_advance(hub, env, tmp_path, capsys) -> None:
    hub.on(
        "GET",
        "/api/v1/sync/",
        (200, {"entries": [entry(1, "add", "aa")], "next_cursor": 0, "head": 9}),
    )
    assert main(["sync", "--no-verify", "--out", str(tmp_path / "list.ndjson")]) == 3
    assert "did not advance" in capsys.readouterr().err
    assert len(hub.requests) == 1


def test_sync_shows_progress_when_asked(hub, env, tmp_path, capsys) -> None:
    serve_feed(hub, FEED)
    assert (
        main(
            [
                "sync",
                "--no-verify",
                "--out",
                str(tmp_path / "l.ndjson"),
                "--limit",
                "4",
                "--progress",
            ]
        )
        == 0
    )
    assert capsys.readouterr().err == "synced 4/7 entries\nsynced 7/7 entries\n"


def test_sync_is_quiet_off_a_terminal(hub, env, tmp_path, capsys) -> None:
    serve_feed(hub, FEED)
    assert main(["sync", "--no-verify", "--out", str(tmp_path / "l.ndjson")]) == 0
    assert capsys.readouterr().err == ""


# lookup, hash, dispute, opinion


def answer_every_query(request: Recorded) -> Reply:
    queries = request.body["queries"]
    results = [
        {"index": index, "signal_type": query["signal_type"], "matches": [], "error": None}
        for index, query in enumerate(queries)
    ]
    return 200, {"results": results}


def test_lookup_sends_the_queries_in_one_body_and_prints_one_line_each(hub, env, capsys):
    hub.on("POST", "/api/v1/lookup/", answer_every_query)
    url = "https://example.org/a:b"
    assert main(["lookup", f"md5:{MD5}", f"url:{url}", "--max-distance", "8"]) == 0
    assert hub.requests[-1].body == {
        "queries": [{"signal_type": "md5", "value": MD5}, {"signal_type": "url", "value": url}],
        "max_distance": 8,
    }
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["index"], line["value"]) for line in lines] == [(0, MD5), (1, url)]


def test_a_lookup_query_without_a_type_is_refused_before_sending(hub, env, capsys):
    assert main(["lookup", MD5]) == 2
    assert hub.requests == []
    assert "TYPE:VALUE" in capsys.readouterr().err


def test_hash_sends_the_image_as_multipart_under_a_fixed_file_name(hub, env, tmp_path, capsys):
    hub.on("POST", "/api/v1/hash/", (200, {"md5": MD5, "matches": []}))
    image = tmp_path / "private-name.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n image bytes")
    assert main(["hash", str(image), "--match"]) == 0
    request = hub.requests[-1]
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="upload"' in request.body
    assert b"\x89PNG\r\n\x1a\n image bytes" in request.body
    assert b'name="match"\r\n\r\ntrue\r\n' in request.body
    assert b"private-name" not in request.body
    assert json.loads(capsys.readouterr().out) == {"md5": MD5, "matches": []}


def test_a_dispute_is_sent_whole_and_never_retried(hub, env, capsys):
    hub.on("POST", "/api/v1/disputes/", error(503, "unavailable"))
    argv = ["dispute", "--signal", "17", "--kind", "labels", "--grounds", "news"]
    assert main([*argv, "--label", "tvec-news", "--label", "tvec-archive"]) == 3
    assert len(hub.requests) == 1
    assert hub.requests[0].body == {
        "signal": 17,
        "kind": "labels",
        "grounds": "news",
        "evidence": "",
        "proposed_labels": ["tvec-news", "tvec-archive"],
    }


def test_an_opinion_is_put_on_its_signal(hub, env, capsys):
    hub.on("PUT", "/api/v1/signals/17/opinion/", (200, {"kind": "seen", "signal": 17}))
    assert main(["opinion", "--signal", "17", "--kind", "seen"]) == 0
    assert hub.requests[-1].body == {"kind": "seen", "reasons": "", "proposed_labels": []}
    assert json.loads(capsys.readouterr().out) == {"kind": "seen", "signal": 17}


def test_a_lookup_answer_out_of_order_is_a_bad_response(hub) -> None:
    hub.on("POST", "/api/v1/lookup/", (200, {"results": [{"index": 1, "matches": []}]}))
    with pytest.raises(HubError) as caught:
        HubClient(hub.url, API_KEY).lookup([{"signal_type": "md5", "value": MD5}])
    assert caught.value.code == "bad_response"


def test_a_snapshot_loads_the_same_records_with_or_without_orjson(monkeypatch) -> None:
    import gzip

    from hashfed_client.snapshots import snapshot_records, snapshots_apply

    lines = [
        json.dumps(
            {"bank": "TVEC", "incident_commitment": None, "n": n, "signal_type": "pdq", "value": v},
            separators=(",", ":"),
            sort_keys=True,
        )
        for n, v in enumerate(["a", "back\\slash", "tab\there", "é", "\u2028"])
    ]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    loaded = []
    for name in ("with", "without"):
        if name == "without":
            monkeypatch.setattr(fastjson, "orjson", None)
        signals: dict[tuple[str, str, str], dict[str, Any]] = {}
        assert snapshots_apply(signals, snapshot_records(data, bank="TVEC")) == 5
        loaded.append(signals)
    assert loaded[0] == loaded[1]
    assert loaded[0][("TVEC", "pdq", "tab\there")] == {
        "bank": "TVEC",
        "incident": None,
        "incident_commitment": None,
        "n": 2,
        "signal_type": "pdq",
        "value": "tab\there",
    }
