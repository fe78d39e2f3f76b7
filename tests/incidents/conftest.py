"""A webhook receiver on 127.0.0.1, run by the test in a thread: it records every request
and answers with the status codes the test scripts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # Status codes to answer with, in order; 200 once they run out.
    script: list[int] = field(default_factory=list)
    # Idempotency keys processed once each, as a receiver that dedupes would.
    processed: list[str] = field(default_factory=list)
    # Set on each request; a test may hold requests until `release` is set.
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                state.requests.append(Received(dict(self.headers.items()), body))
                status = state.script.pop(0) if state.script else 200
                release = state.release
            state.arrived.set()
            if release is not None:
                release.wait(timeout=60)
            if 200 <= status < 300:
                key = self.headers["X-Hashfed-Delivery"]
                with state.lock:
                    if key not in state.processed:
                        state.processed.append(key)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    if state.release is not None:
        state.release.set()
    server.shutdown()
    server.server_close()
