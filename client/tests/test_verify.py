"""The client's checks of the list against the hub's signed checkpoints, without Django:
a small model of the hub (real Ed25519 keys, real RFC 6962 trees and proofs) serves the
pages, and misbehaves on request."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hashfed_client import main
from hashfed_client.errors import HubError, SyncError
from hashfed_client.sync import SyncState
from hashfed_client.verify import (
    BankTree,
    CheckpointPolicy,
    LogVerifier,
    Misbehaviour,
    Unverified,
    compare,
    split_page,
    split_page_bytes,
)

from hashfed_wire import logverify, merkle, note

NAME = "hub.test"
API_KEY = "hf_verify_0123456789abcdef"


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def subtree(leaves: list[bytes]) -> merkle.HashAt:
    def hash_at(level: int, index: int) -> bytes:
        return merkle.root_hash(leaves[index << level : (index + 1) << level])

    return hash_at


class ModelHub:
    """The hub's side of the verifiable list in a few lines: one global change log, a tree
    per bank over its entries' bytes, checkpoints signed with a real key and cosigned by
    real witness keys. ``tamper`` edits a page's entries (as bytes) before it is signed."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.log: list[tuple[str, bytes]] = []
        self.witnesses: list[tuple[str, Ed25519PrivateKey]] = []
        self.tamper: Callable[[list[bytes]], list[bytes]] | None = None
        self.tree_size_offset: dict[str, int] = {}
        self.page_key: Ed25519PrivateKey | None = None
        self.checkpoint_at: Callable[[str, int], int] = lambda bank, size: size
        self.forged_root: bytes | None = None
        self.rolled_back_to: int | None = None
        self.latest_witnessed = True
        self.requests: list[str] = []

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().public_bytes_raw()

    @property
    def vkey(self) -> str:
        return note.verifier_key(NAME, self.public_key)

    def add(self, bank: str, value: str, op: str = "add") -> None:
        entry = {"bank": bank, "op": op, "sequence": len(self.log), "signal_type": "md5"}
        entry |= {"value": value, "note": "vidéo « revendication »"}
        self.log.append((bank, canonical(entry)))

    def fill(self, count: int, banks: tuple[str, ...] = ("TVEC", "CSAM")) -> None:
        for n in range(count):
            self.add(banks[n % len(banks)], f"{len(self.log):032x}")

    def leaves(self, bank: str) -> list[bytes]:
        return [merkle.leaf_hash(entry) for name, entry in self.log if name == bank]

    def sign(
        self, bank: str, size: int, root: bytes | None = None, *, witnessed: bool = True
    ) -> str:
        if root is None:
            root = merkle.root_hash(self.leaves(bank)[:size])
        checkpoint = note.Checkpoint(f"{NAME}/banks/{bank}", size, root, issued_at=1_800_000_000)
        text = note.sign_checkpoint(checkpoint, name=NAME, private_key=self.key)
        for name, key in self.witnesses if witnessed else []:
            text = note.cosign(text, name=name, private_key=key, timestamp=1_800_000_001)
        return text

    def consistency(self, bank: str, old: int, new: int) -> list[bytes]:
        return merkle.consistency_proof(old, new, subtree(self.leaves(bank)))

    def page(self, cursor: int, limit: int) -> bytes:
        chunk = [entry for entry in self.log[cursor : cursor + limit]]
        next_cursor = cursor + len(chunk)
        texts = [entry for _, entry in chunk]
        if self.tamper:
            texts = self.tamper(texts)
        checkpoints: dict[str, Any] = {}
        for bank in sorted({name for name, _ in self.log}):
            size = sum(1 for name, _ in self.log[:next_cursor] if name == bank)
            size += self.tree_size_offset.get(bank, 0)
            signed = self.checkpoint_at(bank, size)
            text = self.sign(bank, signed, self.forged_root)
            checkpoints[bank] = {"tree_size": size, "checkpoint": {"size": signed, "note": text}}
        return (
            b'{"entries":['
            + b",".join(texts)
            + f'],"next_cursor":{next_cursor},"head":{len(self.log)},"checkpoints":'.encode()
            + canonical(checkpoints)
            + b"}"
        )


