"""Two hubs: hub B (this test's Django) witnesses hub A's log and A serves B's cosignature;
a member of B disputes a hash that came from A, B forwards it, A decides, B applies."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client
from hashfed_client.verify import CheckpointPolicy

from accounts.hub_identity import witness_key
from federation.peering.forwarding import forwarded_disputes_advance
from federation.peering.models import ForwardedDispute, ReceivedBank, WitnessedLog
from federation.peering.witnessing import peer_logs_witness
from hashbank.models import ChangeLogEntry, Dispute, Signal
from hashfed_wire import note
from tests.conftest import sign_in
from tests.peering.test_pull import agreement_with, pulled, receive


def call_on(hub, function: str, **kwargs: Any) -> Any:
    """`tests.peering.on_hub_cross.<function>(**kwargs)` inside hub A's process."""
    arguments = f"**json.loads({json.dumps(kwargs)!r})"
    code = (
        "import json; from tests.peering import on_hub_cross; "
        f"print('\\n@@' + json.dumps(on_hub_cross.{function}({arguments})))"
    )
    return json.loads(hub.manage("shell", "-c", code).rsplit("\n@@", 1)[1])


def with_writer_key(hub_a):
    agreement = agreement_with(hub_a)
    agreement.pull_credential = call_on(hub_a, "peer_writer_key", peer_slug="hub-b")
    agreement.save()
    return agreement


def test_b_cosigns_a_checkpoints_and_a_serves_the_cosignature_to_its_members(hub_a, cast):
    hub_a.call("publish", bank="TVEC", count=3)
    agreement = with_writer_key(hub_a)
    receive(agreement, "TVEC")
    ours = witness_key()
    call_on(
        hub_a,
        "configure_witness",
        peer_slug="hub-b",
        name=ours.name,
        verifier_key=ours.verifier_key,
        banks=["TVEC"],
    )
    assert peer_logs_witness() == {"hub-a.test/banks/TVEC": "cosigned"}
    a_key = note.parse_verifier_key(hub_a.peer["vkey"])
    served = call_on(hub_a, "checkpoint", bank="TVEC")
    # A member of A requiring B's cosignature accepts A's checkpoint.
    opened = CheckpointPolicy(a_key, [ours.verifier], threshold=1).open(served, "TVEC")
    assert opened.checkpoint.size == 3

    # A grows; B's next run proves consistency from 3 and cosigns the new size.
    hub_a.call("publish", bank="TVEC", count=2)
    assert peer_logs_witness() == {"hub-a.test/banks/TVEC": "cosigned"}
    assert WitnessedLog.objects.get().size == 5
    served = call_on(hub_a, "checkpoint", bank="TVEC")
    assert CheckpointPolicy(a_key, [ours.verifier], 1).open(served, "TVEC").checkpoint.size == 5

    # A forks its log (a split view): B refuses to cosign and says why.
    hub_a.call("fork_latest_checkpoint", bank="TVEC")
    outcome = peer_logs_witness()["hub-a.test/banks/TVEC"]
    assert outcome.startswith("SizeConflict"), outcome
    assert WitnessedLog.objects.get().size == 5


