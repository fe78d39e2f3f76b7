"""A signing key revoked as compromised from T withdraws what it vouched for from T on,
judged by the signed created_at and by when the hub received it, in the revocation's own
transaction; other members' support stands, and a new key lists the value again."""

import datetime as dt
import threading
import time

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import AuditEvent, Organisation, User
from accounts.services import signing_key_revoke
from core.errors import Conflict
from hashbank.admin.submissions import signature_check
from hashbank.models import ChangeLogEntry, ReviewState, Signal, Submission
from hashbank.services import (
    dispute_decide,
    dispute_open,
    submission_approve,
    submission_reject,
    submission_withdraw,
)
from tests.conftest import Signer, approve_all, random_pdq, submit


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def accepted(actor, envelope) -> Submission:
    result = submit(actor, envelope).json()["results"][0]
    assert result["status"] == "accepted", result
    return Submission.objects.get(submission_id=result["id"])


def revoke(actor, signer, reason, since=None):
    body = {"reason": reason}
    if since is not None:
        body["compromised_since"] = since.isoformat()
    return actor.client().post(
        f"/api/v1/signing-keys/{signer.key.key_id}/revoke/", body, format="json"
    )


def feed(actor, cursor=0):
    page = actor.client().get(f"/api/v1/sync/?cursor={cursor}&limit=1000").json()
    return page["entries"]


def approve_and_refresh(*submissions: Submission) -> None:
    approve_all()
    for submission in submissions:
        submission.refresh_from_db()


def state_of(submission: Submission) -> str:
    submission.refresh_from_db()
    return submission.review_state


def test_a_compromise_delists_what_the_key_signed_or_delivered_after_it(alice, bob, signer_for):
    signer = signer_for("northwind/admin")
    before = accepted(alice, signer.envelope())
    approve_all()
    since = timezone.now()
    # Received after the compromise, but dated two days before it: whoever stole the key
    # chooses created_at, so the arrival time alone must be enough to distrust it.
    backdated = accepted(alice, signer.envelope(created_at=rfc3339(since - dt.timedelta(days=2))))
    after = accepted(alice, signer.envelope())
    approve_and_refresh(before, backdated, after)
    head = ChangeLogEntry.objects.count()
    listed = {s.signal_id for s in (before, backdated, after)}
    assert Signal.objects.filter(pk__in=listed, status="active").count() == 3

    response = revoke(alice, signer, "compromised", since)

    assert response.status_code == 200, response.content
    assert state_of(before) == ReviewState.APPROVED
    assert Signal.objects.get(pk=before.signal_id).status == "active"
    for distrusted in (backdated, after):
        assert state_of(distrusted) == ReviewState.REJECTED
        assert "compromised" in distrusted.review_reason
        assert Signal.objects.get(pk=distrusted.signal_id).status == "removed"
    # Every member's next sync deletes them, and is told why.
    removals = [e for e in feed(bob, head) if e["op"] == "remove"]
    assert {e["value"] for e in removals} == {backdated.value, after.value}
    assert {e["reason"] for e in removals} == {"signing_key_compromised"}
    # The statements stay on file, but admin no longer calls them verified.
    assert signature_check(before).verified
    assert not signature_check(backdated).verified
    assert not signature_check(after).verified


def test_pending_submissions_the_key_delivered_after_the_compromise_are_rejected(alice, signer_for):
    signer = signer_for("northwind/admin")
    earlier = accepted(alice, signer.envelope())
    since = timezone.now()
    backdated = accepted(alice, signer.envelope(created_at=rfc3339(since - dt.timedelta(days=1))))
    later = accepted(alice, signer.envelope())

    assert revoke(alice, signer, "compromised", since).status_code == 200

    assert state_of(earlier) == ReviewState.PENDING
    assert state_of(backdated) == ReviewState.REJECTED
    assert state_of(later) == ReviewState.REJECTED
    assert not Signal.objects.exists()