def policy_of(hub: ModelHub, witnesses: list[note.Verifier] | None = None, k: int = 0):
    return CheckpointPolicy(note.Verifier(NAME, hub.public_key), witnesses or [], k)


def read_all(
    hub: ModelHub,
    verifier: LogVerifier,
    trees: dict[str, BankTree],
    cursor: int = 0,
    limit: int = 3,
) -> tuple[dict[str, BankTree], int]:
    while True:
        raw = hub.page(cursor, limit)
        page, texts = split_page(raw)
        trees = verifier.check_page(trees, page, texts, raw=raw)
        cursor = page["next_cursor"]
        if not page["entries"] or cursor >= page["head"]:
            return trees, cursor


@pytest.fixture
def model() -> ModelHub:
    hub = ModelHub()
    hub.fill(11)
    return hub


def fetched(hub: ModelHub, calls: list[tuple[str, int, int]]):
    def fetch(bank: str, old: int, new: int) -> list[bytes]:
        calls.append((bank, old, new))
        return hub.consistency(bank, old, new)

    return fetch


# The page's bytes


def test_split_page_returns_each_entrys_exact_text_and_the_parsed_page() -> None:
    raw = (
        '{ "head" : 3, "entries" : [ {"a":"é\\u00e9","b":[1, 2]} ,{"c":{}}],'
        '"next_cursor":2,"checkpoints":{}}'
    ).encode()
    page, texts = split_page(raw)
    assert texts == ['{"a":"é\\u00e9","b":[1, 2]}', '{"c":{}}']
    assert page == json.loads(raw)
    assert split_page(b'{"entries":[]}') == ({"entries": []}, [])
    assert split_page(b"{}") == ({}, [])
    for bad in (b"[]", b'{"entries":[1,]}', b'{"entries":[1]} x', b'{"a":1,"a":2}', b"\xff"):
        with pytest.raises(HubError):
            split_page(bad)


@pytest.fixture(params=["orjson", "json"])
def json_backend(request, monkeypatch) -> str:
    """The page split with orjson when it is installed, and with the standard library."""
    if request.param == "json":
        monkeypatch.setattr(logverify, "orjson", None)
    elif logverify.orjson is None:
        pytest.skip("orjson is not installed")
    return str(request.param)


def _hub_page(entries: list[bytes], rest: bytes = b',"next_cursor":2,"head":2}') -> bytes:
    return b'{"entries":[' + b",".join(entries) + b"]" + rest


@pytest.mark.parametrize(
    "entries",
    [
        [],
        [b'{"bank":"a","n":1}'],
        ['{"bank":"a","t":"é ☃","f":0.5,"l":[],"o":{"x":[1,{}]}}'.encode(), b'{"bank":"b"}'],
        [b'{"bank":"a","n":1}', b'{"bank":"b","t":"\\u00e9 caf\\u00e9"}', b'{"bank":"a"}'],
        # The hub's separator inside a string: split on it, the pieces would not be entries.
        [b'{"bank":"a","t":"x},{y"}', b'{"bank":"a","t":"},{"}', b'{"bank":"a","t":"}"}'],
        [b'{"bank":"a","t":"\\u00e9"}', b'{"bank":"a","t":"\\n\\"},{\\""}'],
        ['{"bank":"a","t":"é","v":[{"x":1},{"y":2}]}'.encode(), b'{"bank":"a","f":0.5}'],
        [b'{"bank":"a","big":123456789012345678901234567890}', b'{"bank":"a"}'],
        # Not compact: whitespace between or inside entries.
        [b'{"bank":"a"} ', b' {"bank":"a", "x":1}'],
        [b"1", b'"},{"', b'{"bank":"a"}'],
    ],
)
def test_split_page_bytes_gives_each_entrys_exact_bytes_however_the_page_is_written(
    json_backend, entries
) -> None:
    raw = _hub_page(entries)
    # Written as the hub writes them, the entries are split without parsing each one.
    compact = (
        entries
        == [
            json.dumps(json.loads(e), ensure_ascii=False, separators=(",", ":")).encode()
            for e in entries
        ]
        and b"},{" not in b"".join(entries)
        and all(e.startswith(b"{") for e in entries)
        # orjson reads no integer wider than 64 bits.
        and not (json_backend == "orjson" and b'"big"' in raw)
    )
    assert (logverify._split_compact(raw) is not None) == compact
    page, spans = split_page_bytes(raw)
    assert spans == [entry.strip() for entry in entries]
    assert page == json.loads(raw)
    assert list(page) == list(json.loads(raw))
    assert split_page(raw) == (page, [span.decode() for span in spans])


