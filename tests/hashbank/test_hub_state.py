"""What the hub derives and keeps outside its database (the PDQ index, snapshots, its signing
key, the generated secret) belongs to that database alone: hubs sharing a state folder never
answer from each other's files, and a file bound to another database is refused."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from django.db import transaction

from accounts.hub_identity import HubStateMismatch, hub_id, hub_identity
from accounts.models import HubInstance
from hashbank.matching.matcher import MANIFEST, index_root, matcher, pdq_index_build
from hashbank.matching.pdq_index import hashes_from_hex
from hashbank.models import Signal
from tests.conftest import approve_all, submit

ROOT = Path(__file__).resolve().parents[2]

# One hub in its own process: migrate its database, list the given signals once, optionally
# build the PDQ index, answer the given lookups as Northwind, and report what it saw.
HUB = r"""
import json, sys
import django

django.setup()
from django.core.management import call_command
from django.test import Client

args = json.loads(sys.argv[1])
call_command("migrate", verbosity=0)
from accounts.demo import load_demo_cast
from accounts.hub_identity import hub_id, hub_identity
from accounts.models import Organisation
from hashbank.demo import demo_shared_list_load
from hashbank.matching.pdq_index import hashes_from_hex
from hashbank.matching.matcher import index_root, pdq_index_build
from hashbank.models import Bank, ChangeOp, Signal, SignalStatus
from hashbank.services.changelog import Change, changelog_append
from hashbank.services.lookup import lookup_batch

if not Organisation.objects.exists():
    load_demo_cast()
    demo_shared_list_load()
    tvec = Bank.objects.get(name="TVEC")
    for signal_type, value in args["signals"]:
        signal = Signal.objects.create(
            bank=tvec, signal_type=signal_type, value=value, status=SignalStatus.ACTIVE
        )
        changelog_append(changes=[Change(signal, ChangeOp.ADD)])
if args.get("build"):
    pdq_index_build()
northwind = Organisation.objects.get(slug="northwind")
answers = lookup_batch(
    organisation=northwind,
    items=[{"signal_type": t, "value": v} for t, v in args["lookups"]],
) if args["lookups"] else []
health = Client().get("/healthz")
try:
    key_id = hub_identity().key_id
except Exception as exc:
    key_id = f"refused: {exc}"
