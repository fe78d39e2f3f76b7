"""Random row mutation: one stored row of the log altered at a time (an entry's bytes, a
leaf hash, a Merkle node, two entries' places, a deleted entry, a checkpoint's root or
note) must be found by the hub's own audit (log_verify, manage.py verify_log), and altered
entries by a member that syncs the log and holds an earlier signed checkpoint."""

from __future__ import annotations

import base64
import contextlib
import json
import random
from collections.abc import Callable

import pytest
import rfc8785
from django.core.management import CommandError, call_command
from django.db import transaction

from hashbank.models import Bank, ChangeLogEntry, Checkpoint, MerkleNode
from hashbank.services import transparency
from hashbank.services.changelog import leaf_hash
from hashbank.services.log_audit import AuditReport, log_verify
from hashfed_wire import merkle, note, strict_json
from tests.conftest import approve_all, submit
from tests.hashbank.test_transparency_log import fill

BANKS = ("TVEC", "HATE", "CSAM")
TRIALS = 50
# Pages smaller than a bank's entries, and not a power of two: the audit's pages end
# mid-subtree and between checkpoints.
PAGE = 37


@pytest.fixture
def log(cast, alice, signer_for):
    """A few hundred entries in three banks: signed submissions approved through the
    services, then batches appended to each bank in turn, checkpoints issued as they grow
    and once more at the end (so every bank's last entry is under a checkpoint)."""
    signer = signer_for("northwind/admin")
    response = submit(alice, *[signer.envelope() for _ in range(6)])
    assert response.status_code in (200, 201, 207), response.content
    approve_all()
    rng = random.Random(8785)
    for turn in range(24):
        fill([(BANKS[turn % 3], rng.randint(1, 25))])
        if turn % 4 == 3:
            transparency.checkpoints_issue()
    transparency.checkpoints_issue()
    assert ChangeLogEntry.objects.count() > 200
    assert Checkpoint.objects.count() >= 15
    for bank in BANKS:
        last = transparency.checkpoint_last(Bank.objects.get(name=bank))
        assert last is not None
        assert last.size == transparency.tree_size(last.bank_id)


def audit() -> AuditReport:
    return log_verify(page_size=PAGE)


def different_hex(rng: random.Random, old: str) -> str:
    while True:
        new = rng.randbytes(32).hex()
        if new != old:
            return new


# Each mutation alters one stored row (a swap: two) and returns the bank it touched and
# what the audit's report must name: the entry, node or checkpoint.


def flip_entry_byte(rng: random.Random) -> tuple[str, str]:
    row = rng.choice(list(ChangeLogEntry.objects.select_related("bank")))
    entry = bytearray(bytes(row.entry))
    entry[rng.randrange(len(entry))] ^= rng.randint(1, 255)
    ChangeLogEntry.objects.filter(pk=row.pk).update(entry=bytes(entry))
    return row.bank.name, f"entry {row.sequence} "


def change_leaf_hash(rng: random.Random) -> tuple[str, str]:
    row = rng.choice(list(ChangeLogEntry.objects.select_related("bank")))
    ChangeLogEntry.objects.filter(pk=row.pk).update(leaf_hash=different_hex(rng, row.leaf_hash))
    return row.bank.name, f"entry {row.sequence} "


def change_node_hash(rng: random.Random) -> tuple[str, str]:
    node = rng.choice(list(MerkleNode.objects.select_related("bank")))
    MerkleNode.objects.filter(pk=node.pk).update(hash=different_hex(rng, node.hash))
    return node.bank.name, f"node level {node.level} index {node.index}"


def swap_bank_index(rng: random.Random) -> tuple[str, str]:
    bank = rng.choice(BANKS)
    first, second = rng.sample(list(ChangeLogEntry.objects.filter(bank__name=bank)), 2)
    ChangeLogEntry.objects.filter(pk=first.pk).update(bank_index=-1)
    ChangeLogEntry.objects.filter(pk=second.pk).update(bank_index=first.bank_index)
    ChangeLogEntry.objects.filter(pk=first.pk).update(bank_index=second.bank_index)
    # The later entry now comes first: the one after it in the bank's order is out of
    # sequence order.
    after = ChangeLogEntry.objects.get(
        bank__name=bank, bank_index=min(first.bank_index, second.bank_index) + 1
    )
    return bank, f"entry {after.sequence} "


