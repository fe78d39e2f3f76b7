"""The verifier printed in docs/transparency-log.md, run as a third party would run it:
a separate process speaking HTTP to a live hub, with no code of the hub's."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785

from accounts.audit import AuditContext
from hashbank.models import Bank, ChangeLogEntry, Checkpoint, EntryDisclosure
from hashbank.services import transparency
from hashbank.services.provenance import erase_disclosures
from hashbank.services.signals import confidence
from tests.hashbank.test_transparency_log import append, fill, make_signals

DOC = Path(__file__).resolve().parents[2] / "docs" / "transparency-log.md"
SECTION = "## A verifier in 80 lines"


def program() -> str:
    section = DOC.read_text().split(SECTION, 1)[1]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, flags=re.M | re.S)
    assert len(blocks) == 1, "the section holds one python block"
    return blocks[0]


def verify(hub, actor, bank: str = "TVEC") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program(), hub.url, actor.account.api_key, bank],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def hub(live_server, transactional_db, cast):
    fill([("TVEC", 3), ("HATE", 2), ("TVEC", 5), ("CSAM", 1), ("TVEC", 4)])
    return live_server


def test_the_program_is_under_80_lines_and_imports_nothing_of_the_hub():
    lines = program().splitlines()
    assert len(lines) < 80
    imported = {
        line.split()[1].split(".")[0] for line in lines if line.startswith(("import ", "from "))
    }
    assert imported <= {"base64", "hashlib", "json", "sys", "urllib", "cryptography"}


def test_sorted_compact_json_is_the_hubs_rfc8785_bytes_for_every_stored_entry(hub):
    entries = [bytes(e) for e in ChangeLogEntry.objects.values_list("entry", flat=True)]
    assert len(entries) > 14
    for stored in entries:
        again = json.dumps(
            json.loads(stored), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
        assert again == stored == rfc8785.dumps(json.loads(stored))


def test_every_confidence_an_entry_can_carry_is_written_alike_by_json_and_rfc8785():
    values = {
        confidence(agree=agree, disagree=disagree)
        for agree in range(400)
        for disagree in range(0, 400, 7)
    }
    assert min(values) == 0.01 and max(values) == 0.99
    for value in values:
        assert json.dumps(value).encode() == rfc8785.dumps(value)


def test_it_accepts_an_honest_hub_and_refuses_a_tampered_checkpoint(hub, alice):
    for bank in ("TVEC", "HATE"):
        done = verify(hub, alice, bank)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"OK: {bank}: ")
    checkpoint = Checkpoint.objects.filter(bank__name="TVEC").order_by("-size").first()
    origin, size, _root, rest = checkpoint.note.split("\n", 3)
    forged = transparency.tree_root(checkpoint.bank_id, int(size) - 1)
    tampered = "\n".join([origin, size, base64.b64encode(forged).decode(), rest])
    Checkpoint.objects.filter(pk=checkpoint.pk).update(note=tampered)
    done = verify(hub, alice)
    assert done.returncode != 0
    assert "FAIL: the checkpoint's signature" in done.stderr


def test_it_refuses_a_hub_whose_stored_entry_was_altered(hub, alice):
    assert verify(hub, alice).returncode == 0  # a checkpoint of the honest tree is signed
    row = ChangeLogEntry.objects.get(bank__name="TVEC", bank_index=4)
    entry = json.loads(bytes(row.entry))
    entry["value"] = "f" * len(entry["value"])
    ChangeLogEntry.objects.filter(pk=row.pk).update(entry=rfc8785.dumps(entry))
    done = verify(hub, alice)
    assert done.returncode != 0
    assert "FAIL: the root of the" in done.stderr
    assert verify(hub, alice, "HATE").returncode == 0  # other banks are untouched


def test_it_refuses_a_checkpoint_signed_over_an_altered_leaf(hub, alice):
    bank = Bank.objects.get(name="TVEC")
    size = transparency.tree_size(bank.pk)
    if size % 2 == 0:  # the last leaf is then a node of the root itself
        fill([("TVEC", 1)])
        size += 1
    Checkpoint.objects.filter(bank=bank).delete()
    ChangeLogEntry.objects.filter(bank=bank, bank_index=size - 1).update(leaf_hash="ab" * 32)
    done = verify(hub, alice)  # the hub now signs a root over the altered leaf
    assert Checkpoint.objects.get(bank=bank).size == size
    assert done.returncode != 0
    assert "FAIL: the root of the" in done.stderr


def test_it_accepts_entries_with_incidents_before_and_after_their_text_is_erased(hub, alice):
    signals = make_signals("TVEC", 3)
    for signal in signals:
        signal.incident = "erasable-crisis"
    append(signals)
    assert EntryDisclosure.objects.filter(text="erasable-crisis").count() == 3
    done = verify(hub, alice)
    assert done.returncode == 0, done.stderr
    erase_disclosures(context=AuditContext.system(), incident="erasable-crisis")
    assert not EntryDisclosure.objects.filter(text="erasable-crisis").exists()
    done = verify(hub, alice)
    assert done.returncode == 0, done.stderr
