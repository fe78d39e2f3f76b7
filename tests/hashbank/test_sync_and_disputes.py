"""End to end: platforms sign and submit, staff moderate, another platform syncs and holds
exactly the approved list; disputes overturn and relabel, and the next sync follows."""

import datetime as dt
import gzip
import json

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accounts.audit import AuditContext
from accounts.hub_identity import hub_identity
from accounts.models import User
from hashbank.models import ChangeLogEntry, Signal, Submission
from hashbank.services import dispute_decide, dispute_decide_appeal, submission_reject
from hashbank.services.changelog import leaf_hash
from hashbank.services.snapshots import snapshots_create
from hashfed_wire.hub_signatures import snapshot_signed_message
from tests.conftest import approve_all, sign_in, submit


def sync_all(actor, cursor=0, limit=3, state=None):
    """A member's client: applies pages in order until it reaches the head."""
    state = {} if state is None else state
    while True:
        page = actor.client().get(f"/api/v1/sync/?cursor={cursor}&limit={limit}").json()
        for entry in page["entries"]:
            key = (entry["bank"], entry["signal_type"], entry["value"])
            if entry["op"] == "remove":
                state.pop(key, None)
            else:
                state[key] = entry
        cursor = page["next_cursor"]
        if cursor >= page["head"]:
            return state, cursor


def hub_list(banks=("TVEC", "HATE")):
    return {
        (s.bank.name, s.signal_type, s.value)
        for s in Signal.objects.filter(bank__name__in=banks).exclude(status="removed")
    }


def staff(email="moderator@consortium.example"):
    user = User.objects.get(email=email)
    return user, AuditContext(user=user)


def test_a_third_platform_syncs_exactly_the_approved_list(cast, alice, signer_for):
    analyst = cast["northwind/analyst"]
    northwind = signer_for("northwind/admin")
    pebble_like = cast["lakeside/analyst"]
    lakeside = signer_for("lakeside/admin")
    keep = [northwind.envelope() for _ in range(4)]
    drop = [northwind.envelope() for _ in range(2)]
    submit(analyst, *keep, *drop)
    submit(pebble_like, lakeside.envelope(bank="HATE", labels=["hate-dehumanisation"]))
    _moderator, context = staff()
    for envelope in drop:
        submission = Submission.objects.get(submission_id=envelope["payload"]["id"])
        submission_reject(submission=submission, reason="not violating", context=context)
    approve_all("northwind")
    # A third platform: the associate Pebble reads only banks open to all members (HATE);
    # a full member reads TVEC and HATE.
    viewer = cast["northwind/viewer"]
    state, _ = sync_all(viewer)
    assert set(state) == hub_list()
    assert len(state) == 5
    pebble_state, _ = sync_all(cast["pebble/admin"])
    assert set(pebble_state) == hub_list(banks=("HATE",))