def test_split_page_bytes_refuses_what_split_page_refuses(json_backend) -> None:
    entry = b'{"bank":"a"}'
    for bad in (
        _hub_page([entry], b',"entries":[]}'),
        _hub_page([entry], b',"head":1,"head":2}'),
        _hub_page([entry], b"} x"),
        _hub_page([entry], b",}"),
        _hub_page([entry], b""),
        _hub_page([entry, b'{"bank":"a"'], b"}"),
        b'{"entries":[{"bank":"\xff"}]}',
    ):
        with pytest.raises(HubError):
            split_page_bytes(bad)
    assert split_page_bytes(_hub_page([entry], b"}  \n")) == ({"entries": [{"bank": "a"}]}, [entry])


# An honest hub


def test_an_honest_log_verifies_page_by_page_and_extends_consistently(model) -> None:
    calls: list[tuple[str, int, int]] = []
    verifier = LogVerifier(policy_of(model), fetched(model, calls))
    trees, cursor = read_all(model, verifier, {})
    assert set(trees) == {"TVEC", "CSAM"}
    for bank, tree in trees.items():
        assert tree.edge.size == len(model.leaves(bank))
        assert tree.edge.root() == merkle.root_hash(model.leaves(bank))
        assert tree.checkpoint_size == tree.edge.size
        assert tree.checkpoint_root == tree.edge.root()
    # Each page's checkpoint extends the one before it: a proof per bank and page.
    assert calls and all(old < new for _, old, new in calls)
    calls.clear()
    model.fill(5)
    trees, _ = read_all(model, verifier, trees, cursor)
    assert next(old for bank, old, _ in calls if bank == "TVEC") == 6
    assert (trees["TVEC"].edge.size, trees["CSAM"].edge.size) == (9, 7)


def test_a_checkpoint_ahead_of_the_page_is_checked_with_a_proof_from_the_clients_size(
    model,
) -> None:
    calls: list[tuple[str, int, int]] = []
    model.checkpoint_at = lambda bank, size: len(model.leaves(bank))
    verifier = LogVerifier(policy_of(model), fetched(model, calls))
    raw = model.page(0, 4)
    page, texts = split_page(raw)
    trees = verifier.check_page({}, page, texts)
    assert trees["TVEC"].edge.size == 2 and trees["TVEC"].checkpoint_size == 6
    assert ("TVEC", 2, 6) in calls and ("CSAM", 2, 5) in calls


# Misbehaviour


def test_a_rollback_is_refused_with_both_signed_checkpoints(model) -> None:
    verifier = LogVerifier(policy_of(model), model.consistency)
    trees, cursor = read_all(model, verifier, {})
    model.fill(2)
    model.checkpoint_at = lambda bank, size: 4 if bank == "TVEC" else size
    with pytest.raises(Misbehaviour) as caught:
        read_all(model, verifier, trees, cursor)
    assert caught.value.kind == "rollback"
    old, new = caught.value.evidence["checkpoints"]
    key = [note.Verifier(NAME, model.public_key)]
    assert note.open_checkpoint(old, key).checkpoint.size == 6
    assert note.open_checkpoint(new, key).checkpoint.size == 4
    assert trees["TVEC"].edge.size == 6  # the input is left as it was


