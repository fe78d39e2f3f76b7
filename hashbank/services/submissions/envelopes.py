"""Checking one signed envelope of a batch: what must hold before its id is looked up
(shape, organisation, audience, key, signature), then what its statement says (bank, type
and value, labels, incident)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from accounts.hub_identity import HubKeys, hub_keys
from accounts.models import Organisation, SigningKey
from hashbank import signal_types
from hashbank.models import Bank, Label
from hashfed_wire import envelope as wire


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
class BatchContext:
    organisation: Organisation
    now: dt.datetime
    banks: dict[str, Bank]
    contributable: set[str]
    labels: dict[str, Label]
    keys: dict[str, SigningKey | None] = field(default_factory=dict)
    incidents: dict[str, str | None] = field(default_factory=dict)
    hub_signers: HubKeys | None = None

    def hub_keys(self) -> HubKeys:
        # Every accepted item's receipt is signed: the hub's keys are read once a batch.
        if self.hub_signers is None:
            self.hub_signers = hub_keys()
        return self.hub_signers

    def signing_key(self, key_id: str) -> SigningKey | None:
        if key_id not in self.keys:
            self.keys[key_id] = self.organisation.signing_keys.filter(key_id=key_id).first()
        return self.keys[key_id]

    def incident_state(self, slug: str) -> str | None:
        # A crisis batch tags every item with the same incident: one query, not a thousand.
        if slug not in self.incidents:
            self.incidents[slug] = _incident_state(slug)
        return self.incidents[slug]


@dataclass(frozen=True)
class VerifiedEnvelope:
    index: int
    envelope: wire.SignedEnvelope
    key: SigningKey
    digest: str


@dataclass(frozen=True)
class PreparedSubmission:
    verified: VerifiedEnvelope
    bank: Bank
    value: str
    labels: list[Label]
    incident: str


def envelope_verify(index: int, item: Any, batch: BatchContext) -> VerifiedEnvelope:
    """Shape, organisation, audience, key and signature: everything that must hold before
    the id is looked up (so a replay is recognised even if the taxonomy changed since)."""
    try:
        envelope = wire.envelope_from_obj(item)
    except wire.EnvelopeError as exc:
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
    if not wire.verify(key.public_key_bytes, envelope):
        raise ItemRejected("bad_signature", "the signature does not verify", "signature")
    return VerifiedEnvelope(index, envelope, key, hashlib.sha256(envelope.canonical).hexdigest())


def envelope_prepare(item: VerifiedEnvelope, batch: BatchContext) -> PreparedSubmission:
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
    return PreparedSubmission(item, bank, value, labels, incident)
