"""The installed member client against a real hub over HTTP: generate a key, register it,
submit a CSV and after moderation hold exactly the hub's list in a local file; look hashes
up, have an image hashed, dispute a signal and give an opinion of one."""

import hashlib
import json

import pytest
from hashfed_client import main

from hashbank.models import Dispute, Opinion, Signal
from tests.conftest import approve_all, submit


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


def listed_signal(alice, signer_for, value: str) -> Signal:
    submit(alice, signer_for("northwind/admin").envelope(signal_type="md5", value=value))
    approve_all()
    return Signal.objects.get(value=value)


def test_lookup_prints_each_result_and_flags_a_malformed_query(
    hub, cast, alice, signer_for, monkeypatch, capsys
):
    signal = listed_signal(alice, signer_for, "e5" * 16)
    monkeypatch.setenv("HASHFED_API_KEY", cast["lakeside/admin"].account.api_key)
    assert run("lookup", f"md5:{'e5' * 16}", f"md5:{'f6' * 16}", "md5:not-hex") == 1
    captured = capsys.readouterr()
    results = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["index"] for r in results] == [0, 1, 2]
    assert [m["signal"] for m in results[0]["matches"]] == [signal.pk]
    assert results[1]["matches"] == [] and results[1]["error"] is None
    assert results[2]["error"]["field"] == "queries.2.value"
    assert "query 2:" in captured.err


def test_lookup_reads_queries_from_a_file(
    hub, cast, alice, signer_for, tmp_path, monkeypatch, capsys
):
    signal = listed_signal(alice, signer_for, "a7" * 16)
    monkeypatch.setenv("HASHFED_API_KEY", cast["lakeside/admin"].account.api_key)
    queries = tmp_path / "queries.csv"
    queries.write_text(f"signal_type,value\nmd5,{'a7' * 16}\n")
    assert run("lookup", "--file", str(queries)) == 0
    (result,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [m["signal"] for m in result["matches"]] == [signal.pk]


def test_hash_returns_the_hubs_hashes_of_an_image_and_refuses_what_is_not_one(
    hub, cast, tmp_path, monkeypatch, capsys
):
    from tests.hashbank.test_lookup import image_bytes

    monkeypatch.setenv("HASHFED_API_KEY", cast["pebble/admin"].account.api_key)
    data = image_bytes("PNG")
    image = tmp_path / "frame.png"
    image.write_bytes(data)
    assert run("hash", str(image), "--match") == 0
    body = json.loads(capsys.readouterr().out)
    assert body["md5"] == hashlib.md5(data).hexdigest()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["matches"] == []

    text = tmp_path / "notes.txt"
    text.write_bytes(b"hello, world")
    assert run("hash", str(text)) == 3
    assert "file" in capsys.readouterr().err


def test_dispute_opens_once_and_names_a_signal_the_caller_cannot_see(
    hub, cast, alice, signer_for, monkeypatch, capsys
):
    signal = listed_signal(alice, signer_for, "b8" * 16)
    monkeypatch.setenv("HASHFED_API_KEY", cast["lakeside/admin"].account.api_key)
    argv = ["dispute", "--signal", str(signal.pk), "--kind", "signal", "--grounds", "benign"]
    assert run(*argv) == 0
    dispute = json.loads(capsys.readouterr().out)
    assert (dispute["signal"], dispute["kind"], dispute["state"]) == (signal.pk, "signal", "open")
    assert Dispute.objects.get(public_id=dispute["id"]).grounds == "benign"

    assert run(*argv) == 3
    assert "error: 409" in capsys.readouterr().err
    missing = ["dispute", "--signal", "999999", "--kind", "signal", "--grounds", "benign"]
    assert run(*missing) == 3
    assert "signal: no such signal" in capsys.readouterr().err


def test_opinion_is_recorded_and_a_false_positive_needs_reasons(
    hub, cast, alice, signer_for, monkeypatch, capsys
):
    signal = listed_signal(alice, signer_for, "c9" * 16)
    monkeypatch.setenv("HASHFED_API_KEY", cast["lakeside/admin"].account.api_key)
    assert run("opinion", "--signal", str(signal.pk), "--kind", "true_positive") == 0
    assert json.loads(capsys.readouterr().out) == {"kind": "true_positive", "signal": signal.pk}
    assert Opinion.objects.get(signal=signal).kind == "true_positive"

    assert run("opinion", "--signal", str(signal.pk), "--kind", "false_positive") == 3
    assert "reasons" in capsys.readouterr().err
    assert Opinion.objects.get(signal=signal).kind == "true_positive"


def test_sync_takes_the_incident_from_the_disclosures_and_survives_its_erasure(
    hub, cast, signer_for, tmp_path, monkeypatch
):
    from django.utils import timezone

    from accounts.audit import AuditContext
    from federation.incidents.models import Incident
    from federation.incidents.services import incident_declare
    from hashbank.services.provenance import erase_disclosures

    incident_declare(
        incident=Incident(
            slug="flood-crisis", title="Flood", description="d", level=2, started_at=timezone.now()
        ),
        authorities=[],
        context=AuditContext.system(),
    )
    value = "e5" * 32
    submit(
        cast["northwind/analyst"],
        signer_for("northwind/admin").envelope(value=value, incident="flood-crisis"),
    )
    monkeypatch.setenv("HASHFED_API_KEY", cast["lakeside/analyst"].account.api_key)

    def synced(name: str) -> dict:
        out, state = tmp_path / f"{name}.ndjson", tmp_path / f"{name}.state.json"
        assert run("sync", "--out", str(out), "--state", str(state)) == 0
        [record] = [r for r in map(json.loads, out.read_text().splitlines()) if r["value"] == value]
        return record

    record = synced("before")
    assert record["incident"] == "flood-crisis"
    assert record["incident_commitment"]
    erase_disclosures(context=AuditContext.system(), incident="flood-crisis")
    again = synced("after")
    assert again["incident"] is None
    assert again["incident_commitment"] == record["incident_commitment"]
