"""The origin hub's side of disputes across hubs: a peer hub opens disputes of hashes of the
banks shared with it, forwarded for its members, naming them by bank, type and value; it
reaches nothing else through the dispute API."""

from __future__ import annotations

import pytest
from django.db import connection

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


def test_a_peer_hub_follows_its_dispute_through_an_appeal_and_no_one_else_reads_it(
    cast, alice, bob
):
    """The forwarding hub reads whether its dispute is final and how an appeal went;
    another peer hub and a member that is no party read nothing of it."""
    from accounts import services as account_services
    from accounts.audit import AuditContext
    from accounts.models import Organisation, User
    from hashbank.services import dispute_decide, dispute_decide_appeal

    peer = cast[PEER].client()
    opened = peer.post("/api/v1/disputes/", by_value(listed("TVEC")), format="json").json()
    url = f"/api/v1/disputes/{opened['id']}/"
    assert (opened["final"], opened["appealable_until"]) == (False, None)
    dispute = Dispute.objects.get(public_id=opened["id"])
    dispute_decide(
        dispute=dispute,
        outcome="upheld",
        reason="it is",
        reviewer=User.objects.get(email="moderator@consortium.example"),
        context=AuditContext.system(),
    )
    seen = peer.get(url).json()
    assert (seen["state"], seen["outcome"], seen["final"]) == ("decided", "upheld", False)
    assert seen["appealable_until"]
    # The member whose submission lists the hash appeals; the peer sees it pending.
    appeal = alice.client().post(f"{url}appeal/", {"grounds": "look again"}, format="json")
    assert appeal.status_code == 200, appeal.content
    seen = peer.get(url).json()
    assert (seen["state"], seen["final"], seen["appealable_until"]) == ("appealed", False, None)
    dispute_decide_appeal(
        dispute=dispute,
        outcome="overturned",
        reason="satire",
        reviewer=User.objects.get(email="governance@consortium.example"),
        context=AuditContext.system(),
    )
    seen = peer.get(url).json()
    assert (seen["state"], seen["appeal_outcome"], seen["appeal_reason"], seen["final"]) == (
        "closed",
        "overturned",
        "satire",
        True,
    )

    # Another peer hub, and a member that neither disputes nor supports the hash.
    northern = Organisation.objects.create(
        slug="northern-hub", name="Northern Hub", kind="peer_hub", country="NO", status="active"
    )
    _, secret = account_services.api_key_issue(
        organisation=northern,
        name="forwarding",
        role="peer",
        scope="read_write",
        expires_at=None,
        context=AuditContext.system(),
    )
    from rest_framework.test import APIClient

    other_peer = APIClient()
    other_peer.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    for outsider in (other_peer, bob.client()):
        assert outsider.get(url).status_code == 404
        listed_there = outsider.get("/api/v1/disputes/").json()["results"]
        assert opened["id"] not in [d["id"] for d in listed_there]
        refused = outsider.post(f"{url}appeal/", {"grounds": "g"}, format="json")
        assert refused.status_code in (403, 404)


# This hub's side: the forwarding run calls the origin with no lock held.


@pytest.fixture
def forwarded(cast):
    """A member's dispute of a hash received from Southern Hub, waiting to be forwarded."""
    import datetime as dt

    from django.utils import timezone

    from accounts.models import Organisation
    from federation.peering.forwarding import disputes_to_forward
    from federation.peering.models import PeeringAgreement, ReceivedBank
    from hashbank.models import Bank
    from tests.hashbank.test_transparency_log import append, make_signals

    agreement = PeeringAgreement.objects.create(
        organisation=Organisation.objects.get(slug="southern-hub"),
        origin="southern.example",
        base_url="https://southern.example",
        public_key="-",
        pull_credential="secret",
    )
    bank = Bank.objects.create(
        name="S-TVEC", title="TVEC of Southern", purpose="received", origin_hub="southern.example"
    )
    ReceivedBank.objects.create(agreement=agreement, remote_name="TVEC", bank=bank)
    (signal,) = make_signals("S-TVEC", 1)
    append([signal])
    Dispute.objects.create(
        signal=signal,
        opened_by=Organisation.objects.get(slug="northwind"),
        kind="signal",
        grounds="a family photo",
        deadline=timezone.now() + dt.timedelta(days=7),
    )
    (made,) = disputes_to_forward()
    return made


