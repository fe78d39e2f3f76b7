"""Taking in a batch of signed envelopes: each item accepted, replayed or rejected on its
own, and written in a few statements; trusted contributors' new values are listed on arrival."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.audit import AuditContext, audit_record
from accounts.models import Organisation, SigningKey
from core.bulk_insert import rows_insert, values_insert
from core.errors import Invalid
from hashbank.models import Bank, Label, ReviewState, Signal, Submission
from hashbank.selectors import banks_contributable_by
from hashbank.services.changelog import EnvelopeRef
from hashbank.services.inclusion import receipt_sign
from hashbank.services.signals import NewListing, signals_list_new
from hashbank.services.submissions.envelopes import (
    BatchContext,
    ItemRejected,
    PreparedSubmission,
    VerifiedEnvelope,
    envelope_prepare,
    envelope_verify,
)
from hashbank.services.submissions.moderation import submission_approve
from hashfed_wire import provenance

MAX_BATCH = 1000
# Ids per IN (...) query: below SQLite's default limit of bound parameters.
_ID_CHUNK = 900


@dataclass
class ItemResult:
    index: int
    status: str  # accepted | replayed | rejected
    id: str | None = None
    review_state: str | None = None
    error: dict[str, Any] | None = None
    receipt: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "id": self.id,
            "status": self.status,
            "review_state": self.review_state,
            "error": self.error,
            "receipt": self.receipt,
        }


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
    batch = BatchContext(
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
    verified: dict[int, VerifiedEnvelope] = {}
    for index, item in enumerate(items):
        try:
            verified[index] = envelope_verify(index, item, batch)
        except ItemRejected as exc:
            results[index] = _rejected(index, exc)
    existing = _existing_submissions(organisation, [v.envelope.id for v in verified.values()])
    fresh: list[PreparedSubmission] = []
    first_in_batch: dict[uuid.UUID, PreparedSubmission] = {}
    repeats: list[tuple[int, PreparedSubmission]] = []
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
            prepared = envelope_prepare(item, batch)
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
                    receipt=first_result.receipt,
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
                detail=_batch_audit_detail(ordered, counts, batch),
            )
    return ordered


def _batch_audit_detail(
    ordered: list[ItemResult], counts: dict[str, int], batch: BatchContext
) -> dict[str, Any]:
    """What the batch's one audit event says: the counts, and the submissions it accepted
    as a digest rather than a list, checkable against the submission rows (the
    organisation's submissions received at `received_at`, which rows record whether each
    was approved on arrival). Submissions approved one by one (a value already listed) also
    get their own `hashbank.submission.approved` event."""
    accepted = sorted(r.id for r in ordered if r.status == "accepted" and r.id is not None)
    return {
        **counts,
        "approved_on_arrival": sum(
            1 for r in ordered if r.status == "accepted" and r.review_state == ReviewState.APPROVED
        ),
        "received_at": batch.now.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "submissions_sha256": hashlib.sha256("\n".join(accepted).encode("ascii")).hexdigest(),
    }


def _keys_still_usable(
    fresh: list[PreparedSubmission], batch: BatchContext, results: dict[int, ItemResult]
) -> list[PreparedSubmission]:
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


def _rejected(index: int, exc: ItemRejected) -> ItemResult:
    return ItemResult(
        index=index,
        status="rejected",
        error={"code": exc.code, "message": exc.message, "field": exc.field},
    )


def _existing_submissions(
    organisation: Organisation, ids: list[uuid.UUID]
) -> dict[uuid.UUID, Submission]:
    found: dict[uuid.UUID, Submission] = {}
    for start in range(0, len(ids), _ID_CHUNK):
        for submission in Submission.objects.filter(
            organisation=organisation, submission_id__in=ids[start : start + _ID_CHUNK]
        ).only("submission_id", "payload_digest", "review_state", "receipt"):
            found[submission.submission_id] = submission
    return found


def _submission_row(prepared: PreparedSubmission, batch: BatchContext) -> dict[str, Any]:
    """The new Submission row's fields (by attname; the rest take their defaults), its
    receipt signed."""
    envelope = prepared.verified.envelope
    receipt = receipt_sign(
        organisation=batch.organisation.slug,
        submission_id=envelope.id,
        bank=prepared.bank,
        payload_digest=prepared.verified.digest,
        received_at=batch.now,
        approved=_approved_on_arrival(prepared, batch),
        keys=batch.hub_keys(),
    )
    return {
        "organisation_id": batch.organisation.pk,
        "submission_id": envelope.id,
        "signing_key_id": prepared.verified.key.pk,
        "canonical_payload": envelope.canonical,
        "payload_digest": prepared.verified.digest,
        "signature": base64.b64encode(envelope.signature).decode("ascii"),
        "envelope_digest": provenance.envelope_digest(
            envelope.canonical, envelope.signature, prepared.verified.key.key_id
        ),
        "bank_id": prepared.bank.pk,
        "signal_type": envelope.signal_type,
        "value": prepared.value,
        "note": envelope.note or "",
        "incident": prepared.incident,
        "created_at": envelope.created_at,
        "received_at": batch.now,
        "review_state": ReviewState.PENDING.value,
        "auto_approved": False,
        "post_reviewed": False,
        "reviewed_at": None,
        "signal_id": None,
        "log_entry_id": None,
        "receipt": receipt,
    }


def _write(
    fresh: list[PreparedSubmission], batch: BatchContext, context: AuditContext
) -> dict[int, ItemResult]:
    """Insert every new submission (and its labels) in one transaction, the values new to
    their banks that are approved on arrival listed first so that their submissions are
    written approved (no second pass over the rows). If another request inserted one of the
    same ids meanwhile, the unique constraint says so, all of it is undone and the batch
    falls back to one savepoint per item, where the race is resolved as a replay."""
    if not fresh:
        return {}
    rows = [_submission_row(p, batch) for p in fresh]
    try:
        with transaction.atomic():
            listed = _list_new_values(fresh, rows, batch)
            pks = values_insert(Submission, rows)
            through = Submission.labels.through
            rows_insert(
                through,
                [
                    through(submission_id=pk, label_id=label.pk)
                    for pk, prepared in zip(pks, fresh, strict=True)
                    for label in prepared.labels
                ],
                set_ids=False,
            )
    except IntegrityError:
        return {p.verified.index: _write_one(p, batch, context) for p in fresh}
    results = {}
    for p, pk, row in zip(fresh, pks, rows, strict=True):
        results[p.verified.index] = (
            ItemResult(
                index=p.verified.index,
                status="accepted",
                id=str(row["submission_id"]),
                review_state=row["review_state"],
                receipt=row["receipt"],
            )
            if p.verified.index in listed or not _approved_on_arrival(p, batch)
            else _approved_one_by_one(p, pk, context)
        )
    return results


def _approved_on_arrival(prepared: PreparedSubmission, batch: BatchContext) -> bool:
    # The crisis fast path: members in good standing (active, full or probation) are
    # approved on arrival during an open incident, and reviewed afterwards.
    fast_path = bool(prepared.incident) and batch.organisation.may_contribute
    return batch.organisation.trusted_contributor or fast_path


def _list_new_values(
    fresh: list[PreparedSubmission], rows: list[dict[str, Any]], batch: BatchContext
) -> set[int]:
    """List at once the values approved on arrival that are new to their bank (the common
    case during a crisis): one signal each, one change-log lock and one tree update for the
    lot, their submission rows (not yet written) made approved and linked to signal and
    entry. Returns the indexes of the items so listed. Anything else — a value already
    known, or twice in the batch — is left to the one-by-one path after the insert, which
    corroborates existing signals."""
    candidates = [
        (p, row) for p, row in zip(fresh, rows, strict=True) if _approved_on_arrival(p, batch)
    ]
    keys: dict[tuple[int, str, str], int] = {}
    for p, row in candidates:
        key = (p.bank.pk, row["signal_type"], row["value"])
        keys[key] = keys.get(key, 0) + 1
    known: set[tuple[int, str, str]] = set()
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
        if keys[(p.bank.pk, row["signal_type"], row["value"])] == 1
        and (p.bank.pk, row["signal_type"], row["value"]) not in known
    ]
    if not new:
        return set()
    try:
        with transaction.atomic():
            listings = signals_list_new(
                listings=[
                    NewListing(
                        bank=p.bank,
                        signal_type=row["signal_type"],
                        value=row["value"],
                        labels=p.labels,
                        incident=p.incident,
                        contributor=batch.organisation.slug,
                        envelope=EnvelopeRef(
                            row["envelope_digest"], batch.organisation.slug, p.verified.key.key_id
                        ),
                    )
                    for p, row in new
                ]
            )
    except IntegrityError:
        # The same value was listed concurrently: the one-by-one path corroborates it.
        return set()
    now = timezone.now()
    for (signal, entry), (_, row) in zip(listings, new, strict=True):
        row["signal_id"] = signal.pk
        row["log_entry_id"] = entry.pk
        row["review_state"] = ReviewState.APPROVED.value
        row["auto_approved"] = True
        row["reviewed_at"] = now
    return {p.verified.index for p, _ in new}


def _write_one(
    prepared: PreparedSubmission, batch: BatchContext, context: AuditContext
) -> ItemResult:
    index = prepared.verified.index
    try:
        with transaction.atomic():
            row = Submission(**_submission_row(prepared, batch))
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
    if _approved_on_arrival(prepared, batch):
        return _approved_one_by_one(prepared, row.pk, context)
    return ItemResult(
        index=index,
        status="accepted",
        id=str(row.submission_id),
        review_state=row.review_state,
        receipt=row.receipt,
    )


def _approved_one_by_one(
    prepared: PreparedSubmission, pk: int, context: AuditContext
) -> ItemResult:
    """Approve on arrival a submission just written pending, on its own: its value is
    already listed (it corroborates the signal) or twice in the batch."""
    submission = submission_approve(submission=Submission(pk=pk), context=context, auto=True)
    return ItemResult(
        index=prepared.verified.index,
        status="accepted",
        id=str(prepared.verified.envelope.id),
        review_state=submission.review_state,
        receipt=submission.receipt,
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
        receipt=existing.receipt or None,
    )