def test_a_rewritten_history_is_a_fork_proven_by_the_failing_consistency_proof(model) -> None:
    verifier = LogVerifier(policy_of(model), model.consistency)
    trees, cursor = read_all(model, verifier, {})
    # The hub rewrites entry 2 (CSAM's second... TVEC's 0 is entry 0) and appends.
    bank, _ = model.log[0]
    model.log[0] = (bank, model.log[0][1].replace(b'"add"', b'"remove"'))
    model.fill(2)
    with pytest.raises(Misbehaviour) as caught:
        read_all(model, verifier, trees, cursor)
    evidence = caught.value.evidence
    assert (caught.value.kind, evidence["bank"]) == ("fork", "TVEC")
    proof = [bytes.fromhex(h) for h in evidence["consistency_proof"]["proof"]]
    # Anybody holding the file and the hub key re-checks it.
    with pytest.raises(Misbehaviour):
        compare(policy_of(model), *evidence["checkpoints"], None, proof)


def test_two_roots_at_one_size_are_a_fork(model) -> None:
    verifier = LogVerifier(policy_of(model), model.consistency)
    trees, cursor = read_all(model, verifier, {})
    model.forged_root = hashlib.sha256(b"another list").digest()
    with pytest.raises(Misbehaviour) as caught:
        read_all(model, verifier, trees, cursor)
    assert caught.value.kind == "fork"


def test_an_entry_left_out_of_a_page_is_detected(model) -> None:
    verifier = LogVerifier(policy_of(model), model.consistency)
    model.tamper = lambda texts: texts[:1] + texts[2:]
    with pytest.raises(Misbehaviour) as caught:
        read_all(model, verifier, {})
    assert caught.value.kind == "omission"
    # Also when the page's count is made to agree: the entries are not the signed tree's.
    model.tree_size_offset = {"TVEC": -1}
    model.checkpoint_at = lambda bank, size: len(model.leaves(bank))
    model.tamper = lambda texts: texts[:2] + texts[3:]
    with pytest.raises(Misbehaviour) as caught:
        read_all(model, verifier, {}, limit=20)
    assert (caught.value.kind, caught.value.evidence["bank"]) == ("root_mismatch", "TVEC")
    assert caught.value.evidence["consistency_proof"]["from"] == 5


def test_an_altered_entry_does_not_make_the_signed_root(model) -> None:
    verifier = LogVerifier(policy_of(model), model.consistency)
    model.tamper = lambda texts: [t.replace(b"0000000a", b"0000000b") for t in texts]
    with pytest.raises(Misbehaviour) as caught:
        read_all(model, verifier, {}, limit=20)
    assert caught.value.kind == "root_mismatch"
    assert "0000000b" in caught.value.evidence["page"]["body"]


def test_a_checkpoint_signed_by_another_key_is_not_accepted(model) -> None:
    other = ModelHub()
    verifier = LogVerifier(policy_of(other), model.consistency)
    with pytest.raises(Unverified):
        read_all(model, verifier, {})


# Witnesses


def witness(name: str) -> tuple[str, Ed25519PrivateKey, note.Verifier]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    return name, key, note.Verifier(name, public, note.COSIGNATURE_ED25519)


def test_a_checkpoint_needs_the_threshold_of_valid_witness_cosignatures(model) -> None:
    w1, w2, w3 = witness("w1.example"), witness("w2.example"), witness("w3.example")
    verifiers = [w1[2], w2[2]]
    model.witnesses = [(w1[0], w1[1])]
    with pytest.raises(Unverified, match="1 valid witness cosignature"):
        read_all(model, LogVerifier(policy_of(model, verifiers, 2), model.consistency), {})
    # A cosignature by a key that is not configured does not count...
    model.witnesses = [(w1[0], w1[1]), (w3[0], w3[1])]
    with pytest.raises(Unverified):
        read_all(model, LogVerifier(policy_of(model, verifiers, 2), model.consistency), {})
    # ...nor one under a configured name by another key.
    model.witnesses = [(w1[0], w1[1]), (w2[0], w3[1])]
    with pytest.raises(Unverified):
        read_all(model, LogVerifier(policy_of(model, verifiers, 2), model.consistency), {})
    model.witnesses = [(w1[0], w1[1]), (w2[0], w2[1])]
    trees, _ = read_all(model, LogVerifier(policy_of(model, verifiers, 2), model.consistency), {})
    assert trees["TVEC"].edge.size == 6
    read_all(model, LogVerifier(policy_of(model, verifiers, 1), model.consistency), {})


