"""The verifiable list: one Merkle tree per bank over its change-log entries, signed
checkpoints, and the proofs a member checks them with."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest
import rfc8785
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from accounts.hub_identity import hub_identity
from hashbank.models import Bank, ChangeLogEntry, ChangeOp, Checkpoint, MerkleNode, Signal
from hashbank.services import transparency
from hashbank.services.changelog import Change, changelog_append
from hashbank.services.log_audit import log_verify
from hashbank.tasks import issue_checkpoints
from hashfed_wire import merkle, note, tiles

_values = itertools.count(1)


def make_signals(bank: str, count: int) -> list[Signal]:
    found = Bank.objects.get(name=bank)
    return [
        Signal.objects.create(
            bank=found,
            signal_type="md5",
            value=f"{next(_values):032x}",
            first_listed_at=timezone.now(),
        )
        for _ in range(count)
    ]


def append(signals: list[Signal]) -> None:
    changelog_append(
        changes=[Change(signal=s, op=ChangeOp.ADD, labels=[], contributors=[]) for s in signals]
    )


def fill(plan: list[tuple[str, int]]) -> None:
    """Append batches of (bank, how many) in order."""
    for bank, count in plan:
        append(make_signals(bank, count))


def leaves_of(bank: str) -> list[bytes]:
    return [
        bytes.fromhex(h)
        for h in ChangeLogEntry.objects.filter(bank__name=bank)
        .order_by("bank_index")
        .values_list("leaf_hash", flat=True)
    ]


def opened(checkpoint_note: str) -> tuple[str, int, bytes]:
    """What a member reads from a checkpoint, once the hub's signature verifies."""
    identity = hub_identity()
    verifier = note.Verifier(django_settings.HUB_ORIGIN, identity.public_key_raw)
    checkpoint = note.open_checkpoint(checkpoint_note, [verifier]).checkpoint
    return checkpoint.origin, checkpoint.size, checkpoint.root_hash


MIXED = [("TVEC", 3), ("HATE", 1), ("TVEC", 1), ("CSAM", 2), ("TVEC", 7), ("HATE", 4)]
MIXED += [("TVEC", 1), ("HATE", 2), ("TVEC", 16), ("CSAM", 1), ("TVEC", 5)]


def test_each_entry_takes_the_next_place_in_its_bank_tree_and_nodes_are_stored_as_it_grows(cast):
    fill(MIXED)
    for bank in ("TVEC", "HATE", "CSAM"):
        rows = ChangeLogEntry.objects.filter(bank__name=bank).order_by("sequence")
        assert [r.bank_index for r in rows] == list(range(rows.count()))
        expected = {
            (level, index, value.hex())
            for level, index, value in merkle.append_leaves(0, [], leaves_of(bank)).nodes
            if level > 0
        }
        stored = set(
            MerkleNode.objects.filter(bank__name=bank).values_list("level", "index", "hash")
        )
        assert stored == expected


def sync_all(actor, limit=4):
    """A member's client: applies every page, keeps the entries per bank, and checks at each
    page that its copy of each bank is a prefix of the checkpoint the page names."""
    client = actor.client()
    cursor, copies, page = 0, {}, None
    while True:
        page = client.get(f"/api/v1/sync/?cursor={cursor}&limit={limit}").json()
        for entry in page["entries"]:
            copies.setdefault(entry["bank"], []).append(entry)
        for bank, named in page["checkpoints"].items():
            mine = [merkle.leaf_hash(raw_entry(e)) for e in copies.get(bank, [])]
            assert named["tree_size"] == len(mine)
            checkpoint = named["checkpoint"]
            origin, size, root = opened(checkpoint["note"])
            assert (origin, size, root.hex()) == (
                transparency.log_origin(Bank.objects.get(name=bank)),
                checkpoint["size"],
                checkpoint["root_hash"],
            )
            proof = client.get(
                f"/api/v1/banks/{bank}/proof/consistency?from={len(mine)}&to={size}"
            ).json()["proof"]
            merkle.verify_consistency(
                len(mine), size, merkle.root_hash(mine), root, [bytes.fromhex(p) for p in proof]
            )
        cursor = page["next_cursor"]
        if cursor >= page["head"]:
            return copies, page


def raw_entry(entry: dict) -> bytes:
    """The bytes the hub logged: entries are canonical JSON (RFC 8785)."""
    return rfc8785.dumps(entry)


