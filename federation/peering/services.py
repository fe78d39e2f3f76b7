"""Peering with other hubs: what an agreement shares, and pulling what it receives
(docs/federation.md)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from accounts import grants
from accounts.audit import AuditContext, audit_record
from federation.peering.models import PeeringAgreement
from hashbank.models import Bank

READ_BANK = "hashbank.read_bank"


def agreement_snapshot(agreement: PeeringAgreement) -> dict[str, object]:
    """What the audit trail keeps of an agreement, before and after a change."""
    return {
        "organisation": agreement.organisation.slug,
        "origin": agreement.origin,
        "base_url": agreement.base_url,
        "public_key": agreement.public_key,
        "state": agreement.state,
        "shared_banks": sorted(agreement.shared_banks.values_list("name", flat=True))
        if agreement.pk
        else [],
        "received_banks": sorted(
            f"{r.remote_name}->{r.bank.name}{' (may pass on)' if r.may_pass_on else ''}"
            for r in agreement.received_banks.select_related("bank")
        )
        if agreement.pk
        else [],
    }


@transaction.atomic
def agreement_shared_banks_set(
    *, agreement: PeeringAgreement, banks: Iterable[Bank], context: AuditContext
) -> list[Bank]:
    """Share `banks` with the peer, and only them: the agreement's shared banks and the
    peer organisation's read grants follow, for banks marked shareable with peers (others
    are left out). Returns the banks shared."""
    shared = [bank for bank in banks if bank.peer_shareable]
    before = sorted(agreement.shared_banks.values_list("name", flat=True))
    agreement.shared_banks.set(shared)
    organisation = agreement.organisation
    keep = {bank.pk for bank in shared}
    for bank in Bank.objects.all():
        granted = grants.has_grant(organisation=organisation, permission=READ_BANK, obj=bank)
        if bank.pk in keep and not granted:
            grants.grant(organisation=organisation, permission=READ_BANK, obj=bank)
        elif bank.pk not in keep and granted:
            grants.revoke(organisation=organisation, permission=READ_BANK, obj=bank)
    after = sorted(bank.name for bank in shared)
    if before != after:
        audit_record(
            action="peering.agreement.shared_banks",
            context=context,
            target=agreement,
            organisation=organisation,
            detail={"before": before, "after": after},
        )
    return shared
