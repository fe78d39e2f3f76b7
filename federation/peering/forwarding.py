"""Disputes across hubs: a member's dispute of a hash this hub received from a peer goes to
the hub the hash came from, which decides it; its decision comes back and is applied here.

This hub polls (no callback: the origin hub needs no way in to this hub, and a decision is
never lost to an unreachable receiver). Each run moves every ForwardedDispute one step:

- pending: POST the dispute to the origin's `/api/v1/disputes/` as this hub's peer
  organisation there, naming the hash by bank, type and value. Sent: the kind, the grounds,
  the evidence and the proposed labels the member wrote; never who filed it. If this hub
  already has an open dispute of that hash there (another member's, or this very one sent
  before an interruption), that one is followed instead;
- forwarded: GET the dispute there; once decided, record the outcome (decided), then
- decided: apply it here (`dispute_decide_by_origin`): overturned takes the signal off this
  hub's received bank, and the member is told either way (applied).

A failure keeps the row where it is, with the reason in `last_error`; the next run tries
again. Every step is safe to repeat.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import AuditContext
from core.errors import ServiceError
from federation.peering.models import (
    AgreementState,
    ForwardedDispute,
    ForwardedDisputeState,
    ReceivedBank,
)
from federation.peering.remote import peer_post
from federation.peering.services import PeerApi, PeerUnavailable
from hashbank.models import Dispute, DisputeState
from hashbank.services import dispute_decide_by_origin

OPEN_STATES = (DisputeState.OPEN, DisputeState.IN_REVIEW)
DECIDED_REMOTELY = ("decided", "appealed", "closed")


def disputes_to_forward() -> list[ForwardedDispute]:
    """A ForwardedDispute (pending) for each open dispute of a signal in a received bank that
    has none yet."""
    created = []
    for dispute in Dispute.objects.filter(
        state__in=OPEN_STATES,
        signal__bank__received_from__isnull=False,
        forwarded__isnull=True,
    ).select_related("signal__bank__received_from"):
        forwarded, made = ForwardedDispute.objects.get_or_create(
            dispute=dispute,
            defaults={"agreement_id": dispute.signal.bank.received_from.agreement_id},
        )
        if made:
            created.append(forwarded)
    return created


def _received(forwarded: ForwardedDispute) -> ReceivedBank:
    return ReceivedBank.objects.get(bank_id=forwarded.dispute.signal.bank_id)


def _sibling(forwarded: ForwardedDispute) -> str | None:
    """The origin's id of another member's dispute of the same hash, forwarded already."""
    return (
        ForwardedDispute.objects.filter(
            agreement=forwarded.agreement,
            dispute__signal_id=forwarded.dispute.signal_id,
            state=ForwardedDisputeState.FORWARDED,
        )
        .exclude(remote_id="")
        .values_list("remote_id", flat=True)
        .first()
    )


def _open_remote_dispute(forwarded: ForwardedDispute, remote_bank: str) -> str | None:
    """The id of this hub's open dispute of the same hash at the origin, if any."""
    signal = forwarded.dispute.signal
    api = PeerApi(forwarded.agreement)
    offset = 0
    while True:
        page = api.json("/api/v1/disputes/", {"limit": 100, "offset": offset})
        results = page.get("results", []) if isinstance(page, dict) else []
        for item in results:
            if (
                isinstance(item, dict)
                and (item.get("bank"), item.get("signal_type"), item.get("value"))
                == (remote_bank, signal.signal_type, signal.value)
                and item.get("state") in ("open", "in_review")
            ):
                return str(item.get("id"))
        if not results or not page.get("next"):
            return None
        offset += len(results)


