"""Three hubs, each a hub of its own: A (a process) shares two banks with B (this test's
Django, served over loopback), one that B may pass on and one that it may not; C (another
process, its own database, origin and key) peers with B and pulls from it. C receives B's
own bank and the bank B may pass on, and never anything of the other one."""

from __future__ import annotations

from accounts import grants
from accounts.audit import AuditContext
from accounts.hub_identity import hub_identity
from accounts.models import OrganisationKind
from accounts.services import api_key_issue, organisation_create
from federation.peering.models import PeeringAgreement
from federation.peering.services import agreement_shared_banks_set
from hashbank.models import Bank
from hashbank.services.transparency import checkpoints_issue
from tests.conftest import approve_all, submit
from tests.peering.test_pull import agreement_with, listed_values, pulled, receive


def b_agreement_with_c(banks: list[Bank]) -> str:
    """B's staff register C: an agreement sharing `banks` (B leaves out what it may not
    pass on), and an API key for C. Returns the key."""
    context = AuditContext.system()
    hub_c = organisation_create(
        slug="hub-c", name="Hub C", kind=OrganisationKind.PEER_HUB, country="FR", context=context
    )
    to_c = PeeringAgreement.objects.create(
        organisation=hub_c, origin="hub-c.test", base_url="https://hub-c.example", public_key="-"
    )
    agreement_shared_banks_set(agreement=to_c, banks=banks, context=context)
    _, key = api_key_issue(
        organisation=hub_c, name="pull", role="peer", scope="read", expires_at=None, context=context
    )
    return key


def test_hub_c_pulling_from_b_gets_what_b_may_pass_on_and_nothing_else(
    hub_a, peer_hub_factory, live_server, cast, alice, signer_for, settings
):
    kept = hub_a.call("publish", bank="TVEC", count=3)
    passed = hub_a.call("publish", bank="OPEN", count=2)
    to_a = agreement_with(hub_a)
    no_pass_on = receive(to_a, "TVEC", may_pass_on=False)
    pass_on = receive(to_a, "OPEN", may_pass_on=True)
    assert pulled(no_pass_on).error == "" and pulled(pass_on).error == ""
    assert listed_values(no_pass_on) == set(kept) and listed_values(pass_on) == set(passed)
    # B's own hashes, in B's own TVEC bank, shareable with peers.
    signer = signer_for("northwind/admin")
    own = [signer.payload()["value"] for _ in range(2)]
    assert submit(alice, *(signer.envelope(value=v) for v in own)).status_code in (200, 201, 207)
    approve_all()
    checkpoints_issue()
    b_own = Bank.objects.get(name="TVEC")
    assert b_own.peer_shareable
    key = b_agreement_with_c([b_own, pass_on.bank, no_pass_on.bank])
    # Even a read grant on the bank B may not pass on, given by hand, does not open it.
    grants.grant(
        organisation=PeeringAgreement.objects.get(origin="hub-c.test").organisation,
        permission="hashbank.read_bank",
        obj=no_pass_on.bank,
    )

    hub_c = peer_hub_factory("c", "hub-c.test")
    seen = hub_c.call(
        "pull_from",
        peer_slug="hub-b",
        origin=settings.HUB_ORIGIN,
        base_url=live_server.url,
        public_key=hub_identity().note_verifier_key,
        api_key=key,
        banks={"TVEC": "TVEC-B", "OPEN-A": "OPEN-A-B", "TVEC-A": "TVEC-A-B"},
    )

    pulls = seen["pulls"]
    # B's own bank and the one A lets B pass on arrive, verified against B's key and log.
    for remote, values in (("TVEC", own), ("OPEN-A", passed)):
        assert pulls[remote]["error"] == "" and not pulls[remote]["quarantined"], pulls[remote]
        assert pulls[remote]["listed"] == sorted(values)
        assert pulls[remote]["tree_size"] == len(values)
        assert pulls[remote]["checkpoint"].startswith(f"hub.test/banks/{remote}\n{len(values)}\n")
    # The other one: refused as a bank B does not have, for C; nothing imported.
    refused = pulls["TVEC-A"]
    assert "400" in refused["error"] and "unknown_bank" in refused["error"]
    assert (refused["listed"], refused["tree_size"], refused["checkpoint"]) == ([], 0, "")
    # Nowhere at C: not a signal, not in C's own log, not in what B lists or syncs to C.
    assert set(seen["values_here"]) == {*own, *passed}
    assert not {entry["value"] for entry in seen["logged_here"]} & set(kept)
    assert "TVEC-A" not in seen["peer_banks"] and {"TVEC", "OPEN-A"} <= set(seen["peer_banks"])
    assert seen["peer_sync"]["banks"] == ["OPEN-A", "TVEC"]
    assert not set(seen["peer_sync"]["values"]) & set(kept)
    assert "TVEC-A" not in seen["peer_sync"]["checkpoints"]
    assert seen["peer_checkpoint_status"] == {"TVEC": 200, "OPEN-A": 200, "TVEC-A": 404}