# The state file


def test_the_state_keeps_the_trees_and_migrates_a_format_1_file(model, tmp_path) -> None:
    verifier = LogVerifier(policy_of(model), model.consistency)
    trees, cursor = read_all(model, verifier, {})
    state = SyncState(hub="http://hub", cursor=cursor, verified_cursor=cursor, trees=trees)
    state.hub_key = model.vkey
    state.save(tmp_path / "s.json")
    assert SyncState.load(tmp_path / "s.json") == state
    old = {"format": 1, "hub": "http://hub", "cursor": 7, "last_sequence": 6, "head": 9}
    old["signals"] = [{"bank": "TVEC", "signal_type": "md5", "value": "aa", "sequence": 6}]
    (tmp_path / "old.json").write_text(json.dumps(old))
    migrated = SyncState.load(tmp_path / "old.json")
    assert (migrated.cursor, migrated.verified_cursor, migrated.trees) == (7, 0, {})
    assert list(migrated.signals) == [("TVEC", "md5", "aa")]
    assert migrated.to_json()["format"] == 2


# The command line, over HTTP


@pytest.fixture
def served(model, monkeypatch) -> Iterator[tuple[ModelHub, str]]:
    hub = model

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: int(v[0]) for k, v in parse_qs(parts.query).items()}
            path = unquote(parts.path)
            hub.requests.append(self.path)
            headers = {"Content-Type": "application/json"}
            if path == "/.well-known/hashfed":
                raw = hub.public_key
                body = canonical(
                    {
                        "origin": f"https://{NAME}",
                        "key_id": hashlib.sha256(raw).hexdigest(),
                        "public_key": base64.b64encode(raw).decode(),
                        "algorithm": "ed25519",
                    }
                )
            elif path == "/api/v1/sync/":
                body = hub.page(query["cursor"], query["limit"])
                signer = hub.page_key or hub.key
                headers["X-Hashfed-Signature"] = base64.b64encode(signer.sign(body)).decode()
            elif path.endswith("/checkpoint"):
                bank = path.split("/")[4]
                size = len(hub.leaves(bank)) if hub.rolled_back_to is None else hub.rolled_back_to
                body = hub.sign(bank, size, witnessed=hub.latest_witnessed).encode()
            elif path.endswith("/proof/consistency"):
                bank = path.split("/")[4]
                old, new = query["from"], query["to"]
                proof = [h.hex() for h in hub.consistency(bank, old, new)]
                body = canonical({"from": old, "to": new, "proof": proof})
            else:
                self.send_error(404)
                return
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HASHFED_URL", url)
    monkeypatch.setenv("HASHFED_API_KEY", API_KEY)
    monkeypatch.delenv("HASHFED_HUB_KEY", raising=False)
    yield hub, url
    server.shutdown()
    server.server_close()
    thread.join()