def test_a_signal_another_member_supports_stays_without_the_untrusted_labels(
    alice, bob, signer_for
):
    value = random_pdq()
    theirs = accepted(bob, signer_for("lakeside/admin").envelope(value=value))
    approve_all()
    signer = signer_for("northwind/admin")
    since = timezone.now()
    ours = accepted(
        alice, signer.envelope(value=value, labels=["tvec-glorification", "tvec-recruitment"])
    )
    approve_all()
    signal = Signal.objects.get(value=value)
    assert sorted(signal.labels.values_list("slug", flat=True)) == [
        "tvec-glorification",
        "tvec-recruitment",
    ]
    assert signal.confidence == 0.75
    head = ChangeLogEntry.objects.count()

    assert revoke(alice, signer, "compromised", since).status_code == 200

    signal.refresh_from_db()
    assert signal.status == "active"
    assert list(signal.labels.values_list("slug", flat=True)) == ["tvec-glorification"]
    assert signal.confidence == 0.67
    assert state_of(theirs) == ReviewState.APPROVED
    assert state_of(ours) == ReviewState.REJECTED
    [update] = feed(bob, head)
    assert (update["op"], update["labels"], update["confidence"]) == (
        "update",
        ["tvec-glorification"],
        0.67,
    )


def test_a_superseded_key_leaves_its_signals_listed(alice, signer_for):
    signer = signer_for("northwind/admin")
    submission = accepted(alice, signer.envelope())
    approve_all()
    head = ChangeLogEntry.objects.count()

    assert revoke(alice, signer, "superseded").status_code == 200

    assert state_of(submission) == ReviewState.APPROVED
    assert Signal.objects.get().status == "active"
    assert ChangeLogEntry.objects.count() == head
    assert signature_check(submission).verified


def test_a_rotated_key_found_compromised_later_is_delisted_from_the_compromise_time(
    alice, signer_for
):
    signer = signer_for("northwind/admin")
    since = timezone.now()
    submission = accepted(alice, signer.envelope())
    approve_all()
    assert revoke(alice, signer, "superseded").status_code == 200

    assert revoke(alice, signer, "compromised", since).status_code == 200

    assert state_of(submission) == ReviewState.REJECTED
    assert Signal.objects.get().status == "removed"


def test_a_submission_arriving_after_the_revocation_is_refused_whatever_its_date(alice, signer_for):
    signer = signer_for("northwind/admin")
    since = timezone.now() - dt.timedelta(hours=1)
    assert revoke(alice, signer, "compromised", since).status_code == 200

    for created_at in (timezone.now(), since - dt.timedelta(days=1)):
        result = submit(alice, signer.envelope(created_at=rfc3339(created_at))).json()
        [item] = result["results"]
        assert item["status"] == "rejected"
        assert (item["error"]["code"], item["error"]["field"]) == (
            "key_revoked",
            "payload.key_id",
        )
    assert not Submission.objects.exists()


def test_a_new_key_lists_the_value_again(alice, bob, signer_for):
    signer = signer_for("northwind/admin")
    since = timezone.now()
    value = random_pdq()
    accepted(alice, signer.envelope(value=value))
    approve_all()
    assert revoke(alice, signer, "compromised", since).status_code == 200
    assert Signal.objects.get(value=value).status == "removed"
    head = ChangeLogEntry.objects.count()

    replacement = Signer(Organisation.objects.get(slug="northwind"))
    accepted(alice, replacement.envelope(value=value))
    approve_all()

    assert Signal.objects.get(value=value).status == "active"
    [entry] = feed(bob, head)
    assert (entry["op"], entry["value"]) == ("add", value)


def test_the_withdrawal_is_idempotent_and_audited_with_the_revocation(alice, signer_for):
    signer = signer_for("northwind/admin")
    since = timezone.now()
    submission = accepted(alice, signer.envelope())
    approve_and_refresh(submission)

    assert revoke(alice, signer, "compromised", since).status_code == 200
    head = ChangeLogEntry.objects.count()
    events = AuditEvent.objects.count()

    again = revoke(alice, signer, "compromised", since)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_revoked"
    signer.key.refresh_from_db()
    from hashbank.services import submissions_distrust_compromised

    assert (
        submissions_distrust_compromised(signing_key=signer.key, context=AuditContext.system())
        == []
    )
    assert ChangeLogEntry.objects.count() == head
    assert AuditEvent.objects.count() == events
    [distrusted] = AuditEvent.objects.filter(action="hashbank.submission.distrusted")
    assert distrusted.detail["submissions"] == [str(submission.submission_id)]
    assert distrusted.detail["signals_removed"] == [submission.signal_id]
    assert AuditEvent.objects.filter(action="accounts.signingkey.revoked").count() == 1


