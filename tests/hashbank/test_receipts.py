"""Receipts: the hub's signed promise on every accepted submission, the change-log entry an
approval links it to, the inclusion answer with its proof, and the check that the promise
is kept."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.hub_identity import hub_identity, hub_keys
from hashbank.models import Bank, BankReadAccess, ChangeLogEntry, Submission
from hashbank.services import submission_reject
from hashbank.services.inclusion import inclusion_overdue
from hashbank.tasks import check_inclusion_promises, issue_checkpoints
from hashfed_wire import merkle, note, receipt
from hashfed_wire.envelope import canonical_bytes
from tests.conftest import approve_all, random_pdq, submit


def hub_verifier() -> note.Verifier:
    return note.Verifier(django_settings.HUB_ORIGIN, hub_identity().public_key_raw)


def accepted(response) -> list[dict]:
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert all(r["status"] in ("accepted", "replayed") for r in results), results
    return results


def inclusion_of(actor, submission_id: str):
    return actor.client().get(f"/api/v1/submissions/{submission_id}/inclusion")


def verify_included(body: dict, bank: str = "TVEC") -> None:
    """What a member checks: the checkpoint's signature and origin, then the proof of the
    entry's leaf hash against its root."""
    assert body["state"] == "included"
    opened = note.open_checkpoint(body["checkpoint"]["note"], [hub_verifier()]).checkpoint
    assert opened.origin == f"{django_settings.HUB_ORIGIN}/banks/{bank}"
    assert (
        opened.size == body["checkpoint"]["size"]
        and opened.root_hash.hex() == (body["checkpoint"]["root_hash"])
    )
    entry = ChangeLogEntry.objects.get(sequence=body["entry"]["sequence"])
    leaf = hashlib.sha256(b"\x00" + bytes(entry.entry)).digest()
    assert leaf.hex() == body["entry"]["leaf_hash"]
    merkle.verify_inclusion(
        leaf,
        body["entry"]["bank_index"],
        opened.size,
        [bytes.fromhex(node) for node in body["proof"]],
        opened.root_hash,
    )


def test_an_accepted_submission_carries_a_receipt_signed_by_the_hub(alice, signer_for):
    envelope = signer_for("northwind/admin").envelope()
    (result,) = accepted(submit(alice, envelope))
    signed = result["receipt"]
    got = receipt.verify_receipt(
        signed, hub_verifier(), submission_id=result["id"], organisation="northwind"
    )
    row = Submission.objects.get(submission_id=result["id"])
    assert got == receipt.Receipt(
        origin=f"{django_settings.HUB_ORIGIN}/banks/TVEC",
        organisation="northwind",
        submission_id=result["id"],
        payload_digest=hashlib.sha256(canonical_bytes(envelope["payload"])).hexdigest(),
        received_at=int(row.received_at.timestamp()),
        review_state="pending",
        max_delay=django_settings.INCLUSION_MAX_DELAY,
    )
    assert signed.splitlines()[0] == "hashfed receipt v1"

    # Any byte changed, in the text or in the signature, and it no longer verifies.
    raw = signed.encode()
    for position in range(0, len(raw), 7):
        if raw[position] in b"\n":
            continue
        changed = raw[:position] + bytes([raw[position] ^ 0x01]) + raw[position + 1 :]
        with pytest.raises((note.NoteError, receipt.ReceiptError)):
            receipt.verify_receipt(changed, hub_verifier())
    # Nor does it verify for another submission, organisation, or with another key.
    with pytest.raises(receipt.ReceiptError):
        receipt.verify_receipt(signed, hub_verifier(), organisation="lakeside")
    with pytest.raises(receipt.ReceiptError):
        receipt.verify_receipt(
            signed, hub_verifier(), submission_id="00000000-0000-4000-8000-000000000000"
        )
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(note.NoteError):
        receipt.verify_receipt(signed, note.Verifier(django_settings.HUB_ORIGIN, other))


def test_a_replay_returns_the_same_receipt(alice, signer_for):
    envelope = signer_for("northwind/admin").envelope()
    (first,) = accepted(submit(alice, envelope))
    # Again later, and twice in one batch with a new one.
    fresh = signer_for("northwind/admin").envelope()
    again, new, repeat = accepted(submit(alice, envelope, fresh, fresh))
    assert again["status"] == "replayed" and again["receipt"] == first["receipt"]
    assert repeat["status"] == "replayed" and repeat["receipt"] == new["receipt"]
    assert new["receipt"] != first["receipt"]
    # A rejected item has none.
    bad = submit(alice, {**envelope, "signature": envelope["signature"][::-1]})
    assert bad.json()["results"][0]["receipt"] is None