def move_entry_out_of_the_tree(rng: random.Random) -> tuple[str, str]:
    """A negative bank_index: below every place the tree's numbering starts from."""
    row = rng.choice(list(ChangeLogEntry.objects.select_related("bank")))
    ChangeLogEntry.objects.filter(pk=row.pk).update(bank_index=-rng.randint(1, 1000))
    return row.bank.name, f"entry {row.sequence} "


def delete_entry(rng: random.Random) -> tuple[str, str]:
    row = rng.choice(list(ChangeLogEntry.objects.select_related("bank")))
    ChangeLogEntry.objects.filter(pk=row.pk).delete()
    last = ChangeLogEntry.objects.filter(bank=row.bank).order_by("-bank_index").first()
    if last is None or last.bank_index < row.bank_index:
        return row.bank.name, "checkpoint at size"  # the tree now ends short of its last one
    after = ChangeLogEntry.objects.get(bank=row.bank, bank_index=row.bank_index + 1)
    return row.bank.name, f"entry {after.sequence} (bank_index {row.bank_index + 1})"


def change_checkpoint_root(rng: random.Random) -> tuple[str, str]:
    checkpoint = rng.choice(list(Checkpoint.objects.select_related("bank")))
    Checkpoint.objects.filter(pk=checkpoint.pk).update(
        root_hash=different_hex(rng, checkpoint.root_hash)
    )
    return checkpoint.bank.name, f"checkpoint at size {checkpoint.size}"


def change_checkpoint_note(rng: random.Random) -> tuple[str, str]:
    checkpoint = rng.choice(list(Checkpoint.objects.select_related("bank")))
    text = checkpoint.note
    while True:
        at = rng.randrange(len(text))
        altered = text[:at] + rng.choice("0123456789abcdefABCDEF/+=\n .") + text[at + 1 :]
        if altered != text:
            break
    Checkpoint.objects.filter(pk=checkpoint.pk).update(note=altered)
    return checkpoint.bank.name, f"checkpoint at size {checkpoint.size}"


