"""hashfed_client.tx, the python-threatexchange extension, without a hub: the type mapping,
opinions both ways, the extension's own signal types, and fetching from a canned hub that
signs its pages with a real Ed25519 key (the real CLI against a live hub is
tests/client/test_threatexchange_cli.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

tx_state = pytest.importorskip("threatexchange.exchanges.fetch_state")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from hashfed_client.errors import HubError  # noqa: E402
from hashfed_client.hub import HubClient  # noqa: E402
from hashfed_client.tx import (  # noqa: E402
    TX_MANIFEST,
    HashfedCheckpoint,
    HashfedCollabConfig,
    HashfedCredentials,
    HashfedFileMD5Signal,
    HashfedFileSHA256Signal,
    HashfedOpinion,
    HashfedSignalExchangeAPI,
    HashfedSignalMetadata,
    HashfedURLSignal,
)
from hashfed_client.tx.exchange import delta_for_entry, hub_opinion  # noqa: E402
from hashfed_client.tx.signals import HUB_TO_TX  # noqa: E402
from threatexchange.exchanges.auth import SignalExchangeAPIMissingAuthException  # noqa: E402
from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest  # noqa: E402
from threatexchange.signal_type.md5 import VideoMD5Signal  # noqa: E402
from threatexchange.signal_type.pdq.signal import PdqSignal  # noqa: E402

from hashfed_wire import hub_signatures, urls  # noqa: E402

Category = tx_state.SignalOpinionCategory
Aggregate = tx_state.AggregateSignalOpinionCategory


def metadata(**overrides: Any) -> HashfedSignalMetadata:
    fields: dict[str, Any] = {
        "signal_id": 7,
        "bank": "TVEC",
        "labels": ["tvec-glorification"],
        "status": "active",
        "confidence": 0.67,
    }
    fields.update(overrides)
    return HashfedSignalMetadata(**fields)


def test_the_manifest_loads_as_threatexchange_loads_extensions() -> None:
    manifest = ThreatExchangeExtensionManifest.load_from_module_name("hashfed_client.tx")
    assert manifest is TX_MANIFEST
    assert manifest.apis == (HashfedSignalExchangeAPI,)
    assert HashfedSignalExchangeAPI.get_name() == "hashfed"
    names = {s.get_name() for s in manifest.signal_types}
    assert names == {"hashfed_md5", "hashfed_sha256", "hashfed_url"}


def test_hub_types_map_to_threatexchange_types_of_the_same_meaning() -> None:
    assert HUB_TO_TX["pdq"] == PdqSignal.get_name() == "pdq"
    assert HUB_TO_TX["video_md5"] == VideoMD5Signal.get_name()
    assert HUB_TO_TX["vpdq"] == "vpdq"
    # No threatexchange type means "any file's digest" or "the hub's URL digest".
    assert HUB_TO_TX["md5"] == HashfedFileMD5Signal.get_name()
    assert HUB_TO_TX["sha256"] == HashfedFileSHA256Signal.get_name()
    assert HUB_TO_TX["url"] == HashfedURLSignal.get_name()


def test_the_url_type_digests_as_the_hub_does(tmp_path: Path) -> None:
    listed = urls.url_digest("https://example.com/a/b?x=1")
    for spelling in [
        "https://example.com/a/b?x=1",
        "HTTPS://Example.COM:443/a/./b?x=1#section",
        "  https://example.com/a/c/../b?x=1\n",
    ]:
        assert HashfedURLSignal.hash_from_str(spelling) == listed, spelling
    assert HashfedURLSignal.hash_from_str("https://example.com/a/b?x=2") != listed
    assert HashfedURLSignal.hash_from_str("ftp://example.com/") == ""
    file = tmp_path / "url.txt"
    file.write_text("https://EXAMPLE.com/a/b?x=1")
    assert HashfedURLSignal.hash_from_file(file) == listed
    assert HashfedURLSignal.validate_signal_str(listed.upper()) == listed
    with pytest.raises(ValueError):
        HashfedURLSignal.validate_signal_str("https://example.com/")


def test_the_file_types_hash_any_files_bytes(tmp_path: Path) -> None:
    data = b"\x89PNG not really a picture"
    file = tmp_path / "f.bin"
    file.write_bytes(data)
    assert HashfedFileMD5Signal.hash_from_file(file) == hashlib.md5(data).hexdigest()  # noqa: S324
    assert HashfedFileSHA256Signal.hash_from_file(file) == hashlib.sha256(data).hexdigest()
    assert HashfedFileMD5Signal.validate_signal_str(" AB" * 1 + "ab" * 15) == "ab" * 16
    with pytest.raises(ValueError):
        HashfedFileSHA256Signal.validate_signal_str("ab" * 16)


def test_contributors_opinions_carry_the_labels_as_tags() -> None:
    opinions = metadata(contributors=["northwind", "lakeside"]).get_as_opinions()
    assert [(o.is_mine, o.category, o.tags) for o in opinions] == [
        (False, Category.POSITIVE_CLASS, {"tvec-glorification"}),
        (False, Category.POSITIVE_CLASS, {"tvec-glorification"}),
    ]
    # A bank that does not name contributors: one opinion, the hub's listing.
    assert len(metadata().get_as_opinions()) == 1
    assert metadata().get_as_aggregate_opinion().category == Aggregate.POSITIVE_CLASS


def test_a_disputed_signal_aggregates_as_disputed() -> None:
    disputed = metadata(status="disputed")
    assert Category.NEGATIVE_CLASS in [o.category for o in disputed.get_as_opinions()]
    assert disputed.get_as_aggregate_opinion().category == Aggregate.DISPUTED


def test_the_members_own_opinion_is_its_own() -> None:
    mine = [o for o in metadata(own_opinion="false_positive").get_as_opinions() if o.is_mine]
    assert [o.category for o in mine] == [Category.NEGATIVE_CLASS]
    mine = [o for o in metadata(own_opinion="true_positive").get_as_opinions() if o.is_mine]
    assert [o.category for o in mine] == [Category.POSITIVE_CLASS]
    assert not [o for o in metadata(own_opinion="seen").get_as_opinions() if o.is_mine]


def test_threatexchange_opinions_map_onto_the_hubs() -> None:
    positive = tx_state.SignalOpinion(True, Category.POSITIVE_CLASS, {"x"})
    assert hub_opinion(positive) == ("true_positive", "")
    reasoned = HashfedOpinion(True, Category.NEGATIVE_CLASS, set(), reasons="A news clip")
    assert hub_opinion(reasoned) == ("false_positive", "A news clip")
    tagged = tx_state.SignalOpinion(True, Category.NEGATIVE_CLASS, {"satire", "news"})
    assert hub_opinion(tagged) == ("false_positive", "news, satire")
    bare_kind, bare_reasons = hub_opinion(
        tx_state.SignalOpinion(True, Category.NEGATIVE_CLASS, set())
    )
    assert bare_kind == "false_positive" and bare_reasons
    seed = tx_state.SignalOpinion(True, Category.INVESTIGATION_SEED, set())
    assert hub_opinion(seed) == ("seen", "")


def test_a_label_from_the_cli_may_name_a_false_positive_or_a_sighting() -> None:
    # `threatexchange label -l ...` sends a positive opinion with the labels as tags.
    def labelled(*labels: str) -> tuple[str, str]:
        return hub_opinion(tx_state.SignalOpinion(True, Category.POSITIVE_CLASS, set(labels)))

    assert labelled("false-positive", "A news clip") == ("false_positive", "A news clip")
    assert labelled("false_positive", "satire", "news") == ("false_positive", "news, satire")
    kind, reasons = labelled("false-positive")
    assert kind == "false_positive" and reasons
    assert labelled("seen") == ("seen", "")
    assert labelled("tvec-glorification") == ("true_positive", "")


def test_an_entry_becomes_a_listing_or_a_removal() -> None:
    add = {
        "op": "add",
        "sequence": 3,
        "signal": 17,
        "bank": "TVEC",
        "signal_type": "md5",
        "value": "ab" * 16,
        "labels": ["a"],
        "status": "active",
        "confidence": 0.5,
        "at": "2026-11-25T12:00:00.000000Z",
    }
    key, record = delta_for_entry(add, {"17": "false_positive", "18": "seen"}) or ((), None)
    assert key == ("hashfed_md5", "ab" * 16)
    assert record is not None and (record.signal_id, record.own_opinion) == (17, "false_positive")
    assert delta_for_entry({**add, "op": "remove", "reason": "withdrawn"}, {}) == (key, None)
    assert delta_for_entry({**add, "signal_type": "tmk"}, {}) is None


def test_credentials_come_from_the_environment_or_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TX_HASHFED_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(SignalExchangeAPIMissingAuthException) as missing:
        HashfedCredentials.get(HashfedSignalExchangeAPI)
    assert "TX_HASHFED_API_KEY" in missing.value.pretty_str()
    (tmp_path / ".tx_hashfed_api_key").write_text("hf_from_file\n")
    assert HashfedCredentials.get(HashfedSignalExchangeAPI).api_key == "hf_from_file"
    monkeypatch.setenv("TX_HASHFED_API_KEY", "hf_from_env")
    assert HashfedCredentials.get(HashfedSignalExchangeAPI).api_key == "hf_from_env"


def test_the_base_client_does_not_import_threatexchange() -> None:
    code = (
        "import sys, hashfed_client, hashfed_client.cli, hashfed_client.sync;"
        "sys.exit(any(m.split('.')[0] == 'threatexchange' for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0  # noqa: S603


# Fetching from a canned hub that signs its pages


def entry(sequence: int, op: str, value: str, **more: Any) -> dict[str, Any]:
    base = {
        "at": f"2026-11-25T12:00:{sequence:02d}.000000Z",
        "bank": "TVEC",
        "confidence": 0.5,
        "incident": None,
        "labels": ["tvec-glorification"],
        "op": op,
        "sequence": sequence,
        "signal": 100 + int(value[:2], 16),
        "signal_type": "pdq",
        "status": "active",
        "value": value,
    }
    if op == "remove":
        base["reason"] = "withdrawn"
    base.update(more)
    return base


FEED = [
    entry(0, "add", "a1" * 32),
    entry(1, "add", "b2" * 32),
    entry(2, "add", "c3" * 16, signal_type="md5"),
    entry(3, "update", "a1" * 32, status="disputed"),
    entry(4, "remove", "b2" * 32),
    entry(5, "add", "d4" * 32, signal_type="tmk"),
]


class SignedHub:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.feed = list(FEED)
        self.queries: list[dict[str, list[str]]] = []
        self.tamper = False
        self.url = ""

    @property
    def public_key_b64(self) -> str:
        raw = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    def page(self, query: dict[str, list[str]]) -> tuple[bytes, str]:
        self.queries.append(query)
        cursor, limit = int(query["cursor"][0]), int(query["limit"][0])
        chunk = [e for e in self.feed if e["sequence"] >= cursor][:limit]
        head = len(self.feed)
        next_cursor = chunk[-1]["sequence"] + 1 if len(chunk) == limit else head
        body = json.dumps(
            {
                "entries": chunk,
                "next_cursor": next_cursor,
                "head": head,
                "own_opinions": {"261": "false_positive"},
                "checkpoints": {},
            }
        ).encode()
        signature = hub_signatures.sign(self.key, body)
        return (body.replace(b"a1a1", b"a1a2", 1) if self.tamper else body), signature


@pytest.fixture
def signed_hub() -> Iterator[SignedHub]:
    hub = SignedHub()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            body, signature = hub.page(parse_qs(parts.query))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header(hub_signatures.SIGNATURE_HEADER, signature)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield hub
    server.shutdown()
    server.server_close()
    thread.join()


def api_for(hub: SignedHub, *, page_size: int = 2, key: str | None = None) -> Any:
    collab = HashfedCollabConfig(
        name="hub", hub_url=hub.url, bank="TVEC", hub_key=key or hub.public_key_b64
    )
    return HashfedSignalExchangeAPI(collab, HubClient(hub.url, "hf_key"), page_size=page_size)


def test_fetch_yields_each_page_and_resumes_without_fetching_twice(signed_hub: SignedHub) -> None:
    api = api_for(signed_hub)
    deltas = list(api.fetch_iter([], None))
    assert [d.checkpoint.cursor for d in deltas] == [2, 4, 6]
    times = [d.checkpoint.get_progress_timestamp() for d in deltas]
    assert times == sorted(times) and times[0] is not None
    assert all(q["bank"] == ["TVEC"] for q in signed_hub.queries)
    merged: dict[Any, Any] = {}
    for delta in deltas:
        HashfedSignalExchangeAPI.naive_fetch_merge(merged, delta.updates)
    assert set(merged) == {("pdq", "a1" * 32), ("hashfed_md5", "c3" * 16)}
    assert merged[("pdq", "a1" * 32)].status == "disputed"
    assert merged[("pdq", "a1" * 32)].own_opinion == "false_positive"
    assert deltas[2].updates[("pdq", "b2" * 32)] is None  # the removal
    converted = HashfedSignalExchangeAPI.naive_convert_to_signal_type(
        [PdqSignal, HashfedFileMD5Signal], api.collab, merged
    )
    assert set(converted[PdqSignal]) == {"a1" * 32}
    # Resumed from the last checkpoint: nothing is fetched again.
    signed_hub.queries.clear()
    assert list(api.fetch_iter([], deltas[-1].checkpoint)) == []
    assert [q["cursor"] for q in signed_hub.queries] == [["6"]]
    # A new entry: only it comes, and the progress time does not go back.
    signed_hub.feed.append(entry(6, "add", "e5" * 32, at="2026-11-25T11:00:00.000000Z"))
    (delta,) = list(api.fetch_iter([], deltas[-1].checkpoint))
    assert list(delta.updates) == [("pdq", "e5" * 32)]
    assert delta.checkpoint.get_progress_timestamp() == times[-1]
    assert HashfedCheckpoint(6, 5).is_stale() is False


def test_a_page_not_signed_by_the_pinned_key_is_refused(signed_hub: SignedHub) -> None:
    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    with pytest.raises(HubError) as refused:
        list(api_for(signed_hub, key=base64.b64encode(other).decode()).fetch_iter([], None))
    assert refused.value.code == "bad_signature"
    signed_hub.tamper = True
    with pytest.raises(HubError) as tampered:
        list(api_for(signed_hub).fetch_iter([], None))
    assert tampered.value.code == "bad_signature"
    with pytest.raises(ValueError):
        api_for(signed_hub, key="not a key")


def test_an_entry_of_another_bank_is_refused(signed_hub: SignedHub) -> None:
    signed_hub.feed[1] = entry(1, "add", "b2" * 32, bank="HATE")
    with pytest.raises(HubError) as refused:
        list(api_for(signed_hub).fetch_iter([], None))
    assert refused.value.code == "bad_response"