def test_receipt_text_is_parsed_strictly():
    good = receipt.Receipt(
        origin="hub.test/banks/TVEC",
        organisation="northwind",
        submission_id="0b0e6b1c-7a8e-4a53-9c55-2b1f0e8f5d11",
        payload_digest="ab" * 32,
        received_at=1795860000,
        review_state="approved",
        max_delay=60,
    )
    body = receipt.receipt_body(good)
    assert body == (
        b"hashfed receipt v1\nhub.test/banks/TVEC\norganisation northwind\n"
        b"submission 0b0e6b1c-7a8e-4a53-9c55-2b1f0e8f5d11\npayload-digest " + b"ab" * 32 + b"\n"
        b"received 1795860000\nreview-state approved\nmax-delay 60\n"
    )
    assert receipt.parse_receipt(body) == good
    for bad in [
        body.replace(b"v1", b"v2"),
        body.replace(b"received 1795860000", b"received 01795860000"),
        body.replace(b"approved", b"rejected"),
        body.replace(b"max-delay 60", b"max-delay 0"),
        body.replace(b"0b0e6b1c", b"0B0E6B1C"),
        body.replace(b"ab" * 32, b"ab" * 31),
        body + b"extra line\n",
        body[:-1],
        body.replace(b"organisation", b"organization"),
    ]:
        with pytest.raises(receipt.ReceiptError):
            receipt.parse_receipt(bad)


def test_a_trusted_submission_is_proved_in_its_bank_once_a_checkpoint_covers_it(bob, signer_for):
    # Lakeside is a trusted contributor: approved on arrival, listed in the same transaction.
    value = random_pdq()
    (result,) = accepted(submit(bob, signer_for("lakeside/admin").envelope(value=value)))
    got = receipt.verify_receipt(result["receipt"], hub_verifier())
    assert got.review_state == "approved"
    row = Submission.objects.select_related("log_entry").get(submission_id=result["id"])
    assert row.log_entry is not None and row.log_entry.signal_id == row.signal_id
    assert row.log_entry.op == "add"

    body = inclusion_of(bob, result["id"]).json()
    assert body["state"] == "awaiting_checkpoint" and body["receipt"] == result["receipt"]
    assert body["entry"]["bank_index"] == row.log_entry.bank_index
    assert body["checkpoint"] is None and body["proof"] is None
    promised = dt.datetime.fromisoformat(body["promised_by"])
    assert promised == row.log_entry.created_at + dt.timedelta(seconds=60)

    issue_checkpoints()
    response = inclusion_of(bob, result["id"])
    assert response.status_code == 200
    verify_included(response.json())

    # The same value from a member already listed: the one-by-one path corroborates it, and
    # links the entry that lists it (an update, or the add when nothing a client sees changed).
    (again,) = accepted(submit(bob, signer_for("lakeside/admin").envelope(value=value)))
    second = Submission.objects.get(submission_id=again["id"])
    assert second.log_entry_id is not None
    assert second.log_entry.sequence >= row.log_entry.sequence
    issue_checkpoints()
    verify_included(inclusion_of(bob, again["id"]).json())


def test_a_pending_submission_says_so_and_is_proved_once_approved(alice, signer_for):
    (result,) = accepted(submit(alice, signer_for("northwind/admin").envelope()))
    response = inclusion_of(alice, result["id"])
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["review_state"]) == ("pending_review", "pending")
    assert body["entry"] is body["checkpoint"] is body["proof"] is body["promised_by"] is None
    assert body["receipt"] == result["receipt"]

    approve_all("northwind")
    row = Submission.objects.get(submission_id=result["id"])
    assert row.log_entry is not None and row.log_entry.signal_id == row.signal_id
    assert inclusion_of(alice, result["id"]).json()["state"] == "awaiting_checkpoint"
    issue_checkpoints()
    verify_included(inclusion_of(alice, result["id"]).json())


def test_rejected_and_withdrawn_submissions_say_so(alice, signer_for, cast):
    first, second = accepted(
        submit(
            alice,
            signer_for("northwind/admin").envelope(),
            signer_for("northwind/admin").envelope(),
        )
    )
    moderator = cast["consortium/moderator"].user
    submission_reject(
        submission=Submission.objects.get(submission_id=first["id"]),
        reason="not in scope",
        context=AuditContext(user=moderator),
    )
    alice.client().post(f"/api/v1/submissions/{second['id']}/withdraw/")
    states = {r["id"]: inclusion_of(alice, r["id"]).json() for r in (first, second)}
    assert states[first["id"]]["state"] == "rejected"
    assert states[second["id"]]["state"] == "withdrawn"
    assert all(s["proof"] is None for s in states.values())