def test_an_overturned_dispute_disappears_at_the_next_sync_and_a_relabel_changes_labels(
    cast, alice, bob, signer_for, mailoutbox, django_capture_on_commit_callbacks
):
    northwind = signer_for("northwind/admin")
    first, second = northwind.envelope(), northwind.envelope()
    submit(alice, first, second)
    approve_all()
    state, cursor = sync_all(bob)
    assert len(state) == 2
    signals = {s.value: s for s in Signal.objects.all()}
    wrong = signals[first["payload"]["value"]]
    mislabelled = signals[second["payload"]["value"]]

    with django_capture_on_commit_callbacks(execute=True):
        opened = bob.client().post(
            "/api/v1/disputes/",
            {
                "signal": wrong.pk,
                "kind": "signal",
                "grounds": "This is a news report.",
                "evidence": "Broadcast by a public broadcaster.",
            },
            format="json",
        )
    assert opened.status_code == 201, opened.content
    relabel = bob.client().post(
        "/api/v1/disputes/",
        {
            "signal": mislabelled.pk,
            "kind": "labels",
            "grounds": "Recruitment, not glorification",
            "proposed_labels": ["tvec-recruitment"],
        },
        format="json",
    )
    assert relabel.status_code == 201
    state, cursor = sync_all(bob, cursor, state=state)
    assert {e["status"] for e in state.values()} == {"disputed"}

    moderator, context = staff()
    with django_capture_on_commit_callbacks(execute=True):
        dispute_decide(
            dispute=wrong.disputes.get(),
            outcome="overturned",
            reason="News use.",
            reviewer=moderator,
            context=context,
        )
    assert any("overturned" in m.body for m in mailoutbox)
    dispute_decide(
        dispute=mislabelled.disputes.get(),
        outcome="relabelled",
        reason="Agreed.",
        labels=["tvec-recruitment"],
        reviewer=moderator,
        context=context,
    )
    state, cursor = sync_all(bob, cursor, state=state)
    assert set(state) == hub_list() == {("TVEC", "pdq", mislabelled.value)}
    assert state[("TVEC", "pdq", mislabelled.value)]["labels"] == ["tvec-recruitment"]
    assert state[("TVEC", "pdq", mislabelled.value)]["status"] == "active"
    # Each entry says why: the overturn's remove and the relabel's update.
    assert state[("TVEC", "pdq", mislabelled.value)]["reason"] == "relabelled"
    removed = ChangeLogEntry.objects.filter(signal=wrong, op="remove").get()
    assert json.loads(bytes(removed.entry))["reason"] == "dispute_overturned"
    # The submitter and the disputing member were told at each step.
    recipients = {r for m in mailoutbox for r in m.to}
    assert {"admin@northwind.example", "admin@lakeside.example"} <= recipients


def test_an_appeal_goes_to_another_reviewer_and_can_restore_a_signal(cast, alice, bob, signer_for):
    submit(alice, signer_for("northwind/admin").envelope())
    approve_all()
    signal = Signal.objects.get()
    dispute_id = (
        bob.client()
        .post(
            "/api/v1/disputes/",
            {"signal": signal.pk, "kind": "signal", "grounds": "Satire."},
            format="json",
        )
        .json()["id"]
    )
    moderator, context = staff()
    dispute_decide(
        dispute=signal.disputes.get(),
        outcome="overturned",
        reason="Satire.",
        reviewer=moderator,
        context=context,
    )
    assert Signal.objects.get().status == "removed"
    appeal = alice.client().post(
        f"/api/v1/disputes/{dispute_id}/appeal/",
        {"grounds": "It is the attack video."},
        format="json",
    )
    assert appeal.status_code == 200, appeal.content
    assert (
        alice.client()
        .post(f"/api/v1/disputes/{dispute_id}/appeal/", {"grounds": "again"}, format="json")
        .status_code
        == 409
    )
    import pytest

    from core.errors import NotPermitted

    with pytest.raises(NotPermitted):
        dispute_decide_appeal(
            dispute=signal.disputes.get(),
            outcome="upheld",
            reason="x",
            reviewer=moderator,
            context=context,
        )
    officer, officer_context = staff("governance@consortium.example")
    dispute_decide_appeal(
        dispute=signal.disputes.get(),
        outcome="upheld",
        reason="It is the attack video.",
        reviewer=officer,
        context=officer_context,
    )
    assert Signal.objects.get().status == "active"
    ops = list(ChangeLogEntry.objects.filter(signal=signal).values_list("op", flat=True))
    assert ops == ["add", "update", "remove", "add"]