def test_roots_recomputed_from_synced_entries_equal_the_checkpoints(cast, alice):
    fill(MIXED)
    copies, last = sync_all(alice)
    assert set(last["checkpoints"]) == {"TVEC", "HATE", "CSAM"}
    for bank, entries in copies.items():
        leaves = [merkle.leaf_hash(raw_entry(e)) for e in entries]
        checkpoint = Checkpoint.objects.filter(bank__name=bank).order_by("-size").first()
        assert checkpoint.size == len(leaves) == last["checkpoints"][bank]["tree_size"]
        assert merkle.root_hash(leaves).hex() == checkpoint.root_hash
        response = alice.client().get(f"/api/v1/banks/{bank}/checkpoint")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        assert response.content.decode() == checkpoint.note
    # Another member reads HATE only: it learns nothing of the other banks' trees.
    _, pebble_last = sync_all(cast["pebble/admin"])
    assert set(pebble_last["checkpoints"]) == {"HATE"}


def test_a_checkpoint_is_issued_on_demand_and_by_the_task_only_when_the_tree_grew(cast, alice):
    fill([("TVEC", 3)])
    assert not Checkpoint.objects.exists()
    first = alice.client().get("/api/v1/banks/TVEC/checkpoint").content.decode()
    assert opened(first)[1] == 3
    assert alice.client().get("/api/v1/banks/TVEC/checkpoint").content.decode() == first
    assert Checkpoint.objects.count() == 1
    assert issue_checkpoints() == []
    fill([("TVEC", 2), ("HATE", 1)])
    issued = issue_checkpoints()
    assert sorted(Checkpoint.objects.filter(pk__in=issued).values_list("bank__name", "size")) == [
        ("HATE", 1),
        ("TVEC", 5),
    ]
    assert issue_checkpoints() == []


