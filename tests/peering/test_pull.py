"""Hub B (this test's Django) pulls banks from hub A (a process of its own): verified
against A's key, checkpoints and consistency proofs, with the member envelopes behind each
hash; what A does not share never arrives; a removal at A follows; an A whose log
contradicts itself is quarantined with the proof."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core import mail
from rest_framework.test import APIClient

from accounts import grants
from accounts.audit import AuditContext
from accounts.models import AuditEvent, Organisation, OrganisationKind
from accounts.services import api_key_issue, organisation_create
from federation.peering.models import (
    AgreementState,
    PeeringAgreement,
    Quarantine,
    ReceivedBank,
    ReceivedEnvelope,
)
from federation.peering.services import (
    agreement_shared_banks_set,
    quarantine_lift,
    received_bank_pull,
    received_bank_register,
)
from hashbank.models import Bank, ChangeLogEntry, Signal
from hashbank.services.transparency import checkpoint_latest
from hashfed_wire import ed25519, note, provenance


def agreement_with(hub, *, base_url: str | None = None) -> PeeringAgreement:
    """B's side of the agreement with A, as staff would register it."""
    organisation = organisation_create(
        slug="hub-a",
        name="Hub A",
        kind=OrganisationKind.PEER_HUB,
        country="DE",
        context=AuditContext.system(),
    )
    return PeeringAgreement.objects.create(
        organisation=organisation,
        origin=hub.peer["origin"],
        base_url=base_url or hub.url,
        public_key=hub.peer["vkey"],
        pull_credential=hub.peer["api_key"],
    )


def receive(agreement, remote: str, *, may_pass_on: bool = False) -> ReceivedBank:
    return received_bank_register(
        agreement=agreement,
        remote_name=remote,
        may_pass_on=may_pass_on,
        local_name=f"{remote}-A",
        context=AuditContext.system(),
    )


def listed_values(received: ReceivedBank) -> set[str]:
    return set(
        Signal.objects.filter(bank=received.bank)
        .exclude(status="removed")
        .values_list("value", flat=True)
    )


def pulled(received: ReceivedBank):
    received.refresh_from_db()
    result = received_bank_pull(received)
    received.refresh_from_db()
    return result


def test_b_pulls_what_a_shares_verified_and_follows_its_removals(hub_a, cast):
    tvec = hub_a.call("publish", bank="TVEC", count=3)
    shown = hub_a.call("publish", bank="OPEN", count=2)
    hub_a.call("publish", bank="PRIV", count=2)
    agreement = agreement_with(hub_a)
    received_tvec, received_open = receive(agreement, "TVEC"), receive(agreement, "OPEN")
    received_priv = receive(agreement, "PRIV")

    result = pulled(received_tvec)
    assert result.error == "" and result.entries == 3
    assert listed_values(received_tvec) == set(tvec)
    local = received_tvec.bank
    assert local.origin_hub == "hub-a.test" and not local.peer_shareable
    # The position and A's checkpoint are recorded with the entries, and the entries are
    # logged again in this hub's own log, under this hub's checkpoints.
    assert received_tvec.position > 0 and received_tvec.checkpoint_size == 3
    assert received_tvec.checkpoint_text.startswith("hub-a.test/banks/TVEC\n3\n")
    assert ChangeLogEntry.objects.filter(bank=local).count() == 3
    assert checkpoint_latest(local).note.startswith("hub.test/banks/TVEC-A\n3\n")
    # TVEC does not show its contributors: A does not disclose the envelopes, B keeps
    # the digests its entries commit to and says so.
    kept = ReceivedEnvelope.objects.filter(agreement=agreement)
    assert kept.count() == 3 and not kept.filter(disclosed=True).exists()

    # OPEN shows them: each envelope fetched, its member signature checked with the key A
    # publishes, its digest recomputed; kept so members here see where a hash came from.
    assert pulled(received_open).error == ""
    assert listed_values(received_open) == set(shown)
    disclosed = ReceivedEnvelope.objects.filter(agreement=agreement, disclosed=True)
    assert disclosed.count() == 2
    for envelope in disclosed:
        payload, signature = bytes(envelope.canonical_payload), base64.b64decode(envelope.signature)
        Ed25519PublicKey.from_public_bytes(base64.b64decode(envelope.public_key)).verify(
            signature, payload
        )
        assert provenance.envelope_digest(payload, signature, envelope.key_id) == envelope.digest
        assert envelope.organisation == "northwind"
    entry = ChangeLogEntry.objects.filter(bank=received_open.bank).first()
    assert b'"organisation"' not in bytes(entry.entry)  # this hub's bank hides contributors
    # A member here fetches it from this hub once the local bank shows its contributors,
    # with the origin named; another organisation's role that does not read the bank does not.
    digest = disclosed.first().digest
    alice, pebble = cast["northwind/admin"].client(), cast["pebble/admin"].client()
    assert alice.get(f"/api/v1/envelopes/{digest}").status_code == 404
    Bank.objects.filter(pk=received_open.bank.pk).update(show_contributors=True)
    fetched = alice.get(f"/api/v1/envelopes/{digest}")
    assert fetched.status_code == 200
    assert fetched.json()["origin_hub"] == "hub-a.test"
    assert fetched.json()["organisation"] == "northwind" and fetched.json()["verifiable"]
    Bank.objects.filter(pk=received_open.bank.pk).update(read_access="granted")
    assert pebble.get(f"/api/v1/envelopes/{digest}").status_code == 404

    # PRIV is not shared with B at A: nothing arrives, nothing is imported.
    result = pulled(received_priv)
    assert "400" in result.error and "unknown_bank" in result.error
    assert listed_values(received_priv) == set() and received_priv.position == 0

    # A removal at A, and more hashes: the next pull brings both, through B's own log.
    hub_a.call("withdraw", value=tvec[0])
    more = hub_a.call("publish", bank="TVEC", count=2)
    result = pulled(received_tvec)
    assert result.error == "" and result.entries == 3
    assert listed_values(received_tvec) == {*tvec[1:], *more}
    removal = ChangeLogEntry.objects.filter(bank=local, op="remove").get()
    assert tvec[0].encode() in bytes(removal.entry)
    # Pulling again changes nothing (idempotent): no new entry, same list.
    head = ChangeLogEntry.objects.count()
    assert pulled(received_tvec).entries == 0
    assert ChangeLogEntry.objects.count() == head
    assert listed_values(received_tvec) == {*tvec[1:], *more}
    assert agreement.quarantines.count() == 0