def test_disputes_are_visible_only_to_their_parties(cast, alice, bob, signer_for):
    submit(alice, signer_for("northwind/admin").envelope())
    approve_all()
    signal = Signal.objects.get()
    dispute_id = (
        bob.client()
        .post(
            "/api/v1/disputes/",
            {"signal": signal.pk, "kind": "signal", "grounds": "Satire."},
            format="json",
        )
        .json()["id"]
    )
    assert alice.client().get(f"/api/v1/disputes/{dispute_id}/").status_code == 200
    outsider = cast["pebble/admin"]
    assert outsider.client().get(f"/api/v1/disputes/{dispute_id}/").status_code == 404
    assert outsider.client().get("/api/v1/disputes/").json()["count"] == 0


def test_the_log_is_numbered_without_gaps_and_stores_the_bytes_clients_get(alice, bob, signer_for):
    submit(alice, *[signer_for("northwind/admin").envelope() for _ in range(3)])
    approve_all()
    entries = list(ChangeLogEntry.objects.order_by("sequence"))
    assert [e.sequence for e in entries] == list(range(len(entries)))
    page = bob.client().get("/api/v1/sync/?cursor=0&limit=100")
    served = json.loads(page.content)["entries"]
    for entry, stored in zip(served, entries, strict=True):
        assert rfc8785.dumps(entry) == bytes(stored.entry)
        assert leaf_hash(bytes(stored.entry)) == stored.leaf_hash


def test_sync_shows_no_restricted_bank_to_members_without_a_grant(cast, alice, bob, signer_for):
    submit(
        alice,
        signer_for("northwind/admin").envelope(bank="CSAM", labels=["csam-child-sexual-abuse"]),
    )
    approve_all()
    bob_state, cursor = sync_all(bob)
    assert bob_state == {}
    assert cursor == ChangeLogEntry.objects.count()
    alice_state, _ = sync_all(alice)
    assert {k[0] for k in alice_state} == {"CSAM"}
    signal = Signal.objects.get()
    assert bob.client().get(f"/api/v1/signals/{signal.pk}/").status_code == 404
    assert (
        bob.client()
        .put(f"/api/v1/signals/{signal.pk}/opinion/", {"kind": "seen"}, format="json")
        .status_code
        == 404
    )


def test_sync_rejects_a_bad_cursor_with_the_field_named(alice):
    for query in ["cursor=-1", "cursor=abc", "limit=0", "limit=100000"]:
        response = alice.client().get(f"/api/v1/sync/?{query}")
        assert response.status_code == 400, query
        assert query.split("=")[0] in response.json()["error"]["fields"]


def test_authorities_and_researchers_never_read_the_bank(cast):
    for label in ["ruritania-ctu/liaison", "open-harms-lab/researcher"]:
        client = cast[label].client()
        assert client.get("/api/v1/sync/").status_code == 403
        assert client.get("/api/v1/banks/").status_code == 403


def test_opinions_move_the_confidence_in_the_feed(cast, alice, bob, signer_for):
    submit(alice, signer_for("northwind/admin").envelope())
    approve_all()
    signal = Signal.objects.get()
    before = signal.confidence
    response = bob.client().put(
        f"/api/v1/signals/{signal.pk}/opinion/",
        {"kind": "false_positive", "reasons": "A news clip"},
        format="json",
    )
    assert response.status_code == 200
    signal.refresh_from_db()
    assert signal.confidence < before
    last = json.loads(bytes(ChangeLogEntry.objects.order_by("-sequence").first().entry))
    assert last["op"] == "update" and last["confidence"] == signal.confidence
    assert "lakeside" not in json.dumps(last), "the feed carries the aggregate, not who said it"
    missing = bob.client().put(
        f"/api/v1/signals/{signal.pk}/opinion/", {"kind": "false_positive"}, format="json"
    )
    assert missing.status_code == 400 and "reasons" in missing.json()["error"]["fields"]


