"""Peering agreements in admin: staff register a peer, the banks shared with it (its read
grants follow) and received from it; the address must pass the outbound policy; every
change is audited; quarantines show their proof and only staff who may change agreements
lift them. Nobody else gets in."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client

from accounts import grants
from accounts.audit import AuditContext
from accounts.models import AuditEvent, Organisation, OrganisationKind, User
from accounts.services import organisation_create
from core.outbound import resolver_override
from federation.peering.models import AgreementState, PeeringAgreement, Quarantine
from hashbank.models import Bank
from hashbank.selectors import banks_readable_by
from hashfed_wire import ed25519, note
from tests.conftest import sign_in

ADD = "/admin/peering/peeringagreement/add/"
PUBLIC_ADDRESS = "93.184.215.14"


@pytest.fixture
def peer(cast) -> Organisation:
    return organisation_create(
        slug="hub-p",
        name="Hub P",
        kind=OrganisationKind.PEER_HUB,
        country="NL",
        context=AuditContext.system(),
    )


@pytest.fixture
def officer(cast) -> Client:
    return sign_in(Client(), User.objects.get(email="governance@consortium.example"))


def vkey(name: str) -> str:
    return note.verifier_key(name, ed25519.public_key_raw(Ed25519PrivateKey.generate()))


def form(peer: Organisation, **overrides) -> dict:
    data = {
        "organisation": peer.pk,
        "origin": "hub-p.example",
        "base_url": "https://hub-p.example",
        "public_key": vkey("hub-p.example"),
        "pull_credential": "hf_secret",
        "shared_banks": [Bank.objects.get(name="TVEC").pk],
        "state": "active",
        "notes": "",
        "received_banks-TOTAL_FORMS": "1",
        "received_banks-INITIAL_FORMS": "0",
        "received_banks-0-remote_name": "SPAM",
        "received_banks-0-local_name": "SPAM-P",
        "quarantines-TOTAL_FORMS": "0",
        "quarantines-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def post(client: Client, url: str, data: dict):
    with resolver_override(lambda host, port: [PUBLIC_ADDRESS]):
        return client.post(url, data)


def test_staff_register_a_peer_its_grants_follow_and_it_is_audited(officer, peer):
    response = post(officer, ADD, form(peer))
    assert response.status_code == 302, response.content.decode()[:3000]
    agreement = PeeringAgreement.objects.get(organisation=peer)
    assert agreement.origin == "hub-p.example"
    assert set(banks_readable_by(organisation=peer).values_list("name", flat=True)) == {"TVEC"}
    received = agreement.received_banks.get()
    assert received.bank.name == "SPAM-P" and received.bank.origin_hub == "hub-p.example"
    assert not received.may_pass_on and not received.bank.peer_shareable
    saved = AuditEvent.objects.get(action="peering.agreement.saved")
    assert saved.detail["before"] is None
    assert saved.detail["after"]["shared_banks"] == ["TVEC"]

    # Sharing nothing any more revokes the grant; the record says before and after.
    change = f"/admin/peering/peeringagreement/{agreement.pk}/change/"
    data = form(
        peer,
        shared_banks=[],
        public_key=agreement.public_key,
        **{
            "received_banks-TOTAL_FORMS": "1",
            "received_banks-INITIAL_FORMS": "1",
            "received_banks-0-id": str(received.pk),
            "received_banks-0-agreement": str(agreement.pk),
            "received_banks-0-remote_name": "SPAM",
            "received_banks-0-may_pass_on": "on",
        },
    )
    response = post(officer, change, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert not banks_readable_by(organisation=peer).exists()
    last = AuditEvent.objects.filter(action="peering.agreement.saved").order_by("-sequence")[0]
    assert last.detail["before"]["shared_banks"] == ["TVEC"]
    assert last.detail["after"]["shared_banks"] == []
    received.refresh_from_db()
    assert received.may_pass_on and received.bank.origin_allows_pass_on
    assert AuditEvent.objects.filter(action="peering.received_bank.changed").exists()


def test_a_bank_not_shareable_with_peers_cannot_be_shared(officer, peer):
    hate = Bank.objects.get(name="HATE")
    assert not hate.peer_shareable
    response = post(officer, ADD, form(peer, shared_banks=[hate.pk]))
    assert response.status_code == 200
    assert not PeeringAgreement.objects.exists()
    assert not grants.has_grant(organisation=peer, permission="hashbank.read_bank", obj=hate)


@pytest.mark.parametrize(
    "url",
    [
        "http://hub-p.example",
        "https://10.0.0.8",
        "https://127.0.0.1",
        "https://user:pw@hub-p.example",
    ],
)
def test_a_peer_address_outside_the_outbound_policy_is_refused(officer, peer, url):
    response = post(officer, ADD, form(peer, base_url=url))
    assert response.status_code == 200
    assert "base_url" in response.context["adminform"].form.errors
    assert not PeeringAgreement.objects.exists()


def test_a_key_not_named_for_the_origin_is_refused(officer, peer):
    response = post(officer, ADD, form(peer, public_key=vkey("someone-else.example")))
    assert response.status_code == 200
    assert "public_key" in response.context["adminform"].form.errors


@pytest.fixture
def quarantine(peer) -> Quarantine:
    agreement = PeeringAgreement.objects.create(
        organisation=peer,
        origin="hub-p.example",
        base_url="https://hub-p.example",
        public_key=vkey("hub-p.example"),
        state=AgreementState.QUARANTINED,
    )
    return Quarantine.objects.create(
        agreement=agreement,
        reason="two checkpoints of size 3 with different roots",
        checkpoint_before="hub-p.example/banks/TVEC\n3\nAAAA\n\n— first\n",
        checkpoint_after="hub-p.example/banks/TVEC\n3\nBBBB\n\n— second\n",
    )


def test_staff_see_the_two_checkpoints_and_lift_the_quarantine(officer, quarantine):
    page = officer.get(f"/admin/peering/quarantine/{quarantine.pk}/change/")
    assert page.status_code == 200
    assert b"AAAA" in page.content and b"BBBB" in page.content
    response = officer.post(
        "/admin/peering/quarantine/",
        {"action": "lift", "_selected_action": [quarantine.pk]},
    )
    assert response.status_code == 302
    quarantine.refresh_from_db()
    assert quarantine.lifted_at is not None
    assert quarantine.agreement.state == AgreementState.ACTIVE
    assert AuditEvent.objects.filter(action="peering.quarantine.lifted").exists()


def test_other_roles_cannot_register_peers_or_lift_quarantines(cast, peer, quarantine):
    moderator = sign_in(Client(), User.objects.get(email="moderator@consortium.example"))
    assert moderator.get(ADD).status_code == 403
    assert post(moderator, ADD, form(peer)).status_code == 403
    response = moderator.post(
        "/admin/peering/quarantine/", {"action": "lift", "_selected_action": [quarantine.pk]}
    )
    quarantine.refresh_from_db()
    assert quarantine.lifted_at is None
    assert response.status_code in (200, 302, 403)
    for email in ("admin@northwind.example", "operator@southernhub.example"):
        member = sign_in(Client(), User.objects.get(email=email))
        for url in (ADD, "/admin/peering/quarantine/", "/admin/peering/peeringagreement/"):
            response = member.get(url)
            assert response.status_code == 302 and "/login/" in response["Location"]
    assert PeeringAgreement.objects.count() == 1