def test_every_proof_served_verifies_for_many_sizes(cast, alice):
    for count in [1, 1, 2, 3, 1, 8, 5, 1, 16, 2]:
        fill([("TVEC", count)])
        transparency.checkpoint_latest(Bank.objects.get(name="TVEC"))
    leaves = leaves_of("TVEC")
    n = len(leaves)
    roots = [merkle.root_hash(leaves[:size]) for size in range(n + 1)]
    client = alice.client()
    tvec = Bank.objects.get(name="TVEC")
    for size in range(1, n + 1):
        for index in sorted({0, size // 2, size - 1, (7 * size) % size}):
            answer = client.get(f"/api/v1/banks/TVEC/proof/inclusion?index={index}&size={size}")
            assert answer.status_code == 200, answer.json()
            body = answer.json()
            assert body["leaf_hash"] == leaves[index].hex()
            merkle.verify_inclusion(
                leaves[index], index, size, [bytes.fromhex(p) for p in body["proof"]], roots[size]
            )
        for old in range(size + 1):
            proof = transparency.consistency_proof(bank=tvec, old=old, new=size)
            merkle.verify_consistency(old, size, roots[old], roots[size], proof)
    for old, new in [(0, n), (1, n), (5, 13), (7, 8), (n, n), (16, n), (3, 17)]:
        body = client.get(f"/api/v1/banks/TVEC/proof/consistency?from={old}&to={new}").json()
        proof = [bytes.fromhex(p) for p in body["proof"]]
        merkle.verify_consistency(old, new, roots[old], roots[new], proof)
    # Without `size` or `to`, the proof is against the latest checkpoint.
    body = client.get("/api/v1/banks/TVEC/proof/inclusion?index=4").json()
    assert body["size"] == n
    body = client.get("/api/v1/banks/TVEC/proof/consistency?from=9").json()
    assert body["to"] == n


def test_a_proof_by_leaf_hash_finds_the_entry_and_proves_it(cast, alice):
    fill([("TVEC", 6)])
    transparency.checkpoint_latest(Bank.objects.get(name="TVEC"))
    fill([("TVEC", 5)])
    transparency.checkpoint_latest(Bank.objects.get(name="TVEC"))
    leaves = leaves_of("TVEC")
    n = len(leaves)
    client = alice.client()
    for size in (6, n):
        root = merkle.root_hash(leaves[:size])
        for index in range(size):
            answer = client.get(
                f"/api/v1/banks/TVEC/proof/inclusion?leaf_hash={leaves[index].hex()}&size={size}"
            )
            assert answer.status_code == 200, answer.json()
            body = answer.json()
            assert (body["index"], body["size"], body["leaf_hash"]) == (
                index,
                size,
                leaves[index].hex(),
            )
            merkle.verify_inclusion(
                leaves[index], index, size, [bytes.fromhex(p) for p in body["proof"]], root
            )
    # Without size: against the latest checkpoint; the hex may be upper case.
    body = client.get(f"/api/v1/banks/TVEC/proof/inclusion?leaf_hash={leaves[8].hex().upper()}")
    assert (body.json()["index"], body.json()["size"]) == (8, n)
    # An entry past the tree asked for, or a hash no entry has: 404 in the error shape.
    for query in (f"leaf_hash={leaves[7].hex()}&size=6", f"leaf_hash={'ab' * 32}"):
        response = client.get(f"/api/v1/banks/TVEC/proof/inclusion?{query}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    # Another bank's entry is not this bank's.
    fill([("HATE", 1)])
    hate_leaf = leaves_of("HATE")[0].hex()
    assert client.get(f"/api/v1/banks/TVEC/proof/inclusion?leaf_hash={hate_leaf}").status_code == (
        404
    )


def test_a_mutated_node_makes_verification_fail_and_stops_checkpoints(cast, alice):
    fill([("TVEC", 11)])
    leaves = leaves_of("TVEC")
    root = merkle.root_hash(leaves)
    client = alice.client()
    assert opened(client.get("/api/v1/banks/TVEC/checkpoint").content.decode())[2] == root

    node = MerkleNode.objects.get(bank__name="TVEC", level=2, index=1)
    node.hash = "00" * 32
    node.save()
    body = client.get("/api/v1/banks/TVEC/proof/inclusion?index=1&size=11").json()
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(leaves[1], 1, 11, [bytes.fromhex(p) for p in body["proof"]], root)
    # A node the next root depends on: the next checkpoint is refused, as the altered tree
    # does not extend the last one (the consistency check before signing).
    MerkleNode.objects.filter(bank__name="TVEC", level=3, index=0).update(hash="22" * 32)
    fill([("TVEC", 1)])
    with pytest.raises(transparency.TreeInconsistent):
        transparency.checkpoint_issue(Bank.objects.get(name="TVEC"))
    assert Checkpoint.objects.filter(bank__name="TVEC").count() == 1
    # Members are told in the API's error shape, never given a 500 or the stored detail.
    response = client.get("/api/v1/banks/TVEC/checkpoint")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "log_inconsistent"
    assert "level" not in response.json()["error"]["message"]


def test_a_mutated_leaf_hash_makes_verification_fail(cast, alice):
    fill([("HATE", 6)])
    leaves = leaves_of("HATE")
    root = merkle.root_hash(leaves)
    client = alice.client()
    client.get("/api/v1/banks/HATE/checkpoint")
    ChangeLogEntry.objects.filter(bank__name="HATE", bank_index=3).update(leaf_hash="11" * 32)
    body = client.get("/api/v1/banks/HATE/proof/inclusion?index=2&size=6").json()
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(leaves[2], 2, 6, [bytes.fromhex(p) for p in body["proof"]], root)
    body = client.get("/api/v1/banks/HATE/proof/inclusion?index=3&size=6").json()
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(
            bytes.fromhex(body["leaf_hash"]), 3, 6, [bytes.fromhex(p) for p in body["proof"]], root
        )


ENDPOINTS = [
    "checkpoint",
    "tile/0/000.p/1",
    "proof/inclusion?index=0&size=1",
    "proof/inclusion?index=abc",
    f"proof/inclusion?leaf_hash={'00' * 32}",
    "proof/consistency?from=0&to=1",
]


def answers(client, bank: str) -> list[tuple[int, bytes]]:
    return [
        (r.status_code, r.content)
        for r in (client.get(f"/api/v1/banks/{bank}/{endpoint}") for endpoint in ENDPOINTS)
    ]


def test_who_may_not_read_a_bank_learns_nothing_of_its_tree(cast, anonymous):
    # Lakeside was not granted the restricted CSAM bank; Pebble, an associate, does not
    # read TVEC. What they get is the answer for a bank that does not exist, whatever the
    # bank holds.
    lakeside, pebble = cast["lakeside/admin"].client(), cast["pebble/admin"].client()
    absent = answers(lakeside, "NOSUCHBANK")
    assert {status for status, _ in absent} == {404}
    empty = (answers(lakeside, "CSAM"), answers(pebble, "TVEC"))
    fill([("CSAM", 5), ("TVEC", 3)])
    cast["northwind/admin"].client().get("/api/v1/banks/CSAM/checkpoint")
    full = (answers(lakeside, "CSAM"), answers(pebble, "TVEC"))
    assert empty == full == (absent, absent)

    # Asked by the leaf hash of an entry the bank holds, the same: the bank is unknown.
    for client, bank in ((lakeside, "CSAM"), (pebble, "TVEC")):
        query = f"proof/inclusion?leaf_hash={leaves_of(bank)[0].hex()}"
        held = client.get(f"/api/v1/banks/{bank}/{query}")
        unknown = client.get(f"/api/v1/banks/NOSUCHBANK/{query}")
        assert (held.status_code, held.content) == (unknown.status_code, unknown.content)
        assert held.status_code == 404

    # Authorities and researchers are refused as for every other hash-bank endpoint.
    for label in ["ruritania-ctu/liaison", "open-harms-lab/researcher"]:
        client = cast[label].client()
        usual = client.get("/api/v1/sync/")
        assert usual.status_code == 403
        for bank in ("TVEC", "CSAM", "NOSUCHBANK"):
            assert {a for a in answers(client, bank)} == {(403, usual.content)}
    for bank in ("TVEC", "NOSUCHBANK"):
        assert {status for status, _ in answers(anonymous, bank)} == {401}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("proof/inclusion", "index"),
        ("proof/inclusion?index=abc", "index"),
        ("proof/inclusion?index=-1", "index"),
        ("proof/inclusion?index=0&size=0", "size"),
        ("proof/inclusion?index=0&size=4", "size"),
        ("proof/inclusion?index=3&size=3", "index"),
        ("proof/inclusion?index=0&size=99999999999999999999", "size"),
        ("proof/inclusion?leaf_hash=xyz", "leaf_hash"),
        (f"proof/inclusion?leaf_hash={'0' * 65}", "leaf_hash"),
        (f"proof/inclusion?index=0&leaf_hash={'0' * 64}", "leaf_hash"),
        (f"proof/inclusion?leaf_hash={'0' * 64}&size=4", "size"),
        ("proof/consistency", "from"),
        ("proof/consistency?from=2&to=1", "from"),
        ("proof/consistency?from=0&to=4", "to"),
        ("proof/consistency?from=x", "from"),
    ],
)
def test_bad_proof_parameters_are_refused_naming_the_field(cast, alice, query, field):
    fill([("TVEC", 3)])
    response = alice.client().get(f"/api/v1/banks/TVEC/{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_sync_cursor_past_the_head_is_refused_naming_the_head(cast, alice):
    fill([("TVEC", 2)])
    response = alice.client().get("/api/v1/sync/?cursor=3")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"]["cursor"][0]["code"] == "cursor_ahead"
    assert "head of the log, 2" in error["message"]
    assert alice.client().get("/api/v1/sync/?cursor=2").json()["next_cursor"] == 2


@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="concurrent transactions need PostgreSQL",
)
def test_concurrent_appends_keep_every_bank_tree_gap_free_and_checkpointed(transactional_db, cast):
    per_thread = 3
    batches = [make_signals(("TVEC", "HATE")[n % 2], per_thread) for n in range(50)]

    def submit(signals: list[Signal]) -> None:
        try:
            append(signals)
            transparency.checkpoints_issue()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        list(pool.map(submit, batches))

    for bank in ("TVEC", "HATE"):
        indexes = list(
            ChangeLogEntry.objects.filter(bank__name=bank)
            .order_by("sequence")
            .values_list("bank_index", flat=True)
        )
        assert indexes == list(range(25 * per_thread))
        latest = transparency.checkpoint_latest(Bank.objects.get(name=bank))
        assert latest.size == 25 * per_thread
        assert latest.root_hash == merkle.root_hash(leaves_of(bank)).hex()
        # Every checkpoint issued meanwhile is a prefix of the final tree.
        leaves = leaves_of(bank)
        for checkpoint in Checkpoint.objects.filter(bank__name=bank):
            assert checkpoint.root_hash == merkle.root_hash(leaves[: checkpoint.size]).hex()
    # The hub's own audit agrees: entries, every stored node, every checkpoint's signature.
    report = log_verify(page_size=7)
    assert report.ok, [str(problem) for problem in report.problems]
    assert report.entries["TVEC"] == report.entries["HATE"] == 25 * per_thread
    assert sum(report.checkpoints.values()) == Checkpoint.objects.count()


def test_tiles_serve_the_tree_as_of_the_latest_checkpoint(cast, alice):
    fill([("TVEC", 100), ("TVEC", 100), ("TVEC", 100)])
    leaves = leaves_of("TVEC")
    client = alice.client()

    def get(path: str):
        return client.get(f"/api/v1/banks/TVEC/tile/{path}")

    full = get("0/000")
    assert full.status_code == 200
    assert "immutable" in full["Cache-Control"]
    assert tiles.parse_tile(full.content) == leaves[:256]
    partial = get("0/001.p/44")
    assert tiles.parse_tile(partial.content, 44) == leaves[256:300]
    assert "immutable" not in partial["Cache-Control"]
    assert tiles.parse_tile(get("1/000.p/1").content, 1) == [merkle.root_hash(leaves[:256])]
    bundle = tiles.parse_entry_bundle(get("entries/000").content, 256)
    assert [merkle.leaf_hash(entry) for entry in bundle] == leaves[:256]
    assert len(tiles.parse_entry_bundle(get("entries/001.p/44").content, 44)) == 44
    # Not in the tree (yet), or not a canonical tile path: 404.
    for path in ["0/001", "0/001.p/45", "1/000", "0/1", "0/000.p/256", "entries/x", "2/000.p/1"]:
        assert get(path).status_code == 404, path
    assert cast["lakeside/admin"].client().get("/api/v1/banks/CSAM/tile/0/000").status_code == 404
