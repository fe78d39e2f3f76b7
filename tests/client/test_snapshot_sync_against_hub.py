"""A member's first sync from the hub's signed snapshots, over HTTP: the client checks
each file's hash and the hub's signature, loads it, then reads the log from the
snapshots' position, and holds exactly the hub's list."""

from __future__ import annotations

import gzip
import json

import pytest
from hashfed_client import main
from hashfed_client.errors import HubError, SyncError
from hashfed_client.hub import HubClient
from hashfed_client.snapshots import snapshot_records, snapshot_verify, snapshots_fetch

from accounts.hub_identity import hub_identity
from hashbank.models import Signal
from hashbank.services.snapshots import snapshots_create
from tests.conftest import approve_all, submit


@pytest.fixture
def hub(live_server, transactional_db, settings, monkeypatch, cast):
    monkeypatch.setenv("HASHFED_URL", live_server.url)
    monkeypatch.setenv("HASHFED_API_KEY", cast["lakeside/analyst"].account.api_key)
    return live_server


def hub_list() -> set[tuple[str, str, str]]:
    return {
        (s.bank.name, s.signal_type, s.value)
        for s in Signal.objects.filter(bank__name__in=["TVEC", "HATE"]).exclude(status="removed")
    }


def test_a_first_sync_starts_from_the_snapshots_then_follows_the_log(
    hub, cast, alice, signer_for, tmp_path, capsys
):
    signer = signer_for("northwind/admin")
    submit(alice, *[signer.envelope() for _ in range(3)])
    approve_all()
    [snapshot] = [s for s in snapshots_create() if s.bank.name == "TVEC"]
    submit(alice, signer.envelope())
    approve_all()

    out, state = tmp_path / "list.ndjson", tmp_path / "list.state.json"
    argv = ["sync", "--out", str(out), "--state", str(state), "--no-verify", "--from-snapshot"]
    assert main(argv) == 0
    held = {
        (r["bank"], r["signal_type"], r["value"])
        for r in map(json.loads, out.read_text().splitlines())
    }
    assert held == hub_list() and len(held) == 4
    saved = json.loads(state.read_text())
    # Three records came from the snapshot (no sequence: a snapshot line has none), the
    # fourth from the log after its position.
    assert sorted("sequence" in r for r in saved["signals"]) == [False, False, False, True]
    assert saved["last_sequence"] >= snapshot.up_to_sequence
    capsys.readouterr()

    # A verified sync reads the whole log: the option is refused with it.
    assert main(["sync", "--out", str(out), "--from-snapshot"]) != 0
    assert "--no-verify" in capsys.readouterr().err


def test_the_client_refuses_a_snapshot_the_hub_did_not_sign(hub, cast, alice, signer_for):
    signer = signer_for("northwind/admin")
    submit(alice, *[signer.envelope() for _ in range(2)])
    approve_all()
    snapshots_create()
    client = HubClient(hub.url, cast["lakeside/analyst"].account.api_key)
    identity = hub_identity()
    keys = [identity.public_key_raw]
    position, signals = snapshots_fetch(client, origin=identity.origin, hub_public_keys=keys)
    assert set(signals) == hub_list() and position == 2

    [item] = [i for i in client.snapshots() if i["bank"] == "TVEC"]
    data = client.snapshot_download(item)
    assert snapshot_verify(item, data, origin=identity.origin, hub_public_keys=keys)
    lines = gzip.decompress(data).splitlines()
    forged = gzip.compress(b"\n".join(lines[:1]) + b"\n")
    for changed_item, changed_data in (
        (item, forged),  # another file
        ({**item, "up_to_sequence": 1}, data),  # another position
        ({**item, "bank": "HATE"}, data),  # another bank
        ({**item, "signatures": item["signatures"].replace(":", ":A", 1)}, data),
    ):
        with pytest.raises(HubError) as refused:
            snapshot_verify(
                changed_item, changed_data, origin=identity.origin, hub_public_keys=keys
            )
        assert refused.value.code == "bad_signature"
    with pytest.raises(HubError):
        snapshot_verify(item, data, origin="https://elsewhere.example", hub_public_keys=keys)

    # A signed file of one bank is never read as another's list.
    with pytest.raises(SyncError, match="another bank"):
        list(snapshot_records(data, bank="HATE"))
    with pytest.raises(SyncError, match="whole line"):
        list(snapshot_records(gzip.compress(b"\n".join(lines)), bank="TVEC"))