def test_a_signed_snapshot_plus_deltas_equals_the_list(cast, alice, bob, signer_for):
    signer = signer_for("northwind/admin")
    submit(alice, *[signer.envelope() for _ in range(3)])
    approve_all()
    snapshots_create()
    submit(alice, signer.envelope())
    approve_all()
    listing = bob.client().get("/api/v1/sync/snapshots/").json()
    assert {s["bank"] for s in listing} == {"TVEC", "HATE"}
    identity = hub_identity()
    public_key = Ed25519PublicKey.from_public_bytes(identity.public_key_raw)
    state = {}
    for item in listing:
        response = bob.client().get(item["download"])
        data = b"".join(response.streaming_content)
        import base64
        import hashlib

        assert hashlib.sha256(data).hexdigest() == item["sha256"]
        public_key.verify(
            base64.b64decode(item["signature"]),
            snapshot_signed_message(
                origin=identity.origin,
                bank=item["bank"],
                up_to_sequence=item["up_to_sequence"],
                sha256=item["sha256"],
            ),
        )
        for line in gzip.decompress(data).splitlines():
            record = json.loads(line)
            state[(record["bank"], record["signal_type"], record["value"])] = record
    state, _ = sync_all(bob, cursor=listing[0]["up_to_sequence"], state=state)
    assert set(state) == hub_list()
    assert len(state) == 4
    # A bank the caller may not read has no snapshot for it.
    csam = [
        s
        for s in cast["lakeside/admin"].client().get("/api/v1/sync/snapshots/").json()
        if s["bank"] == "CSAM"
    ]
    assert csam == []


def test_every_sync_page_is_signed_by_the_hub(alice, bob, signer_for):
    import base64

    submit(alice, signer_for("northwind/admin").envelope())
    approve_all()
    response = bob.client().get("/api/v1/sync/?cursor=0")
    identity = hub_identity()
    assert response["X-Hashfed-Key-Id"] == identity.key_id
    public_key = Ed25519PublicKey.from_public_bytes(identity.public_key_raw)
    public_key.verify(base64.b64decode(response["X-Hashfed-Signature"]), response.content)


def test_the_hub_records_who_syncs_and_how_far(alice, bob, signer_for):
    from hashbank.models import SyncStatus

    submit(alice, signer_for("northwind/admin").envelope())
    approve_all()
    assert not SyncStatus.objects.filter(organisation__slug="lakeside").exists()
    _, cursor = sync_all(bob)
    status = SyncStatus.objects.get(organisation__slug="lakeside")
    assert status.last_cursor == cursor and status.first_synced_at is not None
    # Staff see who syncs and how far behind: one new entry after Lakeside's sync.
    submit(alice, signer_for("northwind/admin").envelope())
    approve_all()
    from django.test import Client

    staff = sign_in(Client(), User.objects.get(email="governance@consortium.example"))
    page = staff.get("/admin/hashbank/syncstatus/")
    assert page.status_code == 200
    assert b'<td class="field-behind">1</td>' in page.content


def test_an_appeal_after_the_window_is_refused(cast, alice, bob, signer_for, settings):
    submit(alice, signer_for("northwind/admin").envelope())
    approve_all()
    signal = Signal.objects.get()
    dispute_id = (
        bob.client()
        .post(
            "/api/v1/disputes/",
            {"signal": signal.pk, "kind": "signal", "grounds": "Satire."},
            format="json",
        )
        .json()["id"]
    )
    moderator, context = staff()
    dispute = dispute_decide(
        dispute=signal.disputes.get(),
        outcome="overturned",
        reason="Satire.",
        reviewer=moderator,
        context=context,
    )
    late = dispute.decided_at - dt.timedelta(days=settings.DISPUTE_APPEAL_WINDOW_DAYS, seconds=1)
    type(dispute).objects.filter(pk=dispute.pk).update(decided_at=late)

    appeal = alice.client().post(
        f"/api/v1/disputes/{dispute_id}/appeal/", {"grounds": "Too late?"}, format="json"
    )

    assert appeal.status_code == 409
    assert appeal.json()["error"]["code"] == "appeal_window_closed"
    assert Signal.objects.get().status == "removed"