def test_a_member_of_b_disputes_a_hash_from_a_which_decides_and_b_applies(
    hub_a, cast, alice, bob, mailoutbox, django_capture_on_commit_callbacks
):
    values = hub_a.call("publish", bank="TVEC", count=3)
    agreement = with_writer_key(hub_a)
    received = receive(agreement, "TVEC")
    assert pulled(received).error == ""
    local = ReceivedBank.objects.get(pk=received.pk).bank
    disputed, kept = (Signal.objects.get(bank=local, value=v) for v in values[:2])

    member = alice.client()
    opened = member.post(
        "/api/v1/disputes/",
        {"signal": disputed.pk, "kind": "signal", "grounds": "a family photo", "evidence": "e"},
        format="json",
    )
    assert opened.status_code == 201, opened.content
    rejected = member.post(
        "/api/v1/disputes/",
        {"signal": kept.pk, "kind": "signal", "grounds": "not harmful"},
        format="json",
    )
    assert rejected.status_code == 201
    assert opened.json()["forwarded"] is None  # not forwarded yet
    # Another member of B disputes the same hash: A gets one dispute of it from B.
    also = bob.client().post(
        "/api/v1/disputes/",
        {"signal": disputed.pk, "kind": "signal", "grounds": "seen elsewhere"},
        format="json",
    )
    assert also.status_code == 201

    outcomes = forwarded_disputes_advance()
    assert set(outcomes.values()) == {"forwarded"}, outcomes
    # Forwarding again sends nothing twice.
    forwarded_disputes_advance()
    listed_at_a = call_on(hub_a, "disputes")
    at_a = {d["value"]: d for d in listed_at_a}
    assert len(listed_at_a) == 2 and set(at_a) == {disputed.value, kept.value}
    # A knows only that hub B disputes it, and what B chose to send.
    assert {d["opened_by"] for d in at_a.values()} == {"hub-b"}
    # The first of B's disputes of a hash to go carries its grounds; the other follows it.
    assert at_a[disputed.value]["grounds"] in ("a family photo", "seen elsewhere")
    assert at_a[kept.value]["grounds"] == "not harmful"
    assert "northwind" not in json.dumps(list(at_a.values()))
    view = member.get(f"/api/v1/disputes/{opened.json()['id']}/").json()
    assert view["forwarded"]["state"] == "forwarded"
    assert view["forwarded"]["origin_hub"] == "hub-a.test"

    # Not decided at A yet: nothing changes at B.
    forwarded_disputes_advance()
    assert Dispute.objects.get(public_id=opened.json()["id"]).state == "open"

    call_on(
        hub_a,
        "decide",
        dispute_id=at_a[disputed.value]["id"],
        outcome="overturned",
        reason="not the harm listed",
    )
    call_on(hub_a, "decide", dispute_id=at_a[kept.value]["id"], outcome="upheld", reason="it is")
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = forwarded_disputes_advance()
    # Applied, and followed on while the decisions may still be appealed at A.
    assert set(outcomes.values()) == {"following"}, outcomes
    # The member is told of both decisions, as for a decision made here.
    told = [m for m in mailoutbox if "admin@northwind.example" in m.to]
    assert any("overturned" in m.body for m in told) and any("upheld" in m.body for m in told)

    overturned = member.get(f"/api/v1/disputes/{opened.json()['id']}/").json()
    assert (overturned["state"], overturned["outcome"]) == ("decided", "overturned")
    assert "hub-a.test" in overturned["decision_reason"]
    assert overturned["forwarded"]["state"] == "following"
    assert overturned["forwarded"]["origin_outcome"] == "overturned"
    disputed.refresh_from_db()
    assert disputed.status == "removed"
    removal = ChangeLogEntry.objects.filter(bank=local, op="remove").get()
    assert disputed.value.encode() in bytes(removal.entry)
    upheld = member.get(f"/api/v1/disputes/{rejected.json()['id']}/").json()
    assert (upheld["state"], upheld["outcome"]) == ("decided", "upheld")
    kept.refresh_from_db()
    assert kept.status == "active"
    # The member's next sync shows the removal.
    page = member.get("/api/v1/sync/?cursor=0&limit=1000").json()
    removed = [e for e in page["entries"] if e["op"] == "remove"]
    assert [e["value"] for e in removed] == [disputed.value]
    # The member's portal says where the dispute went.
    portal = sign_in(Client(), alice.user).get("/portal/organisations/northwind/disputes/")
    assert "Forwarded to hub-a.test, the hub this hash came from" in portal.content.decode()
    # Running again changes nothing while A's decisions stand.
    assert set(forwarded_disputes_advance().values()) == {"following"}
    assert ForwardedDispute.objects.filter(state="following").count() == 3
    assert ChangeLogEntry.objects.filter(bank=local, op="remove").count() == 1
    # The appeal windows at A pass: the decisions are final, and B stops following.
    for remote in at_a.values():
        call_on(hub_a, "close_appeal_window", dispute_id=remote["id"])
    assert set(forwarded_disputes_advance().values()) == {"applied"}
    assert forwarded_disputes_advance() == {}
    assert ForwardedDispute.objects.filter(state="applied").count() == 3
    second = Dispute.objects.get(public_id=also.json()["id"])
    assert (second.state, second.outcome) == ("decided", "overturned")