def forge_checkpoint_note(rng: random.Random) -> tuple[str, str]:
    """A note signed by a key that is not the hub's, under the hub's name."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    checkpoint = rng.choice(list(Checkpoint.objects.select_related("bank")))
    body = checkpoint.note.split("\n\n", 1)[0] + "\n"
    forged = note.sign_note(
        body, name=transparency.note_key_name(), private_key=Ed25519PrivateKey.generate()
    )
    Checkpoint.objects.filter(pk=checkpoint.pk).update(note=forged)
    return checkpoint.bank.name, f"checkpoint at size {checkpoint.size}"


MUTATIONS: list[Callable[[random.Random], tuple[str, str]]] = [
    flip_entry_byte,
    change_leaf_hash,
    change_node_hash,
    swap_bank_index,
    move_entry_out_of_the_tree,
    delete_entry,
    change_checkpoint_root,
    change_checkpoint_note,
    forge_checkpoint_note,
]


def test_the_honest_log_passes_the_audit(log):
    report = audit()
    assert report.ok, [str(p) for p in report.problems]
    assert sum(report.entries.values()) == ChangeLogEntry.objects.count()
    assert sum(report.nodes.values()) == MerkleNode.objects.count()
    assert sum(report.checkpoints.values()) == Checkpoint.objects.count()
    assert log_verify().ok  # one page per bank: the same verdict


def test_every_random_single_row_mutation_is_found_where_it_was_made(log):
    rng = random.Random(6962)
    found: dict[str, int] = {}
    for trial in range(TRIALS):
        mutation = MUTATIONS[trial % len(MUTATIONS)]
        with transaction.atomic():
            bank, where = mutation(rng)
            report = audit()
            transaction.set_rollback(True)
        described = [str(p) for p in report.problems]
        assert not report.ok, f"trial {trial}: {mutation.__name__} in {bank} went unnoticed"
        assert any(p.bank == bank and where in p.where for p in report.problems), (
            f"trial {trial}: {mutation.__name__}: {where!r} not named in {described}"
        )
        found[mutation.__name__] = found.get(mutation.__name__, 0) + 1
    assert set(found) == {m.__name__ for m in MUTATIONS}
    assert audit().ok  # every mutation was rolled back


def test_a_gap_in_the_log_numbering_is_named(log):
    row = ChangeLogEntry.objects.order_by("sequence")[10]
    ChangeLogEntry.objects.filter(pk=row.pk).delete()
    report = audit()
    assert any(
        p.bank == "(log)" and p.where == f"after entry {row.sequence - 1}" for p in report.problems
    )


def test_verify_log_command_prints_each_problem_and_fails(log, capsys):
    call_command("verify_log")
    out = capsys.readouterr().out
    assert "OK: the log passed its audit" in out
    assert "TVEC: " in out
    call_command("verify_log", "--bank", "HATE")
    assert "TVEC" not in capsys.readouterr().out
    node = MerkleNode.objects.filter(bank__name="HATE", level=2).first()
    MerkleNode.objects.filter(pk=node.pk).update(hash="00" * 32)
    with pytest.raises(CommandError, match="failed its audit: 1 problem "):
        call_command("verify_log", "--bank", "HATE")
    out = capsys.readouterr().out
    assert f"PROBLEM HATE: node level 2 index {node.index}: stored {'00' * 32}" in out
    call_command("verify_log", "--bank", "TVEC")  # other banks are untouched
    with pytest.raises(CommandError, match="no such bank: NOPE"):
        call_command("verify_log", "--bank", "NOPE")


# The member's side: it syncs through the API and holds each bank's checkpoint, opened with
# the key the hub publishes.


def hub_verifier(client) -> note.Verifier:
    hub = client.get("/.well-known/hashfed").json()
    name = hub["origin"].split("://")[-1].rstrip("/")
    return note.Verifier(name, base64.b64decode(hub["public_key"]))


def held_checkpoints(client) -> dict[str, note.Checkpoint]:
    verifier = hub_verifier(client)
    held = {}
    for bank in BANKS:
        response = client.get(f"/api/v1/banks/{bank}/checkpoint")
        if response.status_code == 200:
            held[bank] = note.open_checkpoint(response.content, [verifier]).checkpoint
    return held


def member_finds(client, held: dict[str, note.Checkpoint]) -> list[str]:
    """Sync the whole log and recompute each held checkpoint's root from the entries; what
    does not match, or cannot be read."""
    leaves: dict[str, list[bytes]] = {}
    cursor, head = 0, None
    while head is None or cursor < head:
        response = client.get(f"/api/v1/sync/?cursor={cursor}&limit=40")
        if response.status_code != 200:
            return [f"sync page {cursor}: HTTP {response.status_code}"]
        try:
            page = strict_json.loads(response.content)
        except strict_json.JSONRefused:
            return [f"sync page {cursor} is not JSON"]
        for entry in page["entries"]:
            raw = rfc8785.dumps(entry)
            leaves.setdefault(entry.get("bank"), []).append(merkle.leaf_hash(raw))
        cursor, head = page["next_cursor"], page["head"]
    failed = []
    for bank, checkpoint in held.items():
        mine = leaves.get(bank, [])
        if len(mine) < checkpoint.size or merkle.root_hash(mine[: checkpoint.size]) != (
            checkpoint.root_hash
        ):
            failed.append(bank)
    return failed


def rewrite_bank(bank: Bank) -> None:
    """What a hub covering its tracks does after altering entries: leaf hashes and nodes
    recomputed, and new checkpoints signed with its real key over the altered tree."""
    rows = list(ChangeLogEntry.objects.filter(bank=bank).order_by("sequence"))
    for index, row in enumerate(rows):
        ChangeLogEntry.objects.filter(pk=row.pk).update(bank_index=-1 - index)
    for index, row in enumerate(rows):
        ChangeLogEntry.objects.filter(pk=row.pk).update(
            bank_index=index, leaf_hash=leaf_hash(bytes(row.entry))
        )
    leaves = [bytes.fromhex(leaf_hash(bytes(row.entry))) for row in rows]
    MerkleNode.objects.filter(bank=bank).delete()
    MerkleNode.objects.bulk_create(
        MerkleNode(bank=bank, level=level, index=index, hash=value.hex())
        for level, index, value in merkle.append_leaves(0, [], leaves).nodes
        if level > 0
    )
    Checkpoint.objects.filter(bank=bank).delete()
    transparency.checkpoint_issue(bank)


def test_a_member_holding_checkpoints_finds_every_altered_entry(log, alice):
    client = alice.client()
    held = held_checkpoints(client)
    assert set(held) >= {"TVEC", "HATE"}
    assert member_finds(client, held) == []
    rng = random.Random(2026)
    for trial in range(24):
        bank_name = rng.choice(sorted(held))
        bank = Bank.objects.get(name=bank_name)
        rows = list(ChangeLogEntry.objects.filter(bank=bank, bank_index__lt=held[bank_name].size))
        row = rng.choice(rows)
        kind = trial % 4
        with transaction.atomic():
            if kind == 0:  # one byte of the stored entry
                entry = bytearray(bytes(row.entry))
                entry[rng.randrange(len(entry))] ^= rng.randint(1, 255)
                ChangeLogEntry.objects.filter(pk=row.pk).update(entry=bytes(entry))
            elif kind == 1:  # a value, the entry still canonical JSON
                parsed = strict_json.loads(bytes(row.entry))
                parsed["value"] = rng.randbytes(len(parsed["value"]) // 2).hex()
                ChangeLogEntry.objects.filter(pk=row.pk).update(entry=rfc8785.dumps(parsed))
            elif kind == 2:  # the entry gone
                ChangeLogEntry.objects.filter(pk=row.pk).delete()
            else:  # two entries' contents exchanged
                other = rng.choice([r for r in rows if r.pk != row.pk])
                ChangeLogEntry.objects.filter(pk=row.pk).update(entry=bytes(other.entry))
                ChangeLogEntry.objects.filter(pk=other.pk).update(entry=bytes(row.entry))
            if trial % 8 >= 4:
                rewrite_bank(bank)
            assert not log_verify(page_size=PAGE).ok or trial % 8 >= 4
            failed = member_finds(client, held)
            transaction.set_rollback(True)
        assert failed, f"trial {trial}: kind {kind} in {bank_name} went unnoticed by the member"
        assert failed[0].startswith("sync page") or bank_name in failed
    assert member_finds(client, held) == []


def random_json(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([0, 1, -7, 2**53 - 1, 2**53, -(2**60), 10**30])
    if kind == 1:
        exponent = rng.randint(-30, 30)
        return rng.choice([1.0, -1.0, 0.5, 0.1, 3.0, 1 / 3]) * 10.0**exponent
    if kind == 2:
        alphabet = 'aZ09 "\\/\n\t\x00\x1f\x7f\u00e9\u2028\u20ac\U0001f600\U00010000\ufb33'
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return rng.choice([-0.0, 1e21, 1e-7, 123456789012345680.0, 5e-324])
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {
        str(random_json(rng, 3)) if rng.random() < 0.7 else rng.choice("a\U0001f600\ufb33"): (
            random_json(rng, depth + 1)
        )
        for _ in range(rng.randint(0, 4))
    }


def test_the_audits_canonical_check_agrees_with_rfc8785_on_random_documents():
    from hashbank.services.log_audit import canonical_form

    rng = random.Random(8785)
    fast = 0
    for _ in range(3000):
        document = random_json(rng)
        writings = [
            json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
            json.dumps(document, sort_keys=True, separators=(",", ":")),
            json.dumps(document, separators=(",", ":"), ensure_ascii=False),
        ]
        with contextlib.suppress(rfc8785.CanonicalizationError):  # outside I-JSON: none
            writings.append(rfc8785.dumps(document).decode())
        for text in writings:
            try:
                raw = text.encode()
            except UnicodeEncodeError:
                continue
            try:
                expected = rfc8785.dumps(json.loads(raw)) == raw
            except (rfc8785.CanonicalizationError, ValueError):
                expected = False
            assert canonical_form(raw)[1] == expected, raw
            fast += expected
    assert fast > 1000


def test_checkpoints_signed_before_and_after_a_key_rotation_pass_the_audit(log):
    call_command("rotate_hub_key", "--begin")
    fill([("TVEC", 2)])
    transparency.checkpoints_issue()
    call_command("rotate_hub_key", "--finish")
    fill([("TVEC", 2)])
    transparency.checkpoints_issue()
    # Checkpoints by the old key alone, by both, and by the new key alone.
    report = log_verify()
    assert report.ok, [str(p) for p in report.problems]
    assert sum(report.checkpoints.values()) == Checkpoint.objects.count()
