"""The audit trail: an append-only, hash-chained record of every state change and denial
(denials aggregated per source and window, see `audit_record_denial`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any

import rfc8785
from django.conf import settings
from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import AuditEvent, AuditOutcome, DenialCounter, Organisation, User
from accounts.principal import Principal, client_ip

GENESIS_HASH = "0" * 64
# Any 64-bit number; all appends to the chain take this PostgreSQL advisory lock.
_AUDIT_LOCK_KEY = 0x4861736866656401


def _event_material(event: AuditEvent) -> dict[str, Any]:
    return {
        "sequence": event.sequence,
        "occurred_at": event.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "action": event.action,
        "outcome": event.outcome,
        "actor_user_id": event.actor_user_id,
        "actor_email": event.actor_email,
        "organisation_id": event.organisation_id,
        "organisation_slug": event.organisation_slug,
        "api_key_prefix": event.api_key_prefix,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_repr": event.target_repr,
        "ip_address": event.ip_address,
        "detail": event.detail,
    }


def compute_entry_hash(event: AuditEvent) -> str:
    material = rfc8785.dumps(_event_material(event))
    return hashlib.sha256(bytes.fromhex(event.previous_hash) + material).hexdigest()


def lock_chain(lock_key: int) -> None:
    """Serialise appends to a numbered chain until the end of the current transaction.

    Sequence numbers must have no gaps and each entry names its predecessor's hash, so two
    appends may never read the same head. PostgreSQL: a transaction-scoped advisory lock.
    SQLite: the settings open every transaction with BEGIN IMMEDIATE, which already holds
    the database's single write lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key])


@dataclass(frozen=True)
class AuditContext:
    """What an audit entry records about the caller."""

    user: User | None = None
    organisation: Organisation | None = None
    api_key_prefix: str = ""
    ip_address: str | None = None

    @classmethod
    def from_request(cls, request: HttpRequest | None) -> AuditContext:
        if request is None:
            return cls()
        principal = getattr(request, "user", None)
        ip = client_ip(request)
        if isinstance(principal, Principal):
            return cls(
                user=principal.user,
                organisation=principal.organisation,
                api_key_prefix=principal.api_key.prefix if principal.api_key else "",
                ip_address=ip,
            )
        if isinstance(principal, User) and principal.is_authenticated:
            membership = principal.memberships.select_related("organisation").first()
            return cls(
                user=principal,
                organisation=membership.organisation if membership else None,
                ip_address=ip,
            )
        return cls(ip_address=ip)

    @classmethod
    def system(cls) -> AuditContext:
        return cls()


def audit_record(
    *,
    action: str,
    context: AuditContext,
    outcome: str = AuditOutcome.SUCCESS,
    target: models.Model | None = None,
    detail: dict[str, Any] | None = None,
    organisation: Organisation | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction when there is one (so
    a rolled-back change leaves no record of having happened). `organisation` overrides the
    context's organisation (e.g. staff acting on a member)."""
    org = organisation or context.organisation
    with transaction.atomic():
        lock_chain(_AUDIT_LOCK_KEY)
        head = AuditEvent.objects.order_by("-sequence").values("sequence", "entry_hash").first()
        event = AuditEvent(
            sequence=head["sequence"] + 1 if head else 0,
            occurred_at=timezone.now(),
            action=action,
            outcome=outcome,
            actor_user_id=context.user.pk if context.user else None,
            actor_email=context.user.email if context.user else "",
            organisation_id=org.pk if org else None,
            organisation_slug=org.slug if org else "",
            api_key_prefix=context.api_key_prefix,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            target_repr=str(target)[:200] if target is not None else "",
            ip_address=context.ip_address,
            detail=detail or {},
            previous_hash=head["entry_hash"] if head else GENESIS_HASH,
        )
        event.entry_hash = compute_entry_hash(event)
        event.save(force_insert=True)
    return event


def _denial_source(ip_address: str | None) -> str:
    if not ip_address:
        return ""
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return ip_address[:64]
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(getattr(address, "ipv4_mapped", None) or address)


def _denial_count(
    *, window_start: dt.datetime, now: dt.datetime, key: dict[str, str]
) -> tuple[int, int]:
    """Add one to the group's counter in a single statement (insert or increment), and
    return (row id, count after it): a count of 1 means this refusal opened the group."""
    table = DenialCounter._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    columns = ", ".join(key)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (window_start, {columns}, count, first_seen_at, last_seen_at) "  # noqa: S608
            f"VALUES (%s, {', '.join(['%s'] * len(key))}, 1, %s, %s) "
            f"ON CONFLICT (window_start, {columns}) DO UPDATE SET "
            f"count = {table}.count + 1, last_seen_at = excluded.last_seen_at "
            "RETURNING id, count",
            [adapt(window_start), *key.values(), adapt(now), adapt(now)],
        )
        row_id, count = cursor.fetchone()
    return row_id, count