def _forward(forwarded: ForwardedDispute) -> None:
    dispute = forwarded.dispute
    remote_bank = _received(forwarded).remote_name
    remote_id = _sibling(forwarded)
    if remote_id is None:
        status, answer = peer_post(
            forwarded.agreement,
            "/api/v1/disputes/",
            {
                "bank": remote_bank,
                "signal_type": dispute.signal.signal_type,
                "value": dispute.signal.value,
                "kind": dispute.kind,
                "grounds": dispute.grounds,
                "evidence": dispute.evidence,
                "proposed_labels": [label.slug for label in dispute.proposed_labels.all()],
            },
            expect=(201, 409),
        )
        if status == 409:
            # Opened meanwhile (an earlier run interrupted after the origin answered).
            remote_id = _open_remote_dispute(forwarded, remote_bank)
            if remote_id is None:
                raise PeerUnavailable(f"the origin hub refused the dispute: {answer}")
        else:
            remote_id = str(answer.get("id", "")) if isinstance(answer, dict) else ""
            if not remote_id:
                raise PeerUnavailable("the origin hub's answer names no dispute id")
    forwarded.remote_id = remote_id
    forwarded.state = ForwardedDisputeState.FORWARDED
    forwarded.forwarded_at = timezone.now()


def _poll(forwarded: ForwardedDispute) -> None:
    path = f"/api/v1/disputes/{quote(forwarded.remote_id, safe='')}/"
    answer: Any = PeerApi(forwarded.agreement).json(path)
    if not isinstance(answer, dict) or answer.get("state") not in DECIDED_REMOTELY:
        return
    closed = answer.get("state") == "closed" and answer.get("appeal_outcome")
    outcome = answer.get("appeal_outcome") if closed else answer.get("outcome")
    reason = answer.get("appeal_reason") if closed else answer.get("decision_reason")
    if outcome not in ("upheld", "overturned", "relabelled"):
        raise PeerUnavailable(f"the origin hub's decision is not an outcome: {outcome!r}")
    forwarded.remote_outcome = str(outcome)
    forwarded.remote_reason = str(reason or "")
    forwarded.state = ForwardedDisputeState.DECIDED
    forwarded.decided_at = timezone.now()


def _apply(forwarded: ForwardedDispute) -> None:
    dispute_decide_by_origin(
        dispute=forwarded.dispute,
        outcome=forwarded.remote_outcome,
        reason=forwarded.remote_reason,
        origin_hub=forwarded.agreement.origin,
        context=AuditContext.system(),
    )
    forwarded.state = ForwardedDisputeState.APPLIED


STEPS = {
    ForwardedDisputeState.PENDING: _forward,
    ForwardedDisputeState.FORWARDED: _poll,
    ForwardedDisputeState.DECIDED: _apply,
}


def forwarded_dispute_advance(forwarded: ForwardedDispute) -> str:
    """Move one forwarded dispute on as far as it goes now; returns its state, or why it
    stopped (also kept in `last_error`)."""
    while forwarded.state in STEPS:
        before = forwarded.state
        try:
            with transaction.atomic():
                locked = (
                    ForwardedDispute.objects.select_for_update()
                    .select_related("agreement", "dispute__signal")
                    .get(pk=forwarded.pk)
                )
                if locked.state != before:
                    forwarded = locked
                    continue
                STEPS[ForwardedDisputeState(before)](locked)
                locked.last_error = ""
                locked.save()
                forwarded = locked
        except (PeerUnavailable, ServiceError) as error:
            message = f"{type(error).__name__}: {error}"[:2000]
            ForwardedDispute.objects.filter(pk=forwarded.pk).update(last_error=message)
            return message
        if forwarded.state == before:
            break  # not decided yet
    return str(forwarded.state)


def forwarded_disputes_advance() -> dict[str, str]:
    """Forward new disputes of received hashes and move every unfinished one on. Returns
    each dispute's outcome of this run, by its public id."""
    disputes_to_forward()
    outcomes = {}
    for forwarded in ForwardedDispute.objects.filter(
        ~Q(state=ForwardedDisputeState.APPLIED), agreement__state=AgreementState.ACTIVE
    ).select_related("dispute"):
        outcomes[str(forwarded.dispute.public_id)] = forwarded_dispute_advance(forwarded)
    return outcomes
