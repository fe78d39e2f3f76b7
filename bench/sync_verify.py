"""The member client's sync through GET /api/v1/sync/ with its checks of the list on and
off, in the same run, page by page in a rotating order: off is what `hashfed sync
--no-verify` does with a page (parse it, apply it), on is what `hashfed sync` does (check
the hub's signature over the page's bytes, split the page into its entries' bytes, check
each bank's checkpoint note, append every entry to the bank's right edge, hold pages back
until one consistency proof fetched from the hub covers them or the root is reached, then
apply). Import after
django.setup()."""

from __future__ import annotations

import json
import time
from typing import Any

from django.test import Client
from hashfed_client.sync import MAX_HELD_ENTRIES, SyncState
from hashfed_client.verify import BankTree, CheckpointPolicy, LogVerifier, split_page_bytes

from accounts.hub_identity import hub_identity
from bench.measure import BenchError, Row, api_client, rotated, timed
from bench.sync import SYNC_PAGE, changelog_check, changelog_fill, records_hide_from_collector
from hashbank.models import Bank
from hashbank.services import transparency
from hashfed_wire import hub_signatures, note


def page_signed(client: Client, position: int) -> tuple[bytes, str | None]:
    response = client.get("/api/v1/sync/", {"cursor": position, "limit": SYNC_PAGE})
    if response.status_code != 200:
        raise BenchError(f"GET /api/v1/sync/: {response.status_code} {response.content!r}")
    return response.content, response.headers.get(hub_signatures.SIGNATURE_HEADER)


class Member:
    """One member's client, verifying or not; adds up the API's time and its own."""

    def __init__(self, client: Client, verifier: LogVerifier | None) -> None:
        self.client, self.verifier = client, verifier
        self.state = SyncState()
        self.trees: dict[str, BankTree] = {}
        self.position = 0
        self.seconds = {"api": 0.0, "client": 0.0, "proofs": 0.0}
        self.proofs = 0
        self.done = False
        self.held: list[list[Any]] = []
        self.held_entries = 0

    def fetch_consistency(self, bank: str, old: int, new: int) -> list[bytes]:
        started = time.perf_counter()
        response = self.client.get(
            f"/api/v1/banks/{bank}/proof/consistency", {"from": old, "to": new}
        )
        if response.status_code != 200:
            raise BenchError(f"consistency proof: {response.status_code} {response.content!r}")
        proof = [bytes.fromhex(node) for node in response.json()["proof"]]
        self.seconds["proofs"] += time.perf_counter() - started
        self.proofs += 1
        return proof

    def step(self) -> None:
        if self.done:
            return
        seconds, (body, signature) = timed(lambda: page_signed(self.client, self.position))
        self.seconds["api"] += seconds
        seconds, page = timed(lambda: self.apply(body, signature))
        self.seconds["client"] += seconds
        self.position = page["next_cursor"]
        self.done = not page["entries"] or self.position >= page["head"]
        records_hide_from_collector()

    def apply(self, body: bytes, signature: str | None) -> dict[str, Any]:
        if self.verifier is None:
            page: dict[str, Any] = json.loads(body)
            self.state.apply(page["entries"])
            return page
        # As sync_list does: pages are held back until one proof covers them.
        hub_signatures.verify_page(self.verifier.policy.hub_key.public_key, body, signature)
        page, texts = split_page_bytes(body)
        self.trees = self.verifier.check_page(self.trees, page, texts, defer_proofs=True)
        self.held.append(page["entries"])
        self.held_entries += len(page["entries"])
        last = not page["entries"] or page["next_cursor"] >= page["head"]
        if last or self.held_entries >= MAX_HELD_ENTRIES:
            self.verifier.prove(self.trees, self.trees)
            for entries in self.held:
                self.state.apply(entries)
            self.held, self.held_entries = [], 0
        return page


def bench_sync_verify(api_keys: dict[str, str], *, total: int) -> list[Row]:
    print(f"sync-verify: filling the change log to {total:,} entries with COPY")
    changelog_fill(total)
    changelog_check(total)
    analyst = api_client(api_keys["northwind/analyst"])
    identity = hub_identity()
    policy = CheckpointPolicy(note.Verifier(transparency.note_key_name(), identity.public_key_raw))
    plain = Member(analyst, None)
    checking = Member(analyst, None)
    checking.verifier = LogVerifier(policy, checking.fetch_consistency)
    # One untimed page each way: the first request's costs (connections, caches) are no
    # part of either figure.
    page_signed(analyst, 0)
    records_hide_from_collector()
    print(f"sync-verify: two members sync {total:,} entries in pages of {SYNC_PAGE:,}")
    for turn in range(-(-total // SYNC_PAGE) + 2):
        for member in rotated([plain, checking], turn):
            member.step()
        if plain.done and checking.done:
            break
    else:
        raise BenchError("the head was not reached")
    if plain.state.signals.keys() != checking.state.signals.keys():
        raise BenchError("the two members hold different lists")
    for bank, tree in checking.trees.items():
        bank_id = Bank.objects.get(name=bank).pk
        size = transparency.tree_size(bank_id)
        root = tree.edge.root()
        if (tree.edge.size, root) != (size, transparency.tree_root(bank_id, size)):
            raise BenchError(f"the verifying member's tree of {bank} is not the hub's")
    entries = plain.state.last_sequence + 1
    if entries != total or checking.state.last_sequence + 1 != total:
        raise BenchError(f"both members should have read {total} entries")
    off = Row(
        "sync-verify: client sync without checks (API + parse + apply)",
        "sync unverified",
        total,
        plain.seconds["api"] + plain.seconds["client"],
        "entries/s",
        baseline=True,
        note=f"client side {plain.seconds['client']:.2f} s",
    )
    on = Row(
        "sync-verify: client sync with checks (API + signature + checkpoints + tree + apply)",
        "sync verified",
        total,
        checking.seconds["api"] + checking.seconds["client"],
        "entries/s",
        note=f"client side {checking.seconds['client']:.2f} s, of which "
        f"{checking.proofs} consistency proofs fetched in {checking.seconds['proofs']:.2f} s",
    ).compared_with(off)
    tree_only = Row(
        "sync-verify: the client's checks alone (page split, leaf hashes, right edge, proofs)",
        "checks alone",
        total,
        max(checking.seconds["client"] - plain.seconds["client"], 1e-9),
        "entries/s",
        note="the verified client's time minus the unverified one's",
    )
    return [off, on, tree_only]
