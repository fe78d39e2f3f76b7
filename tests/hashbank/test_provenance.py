"""Every listed hash traceable to the member signature behind it, and free text kept out of
the log's leaves so it can be erased without breaking the log (docs/signing.md,
"Provenance"; docs/sync.md, "Disclosures")."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import secrets
import urllib.error
import urllib.request

import pytest
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import AuditEvent, Organisation
from accounts.services import signing_key_revoke
from federation.incidents.models import Incident
from federation.incidents.services import incident_declare
from hashbank.models import Bank, ChangeLogEntry, EntryDisclosure, Submission
from hashbank.services import transparency
from hashbank.services.provenance import (
    erase_disclosures,
    erase_expired_disclosures,
    submission_note_erase,
)
from hashbank.services.snapshots import snapshot_open, snapshots_create
from hashfed_wire import merkle, provenance
from hashfed_wire.envelope import envelope_from_obj, verify
from tests.conftest import approve_all, random_pdq, submit

# --- through the API, over real HTTP, as a member would ---------------------------------


def http_json(base: str, api_key: str, path: str) -> tuple[int, object]:
    request = urllib.request.Request(
        base + path, headers={"Authorization": f"Bearer {api_key}"}, method="GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def all_pages(base: str, api_key: str, path: str) -> list[dict]:
    results, offset = [], 0
    while True:
        status, body = http_json(base, api_key, f"{path}?limit=2&offset={offset}")
        assert status == 200, body
        results += body["results"]
        if body["next"] is None:
            return results
        offset += 2


def hate_submissions(cast, signer_for) -> list[str]:
    """Three values in HATE (shows contributors): one supported by two members."""
    shared = random_pdq()
    values = [shared, random_pdq(), random_pdq()]
    north, lake = signer_for("northwind/admin"), signer_for("lakeside/admin")
    hate = {"bank": "HATE", "labels": ["hate-dehumanisation"]}
    submit(cast["northwind/analyst"], *(north.envelope(value=v, **hate) for v in values[:2]))
    submit(cast["lakeside/analyst"], lake.envelope(value=shared, **hate))
    submit(cast["lakeside/analyst"], lake.envelope(value=values[2], **hate))
    approve_all()
    return values


@pytest.mark.django_db(transaction=True)
def test_a_member_verifies_the_signature_behind_every_listed_hash_using_only_the_api(
    live_server, cast, signer_for
):
    values = hate_submissions(cast, signer_for)
    # Pebble, an associate member that contributed nothing, reads HATE and checks it all.
    key = cast["pebble/admin"].account.api_key
    base = live_server.url
    status, page = http_json(base, key, "/api/v1/sync/?cursor=0&limit=1000")
    assert status == 200
    entries = [e for e in page["entries"] if e["bank"] == "HATE"]
    keys = {k["key_id"]: k for k in all_pages(base, key, "/api/v1/keys/")}
    listed: dict[str, dict] = {}
    for entry in entries:
        if entry["op"] == "remove":
            listed.pop(entry["value"], None)
        else:
            listed[entry["value"]] = entry
    assert set(listed) == set(values)
    checked = 0
    for entry in listed.values():
        assert entry["envelopes"], "every listed hash has an envelope behind it"
        assert sorted({e["organisation"] for e in entry["envelopes"]}) == entry["contributors"]
        for item in entry["envelopes"]:
            status, envelope = http_json(base, key, f"/api/v1/envelopes/{item['digest']}")
            assert status == 200, envelope
            payload = base64.b64decode(envelope["canonical_payload"])
            signature = base64.b64decode(envelope["signature"])
            assert envelope["key_id"] == item["key_id"]
            assert envelope["organisation"] == item["organisation"]
            assert provenance.envelope_digest(payload, signature, item["key_id"]) == item["digest"]
            signed = envelope_from_obj(
                {"payload": json.loads(payload), "signature": envelope["signature"]}
            )
            assert signed.canonical == payload
            published = keys[item["key_id"]]
            assert published["organisation"] == item["organisation"]
            assert verify(base64.b64decode(published["public_key"]), signed)
            assert published["revoked_at"] is None
            assert (signed.bank, signed.signal_type, signed.value) == (
                "HATE",
                entry["signal_type"],
                entry["value"],
            )
            assert signed.organisation == item["organisation"]
            checked += 1
    assert checked == 4
    # A forged envelope would not do: one flipped bit in the signature fails verification.
    item = next(iter(listed.values()))["envelopes"][0]
    _, envelope = http_json(base, key, f"/api/v1/envelopes/{item['digest']}")
    bad = bytearray(base64.b64decode(envelope["signature"]))
    bad[0] ^= 1
    forged = envelope_from_obj(
        {
            "payload": json.loads(base64.b64decode(envelope["canonical_payload"])),
            "signature": base64.b64encode(bytes(bad)).decode(),
        }
    )
    assert not verify(base64.b64decode(keys[item["key_id"]]["public_key"]), forged)


def tvec_listing(cast, signer_for) -> Submission:
    north = signer_for("northwind/admin")
    submit(cast["northwind/analyst"], north.envelope(value=random_pdq()))
    approve_all()
    return Submission.objects.get(organisation__slug="northwind", bank__name="TVEC")


def test_entries_of_a_bank_hiding_contributors_carry_only_the_commitment(cast, signer_for):
    submission = tvec_listing(cast, signer_for)
    entry = ChangeLogEntry.objects.get(signal=submission.signal)
    material = json.loads(bytes(entry.entry))
    assert material["envelopes"] == [{"digest": submission.envelope_digest}]
    assert "contributors" not in material
    raw = bytes(entry.entry)
    assert b"northwind" not in raw
    assert submission.signing_key.key_id.encode() not in raw


def test_a_hidden_banks_envelope_is_404_to_another_member_and_there_for_its_submitter(
    cast, signer_for
):
    submission = tvec_listing(cast, signer_for)
    path = f"/api/v1/envelopes/{submission.envelope_digest}"
    unknown = f"/api/v1/envelopes/{secrets.token_hex(32)}"
    # Lakeside reads TVEC too: the envelope exists, yet it looks exactly like one that does not.
    other = cast["lakeside/admin"].client()
    refused, missing = other.get(path), other.get(unknown)
    assert refused.status_code == missing.status_code == 404
    assert refused.json() == missing.json()
    assert other.get(f"/api/v1/submissions/{submission.submission_id}/envelope").status_code == 404
    assert other.get("/api/v1/envelopes/not-a-digest").status_code == 404

    own = cast["northwind/viewer"].client()
    by_digest = own.get(path)
    assert by_digest.status_code == 200, by_digest.json()
    by_id = own.get(f"/api/v1/submissions/{submission.submission_id}/envelope")
    assert by_id.json() == by_digest.json()
    detail = own.get(f"/api/v1/submissions/{submission.submission_id}/").json()
    assert detail["envelope_digest"] == submission.envelope_digest
    body = by_digest.json()
    assert body["organisation"] == "northwind"
    assert body["verifiable"] is True and body["explanation"] is None
    assert base64.b64decode(body["canonical_payload"]) == bytes(submission.canonical_payload)


def test_an_approved_envelope_of_a_bank_showing_contributors_is_readable_a_pending_one_is_not(
    cast, signer_for
):
    north = signer_for("northwind/admin")
    hate = {"bank": "HATE", "labels": ["hate-dehumanisation"]}
    submit(cast["northwind/analyst"], north.envelope(value=random_pdq(), **hate))
    pending = Submission.objects.get(organisation__slug="northwind", bank__name="HATE")
    reader = cast["pebble/admin"].client()
    assert reader.get(f"/api/v1/envelopes/{pending.envelope_digest}").status_code == 404
    approve_all()
    assert reader.get(f"/api/v1/envelopes/{pending.envelope_digest}").status_code == 200


@pytest.mark.parametrize("label", ["ruritania-ctu/liaison", "open-harms-lab/researcher"])
def test_authorities_and_researchers_reach_neither_keys_nor_envelopes(cast, signer_for, label):
    values = hate_submissions(cast, signer_for)
    digest = Submission.objects.filter(value=values[0]).first().envelope_digest
    client = cast[label].client()
    for path in (
        "/api/v1/keys/",
        f"/api/v1/envelopes/{digest}",
        f"/api/v1/envelopes/{secrets.token_hex(32)}",
    ):
        response = client.get(path)
        assert response.status_code == 403, (path, response.status_code)
        assert response.json()["error"]["code"] == "permission_denied"


def test_keys_list_every_members_keys_and_a_compromised_key_shows_as_revoked(cast, signer_for):
    north = signer_for("northwind/admin")
    signer_for("lakeside/admin")
    revoked_at = timezone.now()
    signing_key_revoke(
        signing_key=north.key,
        reason="compromised",
        compromised_since=revoked_at - dt.timedelta(days=2),
        context=AuditContext.system(),
    )
    listing = cast["lakeside/analyst"].client().get("/api/v1/keys/?limit=1000")
    assert listing.status_code == 200
    keys = {k["key_id"]: k for k in listing.json()["results"]}
    mine = keys[north.key.key_id]
    assert mine["organisation"] == "northwind"
    assert base64.b64decode(mine["public_key"]) == north.key.public_key_bytes
    assert mine["revoked_at"] is not None
    assert mine["revocation_reason"] == "compromised"
    assert mine["compromised"] is True
    assert mine["compromised_since"] is not None
    assert {k["organisation"] for k in keys.values()} >= {"northwind", "lakeside"}
    assert not [k for k in keys.values() if k["organisation"] in ("ruritania-ctu", "consortium")]


# --- disclosures: the text beside an entry, erasable ------------------------------------


def declare(slug: str) -> None:
    incident_declare(
        incident=Incident(
            slug=slug, title="Crisis", description="d", level=2, started_at=timezone.now()
        ),
        authorities=[],
        context=AuditContext.system(),
    )


def test_an_incident_is_committed_to_in_the_leaf_and_disclosed_beside_it(cast, signer_for):
    declare("river-crisis")
    north = signer_for("northwind/admin")
    submit(cast["northwind/analyst"], north.envelope(value=random_pdq(), incident="river-crisis"))
    entry = ChangeLogEntry.objects.get(bank__name="TVEC")
    assert b"river-crisis" not in bytes(entry.entry)
    page = cast["lakeside/admin"].client().get("/api/v1/sync/?cursor=0")
    body = page.json()
    [listed] = [e for e in body["entries"] if e["sequence"] == entry.sequence]
    disclosure = body["disclosures"][str(entry.sequence)]
    assert disclosure["incident"] == "river-crisis"
    assert (
        provenance.open_commitment("incident", listed["incident_commitment"], disclosure)
        == "river-crisis"
    )
    with pytest.raises(provenance.ProvenanceError):
        provenance.open_commitment(
            "incident", listed["incident_commitment"], {**disclosure, "incident": "other"}
        )


def tree_state(bank: Bank) -> tuple[int, bytes, list[bytes]]:
    size = transparency.tree_size(bank.pk)
    return (
        size,
        transparency.tree_root(bank.pk, size),
        [
            bytes.fromhex(h)
            for h in ChangeLogEntry.objects.filter(bank=bank)
            .order_by("bank_index")
            .values_list("leaf_hash", flat=True)
        ],
    )


def test_a_page_discloses_the_text_of_its_own_entries_and_no_others(cast, signer_for):
    declare("river-crisis")
    north = signer_for("northwind/admin")
    for _ in range(3):
        envelope = north.envelope(value=random_pdq(), incident="river-crisis")
        submit(cast["northwind/analyst"], envelope)
    first, middle, last = sorted(ChangeLogEntry.objects.values_list("sequence", flat=True))
    client = cast["lakeside/admin"].client()
    body = client.get(f"/api/v1/sync/?cursor={middle}&limit=1").json()
    assert [entry["sequence"] for entry in body["entries"]] == [middle]
    assert list(body["disclosures"]) == [str(middle)]
    whole = client.get("/api/v1/sync/?cursor=0").json()
    assert sorted(whole["disclosures"], key=int) == [str(first), str(middle), str(last)]


def test_erasing_disclosures_keeps_every_checkpoint_and_proof_and_removes_the_text(
    cast, signer_for
):
    declare("harbour-crisis")
    north = signer_for("northwind/admin")
    for _ in range(3):
        submit(
            cast["northwind/analyst"], north.envelope(value=random_pdq(), incident="harbour-crisis")
        )
    submit(cast["northwind/analyst"], north.envelope(value=random_pdq()))
    approve_all()
    tvec = Bank.objects.get(name="TVEC")
    checkpoint = transparency.checkpoint_issue(tvec)
    size, root, leaves = tree_state(tvec)
    assert size == 4
    snapshots_create()
    client = cast["lakeside/admin"].client()
    before = client.get("/api/v1/sync/?cursor=0")
    assert b"harbour-crisis" in before.content
    entries_before = before.json()["entries"]

    assert erase_disclosures(context=AuditContext.system(), incident="harbour-crisis") == 3
    assert not EntryDisclosure.objects.exists()
    assert AuditEvent.objects.filter(action="hashbank.disclosures.erased").exists()

    # The log is as it was: same leaves, same root, the old checkpoint still verifies against
    # it, and every inclusion and consistency proof holds.
    assert tree_state(tvec) == (size, root, leaves)
    transparency.checkpoints_issue()
    assert transparency.checkpoint_latest(tvec).root_hash == checkpoint.root_hash
    for index in range(size):
        body = client.get(f"/api/v1/banks/TVEC/proof/inclusion?index={index}&size={size}").json()
        merkle.verify_inclusion(
            leaves[index], index, size, [bytes.fromhex(p) for p in body["proof"]], root
        )
    for old in range(size + 1):
        body = client.get(f"/api/v1/banks/TVEC/proof/consistency?from={old}&to={size}").json()
        merkle.verify_consistency(
            old,
            size,
            merkle.root_hash(leaves[:old]),
            root,
            [bytes.fromhex(p) for p in body["proof"]],
        )
    # The text is in no response any more: the page omits the disclosures, entry bytes are
    # unchanged, tiles and snapshots never held it.
    after = client.get("/api/v1/sync/?cursor=0")
    assert b"harbour-crisis" not in after.content
    assert after.json()["disclosures"] == {}
    assert after.json()["entries"] == entries_before
    tile = client.get("/api/v1/banks/TVEC/tile/entries/000.p/4")
    assert tile.status_code == 200
    assert b"harbour-crisis" not in tile.content
    snapshots = snapshots_create()
    for snapshot in snapshots:
        with snapshot_open(snapshot) as handle:
            assert b"harbour-crisis" not in gzip.decompress(handle.read())


def test_the_retention_job_erases_only_superseded_disclosures_past_retention(
    cast, signer_for, settings
):
    settings.HASHBANK_DISCLOSURE_RETENTION_DAYS = 30
    declare("dam-crisis")
    north = signer_for("northwind/admin")
    submit(cast["northwind/analyst"], north.envelope(value=random_pdq(), incident="dam-crisis"))
    submit(cast["northwind/analyst"], north.envelope(value=random_pdq(), incident="dam-crisis"))
    first, second = ChangeLogEntry.objects.order_by("sequence")
    long_ago = timezone.now() - dt.timedelta(days=31)
    ChangeLogEntry.objects.filter(pk__in=[first.pk, second.pk]).update(created_at=long_ago)
    # A later entry supersedes the first signal's (lakeside corroborates it).
    lake = signer_for("lakeside/admin")
    submit(cast["lakeside/analyst"], lake.envelope(value=first.signal.value, incident="dam-crisis"))
    approve_all()
    assert ChangeLogEntry.objects.filter(signal=first.signal).count() == 2
    assert erase_expired_disclosures() == 1
    kept = set(EntryDisclosure.objects.values_list("entry__sequence", flat=True))
    assert first.sequence not in kept
    assert second.sequence in kept
    # Staff may erase by sequence, whatever the age.
    assert erase_disclosures(context=AuditContext.system(), sequences=[second.sequence]) == 1
    assert not EntryDisclosure.objects.filter(entry__sequence=second.sequence).exists()
    with pytest.raises(ValueError):
        erase_disclosures(context=AuditContext.system())


def test_a_disclosure_that_does_not_open_its_commitment_stops_the_client():
    from hashfed_client.errors import SyncError
    from hashfed_client.sync import SyncState

    salt = provenance.new_salt()
    entry = {
        "sequence": 0,
        "op": "add",
        "bank": "TVEC",
        "signal_type": "pdq",
        "value": "ab" * 32,
        "incident_commitment": provenance.commitment("incident", salt, "a"),
        "envelopes": [],
    }
    state = SyncState()
    with pytest.raises(SyncError, match="does not match"):
        state.apply([entry], {"0": {"incident": "b", "salt": salt}})
    assert state.signals == {} and state.last_sequence == -1
    state.apply([entry], {"0": {"incident": "a", "salt": salt}})
    assert state.signals[("TVEC", "pdq", "ab" * 32)]["incident"] == "a"
    erased = SyncState()
    erased.apply([entry], {})
    assert erased.signals[("TVEC", "pdq", "ab" * 32)]["incident"] is None


# --- a note erased: the signature goes, the log stays -----------------------------------


def test_erasing_a_note_makes_the_signature_unverifiable_and_the_endpoint_says_so(cast, signer_for):
    north = signer_for("northwind/admin")
    hate = {"bank": "HATE", "labels": ["hate-dehumanisation"]}
    submit(cast["northwind/analyst"], north.envelope(value=random_pdq(), note="see ticket", **hate))
    approve_all()
    submission = Submission.objects.get(organisation__slug="northwind")
    entry = ChangeLogEntry.objects.get(signal=submission.signal)
    assert b"see ticket" not in bytes(entry.entry)
    hate_bank = Bank.objects.get(name="HATE")
    size, root, leaves = tree_state(hate_bank)

    submission_note_erase(submission=submission, context=AuditContext.system())
    body = cast["pebble/admin"].client().get(f"/api/v1/envelopes/{submission.envelope_digest}")
    assert body.status_code == 200
    envelope = body.json()
    assert envelope["verifiable"] is False
    assert envelope["canonical_payload"] is None
    assert envelope["erased_at"] is not None
    assert "can no longer be verified" in envelope["explanation"]
    assert envelope["digest"] == submission.envelope_digest
    assert tree_state(hate_bank) == (size, root, leaves)
    own = cast["northwind/admin"].client().get(f"/api/v1/submissions/{submission.submission_id}/")
    assert own.json()["note"] == ""


# --- staff disclosure in the admin -----------------------------------------------------


def test_staff_disclosure_of_a_hidden_banks_envelope_is_audited(cast, signer_for, client):
    from tests.conftest import sign_in

    submission = tvec_listing(cast, signer_for)
    hate_values = hate_submissions(cast, signer_for)
    shown = Submission.objects.filter(value=hate_values[1]).get()
    staff = Organisation.objects.get(slug="consortium").memberships.get(role="moderator").user
    sign_in(client, staff)
    for target, audited in ((shown, False), (submission, True)):
        before = AuditEvent.objects.filter(action="hashbank.envelope.disclosed").count()
        page = client.post(
            "/admin/hashbank/submission/?review_state=all",
            {"action": "disclose_envelopes", "_selected_action": [target.pk]},
        )
        assert page.status_code == 200
        text = page.content.decode()
        assert target.envelope_digest in text
        assert "✔ verified" in text
        after = AuditEvent.objects.filter(action="hashbank.envelope.disclosed").count()
        assert after - before == (1 if audited else 0)


def test_each_entry_lists_the_whole_support_and_a_withdrawal_drops_its_envelope(cast, signer_for):
    values = hate_submissions(cast, signer_for)
    shared = values[0]
    signal = Submission.objects.filter(value=shared).first().signal
    supporting = sorted(
        Submission.objects.filter(value=shared).values_list("envelope_digest", flat=True)
    )
    last = json.loads(bytes(ChangeLogEntry.objects.filter(signal=signal).last().entry))
    assert [e["digest"] for e in last["envelopes"]] == supporting
    lakeside = Submission.objects.get(value=shared, organisation__slug="lakeside")
    response = (
        cast["lakeside/analyst"]
        .client()
        .post(f"/api/v1/submissions/{lakeside.submission_id}/withdraw/")
    )
    assert response.status_code == 200, response.content
    after = json.loads(bytes(ChangeLogEntry.objects.filter(signal=signal).last().entry))
    assert after["op"] == "update"
    assert [e["digest"] for e in after["envelopes"]] == [
        d for d in supporting if d != lakeside.envelope_digest
    ]
    assert after["contributors"] == ["northwind"]
