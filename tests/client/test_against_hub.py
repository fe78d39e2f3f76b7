"""The member-side client against a real hub over HTTP: generate a key, register it, submit
a CSV, and after moderation hold exactly the hub's list in a local file."""

import json

import pytest
from hashfed_client import main

from hashbank.models import Signal
from tests.conftest import approve_all


@pytest.fixture
def hub(live_server, transactional_db, settings, monkeypatch, cast):
    monkeypatch.setenv("HASHFED_URL", live_server.url)
    return live_server


def run(*argv: str) -> int:
    return main(list(argv))


def test_a_platform_integrates_with_the_command_line(hub, cast, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HASHFED_API_KEY", cast["northwind/admin"].account.api_key)
    key_file = tmp_path / "northwind.pem"
    assert run("keygen", "--out", str(key_file)) == 0
    assert run("register-key", "--key", str(key_file), "--name", "cli") == 0
    rows = tmp_path / "hashes.csv"
    rows.write_text(
        "signal_type,value,labels\n"
        f"pdq,{'a1' * 32},tvec-glorification\n"
        f"md5,{'b2' * 16},tvec-radicalisation;tvec-recruitment\n"
        f"sha256,{'c3' * 32},tvec-instruction\n"
        f"pdq,{'d4' * 32},no-such-label\n"
    )
    assert run("submit", "--key", str(key_file), "--bank", "TVEC", "--file", str(rows)) == 1
    err = capsys.readouterr().err
    assert "unknown_label" in err
    approve_all()

    monkeypatch.setenv("HASHFED_API_KEY", cast["lakeside/analyst"].account.api_key)
    out = tmp_path / "list.ndjson"
    state = tmp_path / "list.state.json"
    assert run("sync", "--out", str(out), "--state", str(state), "--limit", "1") == 0
    held = {
        (r["bank"], r["signal_type"], r["value"])
        for r in map(json.loads, out.read_text().splitlines())
    }
    hub_list = {
        (s.bank.name, s.signal_type, s.value) for s in Signal.objects.exclude(status="removed")
    }
    assert held == hub_list and len(held) == 3
    # Resuming from the saved cursor with nothing new changes nothing.
    assert run("sync", "--out", str(out), "--state", str(state)) == 0
    assert {
        (r["bank"], r["signal_type"], r["value"])
        for r in map(json.loads, out.read_text().splitlines())
    } == hub_list
