"""The sync feed limited to named banks, and the caller's own opinions beside the entries."""

import json

from accounts.audit import AuditContext
from accounts.models import User
from hashbank.models import ChangeLogEntry, Signal
from hashbank.services import submission_reject
from tests.conftest import approve_all, submit


def pages(actor, query="", limit=2):
    cursor, out = 0, []
    while True:
        response = actor.client().get(f"/api/v1/sync/?cursor={cursor}&limit={limit}{query}")
        assert response.status_code == 200, response.content
        page = response.json()
        out.append((response, page))
        cursor = page["next_cursor"]
        if cursor >= page["head"]:
            return out


def listed(actor, query=""):
    state = {}
    for _, page in pages(actor, query):
        for entry in page["entries"]:
            key = (entry["bank"], entry["signal_type"], entry["value"])
            if entry["op"] == "remove":
                state.pop(key, None)
            else:
                state[key] = entry
    return state


def test_the_bank_filter_gives_only_those_banks_repeated_or_as_a_comma_list(
    cast, alice, bob, signer_for
):
    signer = signer_for("northwind/admin")
    submit(alice, signer.envelope(), signer.envelope())
    submit(alice, signer.envelope(bank="HATE", labels=["hate-dehumanisation"]))
    approve_all()
    everything = listed(bob)
    assert {key[0] for key in everything} == {"TVEC", "HATE"}
    only_hate = listed(bob, "&bank=HATE")
    assert only_hate == {k: v for k, v in everything.items() if k[0] == "HATE"}
    assert only_hate
    # A removal in the filtered feed carries its reason, as in the whole feed.
    hate_signal = Signal.objects.get(bank__name="HATE")
    submission = hate_signal.submissions.get()
    moderator = User.objects.get(email="moderator@consortium.example")
    submission_reject(
        submission=submission, reason="not violating", context=AuditContext(user=moderator)
    )
    removals = [
        entry
        for _, page in pages(bob, "&bank=HATE")
        for entry in page["entries"]
        if entry["op"] == "remove"
    ]
    assert [(e["signal"], e["reason"]) for e in removals] == [(hate_signal.pk, "rejected")]
    assert listed(bob, "&bank=HATE") == {}
    everything = listed(bob)
    assert listed(bob, "&bank=HATE&bank=TVEC") == everything
    assert listed(bob, "&bank=TVEC,HATE") == everything
    for _, page in pages(bob, "&bank=HATE"):
        assert set(page["checkpoints"]) == {"HATE"}
        # Entries are served as logged: their bytes are those stored, filter or not.
        stored = {
            bytes(e.entry)
            for e in ChangeLogEntry.objects.filter(
                sequence__in=[x["sequence"] for x in page["entries"]]
            )
        }
        for entry in page["entries"]:
            assert json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() in stored


def test_a_bank_the_caller_cannot_read_is_a_400_naming_the_field_not_an_empty_page(
    cast, alice, bob, signer_for
):
    submit(
        alice,
        signer_for("northwind/admin").envelope(bank="CSAM", labels=["csam-child-sexual-abuse"]),
    )
    approve_all()
    # Lakeside has no grant on the restricted bank; an unknown name answers the same way.
    for query in ["bank=CSAM", "bank=NO-SUCH-BANK", "bank=TVEC,CSAM", "bank=", "bank=TV%00EC"]:
        response = bob.client().get(f"/api/v1/sync/?{query}")
        assert response.status_code == 400, query
        assert "bank" in response.json()["error"]["fields"], query
    unknown = bob.client().get("/api/v1/sync/?bank=CSAM").json()["error"]
    missing = bob.client().get("/api/v1/sync/?bank=NO-SUCH-BANK").json()["error"]
    assert unknown["code"] == missing["code"] == "unknown_bank"
    assert alice.client().get("/api/v1/sync/?bank=CSAM").status_code == 200
    # The associate Pebble reads HATE only.
    assert cast["pebble/admin"].client().get("/api/v1/sync/?bank=TVEC").status_code == 400
    assert cast["pebble/admin"].client().get("/api/v1/sync/?bank=HATE").status_code == 200


def test_own_opinions_name_the_callers_opinions_only(cast, alice, bob, signer_for):
    signer = signer_for("northwind/admin")
    envelopes = [signer.envelope() for _ in range(3)]
    submit(alice, *envelopes)
    approve_all()
    first, second, third = Signal.objects.order_by("pk")
    opinion = "/api/v1/signals/{}/opinion/"
    assert (
        bob.client()
        .put(
            opinion.format(first.pk),
            {"kind": "false_positive", "reasons": "A news clip"},
            format="json",
        )
        .status_code
        == 200
    )
    assert (
        bob.client().put(opinion.format(second.pk), {"kind": "seen"}, format="json").status_code
        == 200
    )
    assert (
        alice.client()
        .put(opinion.format(third.pk), {"kind": "true_positive"}, format="json")
        .status_code
        == 200
    )
    bob_opinions, alice_opinions, viewer_opinions = {}, {}, {}
    for _, page in pages(bob, limit=100):
        bob_opinions.update(page["own_opinions"])
    for _, page in pages(alice, limit=100):
        alice_opinions.update(page["own_opinions"])
    for _, page in pages(cast["pebble/admin"], limit=100):
        viewer_opinions.update(page["own_opinions"])
    assert bob_opinions == {str(first.pk): "false_positive", str(second.pk): "seen"}
    assert alice_opinions == {str(third.pk): "true_positive"}
    assert viewer_opinions == {}
    # A page names opinions of its own entries' signals only.
    for _, page in pages(bob, limit=1):
        signals = {str(entry["signal"]) for entry in page["entries"]}
        assert set(page["own_opinions"]) <= signals
    # Another member of Lakeside sees Lakeside's opinions: they are the organisation's.
    seen = {}
    for _, page in pages(cast["lakeside/analyst"], limit=100):
        seen.update(page["own_opinions"])
    assert seen == bob_opinions


def test_filtered_and_opinion_pages_are_signed_by_the_hub(alice, bob, signer_for):
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from accounts.hub_identity import hub_identity

    submit(alice, signer_for("northwind/admin").envelope())
    approve_all()
    signal = Signal.objects.get()
    bob.client().put(f"/api/v1/signals/{signal.pk}/opinion/", {"kind": "seen"}, format="json")
    response = bob.client().get("/api/v1/sync/?bank=TVEC")
    assert response.json()["own_opinions"] == {str(signal.pk): "seen"}
    public_key = Ed25519PublicKey.from_public_bytes(hub_identity().public_key_raw)
    public_key.verify(base64.b64decode(response["X-Hashfed-Signature"]), response.content)