def audit_record_denial(
    *, action: str, context: AuditContext, reason: str, target: models.Model | None = None
) -> AuditEvent | None:
    """Record a refused attempt, at a bounded cost. Every refusal adds one to its group's
    DenialCounter (source, action, reason, key prefix, organisation, time window); only the
    first refusal of a group is appended to the chain, and only while the window has seen
    fewer than AUDIT_DENIAL_CHAIN_LIMIT such first refusals (many sources at once). Returns
    the chained event, or None when the refusal was only counted. Runs in its own
    transaction when called outside one, so the record survives the error response."""
    now = timezone.now()
    window = settings.AUDIT_DENIAL_WINDOW_SECONDS
    window_start = dt.datetime.fromtimestamp(int(now.timestamp()) // window * window, tz=dt.UTC)
    key = {
        "source": _denial_source(context.ip_address),
        "action": action[:100],
        "reason": reason[:100],
        "api_key_prefix": context.api_key_prefix[:16],
        "organisation_slug": context.organisation.slug if context.organisation else "",
    }
    with transaction.atomic():
        row_id, count = _denial_count(window_start=window_start, now=now, key=key)
        if count != 1:
            return None
        chained_in_window = DenialCounter.objects.filter(
            window_start=window_start, first_event_sequence__isnull=False
        ).count()
        if chained_in_window >= settings.AUDIT_DENIAL_CHAIN_LIMIT:
            return None
        event = audit_record(
            action=action,
            context=context,
            outcome=AuditOutcome.DENIED,
            target=target,
            detail={
                "reason": reason,
                "counted_in": "accounts.denialcounter",
                "window_start": window_start.isoformat(),
            },
        )
        DenialCounter.objects.filter(pk=row_id).update(first_event_sequence=event.sequence)
    return event


@dataclass(frozen=True)
class ChainProblem:
    sequence: int
    problem: str


def audit_chain_verify(*, batch_size: int = 5000) -> tuple[int, list[ChainProblem]]:
    """Recompute the chain from the genesis. Returns (events checked, problems found):
    a rewritten row, a removed or inserted row, or a broken link all show up."""
    problems: list[ChainProblem] = []
    expected_sequence = 0
    previous_hash = GENESIS_HASH
    checked = 0
    last_sequence = -1
    while True:
        batch = list(
            AuditEvent.objects.filter(sequence__gt=last_sequence).order_by("sequence")[:batch_size]
        )
        if not batch:
            break
        for event in batch:
            checked += 1
            if event.sequence != expected_sequence:
                problems.append(
                    ChainProblem(event.sequence, f"expected sequence {expected_sequence}")
                )
            if event.previous_hash != previous_hash:
                problems.append(ChainProblem(event.sequence, "link to the previous entry broken"))
            if compute_entry_hash(event) != event.entry_hash:
                problems.append(ChainProblem(event.sequence, "content does not match its hash"))
            expected_sequence = event.sequence + 1
            previous_hash = event.entry_hash
            last_sequence = event.sequence
    return checked, problems