def test_a_rewritten_entry_at_a_is_caught_and_a_quarantined(hub_a, cast):
    hub_a.call("publish", bank="TVEC", count=3)
    agreement = agreement_with(hub_a)
    received = receive(agreement, "TVEC")
    assert pulled(received).error == ""
    hub_a.call("publish", bank="TVEC", count=2)
    # Someone rewrites an entry B has not pulled yet, in A's database.
    hub_a.call("tamper_entry", bank="TVEC", index=3)

    result = pulled(received)
    assert result.quarantine is not None
    quarantine = Quarantine.objects.get()
    assert quarantine.evidence["kind"] == "root_mismatch"
    assert quarantine.checkpoint_before == received.checkpoint_text
    assert (
        note.open_checkpoint(
            quarantine.checkpoint_after, [note.parse_verifier_key(agreement.public_key)]
        ).checkpoint.size
        == 5
    )
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.QUARANTINED
    # Nothing of the page was imported, the recorded position did not move.
    assert received.position > 0 and received.tree_size == 3
    assert Signal.objects.filter(bank=received.bank).count() == 3
    assert AuditEvent.objects.filter(action="peering.quarantine.opened").exists()
    assert [m.to for m in mail.outbox] == [["governance@consortium.example"]]
    assert "hub-a.test" in mail.outbox[0].subject
    # No further import until lifted.
    assert "quarantined" in pulled(received).error


def test_a_split_view_at_a_is_proven_by_its_two_checkpoints(hub_a, cast):
    hub_a.call("publish", bank="TVEC", count=3)
    agreement = agreement_with(hub_a)
    received = receive(agreement, "TVEC")
    assert pulled(received).error == ""
    recorded = received.checkpoint_text
    forked = hub_a.call("fork_latest_checkpoint", bank="TVEC")

    result = pulled(received)
    assert result.quarantine is not None
    quarantine = result.quarantine
    assert quarantine.evidence["kind"] == "fork"
    assert (quarantine.checkpoint_before, quarantine.checkpoint_after) == (recorded, forked)
    # Both are signed by A's key, of the same size, with different roots: A cannot deny it.
    key = note.parse_verifier_key(agreement.public_key)
    first = note.open_checkpoint(recorded, [key]).checkpoint
    second = note.open_checkpoint(forked, [key]).checkpoint
    assert first.size == second.size and first.root_hash != second.root_hash

    staff = Organisation.objects.get(slug="consortium").memberships.first().user
    quarantine_lift(quarantine=quarantine, context=AuditContext(user=staff))
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.ACTIVE
    lifted = AuditEvent.objects.get(action="peering.quarantine.lifted")
    assert lifted.detail["after"] == {"state": "active"}
    # A still serves the forked view: the next pull quarantines it again.
    assert pulled(received).quarantine is not None


