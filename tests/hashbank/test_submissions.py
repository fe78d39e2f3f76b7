import base64
import datetime as dt
import hashlib
import json

from django.utils import timezone

from accounts.audit import AuditContext
from accounts.services import signing_key_revoke
from hashbank.models import ReviewState, Signal, Submission
from hashfed_wire.envelope import canonical_bytes, verify
from tests.conftest import submit


def test_a_member_submits_a_signed_hash_for_review(alice, signer_for):
    envelope = signer_for("northwind/admin").envelope()
    response = submit(alice, envelope)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["accepted"] == 1
    result = body["results"][0]
    assert (result["status"], result["review_state"]) == ("accepted", "pending")
    stored = Submission.objects.get(submission_id=result["id"])
    assert bytes(stored.canonical_payload) == canonical_bytes(envelope["payload"])
    assert stored.signature == envelope["signature"]
    assert not Signal.objects.exists(), "pending submissions are not on the list"


def test_the_kept_envelope_can_be_verified_again(alice, signer_for):
    signer = signer_for("northwind/admin")
    submit(alice, signer.envelope())
    stored = Submission.objects.get()
    from hashfed_wire.envelope import envelope_from_obj

    envelope = envelope_from_obj(
        {"payload": json.loads(bytes(stored.canonical_payload)), "signature": stored.signature}
    )
    assert verify(signer.key.public_key_bytes, envelope)


def test_a_replay_returns_the_first_result(alice, signer_for):
    envelope = signer_for("northwind/admin").envelope()
    first = submit(alice, envelope).json()["results"][0]
    again = submit(alice, envelope).json()
    assert again["replayed"] == 1
    assert again["results"][0]["id"] == first["id"]
    assert Submission.objects.count() == 1


def test_the_same_id_with_another_payload_is_a_conflict(alice, signer_for):
    signer = signer_for("northwind/admin")
    envelope = signer.envelope()
    other = signer.envelope(id=envelope["payload"]["id"])
    submit(alice, envelope)
    result = submit(alice, other).json()["results"][0]
    assert result["status"] == "rejected"
    assert (result["error"]["code"], result["error"]["field"]) == ("id_conflict", "payload.id")


def _rejection(actor, envelope):
    result = submit(actor, envelope).json()["results"][0]
    assert result["status"] == "rejected", result
    return result["error"]["code"], result["error"]["field"]


def test_it_rejects_each_bad_item_with_its_code_and_field(alice, signer_for):
    signer = signer_for("northwind/admin")
    tampered = signer.envelope()
    tampered["payload"]["labels"] = ["tvec-recruitment"]
    other_key = signer_for("lakeside/admin")
    cases = [
        (signer.envelope(audience="other-hub.example"), ("wrong_audience", "payload.audience")),
        (signer.envelope(organisation="lakeside"), ("wrong_organisation", "payload.organisation")),
        (signer.envelope(key_id=other_key.key.key_id), ("unknown_key", "payload.key_id")),
        (tampered, ("bad_signature", "signature")),
        (signer.envelope(bank="NOPE"), ("unknown_bank", "payload.bank")),
        (signer.envelope(signal_type="sha1"), ("unknown_signal_type", "payload.signal_type")),
        (signer.envelope(value="xyz"), ("malformed_value", "payload.value")),
        (signer.envelope(signal_type="md5", value="0" * 31), ("malformed_value", "payload.value")),
        (
            signer.envelope(
                signal_type="vpdq", value=f'["{"ab" * 32},49,0.0","{"cd" * 32},0,1.0"]'
            ),
            ("low_quality", "payload.value"),
        ),
        (
            signer.envelope(labels=["tvec-glorification", "no-such-label"]),
            ("unknown_label", "payload.labels[1]"),
        ),
        (signer.envelope(incident="no-such-incident"), ("unknown_incident", "payload.incident")),
        (
            signer.envelope(created_at="2099-01-01T00:00:00Z"),
            ("created_at_in_future", "payload.created_at"),
        ),
        (
            signer.envelope(created_at="2001-01-01T00:00:00Z"),
            ("key_not_valid_at_created_at", "payload.created_at"),
        ),
        ({"payload": signer.payload()}, ("missing_field", "signature")),
        ({"payload": signer.payload(), "signature": "%%%"}, ("bad_base64", "signature")),
        ("not an object", ("invalid_field", None)),
    ]
    for envelope, expected in cases:
        assert _rejection(alice, envelope) == expected, expected
    assert not Submission.objects.exists()


