"""A pull cut between pages, for real: hub A's server stops while B is pulling a log of
several pages (B reaches A through a loopback relay that stops A when B asks for the third
page). The next pull resumes where the last committed page stopped and leaves the bank as
an uninterrupted pull of the same history leaves it; a third pull changes nothing."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from federation.peering.models import ReceivedBank, ReceivedEnvelope
from federation.peering.services import received_bank_pull
from hashbank.models import ChangeLogEntry, Checkpoint, Signal
from tests.peering.test_pull import agreement_with, receive

PAGE = 4
FORWARDED = ("authorization", "accept", "user-agent")


class StopsPeerAfter(ThreadingHTTPServer):
    """Relays requests to hub A; on the sync page after the first `pages`, stops hub A's
    server (gunicorn, SIGTERM, waited for) before relaying, so B's request finds no hub
    and its connection drops unanswered."""

    daemon_threads = True

    def __init__(self, hub: Any, pages: int) -> None:
        target = urlsplit(hub.url)
        self.hub, self.pages, self.sync_requests = hub, pages, 0
        self.target = (target.hostname, target.port)
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Relay)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Relay(BaseHTTPRequestHandler):
    server: StopsPeerAfter

    def do_GET(self) -> None:
        relay = self.server
        if self.path.startswith("/api/v1/sync/"):
            with relay.lock:
                relay.sync_requests += 1
                if relay.sync_requests > relay.pages:
                    relay.hub.stop()
        try:
            connection = http.client.HTTPConnection(*relay.target, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED}
            connection.request("GET", self.path, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
            connection.close()
        except OSError:
            self.close_connection = True
            return  # no hub behind: the connection closes without an answer
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("connection", "content-length", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def bank_state(received: ReceivedBank) -> dict[str, Any]:
    """What the pull leaves in B's bank, and B's own log of it, without what differs by
    bank name (the bank, the envelope digests: the member signed each bank's apart)."""
    signals = sorted(
        (s.signal_type, s.value, s.status, s.confidence, sorted(lb.slug for lb in s.labels.all()))
        for s in Signal.objects.filter(bank=received.bank).prefetch_related("labels")
    )
    log = []
    for row in ChangeLogEntry.objects.filter(bank=received.bank).order_by("sequence"):
        entry = json.loads(bytes(row.entry))
        log.append(
            {
                k: entry.get(k)
                for k in ("op", "signal_type", "value", "status", "labels", "reason", "confidence")
            }
        )
    return {"signals": signals, "log": log}


def a_checkpoint(hub: Any, bank: str) -> str:
    request = urllib.request.Request(
        f"{hub.url}/api/v1/banks/{bank}/checkpoint",
        headers={"Authorization": f"Bearer {hub.peer['api_key']}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read().decode()


def pull(received: ReceivedBank):
    received.refresh_from_db()
    result = received_bank_pull(received, limit=PAGE)
    received.refresh_from_db()
    return result


def test_a_pull_cut_between_pages_resumes_to_the_bank_an_uninterrupted_pull_makes(hub_a, cast):
    # The same history in two banks of A: 6 hashes, 5 more, the first withdrawn (12 entries,
    # three checkpoints each); B pulls TVEC through the relay and OPEN straight from A.
    values = hub_a.call("publish_history", banks=["TVEC", "OPEN"], batches=[6, 5])
    relay = StopsPeerAfter(hub_a, pages=2)
    agreement = agreement_with(hub_a, base_url=relay.url)
    cut, whole = receive(agreement, "TVEC"), receive(agreement, "OPEN")

    first = pull(cut)
    assert first.error and first.quarantine is None, first.error
    assert hub_a.process is None and relay.sync_requests == 3
    # Two pages of four committed, each with its position, tree and checkpoint; the third
    # never came.
    assert first.entries == 2 * PAGE and cut.tree_size == 2 * PAGE
    assert cut.last_error == first.error and cut.position > 0
    assert len(cut.right_edge) == 1  # 8 leaves: one complete subtree
    assert ChangeLogEntry.objects.filter(bank=cut.bank).count() == 2 * PAGE
    assert set(Signal.objects.filter(bank=cut.bank).values_list("value", flat=True)) == set(
        values[: 2 * PAGE]
    )
    stopped_at = (cut.position, cut.checkpoint_text)

    # A is back (a new server on another port, the same database and key).
    hub_a.start()
    agreement.base_url = hub_a.url
    agreement.save()
    second = pull(cut)
    assert second.error == "" and second.entries == 12 - 2 * PAGE
    assert cut.last_error == "" and cut.position > stopped_at[0]
    assert pull(whole).error == ""
    whole.refresh_from_db()

    resumed, uninterrupted = bank_state(cut), bank_state(whole)
    assert resumed == uninterrupted
    assert len(resumed["log"]) == 12
    assert [e["value"] for e in resumed["log"] if e["op"] == "add"] == values
    assert [e["value"] for e in resumed["log"] if e["op"] == "remove"] == [values[0]]
    assert {s[1]: s[2] for s in resumed["signals"]} == {
        v: "removed" if v == values[0] else "active" for v in values
    }
    # The peer's tree and latest checkpoint are recorded as an uninterrupted pull records
    # them: the checkpoint is the one A serves.
    for received in (cut, whole):
        assert received.tree_size == received.checkpoint_size == 12
        assert received.checkpoint_text == a_checkpoint(hub_a, received.remote_name)
    assert len(cut.right_edge) == len(whole.right_edge) == 2  # 12 leaves: 8 + 4
    assert ReceivedEnvelope.objects.filter(bank=cut.bank).count() == 11

    # A third pull brings nothing and changes nothing.
    state = (cut.position, cut.tree_size, cut.right_edge, cut.checkpoint_text)
    log_size, checkpoints = ChangeLogEntry.objects.count(), Checkpoint.objects.count()
    third = pull(cut)
    assert third.error == "" and third.entries == 0
    assert (cut.position, cut.tree_size, cut.right_edge, cut.checkpoint_text) == state
    assert (ChangeLogEntry.objects.count(), Checkpoint.objects.count()) == (log_size, checkpoints)
    assert bank_state(cut) == resumed
