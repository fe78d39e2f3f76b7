"""The origin hub's side of disputes across hubs: a peer hub opens disputes of hashes of the
banks shared with it, forwarded for its members, naming them by bank, type and value; it
reaches nothing else through the dispute API."""

from __future__ import annotations

import pytest

from hashbank.models import Dispute, Signal
from tests.conftest import approve_all, submit

PEER = "southern-hub/peer"


@pytest.fixture(autouse=True)
def hashes(cast, alice, signer_for):
    """One approved hash in TVEC (shared with peer hubs) and one in HATE (not shared)."""
    northwind = signer_for("northwind/admin")
    response = submit(alice, northwind.envelope(bank="TVEC"), northwind.envelope(bank="HATE"))
    assert response.status_code < 300, response.content
    approve_all()


def listed(bank: str) -> Signal:
    return Signal.objects.filter(bank__name=bank).exclude(status="removed").get()


def by_value(signal: Signal, **extra) -> dict:
    return {
        "bank": signal.bank.name,
        "signal_type": signal.signal_type,
        "value": signal.value,
        "kind": "signal",
        "grounds": "forwarded grounds",
        **extra,
    }


def test_a_peer_hub_disputes_a_shared_hash_by_value_and_follows_it(cast):
    peer = cast[PEER].client()
    signal = listed("TVEC")
    response = peer.post("/api/v1/disputes/", by_value(signal), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["opened_by"], body["bank"], body["value"]) == (
        "southern-hub",
        "TVEC",
        signal.value,
    )
    assert body["forwarded"] is None
    assert [d["id"] for d in peer.get("/api/v1/disputes/").json()["results"]] == [body["id"]]
    assert peer.get(f"/api/v1/disputes/{body['id']}/").status_code == 200
    # A second dispute of the same hash by the same peer: the open one stands.
    again = peer.post("/api/v1/disputes/", by_value(signal), format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "duplicate_dispute")
    # Appeals stay with the platforms that are parties at this hub.
    appeal = peer.post(f"/api/v1/disputes/{body['id']}/appeal/", {"grounds": "g"}, format="json")
    assert appeal.status_code == 403


def test_a_peer_hub_learns_nothing_of_banks_not_shared_with_it(cast, alice):
    peer = cast[PEER].client()
    hidden = listed("HATE")  # not shared with peer hubs
    answers = set()
    for body in (
        by_value(hidden),
        by_value(hidden, value="f" * 64),
        by_value(hidden, bank="NOPE"),
        {"signal": hidden.pk, "kind": "signal", "grounds": "g"},
        {"signal": 10**9, "kind": "signal", "grounds": "g"},
    ):
        response = peer.post("/api/v1/disputes/", body, format="json")
        assert response.status_code == 400
        answers.add(response.content)
    assert len(answers) == 1 and b'"signal"' in next(iter(answers))
    # Another organisation's disputes stay out of sight.
    theirs = alice.client().post("/api/v1/disputes/", by_value(hidden), format="json")
    assert theirs.status_code == 201
    assert peer.get(f"/api/v1/disputes/{theirs.json()['id']}/").status_code == 404
    assert peer.get("/api/v1/disputes/").json()["results"] == []
    assert not Dispute.objects.filter(opened_by__slug="southern-hub").exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"signal": 1}, "signal"),  # both ways at once
        ({"value": None}, "value"),
        ({"bank": None, "signal_type": None, "value": None}, "signal"),
    ],
)
def test_a_hash_is_named_one_way_or_the_other(cast, alice, change, field):
    body = {k: v for k, v in {**by_value(listed("TVEC")), **change}.items() if v is not None}
    response = alice.client().post("/api/v1/disputes/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_platform_may_name_the_hash_by_value_too(cast, alice):
    response = alice.client().post("/api/v1/disputes/", by_value(listed("TVEC")), format="json")
    assert response.status_code == 201
    assert response.json()["opened_by"] == "northwind"
