"""Disputes across hubs: a member's dispute of a hash this hub received from a peer goes to
the hub the hash came from, which decides it; its decision comes back and is applied here.

This hub polls (no callback: the origin hub needs no way in to this hub, and a decision is
never lost to an unreachable receiver). Each run moves every ForwardedDispute on:

- pending: POST the dispute to the origin's `/api/v1/disputes/` as this hub's peer
  organisation there, naming the hash by bank, type and value. Sent: the kind, the grounds,
  the evidence and the proposed labels the member wrote; never who filed it. If this hub
  already has an open dispute of that hash there (another member's, or this very one sent
  before an interruption), that one is followed instead;
- forwarded: GET the dispute there; once decided, record the outcome (decided), then
- decided: apply it here (`dispute_decide_by_origin`, then, once the origin decided an
  appeal, `dispute_decide_appeal_by_origin`): overturned takes the signal off this hub's
  received bank, and the member is told either way. While the origin's dispute may still be
  appealed there it is
- following: GET it again at each run; an appeal's decision there is recorded (decided) and
  applied; once the origin's dispute is final (its `final` field) it is
- applied: done.

A failure keeps the row where it is, with the reason in `last_error`; the next run tries
again. Every step is safe to repeat.

No lock is held while the origin is called: a run claims a step that calls the origin with
a lease (`lease_token`, `leased_until`, set by a conditional update), calls it outside any
transaction, then records the answer under a short row lock, only if the row is still in
the state it claimed and under its lease. A concurrent run finds the step leased and leaves
it; one that took over an expired lease and recorded first wins, the slower answer being
dropped.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import AuditContext
from core.errors import ServiceError
from federation.peering.models import (
    AgreementState,
    AppliedStage,
    ForwardedDispute,
    ForwardedDisputeState,
    ReceivedBank,
)
from federation.peering.remote import peer_post
from federation.peering.services import PeerApi, PeerUnavailable
from hashbank.models import Dispute, DisputeState
from hashbank.services import dispute_decide_appeal_by_origin, dispute_decide_by_origin

OPEN_STATES = (DisputeState.OPEN, DisputeState.IN_REVIEW)
DECIDED_REMOTELY = ("decided", "appealed", "closed")
OUTCOMES = ("upheld", "overturned", "relabelled")
# How long a run may hold a step that calls the origin before another may take it over:
# well beyond the outbound timeout of the calls the step makes.
LEASE = dt.timedelta(minutes=5)


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


def _forward(forwarded: ForwardedDispute) -> dict[str, Any]:
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
    return {
        "remote_id": remote_id,
        "state": ForwardedDisputeState.FORWARDED,
        "forwarded_at": timezone.now(),
    }


def _outcome(answer: dict[str, Any], field: str) -> str:
    outcome = answer.get(field)
    if outcome not in OUTCOMES:
        raise PeerUnavailable(f"the origin hub's decision is not an outcome: {outcome!r}")
    return str(outcome)


def _poll(forwarded: ForwardedDispute) -> dict[str, Any]:
    """The origin's dispute as it stands: its decision, an appeal's decision, whether it is
    final; the changes to record (none while it is undecided)."""
    path = f"/api/v1/disputes/{quote(forwarded.remote_id, safe='')}/"
    answer: Any = PeerApi(forwarded.agreement).json(path)
    if not isinstance(answer, dict) or answer.get("state") not in DECIDED_REMOTELY:
        return {}
    closed = answer.get("state") == "closed"
    final = answer.get("final")
    changes: dict[str, Any] = {
        "remote_outcome": _outcome(answer, "outcome"),
        "remote_reason": str(answer.get("decision_reason") or ""),
        # An origin that does not say: final once the appeal is decided.
        "remote_final": final if isinstance(final, bool) else closed,
    }
    if closed:
        changes["remote_appeal_outcome"] = _outcome(answer, "appeal_outcome")
        changes["remote_appeal_reason"] = str(answer.get("appeal_reason") or "")
        changes["remote_final"] = True
    if forwarded.state == ForwardedDisputeState.FORWARDED:
        changes["state"] = ForwardedDisputeState.DECIDED
        changes["decided_at"] = timezone.now()
    elif closed and forwarded.applied_stage != AppliedStage.APPEAL_DECIDED:
        changes["state"] = ForwardedDisputeState.DECIDED
    elif changes["remote_final"]:
        changes["state"] = ForwardedDisputeState.APPLIED
    return changes


def _apply(forwarded: ForwardedDispute) -> None:
    """Apply what the origin decided and this hub has not applied yet (under the row lock)."""
    origin = forwarded.agreement.origin
    if forwarded.applied_stage == AppliedStage.NONE:
        dispute_decide_by_origin(
            dispute=forwarded.dispute,
            outcome=forwarded.remote_outcome,
            reason=forwarded.remote_reason,
            origin_hub=origin,
            context=AuditContext.system(),
        )
        forwarded.applied_stage = AppliedStage.DECIDED
    if forwarded.remote_appeal_outcome and forwarded.applied_stage == AppliedStage.DECIDED:
        dispute_decide_appeal_by_origin(
            dispute=forwarded.dispute,
            outcome=forwarded.remote_appeal_outcome,
            reason=forwarded.remote_appeal_reason,
            origin_hub=origin,
            context=AuditContext.system(),
        )
        forwarded.applied_stage = AppliedStage.APPEAL_DECIDED
    forwarded.state = (
        ForwardedDisputeState.APPLIED if forwarded.remote_final else ForwardedDisputeState.FOLLOWING
    )


# Steps that call the origin hub: run outside any transaction, under a lease.
REMOTE_STEPS: dict[str, Callable[[ForwardedDispute], dict[str, Any]]] = {
    ForwardedDisputeState.PENDING: _forward,
    ForwardedDisputeState.FORWARDED: _poll,
    ForwardedDisputeState.FOLLOWING: _poll,
}
# Steps that change only this hub: run under the row lock.
LOCAL_STEPS: dict[str, Callable[[ForwardedDispute], None]] = {
    ForwardedDisputeState.DECIDED: _apply,
}


def _load(pk: int) -> ForwardedDispute:
    return ForwardedDispute.objects.select_related("agreement", "dispute__signal").get(pk=pk)


def _claim(forwarded: ForwardedDispute) -> str | None:
    """Lease the row's current step to this run; None when another run holds it, or the
    row moved on meanwhile."""
    token = secrets.token_hex(16)
    now = timezone.now()
    claimed = ForwardedDispute.objects.filter(
        Q(leased_until__isnull=True) | Q(leased_until__lt=now),
        pk=forwarded.pk,
        state=forwarded.state,
    ).update(lease_token=token, leased_until=now + LEASE)
    return token if claimed else None


def _failed(forwarded: ForwardedDispute, error: Exception, token: str = "") -> str:
    message = f"{type(error).__name__}: {error}"[:2000]
    rows = ForwardedDispute.objects.filter(pk=forwarded.pk)
    if token:
        rows = rows.filter(lease_token=token)
    rows.update(last_error=message, lease_token="", leased_until=None)
    return message


def forwarded_dispute_advance(forwarded: ForwardedDispute) -> str:
    """Move one forwarded dispute on as far as it goes now; returns its state, or why it
    stopped (also kept in `last_error`). The origin is called with no lock held."""
    forwarded = _load(forwarded.pk)
    while True:
        before = forwarded.state
        if before in REMOTE_STEPS:
            token = _claim(forwarded)
            if token is None:
                forwarded = _load(forwarded.pk)
                if forwarded.state != before:
                    continue
                break  # another run is at this step now
            try:
                changes = REMOTE_STEPS[before](forwarded)
            except (PeerUnavailable, ServiceError) as error:
                return _failed(forwarded, error, token)
            with transaction.atomic():
                locked = ForwardedDispute.objects.select_for_update().get(pk=forwarded.pk)
                recorded = locked.state == before and locked.lease_token == token
                if recorded:
                    for name, value in changes.items():
                        setattr(locked, name, value)
                    locked.lease_token = ""
                    locked.leased_until = None
                    locked.last_error = ""
                    locked.save()
            forwarded = _load(forwarded.pk)
            if recorded and forwarded.state == before:
                break  # nothing new at the origin
        elif before in LOCAL_STEPS:
            try:
                with transaction.atomic():
                    locked = (
                        ForwardedDispute.objects.select_for_update()
                        .select_related("agreement", "dispute__signal")
                        .get(pk=forwarded.pk)
                    )
                    if locked.state == before:
                        LOCAL_STEPS[before](locked)
                        locked.last_error = ""
                        locked.save()
            except ServiceError as error:
                return _failed(forwarded, error)
            forwarded = _load(forwarded.pk)
        else:
            break
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