def test_sync_verifies_and_a_rolled_back_hub_gets_exit_4_and_an_evidence_file(
    served, tmp_path, capsys
) -> None:
    hub, _ = served
    out, state_path = tmp_path / "list.ndjson", tmp_path / "list.state.json"
    assert main(["sync", "--out", str(out), "--limit", "4"]) == 0
    state = SyncState.load(state_path)
    assert state.hub_key == hub.vkey and state.trees["TVEC"].edge.size == 6
    hub.fill(3)
    assert main(["sync", "--out", str(out), "--limit", "4"]) == 0
    assert SyncState.load(state_path).trees["CSAM"].edge.size == 6
    before = state_path.read_bytes()

    hub.rolled_back_to = 5
    assert main(["sync", "--out", str(out)]) == 4
    assert "MISBEHAVIOUR (rollback)" in capsys.readouterr().err
    evidence = json.loads((tmp_path / "list.misbehaviour.json").read_text())
    assert evidence["kind"] == "rollback" and evidence["hub_key"] == hub.vkey
    assert state_path.read_bytes() == before

    # The two notes, as files, against each other: consistent prefixes (5 of 6).
    a, b = tmp_path / "a.note", tmp_path / "b.note"
    a.write_text(evidence["checkpoints"][0])
    b.write_text(evidence["checkpoints"][1])
    assert main(["verify", str(a), str(b), "--hub-key", hub.vkey]) == 0
    assert "consistent" in capsys.readouterr().out


def test_verify_detects_a_split_view_and_prints_the_proof(served, tmp_path, capsys) -> None:
    hub, _ = served
    a, b = tmp_path / "a.note", tmp_path / "b.note"
    a.write_text(hub.sign("TVEC", 6))
    b.write_text(hub.sign("TVEC", 6, hashlib.sha256(b"other").digest()))
    evidence = tmp_path / "e.json"
    assert main(["verify", str(a), str(b), "--hub-key", hub.vkey, "--evidence", str(evidence)]) == 4
    printed = json.loads(capsys.readouterr().out)
    assert printed["kind"] == "fork" and printed["checkpoints"] == [a.read_text(), b.read_text()]
    assert json.loads(evidence.read_text()) == printed
    # A checkpoint of a larger size that does not extend the smaller one: a fork too.
    c = tmp_path / "c.note"
    c.write_text(hub.sign("TVEC", 4, hashlib.sha256(b"other").digest()))
    assert main(["verify", str(c), str(a), "--hub-key", hub.vkey]) == 4
    # Signed by another key: not verified (5), nothing proven.
    a.write_text(ModelHub().sign("TVEC", 0))
    assert main(["verify", str(a), str(b), "--hub-key", hub.vkey]) == 5


def test_sync_refuses_checkpoints_without_the_witness_threshold(served, tmp_path) -> None:
    hub, _ = served
    name, key, verifier = witness("w1.example")
    out = tmp_path / "list.ndjson"
    args = ["sync", "--out", str(out), "--witness", verifier.vkey]
    assert main(args) == 5
    assert not out.exists()
    hub.witnesses = [(name, key)]
    assert main(args) == 0