def test_an_unreachable_origin_is_recorded_and_retried(hub_a, cast, alice):
    values = hub_a.call("publish", bank="TVEC", count=1)
    agreement = with_writer_key(hub_a)
    received = receive(agreement, "TVEC")
    assert pulled(received).error == ""
    signal = Signal.objects.get(bank=received.bank, value=values[0])
    response = alice.client().post(
        "/api/v1/disputes/",
        {"signal": signal.pk, "kind": "signal", "grounds": "wrong"},
        format="json",
    )
    assert response.status_code == 201
    hub_a.stop()
    outcome = next(iter(forwarded_disputes_advance().values()))
    assert outcome.startswith("PeerUnavailable")
    forwarded = ForwardedDispute.objects.get()
    assert (forwarded.state, forwarded.last_error) == ("pending", outcome)
    hub_a.start()
    agreement.base_url = hub_a.url
    agreement.save()
    assert list(forwarded_disputes_advance().values()) == ["forwarded"]
    forwarded.refresh_from_db()
    assert forwarded.last_error == "" and forwarded.remote_id
    # A run interrupted after A opened the dispute but before B recorded it: the next run
    # finds B's open dispute of the hash at A (A answers 409) and follows it.
    first_id = forwarded.remote_id
    ForwardedDispute.objects.filter(pk=forwarded.pk).update(
        state="pending", remote_id="", forwarded_at=None
    )
    assert list(forwarded_disputes_advance().values()) == ["forwarded"]
    forwarded.refresh_from_db()
    assert forwarded.remote_id == first_id
    assert len(call_on(hub_a, "disputes")) == 1


def test_an_appeal_decided_at_a_after_b_applied_the_first_decision_is_followed(
    hub_a, cast, alice, mailoutbox, django_capture_on_commit_callbacks
):
    """A upholds, B applies it; a party at A appeals and A overturns on appeal: B takes the
    hash off (a remove entry in its log), closes the member's dispute with the appeal's
    outcome and tells the member, then stops following."""
    values = hub_a.call("publish", bank="TVEC", count=1)
    agreement = with_writer_key(hub_a)
    received = receive(agreement, "TVEC")
    assert pulled(received).error == ""
    local = ReceivedBank.objects.get(pk=received.pk).bank
    signal = Signal.objects.get(bank=local, value=values[0])
    member = alice.client()
    opened = member.post(
        "/api/v1/disputes/",
        {"signal": signal.pk, "kind": "signal", "grounds": "a family photo"},
        format="json",
    )
    assert opened.status_code == 201, opened.content
    url = f"/api/v1/disputes/{opened.json()['id']}/"
    assert list(forwarded_disputes_advance().values()) == ["forwarded"]
    (remote,) = call_on(hub_a, "disputes")
    call_on(hub_a, "decide", dispute_id=remote["id"], outcome="upheld", reason="it is")
    with django_capture_on_commit_callbacks(execute=True):
        assert list(forwarded_disputes_advance().values()) == ["following"]
    first = member.get(url).json()
    assert (first["state"], first["outcome"]) == ("decided", "upheld")
    signal.refresh_from_db()
    assert signal.status == "active"
    told = [m.body for m in mailoutbox if "admin@northwind.example" in m.to]
    assert any("Decision: upheld" in body for body in told)
    assert not any("Appeal decision" in body for body in told)

    # At A, the member whose submission lists the hash appeals; the appeal is pending.
    assert (
        call_on(
            hub_a, "appeal", dispute_id=remote["id"], organisation="northwind", grounds="look again"
        )
        == "appealed"
    )
    assert list(forwarded_disputes_advance().values()) == ["following"]
    assert member.get(url).json()["state"] == "decided"
    # Another reviewer at A overturns on appeal: B follows.
    call_on(hub_a, "decide_appeal", dispute_id=remote["id"], outcome="overturned", reason="satire")
    with django_capture_on_commit_callbacks(execute=True):
        assert list(forwarded_disputes_advance().values()) == ["applied"]
    closed = member.get(url).json()
    assert (closed["state"], closed["outcome"], closed["appeal_outcome"]) == (
        "closed",
        "upheld",
        "overturned",
    )
    assert "hub-a.test" in closed["appeal_reason"] and "satire" in closed["appeal_reason"]
    assert closed["forwarded"]["state"] == "applied"
    assert closed["forwarded"]["origin_appeal_outcome"] == "overturned"
    signal.refresh_from_db()
    assert signal.status == "removed"
    removal = ChangeLogEntry.objects.filter(bank=local, op="remove").get()
    assert signal.value.encode() in bytes(removal.entry)
    page = member.get("/api/v1/sync/?cursor=0&limit=1000").json()
    assert [e["value"] for e in page["entries"] if e["op"] == "remove"] == [signal.value]
    told = [m.body for m in mailoutbox if "admin@northwind.example" in m.to]
    assert any("Appeal decision: overturned" in body for body in told)
    # Final at A: B stops following.
    assert forwarded_disputes_advance() == {}