def test_staff_cannot_approve_a_submission_the_compromise_voids(alice, signer_for):
    signer = signer_for("northwind/admin")
    since = timezone.now()
    submission = accepted(alice, signer.envelope())
    key = signer.key
    # Revoked directly, without the withdrawal, as a concurrent approval would see it.
    key.revoked_at = key.compromised_since = since
    key.revocation_reason = "compromised"
    key.save()

    with pytest.raises(Conflict) as refused:
        submission_approve(submission=submission, context=AuditContext.system())

    assert refused.value.code == "signing_key_compromised"
    assert state_of(submission) == ReviewState.PENDING


def test_the_member_reads_why_its_submission_was_withdrawn(alice, signer_for):
    signer = signer_for("northwind/admin")
    since = timezone.now()
    submission = accepted(alice, signer.envelope())
    assert revoke(alice, signer, "compromised", since).status_code == 200

    body = alice.client().get(f"/api/v1/submissions/{submission.submission_id}/").json()

    assert body["review_state"] == "rejected"
    assert "compromised" in body["review_reason"]
    assert "new key" in body["review_reason"]


def test_every_remove_entry_says_why_the_signal_left(alice, bob, signer_for):
    signer = signer_for("northwind/admin")
    withdrawn, rejected, overturned = (accepted(alice, signer.envelope()) for _ in range(3))
    approve_and_refresh(withdrawn, rejected, overturned)
    staff = AuditContext(user=User.objects.get(email="moderator@consortium.example"))

    submission_withdraw(submission=withdrawn, context=AuditContext.system())
    submission_reject(submission=rejected, reason="Not extremist content.", context=staff)
    signal = Signal.objects.get(pk=overturned.signal_id)
    dispute_open(
        organisation=bob.org,
        signal=signal,
        kind="signal",
        grounds="Satire.",
        context=AuditContext.system(),
    )
    dispute_decide(
        dispute=signal.disputes.get(),
        outcome="overturned",
        reason="Satire.",
        reviewer=staff.user,
        context=staff,
    )

    reasons = {e["value"]: e["reason"] for e in feed(bob) if e["op"] == "remove"}
    assert reasons == {
        withdrawn.value: "withdrawn",
        rejected.value: "rejected",
        overturned.value: "dispute_overturned",
    }
    assert all("reason" not in e for e in feed(bob) if e["op"] != "remove")


@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="two real transactions racing need PostgreSQL",
)
def test_a_batch_racing_the_revocation_is_refused_not_listed(transactional_db, cast, signer_for):
    alice = cast["northwind/admin"]
    signer = signer_for("northwind/admin")
    revoked, release = threading.Event(), threading.Event()

    def revoke_and_hold() -> None:
        with transaction.atomic():
            signing_key_revoke(
                signing_key=signer.key, reason="compromised", context=AuditContext.system()
            )
            revoked.set()
            release.wait(timeout=60)
        connection.close()

    answers = []

    def send() -> None:
        answers.append(submit(alice, signer.envelope()).json())
        connection.close()

    revocation = threading.Thread(target=revoke_and_hold)
    revocation.start()
    assert revoked.wait(timeout=30)
    # The batch reads the key before the revocation commits, so it verifies; it must then
    # wait for the revocation at its write and see it.
    batch = threading.Thread(target=send)
    batch.start()
    deadline = time.monotonic() + 30
    while not _someone_waits_for_a_lock():
        assert time.monotonic() < deadline and batch.is_alive(), answers
        time.sleep(0.01)
    release.set()
    revocation.join(timeout=30)
    batch.join(timeout=30)

    [item] = answers[0]["results"]
    assert (item["status"], item["error"]["code"]) == ("rejected", "key_revoked")
    assert not Submission.objects.exists()


def _someone_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0
