"""Keeping a signal's listed state consistent with what supports it, and logging changes."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from core.bulk_insert import rows_insert
from hashbank.models import (
    Bank,
    ChangeLogEntry,
    ChangeOp,
    DisputeState,
    Label,
    OpinionKind,
    ReviewState,
    Signal,
    SignalStatus,
)
from hashbank.services.changelog import Change, EnvelopeRef, changelog_append

OPEN_DISPUTE_STATES = (DisputeState.OPEN, DisputeState.IN_REVIEW, DisputeState.APPEALED)


def confidence(*, agree: int, disagree: int) -> float:
    """A smoothed share of support, starting from 0.5 with no evidence: `agree` counts
    approved submissions and true-positive opinions, `disagree` false-positive opinions.
    Two decimals, never 0 or 1 (evidence never makes a listing certain either way): a value
    every JSON writer spells as RFC 8785 does, so log entries re-serialise byte for byte
    (docs/transparency-log.md, "A verifier in 80 lines")."""
    return min(max(round((agree + 1) / (agree + disagree + 2), 2), 0.01), 0.99)


def signal_confidence(signal: Signal) -> float:
    supporting = signal.submissions.filter(review_state=ReviewState.APPROVED).count()
    opinions = signal.opinions.values_list("kind", flat=True)
    return confidence(
        agree=supporting + sum(1 for k in opinions if k == OpinionKind.TRUE_POSITIVE),
        disagree=sum(1 for k in opinions if k == OpinionKind.FALSE_POSITIVE),
    )


def signal_refresh(
    signal: Signal, *, labels: list[Label] | None = None, removal_reason: str = "rejected"
) -> Signal:
    """Recompute status, labels and confidence from approved submissions, decisions,
    disputes and opinions; append one change-log entry if anything a client sees changed.

    `labels`: set these labels (a relabel decision) instead of the union of submissions'.
    `removal_reason`: what the remove entry says if the signal leaves the list for want of
    support (a decision to delist always says `dispute_overturned`).
    Call inside a transaction holding the signal row lock.
    """
    was_listed = signal.is_listed and signal.first_listed_at is not None
    before = (signal.status, sorted(label.pk for label in signal.labels.all()), signal.confidence)
    approved = signal.submissions.filter(review_state=ReviewState.APPROVED)
    # A signal of a bank received from a peer hub is listed, labelled and weighed by its
    # origin (the pull sets all three); here only a dispute or a decision changes it.
    received = bool(signal.bank.origin_hub)
    supported = signal.status != SignalStatus.REMOVED if received else approved.exists()

    if labels is not None:
        signal.labels.set(labels)
        signal.labels_decided = True
    elif supported and not signal.labels_decided and not received:
        signal.labels.set(Label.objects.filter(submissions__in=approved).distinct())

    if not supported or signal.delisted_by_decision:
        signal.status = SignalStatus.REMOVED
    elif signal.disputes.filter(state__in=OPEN_DISPUTE_STATES).exists():
        signal.status = SignalStatus.DISPUTED
    else:
        signal.status = SignalStatus.ACTIVE
    if not received:
        signal.confidence = signal_confidence(signal)
        incident = approved.exclude(incident="").values_list("incident", flat=True).first()
        signal.incident = incident or ""
    now_listed = signal.status != SignalStatus.REMOVED
    if now_listed and signal.first_listed_at is None:
        signal.first_listed_at = timezone.now()
    signal.updated_at = timezone.now()
    signal.save()

    after = (signal.status, sorted(label.pk for label in signal.labels.all()), signal.confidence)
    if now_listed and not was_listed:
        changelog_append(changes=[Change(signal, ChangeOp.ADD)])
    elif was_listed and not now_listed:
        reason = "dispute_overturned" if signal.delisted_by_decision else removal_reason
        changelog_append(changes=[Change(signal, ChangeOp.REMOVE, reason=reason)])
    elif now_listed and before != after:
        relabelled = labels is not None and before[1] != after[1]
        changelog_append(
            changes=[Change(signal, ChangeOp.UPDATE, reason="relabelled" if relabelled else None)]
        )
    return signal


@dataclass(frozen=True)
class NewListing:
    """A value new to its bank, approved on the strength of one submission."""

    bank: Bank
    signal_type: str
    value: str
    labels: list[Label]
    incident: str
    contributor: str
    envelope: EnvelopeRef


def signals_list_new(*, listings: list[NewListing]) -> list[tuple[Signal, ChangeLogEntry]]:
    """List many values new to their banks at once, as `signal_refresh` would list each
    after its one approved submission (active, that submission's labels and incident, the
    confidence of one approval and no opinion), with one `add` entry each under one lock.
    Returns each new signal with its entry, in order, for the caller to link the
    submissions to. Raises
    IntegrityError if one of the values was listed meanwhile."""
    now = timezone.now()
    signals = rows_insert(
        Signal,
        [
            Signal(
                bank=listing.bank,
                signal_type=listing.signal_type,
                value=listing.value,
                status=SignalStatus.ACTIVE,
                confidence=confidence(agree=1, disagree=0),
                incident=listing.incident,
                first_listed_at=now,
                updated_at=now,
            )
            for listing in listings
        ],
    )
    through = Signal.labels.through
    rows_insert(
        through,
        [
            through(signal_id=signal.pk, label_id=label.pk)
            for signal, listing in zip(signals, listings, strict=True)
            for label in listing.labels
        ],
        set_ids=False,
    )
    entries = changelog_append(
        changes=[
            Change(
                signal,
                ChangeOp.ADD,
                labels=[label.slug for label in listing.labels],
                contributors=[listing.contributor],
                envelopes=[listing.envelope],
            )
            for signal, listing in zip(signals, listings, strict=True)
        ]
    )
    return list(zip(signals, entries, strict=True))