def test_a_duplicate_json_key_in_any_envelope_refuses_the_whole_body(alice, signer_for):
    """docs/signing.md: the body is one JSON text, refused if any object at any depth
    repeats a key; a parser keeping either value would see another statement."""
    signer = signer_for("northwind/admin")
    good = json.dumps(signer.envelope())
    bad = json.dumps(signer.envelope()).replace('"bank": "TVEC"', '"bank": "TVEC", "bank": "HATE"')
    body = '{"submissions": [' + good + "," + bad + "]}"
    response = alice.client().post("/api/v1/submissions/", body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "duplicate_key"
    assert error["fields"]["submissions.1.payload.bank"][0]["code"] == "duplicate_key"
    assert not Submission.objects.exists()


def test_a_duplicate_top_level_submissions_key_is_refused(alice, signer_for):
    signer = signer_for("northwind/admin")
    first = json.dumps([signer.envelope()])
    second = json.dumps([signer.envelope()])
    body = '{"submissions": ' + first + ', "submissions": ' + second + "}"
    response = alice.client().post("/api/v1/submissions/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["submissions"][0]["code"] == "duplicate_key"
    assert not Submission.objects.exists()


def test_a_mixed_batch_lands_only_its_good_items(alice, signer_for):
    signer = signer_for("northwind/admin")
    batch = [
        signer.envelope(),
        signer.envelope(bank="NOPE"),
        signer.envelope(),
        signer.envelope(value="zz"),
    ]
    body = submit(alice, *batch).json()
    assert [r["status"] for r in body["results"]] == [
        "accepted",
        "rejected",
        "accepted",
        "rejected",
    ]
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert Submission.objects.count() == 2


def test_a_batch_over_the_limit_is_refused_whole(alice, signer_for):
    signer = signer_for("northwind/admin")
    envelope = signer.envelope()
    response = submit(alice, *([envelope] * 1001))
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["submissions"][0]["code"] == "batch_too_large"
    assert not Submission.objects.exists()


def test_malformed_bodies_get_a_clear_error(alice):
    client = alice.client()
    for body, status in [
        ("{", 400),
        ('{"submissions": []}', 400),
        ('{"other": 1}', 400),
        ("[]", 400),
        ('{"submissions": "x"}', 400),
    ]:
        response = client.post("/api/v1/submissions/", body, content_type="application/json")
        assert response.status_code == status, body
        assert "error" in response.json()


def test_a_revoked_key_signs_nothing_new_but_old_submissions_stay_verifiable(alice, signer_for):
    signer = signer_for("northwind/admin")
    submit(alice, signer.envelope())
    signing_key_revoke(signing_key=signer.key, reason="superseded", context=AuditContext.system())
    assert _rejection(alice, signer.envelope()) == ("key_revoked", "payload.key_id")
    stored = Submission.objects.get()
    signer.key.refresh_from_db()
    assert signer.key.signs_at(stored.created_at)


def test_values_are_normalised_so_case_does_not_split_a_signal(alice, signer_for):
    signer = signer_for("northwind/admin")
    value = "ab" * 32
    submit(alice, signer.envelope(value=value.upper()), signer.envelope(value=value))
    assert set(Submission.objects.values_list("value", flat=True)) == {value}


def test_an_associate_member_cannot_submit(cast, signer_for):
    pebble = cast["pebble/admin"]
    envelope = signer_for("pebble/admin").envelope()
    result = submit(pebble, envelope).json()["results"][0]
    assert (result["error"]["code"], result["error"]["field"]) == (
        "bank_not_permitted",
        "payload.bank",
    )


def test_only_granted_members_contribute_to_a_restricted_bank(alice, bob, signer_for):
    assert (
        submit(
            alice,
            signer_for("northwind/admin").envelope(bank="CSAM", labels=["csam-child-sexual-abuse"]),
        ).json()["accepted"]
        == 1
    )
    result = submit(
        bob, signer_for("lakeside/admin").envelope(bank="CSAM", labels=["csam-child-sexual-abuse"])
    ).json()["results"][0]
    assert result["error"]["code"] == "bank_not_permitted"


def test_a_trusted_contributor_is_approved_on_arrival(bob, signer_for):
    result = submit(bob, signer_for("lakeside/admin").envelope()).json()["results"][0]
    assert result["review_state"] == "approved"
    submission = Submission.objects.get()
    assert submission.auto_approved and not submission.post_reviewed
    assert Signal.objects.get().status == "active"


def test_members_follow_only_their_own_submissions(alice, bob, signer_for):
    submit(alice, signer_for("northwind/admin").envelope())
    submit(bob, signer_for("lakeside/admin").envelope())
    mine = alice.client().get("/api/v1/submissions/").json()
    assert mine["count"] == 1
    theirs = Submission.objects.get(organisation__slug="lakeside").submission_id
    assert alice.client().get(f"/api/v1/submissions/{theirs}/").status_code == 404
    assert alice.client().post(f"/api/v1/submissions/{theirs}/withdraw/").status_code == 404


def test_a_withdrawn_submission_takes_its_signal_off_the_list(bob, signer_for):
    submit(bob, signer_for("lakeside/admin").envelope())
    submission = Submission.objects.get()
    response = bob.client().post(f"/api/v1/submissions/{submission.submission_id}/withdraw/")
    assert response.json()["review_state"] == ReviewState.WITHDRAWN
    assert Signal.objects.get().status == "removed"


def test_a_signature_over_another_serialisation_is_refused(alice, signer_for):
    signer = signer_for("northwind/admin")
    payload = signer.payload()
    signature = signer.private_key.sign(json.dumps(payload).encode())
    envelope = {"payload": payload, "signature": base64.b64encode(signature).decode()}
    assert _rejection(alice, envelope) == ("bad_signature", "signature")


def test_a_key_not_yet_valid_at_created_at_is_refused(alice, signer_for):
    signer = signer_for("northwind/admin")
    signer.key.valid_from = timezone.now() + dt.timedelta(days=1)
    signer.key.save()
    assert _rejection(alice, signer.envelope())[0] == "key_not_valid_at_created_at"


def test_the_same_id_twice_in_one_batch_is_a_replay_or_a_conflict(alice, signer_for):
    signer = signer_for("northwind/admin")
    envelope = signer.envelope()
    other = signer.envelope(id=envelope["payload"]["id"])
    results = submit(alice, envelope, envelope, other).json()["results"]
    assert [r["status"] for r in results] == ["accepted", "replayed", "rejected"]
    assert results[1]["id"] == results[0]["id"]
    assert results[2]["error"]["code"] == "id_conflict"
    assert Submission.objects.count() == 1


def test_a_large_batch_lands_with_its_labels(alice, signer_for):
    signer = signer_for("northwind/admin")
    batch = [
        signer.envelope(labels=["tvec-glorification", "tvec-recruitment"]) for _ in range(1000)
    ]
    body = submit(alice, *batch).json()
    assert body["accepted"] == 1000
    assert Submission.labels.through.objects.count() == 2000


def test_a_trusted_batch_lists_new_values_at_once_and_corroborates_known_ones(
    alice, bob, signer_for
):
    from hashbank.models import ChangeLogEntry
    from hashbank.services.changelog import entry_material

    known = signer_for("northwind/admin").envelope(bank="HATE", labels=["hate-dehumanisation"])
    submit(alice, known)
    from tests.conftest import approve_all

    approve_all()
    lakeside = signer_for("lakeside/admin")
    repeated = "9a" * 32
    batch = [lakeside.envelope(bank="HATE", labels=["hate-dehumanisation"]) for _ in range(50)]
    batch += [
        lakeside.envelope(
            bank="HATE", labels=["hate-dehumanisation"], value=known["payload"]["value"]
        ),
        lakeside.envelope(value=repeated),
        lakeside.envelope(value=repeated, labels=["tvec-recruitment"]),
    ]
    results = submit(bob, *batch).json()["results"]
    assert {r["review_state"] for r in results} == {"approved"}
    assert Signal.objects.filter(status="active").count() == 52
    corroborated = Signal.objects.get(value=known["payload"]["value"])
    assert corroborated.submissions.filter(review_state="approved").count() == 2
    assert set(Signal.objects.get(value=repeated).labels.values_list("slug", flat=True)) == {
        "tvec-glorification",
        "tvec-recruitment",
    }
    entries = list(ChangeLogEntry.objects.order_by("sequence"))
    assert [e.sequence for e in entries] == list(range(len(entries)))
    # Each bulk-listed entry says exactly what the one-by-one path would have said.
    for entry in entries:
        logged = json.loads(bytes(entry.entry))
        if logged["op"] != "add" or logged["value"] in (repeated, known["payload"]["value"]):
            continue
        signal = Signal.objects.get(pk=logged["signal"])
        expected = entry_material(signal, op="add", sequence=entry.sequence, at=entry.created_at)
        assert logged == json.loads(json.dumps(expected))


def test_a_batch_is_one_audit_event_whose_digest_names_the_submissions_it_accepted(
    alice, bob, signer_for
):
    from accounts.models import AuditEvent

    lakeside = signer_for("lakeside/admin")
    batch = [lakeside.envelope() for _ in range(20)] + [lakeside.envelope(bank="NOPE")]
    before = AuditEvent.objects.count()
    submit(bob, *batch)

    events = list(AuditEvent.objects.order_by("sequence")[before:])
    assert [e.action for e in events] == ["hashbank.submission.batch_received"]
    detail = events[0].detail
    assert (detail["accepted"], detail["rejected"], detail["approved_on_arrival"]) == (20, 1, 20)
    # An auditor finds the batch's submissions by organisation and time of receipt, and
    # checks them against the digest.
    received = Submission.objects.filter(
        organisation__slug="lakeside", received_at=dt.datetime.fromisoformat(detail["received_at"])
    )
    ids = sorted(str(i) for i in received.values_list("submission_id", flat=True))
    assert detail["submissions_sha256"] == hashlib.sha256("\n".join(ids).encode()).hexdigest()
    assert all(s.auto_approved and s.log_entry_id and s.signal_id for s in received)
    assert {str(s.log_entry.signal_id) for s in received} == {str(s.signal_id) for s in received}


def test_a_replay_is_judged_on_canonical_bytes_not_on_the_bytes_sent(alice, signer_for):
    signer = signer_for("northwind/admin")
    envelope = signer.envelope()
    first = submit(alice, envelope).json()["results"][0]
    reordered = {
        "signature": envelope["signature"],
        "payload": dict(reversed(list(envelope["payload"].items()))),
    }
    body = json.dumps({"submissions": [reordered]}, indent=3, ensure_ascii=True)
    again = alice.client().post("/api/v1/submissions/", data=body, content_type="application/json")
    assert again.json()["results"][0] == {**first, "status": "replayed", "index": 0}

    with_null_note = signer.envelope(**{**envelope["payload"], "note": None})
    result = submit(alice, with_null_note).json()["results"][0]
    assert (result["status"], result["error"]["code"]) == ("rejected", "id_conflict")
    assert Submission.objects.count() == 1