def test_sync_checks_the_hubs_signature_on_every_page(served, tmp_path) -> None:
    hub, _ = served
    out = tmp_path / "list.ndjson"
    assert main(["sync", "--out", str(out)]) == 0
    # A page signed by anyone else (or edited on the way) is refused, nothing applied.
    hub.page_key = Ed25519PrivateKey.generate()
    hub.fill(1)
    assert main(["sync", "--out", str(out)]) == 3
    assert len(out.read_text().splitlines()) == 11
    hub.page_key = None
    assert main(["sync", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 12


def test_a_page_naming_no_checkpoint_for_its_entries_breaks_the_feed(model) -> None:
    verifier = LogVerifier(policy_of(model), model.consistency)
    raw = model.page(0, 3).replace(b'"CSAM":', b'"OTHER":')
    page, texts = split_page(raw)
    with pytest.raises(SyncError):
        verifier.check_page({}, page, texts)


def test_entries_beyond_the_checkpoint_are_uncovered(model) -> None:
    verifier = LogVerifier(policy_of(model), model.consistency)
    model.checkpoint_at = lambda bank, size: max(size - 1, 0)
    with pytest.raises(Misbehaviour) as caught:
        read_all(model, verifier, {})
    assert caught.value.kind == "uncovered"


def test_an_unverified_sync_is_read_again_by_the_next_verified_one(served, tmp_path) -> None:
    hub, _ = served
    out, state_path = tmp_path / "list.ndjson", tmp_path / "list.state.json"
    assert main(["sync", "--no-verify", "--out", str(out)]) == 0
    state = SyncState.load(state_path)
    assert (state.cursor, state.verified_cursor, state.trees) == (11, 0, {})
    assert main(["sync", "--out", str(out), "--limit", "5"]) == 0
    state = SyncState.load(state_path)
    assert (state.cursor, state.verified_cursor) == (11, 11)
    assert state.trees["TVEC"].edge.root() == merkle.root_hash(hub.leaves("TVEC"))
    assert len(out.read_text().splitlines()) == 11


def test_a_state_pinned_to_one_hub_key_refuses_another(served, tmp_path, capsys) -> None:
    hub, _ = served
    out = tmp_path / "list.ndjson"
    assert main(["sync", "--out", str(out)]) == 0
    other = ModelHub()
    assert main(["sync", "--out", str(out), "--hub-key", other.vkey]) == 5
    assert "was verified with the hub key" in capsys.readouterr().err
    assert main(["sync", "--out", str(out), "--hub-key", hub.vkey]) == 0


def test_the_latest_checkpoint_is_checked_for_rollback_before_witnesses_cosign_it(
    served, tmp_path
) -> None:
    hub, _ = served
    name, key, verifier = witness("w1.example")
    hub.witnesses = [(name, key)]
    args = ["sync", "--out", str(tmp_path / "list.ndjson"), "--witness", verifier.vkey]
    assert main(args) == 0
    hub.latest_witnessed = False
    hub.fill(2)
    assert main(args) == 0
    hub.rolled_back_to = 3
    assert main(args) == 4
    evidence = json.loads((tmp_path / "list.misbehaviour.json").read_text())
    assert evidence["kind"] == "rollback"


def test_deferred_proofs_cover_the_pages_read_since_the_last_one(model) -> None:
    calls: list[tuple[str, int, int]] = []
    model.checkpoint_at = lambda bank, size: len(model.leaves(bank))
    verifier = LogVerifier(policy_of(model), fetched(model, calls))
    trees: dict[str, BankTree] = {}
    for cursor in (0, 2, 4):
        raw = model.page(cursor, 2)
        page, texts = split_page(raw)
        trees = verifier.check_page(trees, page, texts, defer_proofs=True)
    assert calls == []
    verifier.prove(trees, trees)
    assert sorted(calls) == [("CSAM", 3, 5), ("TVEC", 3, 6)]

    # An entry altered in the first page is caught by the proof after the third.
    model.tamper = lambda texts: (
        [t.replace(b"0000000", b"1111111", 1) for t in texts[:1]] + texts[1:]
    )
    trees = {}
    pages = []
    for cursor in (0, 2, 4):
        raw = model.page(cursor, 2)
        page, texts = split_page(raw)
        trees = verifier.check_page(trees, page, texts, defer_proofs=True)
        pages.append((raw, None))
        model.tamper = None
    with pytest.raises(Misbehaviour) as caught:
        verifier.prove(trees, trees, pages)
    assert (caught.value.kind, caught.value.evidence["bank"]) == ("root_mismatch", "TVEC")
    assert len(caught.value.evidence["pages"]) == 3


def test_a_sync_holds_pages_back_until_one_proof_covers_them(served, tmp_path) -> None:
    hub, _ = served
    hub.checkpoint_at = lambda bank, size: len(hub.leaves(bank))
    out, state_path = tmp_path / "list.ndjson", tmp_path / "list.state.json"
    assert main(["sync", "--out", str(out), "--limit", "2"]) == 0
    # The last page reaches the checkpoints' sizes: equal roots, no proof needed at all.
    assert not [r for r in hub.requests if "proof" in r]
    hub.fill(4)
    hub.tamper = lambda texts: [t.replace(b'"add"', b'"remove"') for t in texts]
    hub.checkpoint_at = lambda bank, size: len(hub.leaves(bank)) - (size < 7)
    before = state_path.read_bytes()
    assert main(["sync", "--out", str(out), "--limit", "1"]) == 4
    assert state_path.read_bytes() == before
    assert len(out.read_text().splitlines()) == 11