def test_a_peer_address_outside_the_policy_is_refused(cast, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    private = Ed25519PrivateKey.generate()
    organisation = organisation_create(
        slug="hub-z",
        name="Hub Z",
        kind=OrganisationKind.PEER_HUB,
        country="DE",
        context=AuditContext.system(),
    )
    for url in ("http://127.0.0.1:9", "https://10.1.2.3", "https://169.254.169.254"):
        PeeringAgreement.objects.filter(organisation=organisation).delete()
        agreement = PeeringAgreement.objects.create(
            organisation=organisation,
            origin="hub-z.test",
            base_url=url,
            public_key=note.verifier_key("hub-z.test", ed25519.public_key_raw(private)),
        )
        received = ReceivedBank.objects.filter(agreement=agreement).first() or receive(
            agreement, "TVEC"
        )
        result = pulled(received)
        assert "address is refused" in result.error, result.error
        assert received.position == 0
        ReceivedBank.objects.filter(agreement=agreement).delete()


def test_a_hash_received_without_pass_on_never_reaches_another_peer(hub_a, cast):
    kept = hub_a.call("publish", bank="TVEC", count=2)
    passed = hub_a.call("publish", bank="OPEN", count=2)
    agreement = agreement_with(hub_a)
    no_pass_on = receive(agreement, "TVEC", may_pass_on=False)
    pass_on = receive(agreement, "OPEN", may_pass_on=True)
    assert pulled(no_pass_on).error == "" and pulled(pass_on).error == ""

    # Hub C is another peer of B. Staff try to share everything with it: the bank whose
    # origin forbids passing it on is left out, and even a read grant given by hand on it
    # does not open it.
    hub_c = organisation_create(
        slug="hub-c",
        name="Hub C",
        kind=OrganisationKind.PEER_HUB,
        country="FR",
        context=AuditContext.system(),
    )
    to_c = PeeringAgreement.objects.create(
        organisation=hub_c,
        origin="hub-c.test",
        base_url="https://hub-c.example",
        public_key="-",
    )
    shared = agreement_shared_banks_set(
        agreement=to_c,
        banks=[no_pass_on.bank, pass_on.bank],
        context=AuditContext.system(),
    )
    assert shared == [pass_on.bank]
    grants.grant(organisation=hub_c, permission="hashbank.read_bank", obj=no_pass_on.bank)
    _, key = api_key_issue(
        organisation=hub_c,
        name="pull",
        role="peer",
        scope="read",
        expires_at=None,
        context=AuditContext.system(),
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    page = client.get("/api/v1/sync/", {"cursor": 0, "limit": 10000})
    assert page.status_code == 200
    values = {entry["value"] for entry in page.json()["entries"]}
    assert values >= set(passed) and not values & set(kept)
    assert no_pass_on.bank.name not in page.json()["checkpoints"]
    refused = client.get("/api/v1/sync/", {"bank": no_pass_on.bank.name})
    assert refused.status_code == 400 and "bank" in refused.json()["error"]["fields"]
    assert client.get(f"/api/v1/banks/{no_pass_on.bank.name}/checkpoint").status_code == 404
    banks = {bank["name"] for bank in client.get("/api/v1/banks/").json()}
    assert pass_on.bank.name in banks and no_pass_on.bank.name not in banks
    lookup = client.post(
        "/api/v1/lookup/",
        {"queries": [{"signal_type": "pdq", "value": value} for value in kept]},
        format="json",
    )
    assert lookup.status_code == 403  # a peer hub syncs, it does not look up
    taxii = APIClient()
    taxii.credentials(
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"apikey:{key}".encode()).decode(),
        HTTP_ACCEPT="application/taxii+json;version=2.1",
    )
    collections = taxii.get("/taxii2/hashfed/collections/")
    titles = {c["title"] for c in collections.json().get("collections", [])}
    assert no_pass_on.bank.name not in titles