def test_only_the_submitter_reads_a_submissions_inclusion(cast, alice, signer_for, anonymous):
    (result,) = accepted(submit(alice, signer_for("northwind/admin").envelope()))
    approve_all("northwind")
    issue_checkpoints()
    path = f"/api/v1/submissions/{result['id']}/inclusion"
    assert alice.client().get(path).status_code == 200
    assert cast["northwind/viewer"].client().get(path).status_code == 200
    # Another member: the answer of a submission that does not exist.
    absent = (
        cast["lakeside/admin"]
        .client()
        .get("/api/v1/submissions/00000000-0000-4000-8000-000000000000/inclusion")
    )
    other = cast["lakeside/admin"].client().get(path)
    assert (other.status_code, other.content) == (404, absent.content)
    # Authorities and researchers are refused as on every hash-bank endpoint.
    for label in ["ruritania-ctu/liaison", "open-harms-lab/researcher"]:
        client = cast[label].client()
        usual = client.get("/api/v1/submissions/")
        refused = client.get(path)
        assert usual.status_code == 403
        assert (refused.status_code, refused.content) == (403, usual.content)
    assert anonymous.get(path).status_code == 401
    # Not a UUID: no such route.
    assert alice.client().get("/api/v1/submissions/not-a-uuid/inclusion").status_code == 404


def test_an_entry_not_covered_within_the_delay_is_reported(
    bob, signer_for, anonymous, caplog, monkeypatch
):
    (result,) = accepted(submit(bob, signer_for("lakeside/admin").envelope()))
    row = Submission.objects.select_related("log_entry").get(submission_id=result["id"])
    later = row.log_entry.created_at + dt.timedelta(seconds=61)
    # Within the delay nothing is overdue; past it, the uncovered entry is.
    assert inclusion_overdue(now=row.log_entry.created_at + dt.timedelta(seconds=59)) == []
    assert [s.pk for s in inclusion_overdue(now=later)] == [row.pk]

    # The health check and the beat task see the clock: move it past the promise.
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + dt.timedelta(seconds=61))
    health = anonymous.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert result["id"] in health.json()["checks"]["inclusion_promise"]
    with caplog.at_level(logging.ERROR, logger="hashbank.services.inclusion"):
        assert check_inclusion_promises() >= 1
    assert result["id"] in caplog.text

    # A checkpoint covering it keeps the promise (late): nothing is reported any more.
    issue_checkpoints()
    assert inclusion_overdue(now=later) == []
    health = anonymous.get("/healthz")
    assert health.json()["status"] == "ok"
    assert health.json()["checks"]["inclusion_promise"] == "ok"


def test_an_approval_that_lists_nothing_is_not_listed(alice, signer_for):
    from hashbank.models import Signal, SignalStatus

    value = random_pdq()
    (first,) = accepted(submit(alice, signer_for("northwind/admin").envelope(value=value)))
    approve_all("northwind")
    # A dispute decision took the value off the list; a later approval does not list it.
    Signal.objects.filter(value=value).update(
        delisted_by_decision=True, status=SignalStatus.REMOVED
    )
    (second,) = accepted(submit(alice, signer_for("northwind/admin").envelope(value=value)))
    approve_all("northwind")
    row = Submission.objects.get(submission_id=second["id"])
    assert row.review_state == "approved" and row.log_entry_id is None
    body = inclusion_of(alice, second["id"]).json()
    assert (body["state"], body["entry"], body["proof"]) == ("not_listed", None, None)
    # The first approval's entry still proves the value was listed.
    issue_checkpoints()
    verify_included(inclusion_of(alice, first["id"]).json())


def test_during_a_hub_key_rotation_both_keys_sign_a_receipt(alice, signer_for):
    call_command("rotate_hub_key", "--begin")
    keys = hub_keys()
    (result,) = accepted(submit(alice, signer_for("northwind/admin").envelope()))
    signed = result["receipt"]
    assert len([line for line in signed.splitlines() if line.startswith("\u2014 ")]) == 2
    for key in (keys.current, keys.next):
        verifier = note.Verifier(django_settings.HUB_ORIGIN, key.public_key_raw)
        assert receipt.verify_receipt(signed, verifier, submission_id=result["id"])


def test_a_contributor_that_may_not_read_the_bank_learns_nothing_of_its_log(alice, bob, signer_for):
    # TVEC readable by granted organisations only; Northwind still contributes to it.
    Bank.objects.filter(name="TVEC").update(read_access=BankReadAccess.GRANTED)
    (result,) = accepted(submit(alice, signer_for("northwind/admin").envelope()))
    approve_all()
    issue_checkpoints()

    def answer() -> dict:
        response = inclusion_of(alice, result["id"])
        assert response.status_code == 200, response.content
        return response.json()

    first = answer()
    assert first["state"] == "listed_unreadable"
    assert first["entry"] is None and first["checkpoint"] is None and first["proof"] is None
    assert receipt.verify_receipt(first["receipt"], hub_verifier(), submission_id=result["id"])
    # Others' entries in the bank change nothing Northwind reads of its own submission.
    accepted(submit(bob, signer_for("lakeside/admin").envelope()))
    issue_checkpoints()
    assert answer() == first
