"""What the witnessing and dispute tests do inside hub A's process (tests/peering/conftest.py,
`call_on`)."""

from __future__ import annotations

from typing import Any


def peer_writer_key(*, peer_slug: str) -> str:
    """An API key of the peer hub's organisation that may write (post cosignatures, open
    disputes), as A's staff would issue it to B."""
    from accounts.audit import AuditContext
    from accounts.models import Organisation
    from accounts.services import api_key_issue

    _, secret = api_key_issue(
        organisation=Organisation.objects.get(slug=peer_slug),
        name="forwarding and witnessing",
        role="peer",
        scope="read_write",
        expires_at=None,
        context=AuditContext.system(),
    )
    return secret


def configure_witness(*, peer_slug: str, name: str, verifier_key: str, banks: list[str]) -> None:
    """A's staff configure the peer hub as a witness of `banks`."""
    from accounts.models import Organisation
    from hashbank.models import Bank, Witness

    witness = Witness.objects.create(
        name=name, verifier_key=verifier_key, organisation=Organisation.objects.get(slug=peer_slug)
    )
    witness.banks.set(Bank.objects.filter(name__in=banks))


def checkpoint(*, bank: str) -> str:
    """The bank's latest checkpoint as A serves it, cosignatures included."""
    from hashbank.models import Bank
    from hashbank.services import transparency

    return transparency.checkpoint_note(transparency.checkpoint_latest(Bank.objects.get(name=bank)))


def disputes() -> list[dict[str, Any]]:
    from hashbank.models import Dispute

    return [
        {
            "id": str(d.public_id),
            "opened_by": d.opened_by.slug,
            "value": d.signal.value,
            "bank": d.signal.bank.name,
            "grounds": d.grounds,
            "evidence": d.evidence,
            "state": d.state,
        }
        for d in Dispute.objects.select_related("opened_by", "signal__bank")
    ]


def decide(*, dispute_id: str, outcome: str, reason: str) -> str:
    """A's moderator decides the dispute."""
    from accounts.audit import AuditContext
    from accounts.models import User
    from hashbank.models import Dispute
    from hashbank.services import dispute_decide

    decided = dispute_decide(
        dispute=Dispute.objects.get(public_id=dispute_id),
        outcome=outcome,
        reason=reason,
        reviewer=User.objects.get(email="moderator@consortium.example"),
        context=AuditContext.system(),
    )
    return decided.state


def appeal(*, dispute_id: str, organisation: str, grounds: str) -> str:
    """A party at A (a member whose submission supports the hash) appeals A's decision."""
    from accounts.audit import AuditContext
    from accounts.models import Organisation
    from hashbank.models import Dispute
    from hashbank.services import dispute_appeal

    appealed = dispute_appeal(
        dispute=Dispute.objects.get(public_id=dispute_id),
        organisation=Organisation.objects.get(slug=organisation),
        grounds=grounds,
        context=AuditContext.system(),
    )
    return appealed.state


def decide_appeal(*, dispute_id: str, outcome: str, reason: str) -> str:
    """Another reviewer at A than the first decides the appeal."""
    from accounts.audit import AuditContext
    from accounts.models import User
    from hashbank.models import Dispute
    from hashbank.services import dispute_decide_appeal

    decided = dispute_decide_appeal(
        dispute=Dispute.objects.get(public_id=dispute_id),
        outcome=outcome,
        reason=reason,
        reviewer=User.objects.get(email="governance@consortium.example"),
        context=AuditContext.system(),
    )
    return decided.state


def close_appeal_window(*, dispute_id: str) -> None:
    """The decision's appeal window passes without an appeal."""
    import datetime as dt

    from django.conf import settings
    from django.utils import timezone

    from hashbank.models import Dispute

    days = settings.DISPUTE_APPEAL_WINDOW_DAYS + 1
    Dispute.objects.filter(public_id=dispute_id).update(
        decided_at=timezone.now() - dt.timedelta(days=days)
    )
