"""Fifty members at once against a running hub (bench/load.py starts it and prepares them):
each pages through the list, looks up batches of hashes, submits signed batches and opens its
portal dashboard, at the mix a crisis day brings. Run by bench/load.py; on its own:

    locust -f bench/locustfile.py --host https://hub.example --headless -u 50 -r 10 -t 5m

with HASHFED_LOAD_MEMBERS naming the JSON file bench/load.py's `prepare` wrote (one object per
member: slug, api_key, email, password, key_id, private_key as base64 raw Ed25519).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from locust import HttpUser, between, events, task

from hashfed_wire.envelope import sign_payload

with open(os.environ.get("HASHFED_LOAD_MEMBERS", "members.json")) as _members:
    MEMBERS: list[dict[str, Any]] = json.load(_members)
_next_member = itertools.count()
# Lookups: this many hashes per batch, a few of them listed ones (so matches are found).
LOOKUP_BATCH = 100
SUBMIT_BATCH = 10
SYNC_PAGE = 1000
# The TLS certificate the stack generated, when it is not in the system's store.
CA_BUNDLE = os.environ.get("HASHFED_LOAD_CA")


# Responses by operation and status, written where HASHFED_LOAD_STATUSES says when locust
# stops: bench/load.py reads the 5xx from it (locust's own CSV counts failures, not statuses).
STATUSES: dict[str, dict[str, int]] = {}


@events.request.add_listener
def _count_status(name: str, response: Any, **kwargs: Any) -> None:
    status = str(getattr(response, "status_code", 0) or 0)
    by_status = STATUSES.setdefault(name, {})
    by_status[status] = by_status.get(status, 0) + 1


@events.quitting.add_listener
def _write_statuses(environment: Any, **kwargs: Any) -> None:
    path = os.environ.get("HASHFED_LOAD_STATUSES")
    if path:
        with open(path, "w") as out:
            json.dump(STATUSES, out)


class Member(HttpUser):
    """One member platform: its own API key, signing key and portal account."""

    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.member = MEMBERS[next(_next_member) % len(MEMBERS)]
        if CA_BUNDLE:
            self.client.verify = CA_BUNDLE
        self.client.headers["Authorization"] = f"Bearer {self.member['api_key']}"
        self.private_key = Ed25519PrivateKey.from_private_bytes(
            base64.b64decode(self.member["private_key"])
        )
        identity = self.client.get("/.well-known/hashfed", name="well-known").json()
        self.audience = identity["origin"]
        self.cursor = 0
        self.listed: list[str] = []
        self.portal_signed_in = False

    @task(4)
    def sync(self) -> None:
        with self.client.get(
            "/api/v1/sync/",
            params={"cursor": self.cursor, "limit": SYNC_PAGE},
            name="sync page",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
                return
            page = response.json()
            for raw in page["entries"][:50]:
                if raw.get("signal_type") == "pdq" and raw.get("op") == "add":
                    self.listed.append(raw["value"])
            del self.listed[:-200]
            # Caught up: start over, as a new member's first sync would.
            self.cursor = 0 if page["next_cursor"] >= page["head"] else page["next_cursor"]

    @task(4)
    def lookup(self) -> None:
        known = random.sample(self.listed, min(5, len(self.listed)))
        values = known + [secrets.token_hex(32) for _ in range(LOOKUP_BATCH - len(known))]
        self.client.post(
            "/api/v1/lookup/",
            json={"queries": [{"signal_type": "pdq", "value": v} for v in values]},
            name="lookup batch (100)",
        )

    @task(2)
    def submit(self) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        envelopes = [
            sign_payload(
                self.private_key,
                {
                    "version": 1,
                    "audience": self.audience,
                    "id": str(uuid.uuid4()),
                    "created_at": now,
                    "organisation": self.member["slug"],
                    "key_id": self.member["key_id"],
                    "bank": "TVEC",
                    "signal_type": "pdq",
                    "value": secrets.token_hex(32),
                    "labels": ["tvec-glorification"],
                },
            )
            for _ in range(SUBMIT_BATCH)
        ]
        with self.client.post(
            "/api/v1/submissions/",
            json={"submissions": envelopes},
            name="submit batch (10)",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
            elif response.json()["accepted"] != SUBMIT_BATCH:
                response.failure(f"not all accepted: {response.text[:300]}")

    @task(1)
    def portal(self) -> None:
        if not self.portal_signed_in:
            self._sign_in()
        self.client.get(
            f"/portal/organisations/{self.member['slug']}/",
            name="portal dashboard",
            headers={"Authorization": None},
        )

    def _sign_in(self) -> None:
        login = self.client.get(
            "/portal/login/", name="portal sign-in", headers={"Authorization": None}
        )
        token = self.client.cookies.get("csrftoken", "")
        self.client.post(
            "/portal/login/",
            data={"username": self.member["email"], "password": self.member["password"],
                  "csrfmiddlewaretoken": token},
            headers={"Authorization": None, "Referer": login.url},
            name="portal sign-in",
        )  # fmt: skip
        self.portal_signed_in = True
