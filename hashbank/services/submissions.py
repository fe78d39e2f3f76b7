"""Signed submissions: verify, record idempotently, and moderate (approve, reject,
withdraw). Approval is what puts a value on the list."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.audit import AuditContext, audit_record
from accounts.models import Organisation, SigningKey
from core.errors import Conflict, Invalid
from hashbank import signal_types
from hashbank.models import Bank, Label, ReviewState, Signal, SignalStatus, Submission
from hashbank.selectors import banks_contributable_by
from hashbank.services.changelog import changelog_append_added
from hashfed_wire.envelope import EnvelopeError, SignedEnvelope, envelope_from_obj
from hashfed_wire.envelope import verify as envelope_verify

MAX_BATCH = 1000
# Ids per IN (...) query: below SQLite's default limit of bound parameters.
_ID_CHUNK = 900


def _no_incidents(slug: str) -> str | None:
    return None


# How to tell a declared incident's state ("open", "closed", None when unknown). Incidents
# live in federation.incidents, which depends on this app, not the other way round; it
# registers its lookup here when it loads.
_incident_state: Callable[[str], str | None] = _no_incidents


def incident_state_resolver_register(resolver: Callable[[str], str | None]) -> None:
    global _incident_state
    _incident_state = resolver


# How far ahead of the hub's clock a member's `created_at` may be.
CLOCK_SKEW = dt.timedelta(minutes=5)


class ItemRejected(Exception):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


@dataclass
class ItemResult:
    index: int
    status: str  # accepted | replayed | rejected
    id: str | None = None
    review_state: str | None = None
    error: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "id": self.id,
            "status": self.status,
            "review_state": self.review_state,
            "error": self.error,
        }


@dataclass
class _BatchContext:
    organisation: Organisation
    now: dt.datetime
    banks: dict[str, Bank]
    contributable: set[str]
    labels: dict[str, Label]
    keys: dict[str, SigningKey | None] = field(default_factory=dict)
    incidents: dict[str, str | None] = field(default_factory=dict)

    def signing_key(self, key_id: str) -> SigningKey | None:
        if key_id not in self.keys:
            self.keys[key_id] = self.organisation.signing_keys.filter(key_id=key_id).first()
        return self.keys[key_id]

    def incident_state(self, slug: str) -> str | None:
        # A crisis batch tags every item with the same incident: one query, not a thousand.
        if slug not in self.incidents:
            self.incidents[slug] = _incident_state(slug)
        return self.incidents[slug]


def submission_batch_create(
    *, organisation: Organisation, items: list[Any], context: AuditContext
) -> list[ItemResult]:
    """Record a batch of signed envelopes, each on its own: every item is accepted, replayed
    or rejected (with a code and the offending field) and an item never half-writes.

    Checks, in order: envelope shape (duplicate keys were refused by the parser), the
    organisation named in the payload is the caller, audience is this hub, the key is the
    caller's and valid at `created_at` and now, `created_at` is not ahead of the hub's clock,
    the signature; then idempotency (the same id with the same payload is a replay that
    returns the first result, with another payload a conflict); then bank (exists, caller may
    contribute), signal type and value, labels. Trusted contributors' submissions are approved
    on arrival (reviewed afterwards).
    """
    if len(items) > MAX_BATCH:
        raise Invalid.for_field(
            "submissions", f"at most {MAX_BATCH} submissions per request", code="batch_too_large"
        )
    batch = _BatchContext(
        organisation=organisation,
        now=timezone.now(),
        banks={b.name: b for b in Bank.objects.all()},
        contributable=set(
            banks_contributable_by(organisation=organisation).values_list("name", flat=True)
        ),
        labels={label.slug: label for label in Label.objects.filter(active=True)},
    )
    # Three phases, so a batch costs a few statements rather than several per item:
    # verify every envelope (no database), find the ids seen before in one query, then
    # write every new submission in one transaction.
    results: dict[int, ItemResult] = {}
    verified: dict[int, _Verified] = {}
    for index, item in enumerate(items):
        try:
            verified[index] = _verify(index, item, batch)
        except ItemRejected as exc:
            results[index] = _rejected(index, exc)
    existing = _existing_submissions(organisation, [v.envelope.id for v in verified.values()])
    fresh: list[_Prepared] = []
    first_in_batch: dict[uuid.UUID, _Prepared] = {}
    repeats: list[tuple[int, _Prepared]] = []
    for index, item in verified.items():
        try:
            if item.envelope.id in existing:
                results[index] = _replay(index, existing[item.envelope.id], item.digest)
                continue
            first = first_in_batch.get(item.envelope.id)
            if first is not None:
                if first.verified.digest != item.digest:
                    raise ItemRejected(
                        "id_conflict",
                        "this id was used for another payload; choose a new id",
                        "payload.id",
                    )
                repeats.append((index, first))
                continue
            prepared = _prepare(item, batch)
            first_in_batch[item.envelope.id] = prepared
            fresh.append(prepared)
        except ItemRejected as exc:
            results[index] = _rejected(index, exc)
    # Every write of the batch (submissions, approvals on arrival, the list, the audit record)
    # commits together: a request cut off at any point leaves all of it or none, and the
    # client's retry with the same ids finishes it.
    with transaction.atomic():
        fresh = _keys_still_usable(fresh, batch, results)
        results.update(_write(fresh, batch, context))
        for index, first in repeats:
            first_result = results[first.verified.index]
            results[index] = (
                ItemResult(
                    index=index,
                    status="replayed",
                    id=str(first.verified.envelope.id),
                    review_state=first_result.review_state,
                )
                if first_result.status != "rejected"
                else ItemResult(index=index, status="rejected", error=first_result.error)
            )
        ordered = [results[index] for index in range(len(items))]
        counts = {
            s: sum(1 for r in ordered if r.status == s)
            for s in ("accepted", "replayed", "rejected")
        }
        if counts["accepted"] or counts["rejected"]:
            audit_record(
                action="hashbank.submission.batch_received",
                context=context,
                organisation=organisation,
                detail=counts,
            )
    return ordered


def _keys_still_usable(
    fresh: list[_Prepared], batch: _BatchContext, results: dict[int, ItemResult]
) -> list[_Prepared]:
    """Lock the signing keys of the new submissions and drop those whose key was revoked
    since it was read. Revocation takes the same row lock before it withdraws what a
    compromised key signed, so a batch either commits before it (and is withdrawn with
    the rest) or sees the revocation here."""
    key_ids = {p.verified.key.pk for p in fresh}
    if not key_ids:
        return fresh
    keys = SigningKey.objects.filter(pk__in=key_ids).order_by("pk").values_list("pk", "revoked_at")
    if connection.vendor == "postgresql":
        # FOR KEY SHARE, not FOR UPDATE: one member's concurrent batches do not queue behind
        # each other, while a revocation (FOR UPDATE) still waits for them and they for it.
        sql, params = keys.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"{sql} FOR KEY SHARE", params)
            rows = cursor.fetchall()
    else:
        rows = list(keys)  # SQLite: the write transaction already excludes every other
    revoked = {pk for pk, revoked_at in rows if revoked_at is not None}
    if not revoked:
        return fresh
    exc = ItemRejected("key_revoked", "this signing key is revoked", "payload.key_id")
    for p in fresh:
        if p.verified.key.pk in revoked:
            results[p.verified.index] = _rejected(p.verified.index, exc)
    return [p for p in fresh if p.verified.key.pk not in revoked]


@dataclass(frozen=True)
class _Verified:
    index: int
    envelope: SignedEnvelope
    key: SigningKey
    digest: str


@dataclass(frozen=True)
class _Prepared:
    verified: _Verified
    bank: Bank
    value: str
    labels: list[Label]
    incident: str


def _rejected(index: int, exc: ItemRejected) -> ItemResult:
    return ItemResult(
        index=index,
        status="rejected",
        error={"code": exc.code, "message": exc.message, "field": exc.field},
    )


def _verify(index: int, item: Any, batch: _BatchContext) -> _Verified:
    """Shape, organisation, audience, key and signature: everything that must hold before
    the id is looked up (so a replay is recognised even if the taxonomy changed since)."""
    try:
        envelope = envelope_from_obj(item)
    except EnvelopeError as exc:
        raise ItemRejected(exc.code, exc.message, exc.field) from exc
    if envelope.organisation != batch.organisation.slug:
        raise ItemRejected(
            "wrong_organisation", "the payload names another organisation", "payload.organisation"
        )
    if envelope.audience != settings.HUB_ORIGIN:
        raise ItemRejected(
            "wrong_audience",
            f"this hub is {settings.HUB_ORIGIN!r}, the payload is meant for {envelope.audience!r}",
            "payload.audience",
        )
    key = batch.signing_key(envelope.key_id)
    if key is None:
        raise ItemRejected(
            "unknown_key", "no signing key of your organisation has this id", "payload.key_id"
        )
    if key.revoked_at is not None and key.revoked_at <= batch.now:
        raise ItemRejected("key_revoked", "this signing key is revoked", "payload.key_id")
    if envelope.created_at > batch.now + CLOCK_SKEW:
        raise ItemRejected(
            "created_at_in_future", "created_at is ahead of the hub's clock", "payload.created_at"
        )
    if not key.accepts_new_signature(envelope.created_at, batch.now):
        raise ItemRejected(
            "key_not_valid_at_created_at",
            "the key was not valid at the payload's created_at",
            "payload.created_at",
        )
    if not envelope_verify(key.public_key_bytes, envelope):
        raise ItemRejected("bad_signature", "the signature does not verify", "signature")
    return _Verified(index, envelope, key, hashlib.sha256(envelope.canonical).hexdigest())


def _existing_submissions(
    organisation: Organisation, ids: list[uuid.UUID]
) -> dict[uuid.UUID, Submission]:
    found: dict[uuid.UUID, Submission] = {}
    for start in range(0, len(ids), _ID_CHUNK):
        for submission in Submission.objects.filter(
            organisation=organisation, submission_id__in=ids[start : start + _ID_CHUNK]
        ).only("submission_id", "payload_digest", "review_state"):
            found[submission.submission_id] = submission
    return found


def _prepare(item: _Verified, batch: _BatchContext) -> _Prepared:
    """What the statement says: bank (exists, caller may contribute), type and value,
    labels, incident."""
    envelope = item.envelope
    bank = batch.banks.get(envelope.bank)
    if bank is None:
        raise ItemRejected("unknown_bank", f"no bank {envelope.bank!r}", "payload.bank")
    if envelope.bank not in batch.contributable:
        raise ItemRejected(
            "bank_not_permitted", "your organisation may not contribute here", "payload.bank"
        )
    try:
        value = signal_types.normalise_value(envelope.signal_type, envelope.value)
    except signal_types.SignalValueError as exc:
        field_name = "payload.signal_type" if exc.code == "unknown_signal_type" else "payload.value"
        raise ItemRejected(exc.code, exc.message, field_name) from exc
    labels = []
    for position, slug in enumerate(envelope.labels):
        if slug not in batch.labels:
            raise ItemRejected(
                "unknown_label", f"no active label {slug!r}", f"payload.labels[{position}]"
            )
        labels.append(batch.labels[slug])
    incident = ""
    if envelope.incident is not None:
        # Crisis incidents are declared by staff; only an open one grants the fast path.
        state = batch.incident_state(envelope.incident)
        if state is None:
            raise ItemRejected(
                "unknown_incident",
                f"no declared incident {envelope.incident!r}",
                "payload.incident",
            )
        if state != "open":
            raise ItemRejected(
                "incident_closed", f"incident {envelope.incident!r} is closed", "payload.incident"
            )
        incident = envelope.incident
    return _Prepared(item, bank, value, labels, incident)


def _submission_row(prepared: _Prepared, batch: _BatchContext) -> Submission:
    envelope = prepared.verified.envelope
    return Submission(
        organisation=batch.organisation,
        submission_id=envelope.id,
        signing_key=prepared.verified.key,
        canonical_payload=envelope.canonical,
        payload_digest=prepared.verified.digest,
        signature=base64.b64encode(envelope.signature).decode("ascii"),
        bank=prepared.bank,
        signal_type=envelope.signal_type,
        value=prepared.value,
        note=envelope.note or "",
        incident=prepared.incident,
        created_at=envelope.created_at,
        received_at=batch.now,
    )


def _write(
    fresh: list[_Prepared], batch: _BatchContext, context: AuditContext
) -> dict[int, ItemResult]:
    """Insert every new submission (and its labels) in one transaction. If another request
    inserted one of the same ids meanwhile, the unique constraint says so and the batch
    falls back to one savepoint per item, where the race is resolved as a replay."""
    if not fresh:
        return {}
    try:
        with transaction.atomic():
            rows = Submission.objects.bulk_create([_submission_row(p, batch) for p in fresh])
            through = Submission.labels.through
            through.objects.bulk_create(
                [
                    through(submission_id=row.pk, label_id=label.pk)
                    for row, prepared in zip(rows, fresh, strict=True)
                    for label in prepared.labels
                ]
            )
    except IntegrityError:
        return {p.verified.index: _write_one(p, batch, context) for p in fresh}
    approved = _approve_new_values(fresh, rows, batch, context)
    return {
        p.verified.index: approved.get(p.verified.index) or _accepted(p, row, batch, context)
        for p, row in zip(fresh, rows, strict=True)
    }


def _approved_on_arrival(prepared: _Prepared, batch: _BatchContext) -> bool:
    # The crisis fast path: members in good standing (active, full or probation) are
    # approved on arrival during an open incident, and reviewed afterwards.
    fast_path = bool(prepared.incident) and batch.organisation.may_contribute
    return batch.organisation.trusted_contributor or fast_path


def _approve_new_values(
    fresh: list[_Prepared], rows: list[Submission], batch: _BatchContext, context: AuditContext
) -> dict[int, ItemResult]:
    """Approve on arrival, in bulk, the submissions whose value is new to its bank (the
    common case during a crisis): one signal each, listed at once, with one change-log lock
    and one audit entry for the lot. Anything else — a value already known, or twice in the
    batch — is left to the one-by-one path, which corroborates existing signals."""
    candidates = [
        (p, row) for p, row in zip(fresh, rows, strict=True) if _approved_on_arrival(p, batch)
    ]
    keys: dict[tuple[int, str, str], int] = {}
    for p, row in candidates:
        key = (p.bank.pk, row.signal_type, row.value)
        keys[key] = keys.get(key, 0) + 1
    known = set()
    by_bank: dict[int, list[str]] = {}
    for bank_id, _, value in keys:
        by_bank.setdefault(bank_id, []).append(value)
    for bank_id, values in by_bank.items():
        for start in range(0, len(values), _ID_CHUNK):
            known.update(
                Signal.objects.filter(
                    bank_id=bank_id, value__in=values[start : start + _ID_CHUNK]
                ).values_list("bank_id", "signal_type", "value")
            )
    new = [
        (p, row)
        for p, row in candidates
        if keys[(p.bank.pk, row.signal_type, row.value)] == 1
        and (p.bank.pk, row.signal_type, row.value) not in known
    ]
    if not new:
        return {}
    try:
        with transaction.atomic():
            _list_new_values(new, batch, context)
    except IntegrityError:
        # The same value was listed concurrently: the one-by-one path corroborates it.
        return {}
    return {
        p.verified.index: ItemResult(
            index=p.verified.index,
            status="accepted",
            id=str(row.submission_id),
            review_state=ReviewState.APPROVED,
        )
        for p, row in new
    }


def _list_new_values(
    new: list[tuple[_Prepared, Submission]], batch: _BatchContext, context: AuditContext
) -> None:
    now = timezone.now()
    signals = Signal.objects.bulk_create(
        [
            Signal(
                bank=p.bank,
                signal_type=row.signal_type,
                value=row.value,
                status=SignalStatus.ACTIVE,
                # One approved submission and no opinion yet: (1 + 1) / (1 + 2).
                confidence=round(2 / 3, 2),
                incident=p.incident,
                first_listed_at=now,
                updated_at=now,
            )
            for p, row in new
        ]
    )
    through = Signal.labels.through
    through.objects.bulk_create(
        [
            through(signal_id=signal.pk, label_id=label.pk)
            for signal, (p, _) in zip(signals, new, strict=True)
            for label in p.labels
        ]
    )
    for signal, (_, row) in zip(signals, new, strict=True):
        row.signal = signal
        row.review_state = ReviewState.APPROVED
        row.auto_approved = True
        row.post_reviewed = False
        row.reviewed_at = now
    Submission.objects.bulk_update(
        [row for _, row in new],
        ["signal", "review_state", "auto_approved", "post_reviewed", "reviewed_at"],
    )
    changelog_append_added(
        signals=[
            (signal, [label.slug for label in p.labels], [batch.organisation.slug])
            for signal, (p, _) in zip(signals, new, strict=True)
        ]
    )
    audit_record(
        action="hashbank.submission.approved",
        context=context,
        organisation=batch.organisation,
        detail={"auto": True, "submissions": [str(row.submission_id) for _, row in new]},
    )


def _write_one(prepared: _Prepared, batch: _BatchContext, context: AuditContext) -> ItemResult:
    index = prepared.verified.index
    try:
        with transaction.atomic():
            row = _submission_row(prepared, batch)
            row.save(force_insert=True)
            row.labels.set(prepared.labels)
    except IntegrityError:
        existing = Submission.objects.get(
            organisation=batch.organisation, submission_id=prepared.verified.envelope.id
        )
        try:
            return _replay(index, existing, prepared.verified.digest)
        except ItemRejected as exc:
            return _rejected(index, exc)
    return _accepted(prepared, row, batch, context)


def _accepted(
    prepared: _Prepared, submission: Submission, batch: _BatchContext, context: AuditContext
) -> ItemResult:
    if _approved_on_arrival(prepared, batch):
        submission = submission_approve(submission=submission, context=context, auto=True)
    return ItemResult(
        index=prepared.verified.index,
        status="accepted",
        id=str(prepared.verified.envelope.id),
        review_state=submission.review_state,
    )


def _replay(index: int, existing: Submission, digest: str) -> ItemResult:
    if existing.payload_digest != digest:
        raise ItemRejected(
            "id_conflict", "this id was used for another payload; choose a new id", "payload.id"
        )
    return ItemResult(
        index=index,
        status="replayed",
        id=str(existing.submission_id),
        review_state=existing.review_state,
    )


def _signal_for(submission: Submission) -> Signal:
    signal = (
        Signal.objects.select_for_update()
        .filter(bank=submission.bank, signal_type=submission.signal_type, value=submission.value)
        .first()
    )
    if signal is not None:
        return signal
    try:
        with transaction.atomic():
            return Signal.objects.create(
                bank=submission.bank,
                signal_type=submission.signal_type,
                value=submission.value,
                status="removed",
            )
    except IntegrityError:
        return Signal.objects.select_for_update().get(
            bank=submission.bank, signal_type=submission.signal_type, value=submission.value
        )


@transaction.atomic
def submission_approve(
    *, submission: Submission, context: AuditContext, auto: bool = False
) -> Submission:
    """Approve a pending submission: its value joins the list (or corroborates the signal
    already there). Approving an approved submission is a no-op (it confirms an
    auto-approval); a rejected or withdrawn one is a Conflict."""
    from hashbank.services.signals import signal_refresh

    submission = Submission.objects.select_for_update().get(pk=submission.pk)
    if submission.review_state == ReviewState.APPROVED:
        if not submission.post_reviewed and not auto:
            submission.post_reviewed = True
            submission.reviewed_by = context.user
            submission.reviewed_at = timezone.now()
            submission.save(update_fields=["post_reviewed", "reviewed_by", "reviewed_at"])
        return submission
    if submission.review_state != ReviewState.PENDING:
        raise Conflict(f"this submission is {submission.review_state}", code="not_pending")
    if submission.signing_key.distrusts_as_compromised(
        submission.created_at, submission.received_at
    ):
        raise Conflict(
            "this submission was signed with a key revoked as compromised",
            code="signing_key_compromised",
        )
    signal = _signal_for(submission)
    submission.signal = signal
    submission.review_state = ReviewState.APPROVED
    submission.auto_approved = auto
    submission.post_reviewed = not auto
    submission.reviewed_by = None if auto else context.user
    submission.reviewed_at = timezone.now()
    submission.save()
    signal_refresh(signal)
    audit_record(
        action="hashbank.submission.approved",
        context=context,
        target=submission,
        organisation=submission.organisation,
        detail={"auto": auto, "signal": signal.pk},
    )
    return submission


@transaction.atomic
def submission_reject(*, submission: Submission, reason: str, context: AuditContext) -> Submission:
    """Reject a pending submission, or an auto-approved one after the fact (its support is
    withdrawn from the signal, which leaves the list if nothing else supports it). The
    reason is sent to the submitter."""
    from hashbank.services.signals import signal_refresh
    from hashbank.tasks import notify_submission_rejected

    if not reason.strip():
        raise Invalid.for_field("reason", "a rejection needs a reason", code="required")
    submission = Submission.objects.select_for_update().get(pk=submission.pk)
    if submission.review_state not in (ReviewState.PENDING, ReviewState.APPROVED):
        raise Conflict(f"this submission is {submission.review_state}", code="not_reviewable")
    signal = submission.signal
    submission.review_state = ReviewState.REJECTED
    submission.review_reason = reason
    submission.reviewed_by = context.user
    submission.reviewed_at = timezone.now()
    submission.post_reviewed = True
    submission.save()
    if signal is not None:
        signal_refresh(Signal.objects.select_for_update().get(pk=signal.pk))
    audit_record(
        action="hashbank.submission.rejected",
        context=context,
        target=submission,
        organisation=submission.organisation,
        detail={"reason": reason},
    )
    transaction.on_commit(lambda: notify_submission_rejected.delay(submission.pk))
    return submission


@transaction.atomic
def submission_withdraw(*, submission: Submission, context: AuditContext) -> Submission:
    """The submitter takes back its statement. When nothing else supports the signal, it
    leaves the list (a change-log entry like any other)."""
    from hashbank.services.signals import signal_refresh

    submission = Submission.objects.select_for_update().get(pk=submission.pk)
    if submission.review_state in (ReviewState.REJECTED, ReviewState.WITHDRAWN):
        raise Conflict(f"this submission is {submission.review_state}", code="not_withdrawable")
    signal = submission.signal
    submission.review_state = ReviewState.WITHDRAWN
    submission.save(update_fields=["review_state"])
    if signal is not None:
        signal_refresh(
            Signal.objects.select_for_update().get(pk=signal.pk), removal_reason="withdrawn"
        )
    audit_record(
        action="hashbank.submission.withdrawn",
        context=context,
        target=submission,
        organisation=submission.organisation,
    )
    return submission