print(json.dumps({
    "hub_id": hub_id(),
    "signals": list(Signal.objects.order_by("pk").values_list("pk", "signal_type", "value")),
    "matches": [
        [(m["signal"], m["signal_type"], m["value"]) for m in a["matches"]] for a in answers
    ],
    "health": [health.status_code, health.json()],
    "key_id": key_id,
    "index_root": str(index_root()),
}))
"""

PDQ = "f0" * 32
MD5 = "ab" * 16


def run_hub(database: Path, state: Path, **args) -> dict:
    env = {
        name: value
        for name, value in os.environ.items()
        if name
        not in {
            "CELERY_BROKER_URL",
            "HUB_SIGNING_KEY_FILE",
            "MEDIA_ROOT",
            "PDQ_INDEX_DIR",
            "SECRET_KEY",
            "SECRET_KEY_FILE",
        }
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "federation.settings",
            "HUB_ENV": "development",
            "DATABASE_URL": f"sqlite:///{database}",
            "HUB_STATE_DIR": str(state),
            "LOG_LEVEL": "ERROR",
            **args.pop("env", {}),
        }
    )
    payload = {"signals": [], "lookups": [], **args}
    result = subprocess.run(
        [sys.executable, "-c", HUB, json.dumps(payload)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_two_hubs_sharing_a_state_folder_never_see_each_others_matches(tmp_path):
    state = tmp_path / "state"
    a_db, b_db = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    secret_a = {"SECRET_KEY": "a" * 50}
    secret_b = {"SECRET_KEY": "b" * 50}
    a = run_hub(
        a_db, state, signals=[["pdq", PDQ]], build=True, lookups=[["pdq", PDQ]], env=secret_a
    )
    assert a["matches"] == [[[a["signals"][0][0], "pdq", PDQ]]]

    # Hub B's signal has the id hub A's PDQ signal has in A's index: an index shared through
    # the state folder would answer B's PDQ query with B's MD5 signal.
    b = run_hub(
        b_db, state, signals=[["md5", MD5]], lookups=[["pdq", PDQ], ["md5", MD5]], env=secret_b
    )
    assert b["signals"][0][0] == a["signals"][0][0]
    assert b["hub_id"] != a["hub_id"]
    assert b["matches"] == [[], [[b["signals"][0][0], "md5", MD5]]]
    assert b["index_root"] != a["index_root"]

    # Hub B built its own index and left A's alone; A still answers from its own.
    again = run_hub(a_db, state, lookups=[["pdq", PDQ], ["md5", MD5]], env=secret_a)
    assert again["matches"] == [[[a["signals"][0][0], "pdq", PDQ]], []]
    assert again["index_root"] == a["index_root"]

    # Each generated its own signing key, and both are healthy.
    assert a["key_id"] != b["key_id"]
    assert len(a["key_id"]) == len(b["key_id"]) == 64
    assert a["health"][0] == b["health"][0] == 200
    assert (state / "hubs" / a["hub_id"] / "hub-ed25519.pem").exists()
    assert (state / "hubs" / b["hub_id"] / "hub-ed25519.pem").exists()


def test_a_generated_secret_bound_to_another_database_is_refused(tmp_path):
    state = tmp_path / "state"
    a = run_hub(tmp_path / "a.sqlite3", state)
    b = run_hub(tmp_path / "b.sqlite3", state)
    assert a["health"][0] == 200
    assert b["health"][0] == 503
    assert a["hub_id"] in b["health"][1]["checks"]["hub_state"]
    assert "generated secret" in b["health"][1]["checks"]["hub_state"]
    assert b["key_id"].startswith("refused: ")
    # The hub that generated it keeps working.
    assert run_hub(tmp_path / "a.sqlite3", state)["health"][0] == 200


@pytest.fixture
def listed(alice, signer_for):
    signer = signer_for("northwind/admin")
    submit(alice, signer.envelope(value=PDQ), signer.envelope(signal_type="md5", value=MD5))
    approve_all()
    return Signal.objects.get(signal_type="pdq", value=PDQ)


def pdq_lookup(actor, value=PDQ):
    response = actor.client().post(
        "/api/v1/lookup/", {"queries": [{"signal_type": "pdq", "value": value}]}, format="json"
    )
    assert response.status_code == 200
    matches = response.json()["results"][0]["matches"]
    return [(m["signal"], m["signal_type"], m["value"]) for m in matches]


def current_generation() -> Path:
    return (index_root() / "current").resolve()


def rewrite_manifest(generation: Path, **changes) -> None:
    manifest = json.loads((generation / MANIFEST).read_text())
    manifest.update(changes)
    (generation / MANIFEST).write_text(json.dumps(manifest))


def test_the_index_lives_under_the_databases_hub_id(db, settings):
    built = pdq_index_build()
    assert built.parent == Path(settings.PDQ_INDEX_DIR) / hub_id()
    manifest = json.loads((built / MANIFEST).read_text())
    assert manifest["hub_id"] == hub_id()


def test_an_index_built_after_another_change_log_is_rebuilt(bob, listed, caplog):
    stale = pdq_index_build()
    # As a database restored from another history: the same position, another entry there.
    rewrite_manifest(stale, leaf_hash_before="0" * 64)
    matcher().reset()
    with caplog.at_level(logging.WARNING):
        assert pdq_lookup(bob) == [(listed.pk, "pdq", PDQ)]
    assert current_generation() != stale
    assert "rebuilding" in caplog.text


def test_an_index_whose_position_is_beyond_the_log_is_rebuilt(bob, listed):
    stale = pdq_index_build()
    rewrite_manifest(stale, up_to_sequence=10_000)
    matcher().reset()
    assert pdq_lookup(bob) == [(listed.pk, "pdq", PDQ)]
    assert current_generation() != stale


def test_an_index_built_for_another_hub_is_rebuilt(bob, listed):
    stale = pdq_index_build()
    rewrite_manifest(stale, hub_id=str(uuid.uuid4()))
    matcher().reset()
    assert pdq_lookup(bob) == [(listed.pk, "pdq", PDQ)]
    assert current_generation() != stale


def test_a_database_replaced_under_a_running_matcher_is_not_searched_with_the_old_index(
    bob, listed
):
    assert pdq_lookup(bob) == [(listed.pk, "pdq", PDQ)]
    old_root = index_root()
    # The process keeps its matcher; the database under it now belongs to another hub.
    HubInstance.objects.update(hub_id=uuid.uuid4())
    assert pdq_lookup(bob) == [(listed.pk, "pdq", PDQ)]
    assert index_root() != old_root
    assert (index_root() / "current").exists()


def test_a_hit_whose_row_is_no_longer_that_pdq_hash_is_dropped_and_the_index_rebuilt(
    bob, listed, caplog
):
    assert pdq_lookup(bob) == [(listed.pk, "pdq", PDQ)]
    loaded = current_generation()
    # The row under the id the index holds is no longer the hash the index holds (what an
    # index from another database looks like from here).
    Signal.objects.filter(pk=listed.pk).update(signal_type="md5", value="cd" * 16)
    with caplog.at_level(logging.WARNING):
        assert pdq_lookup(bob) == []
    assert "does not confirm" in caplog.text
    assert current_generation() != loaded
    assert pdq_lookup(bob) == []


def test_a_hit_beyond_the_distance_recomputed_from_the_row_is_dropped(bob, listed, caplog):
    assert pdq_lookup(bob) == [(listed.pk, "pdq", PDQ)]
    Signal.objects.filter(pk=listed.pk).update(value="0f" * 32)
    with caplog.at_level(logging.WARNING):
        assert pdq_lookup(bob) == []
    assert "does not confirm" in caplog.text


def test_a_hit_on_a_signal_the_database_does_not_hold_is_dropped(bob, listed, caplog):
    assert pdq_lookup(bob) == [(listed.pk, "pdq", PDQ)]
    # The loaded index answers an id no row has.
    matcher()._index.add(hashes_from_hex(["e1" * 32]), np.array([listed.pk + 10_000]))
    with caplog.at_level(logging.WARNING):
        assert pdq_lookup(bob, "e1" * 32) == []
    assert "does not confirm" in caplog.text


def test_the_hub_key_bound_to_another_database_is_refused(db, tmp_path, settings, anonymous):
    key = tmp_path / "shared" / "hub.pem"
    settings.HUB_SIGNING_KEY_FILE = key
    # Another database's hub used this key file first.
    run_hub(
        tmp_path / "other.sqlite3",
        tmp_path / "other-state",
        env={"HUB_SIGNING_KEY_FILE": str(key), "SECRET_KEY": "o" * 50},
    )
    hub_identity.cache_clear()
    with pytest.raises(HubStateMismatch, match="belongs to hub"):
        hub_identity()
    health = anonymous.get("/healthz")
    assert health.status_code == 503
    assert "belongs to hub" in health.json()["checks"]["hub_state"]
    refused = anonymous.get("/.well-known/hashfed")
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "hub_state_mismatch"


def test_a_key_file_replaced_after_binding_is_refused(db, tmp_path, settings, anonymous):
    key = tmp_path / "hub.pem"
    settings.HUB_SIGNING_KEY_FILE = key
    hub_identity.cache_clear()
    bound = hub_identity().key_id
    assert HubInstance.objects.get().signing_key_id == bound
    key.unlink()
    hub_identity.cache_clear()
    with pytest.raises(HubStateMismatch, match="not the one"):
        hub_identity()
    assert anonymous.get("/healthz").status_code == 503


def test_healthz_checks_the_witness_key_as_the_hub_key(
    db, tmp_path, settings, anonymous, django_capture_on_commit_callbacks
):
    """The witness key (cosigning peers' checkpoints) must be usable and bound to this
    database: a replaced file, another database's file or a file that holds no key makes the
    hub unready, as for the hub key."""
    from accounts.hub_identity import witness_key

    key = tmp_path / "witness.pem"
    settings.HUB_WITNESS_KEY_FILE = key
    with django_capture_on_commit_callbacks(execute=True):
        health = anonymous.get("/healthz")
    assert health.status_code == 200, health.content
    assert health.json()["checks"]["witness_key"] == "ok"
    bound = HubInstance.objects.get().witness_key_id
    assert bound and key.exists()
    assert witness_key().verifier_key
    # The file replaced under the running hub (the cache would still hold the old key).
    key.unlink()
    health = anonymous.get("/healthz")
    assert health.status_code == 503
    assert "not the one" in health.json()["checks"]["witness_key"]
    assert health.json()["checks"]["hub_state"] == "ok"
    # A file that holds no key.
    key.write_text("not a key")
    health = anonymous.get("/healthz")
    assert health.status_code == 503
    assert "not usable" in health.json()["checks"]["witness_key"]
    # Another database's witness key file.
    other = tmp_path / "shared" / "witness.pem"
    run_hub(
        tmp_path / "other.sqlite3",
        tmp_path / "other-state",
        env={"HUB_WITNESS_KEY_FILE": str(other), "SECRET_KEY": "o" * 50},
    )
    settings.HUB_WITNESS_KEY_FILE = other
    HubInstance.objects.update(witness_key_id="")
    health = anonymous.get("/healthz")
    assert health.status_code == 503
    assert "belongs to hub" in health.json()["checks"]["witness_key"]


def test_a_generated_secret_is_bound_at_first_use_and_kept(
    db, tmp_path, settings, anonymous, django_capture_on_commit_callbacks
):
    secret = tmp_path / "secret-key"
    secret.write_text(settings.SECRET_KEY)
    settings.DEVELOPMENT_SECRET_FILE = secret
    # The owner file is written when the binding's transaction commits.
    with django_capture_on_commit_callbacks(execute=True):
        assert anonymous.get("/healthz").status_code == 200
    assert HubInstance.objects.get().secret_key_fingerprint
    assert (tmp_path / "secret-key.hub-id").read_text().strip() == hub_id()
    settings.SECRET_KEY = "another generated secret " * 3
    health = anonymous.get("/healthz")
    assert health.status_code == 503
    assert "generated secret" in health.json()["checks"]["hub_state"]


def test_a_snapshot_file_another_hub_wrote_is_not_served(bob, listed, settings):
    from hashbank.services.snapshots import snapshot_directory, snapshots_create

    snapshot = next(s for s in snapshots_create() if s.bank.name == "TVEC")
    path = snapshot_directory() / snapshot.file_name
    assert path.parent.name == hub_id()
    ok = bob.client().get(f"/api/v1/sync/snapshots/{snapshot.pk}/download/")
    assert ok.status_code == 200
    path.write_bytes(b"another hub's list")
    refused = bob.client().get(f"/api/v1/sync/snapshots/{snapshot.pk}/download/")
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"


def test_a_binding_rolled_back_leaves_the_key_file_unclaimed(db, tmp_path, settings):
    """A hub row created, and a key bound, inside a transaction that rolls back (a request
    killed mid-way) must not leave the key file claimed for a hub the database never kept:
    the hub created next binds the same file."""
    key = tmp_path / "hub.pem"
    settings.HUB_SIGNING_KEY_FILE = key
    HubInstance.objects.all().delete()
    hub_identity.cache_clear()

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), transaction.atomic():
        lost = hub_id()
        hub_identity()
        raise RolledBack
    assert not HubInstance.objects.exists()
    assert key.exists() and not (tmp_path / "hub.pem.hub-id").exists()
    hub_identity.cache_clear()
    assert hub_id() != lost
    bound = hub_identity().key_id
    assert HubInstance.objects.get().signing_key_id == bound