class FakeOrigin:
    """The origin hub's dispute API, answering in process; `during` runs inside each call,
    as something else would happen while this hub waits for the origin."""

    def __init__(self, monkeypatch):
        from federation.peering import forwarding
        from federation.peering.services import PeerApi

        self.posts = 0
        self.gets = 0
        self.inside_transaction: list[bool] = []
        self.during = lambda call: None
        monkeypatch.setattr(forwarding, "peer_post", self.post)
        monkeypatch.setattr(PeerApi, "json", self.json)

    def post(self, agreement, path, body, expect):
        self.posts += 1
        self.inside_transaction.append(connection.in_atomic_block)
        self.during(self.posts)
        return 201, {"id": f"remote-{self.posts}"}

    def json(self, path, query=None):
        self.gets += 1
        self.inside_transaction.append(connection.in_atomic_block)
        return {"state": "open"}


def _row_is_locked(pk: int) -> bool:
    """From another connection: whether the row is locked now (PostgreSQL)."""
    import threading

    from django.db import DatabaseError, transaction

    from federation.peering.models import ForwardedDispute

    found: list[bool] = []

    def attempt() -> None:
        try:
            with transaction.atomic():
                ForwardedDispute.objects.select_for_update(nowait=True).get(pk=pk)
            found.append(False)
        except DatabaseError:
            found.append(True)
        finally:
            connection.close()

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join()
    return found[0]


@pytest.mark.django_db(transaction=True)
def test_the_origin_is_called_outside_any_transaction_and_a_concurrent_run_leaves_it(
    forwarded, monkeypatch
):
    from federation.peering.forwarding import forwarded_dispute_advance
    from federation.peering.models import ForwardedDispute

    origin = FakeOrigin(monkeypatch)
    seen: dict[str, object] = {}

    def during(call: int) -> None:
        if call > 1:
            return
        if connection.vendor == "postgresql":
            seen["locked"] = _row_is_locked(forwarded.pk)
        # Another run meanwhile: the step is leased, it calls nothing and changes nothing.
        seen["other run"] = forwarded_dispute_advance(forwarded)

    origin.during = during
    assert forwarded_dispute_advance(forwarded) == "forwarded"
    assert origin.inside_transaction and not any(origin.inside_transaction)
    assert seen["other run"] == "pending"
    assert seen.get("locked", False) is False
    assert origin.posts == 1
    row = ForwardedDispute.objects.get(pk=forwarded.pk)
    assert (row.state, row.remote_id, row.lease_token, row.leased_until) == (
        "forwarded",
        "remote-1",
        "",
        None,
    )


@pytest.mark.django_db(transaction=True)
def test_a_run_that_took_over_an_expired_lease_and_recorded_first_wins(forwarded, monkeypatch):
    from django.utils import timezone

    from federation.peering.forwarding import forwarded_dispute_advance
    from federation.peering.models import ForwardedDispute

    origin = FakeOrigin(monkeypatch)

    def during(call: int) -> None:
        if call == 1:
            # The first run is slow: its lease expires and another run takes the step over.
            ForwardedDispute.objects.filter(pk=forwarded.pk).update(leased_until=timezone.now())
            assert forwarded_dispute_advance(forwarded) == "forwarded"

    origin.during = during
    # The slower answer is dropped; the run goes on from where the other left the row.
    assert forwarded_dispute_advance(forwarded) == "forwarded"
    assert origin.posts == 2
    row = ForwardedDispute.objects.get(pk=forwarded.pk)
    assert (row.state, row.remote_id, row.lease_token, row.last_error) == (
        "forwarded",
        "remote-2",
        "",
        "",
    )
