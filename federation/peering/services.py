"""Peering with other hubs: what an agreement shares, and pulling what it receives
(docs/federation.md)."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.base import ModelState
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone

from accounts import grants
from accounts.audit import AuditContext, audit_record
from accounts.mail import Recipient, email_people, hub_url
from accounts.models import OrganisationKind, Role, User
from core.bulk_insert import rows_insert, values_insert
from core.errors import Invalid
from core.outbound import OutboundResponse, UnsafeUrl, outbound_get
from federation.peering.metrics import PEER_PULLED_ENTRIES, PEER_QUARANTINES
from federation.peering.models import (
    AgreementState,
    PeeringAgreement,
    Quarantine,
    ReceivedBank,
    ReceivedEnvelope,
)
from hashbank.models import Bank, ChangeOp, Label, Severity, Signal, SignalStatus
from hashbank.services.changelog import REMOVAL_REASONS, Change, EnvelopeRef, changelog_import
from hashfed_wire import hub_signatures, provenance
from hashfed_wire.errors import HubError, SyncError
from hashfed_wire.logverify import (
    BankTree,
    CheckpointPolicy,
    LogVerifier,
    Misbehaviour,
    Unverified,
    parse_key,
    split_page,
)
from hashfed_wire.merkle import RightEdge

logger = logging.getLogger(__name__)

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


# ---- pulling from a peer ------------------------------------------------------------

PULL_PAGE = 10_000
PULL_TIMEOUT = 60.0
KEYS_PAGE = 1000


class PeerUnavailable(Exception):
    """The peer could not be asked (refused address, no answer, an error status): nothing
    is proven against it, the next pull tries again."""


@dataclass
class PeerApi:
    """The peer hub's API as this hub calls it: every request through the outbound policy
    (core.outbound.outbound_get), with the API key the peer issued to this hub."""

    agreement: PeeringAgreement

    def get(self, path: str, query: Mapping[str, object] | None = None) -> OutboundResponse:
        url = self.agreement.base_url.rstrip("/") + path
        if query:
            url += "?" + urlencode(query)
        headers = {"Accept": "application/json", "User-Agent": "hashfed-hub-peering/1"}
        if self.agreement.pull_credential:
            headers["Authorization"] = f"Bearer {self.agreement.pull_credential}"
        try:
            return outbound_get(url, headers=headers, timeout=PULL_TIMEOUT)
        except UnsafeUrl as exc:
            raise PeerUnavailable(f"the peer's address is refused: {exc}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise PeerUnavailable(f"GET {path}: {exc}") from None

    def ok(self, path: str, query: Mapping[str, object] | None = None) -> OutboundResponse:
        response = self.get(path, query)
        if response.status != 200:
            raise PeerUnavailable(f"GET {path}: {response.status} {response.body[:300]!r}")
        return response

    def json(self, path: str, query: Mapping[str, object] | None = None) -> Any:
        try:
            return json.loads(self.ok(path, query).body)
        except ValueError:
            raise PeerUnavailable(f"GET {path}: the answer is not JSON") from None

    def page(self, bank: str, cursor: int, limit: int) -> tuple[bytes, str | None]:
        response = self.ok("/api/v1/sync/", {"cursor": cursor, "limit": limit, "bank": bank})
        return response.body, response.headers.get(hub_signatures.SIGNATURES_HEADER.lower())

    def checkpoint(self, bank: str) -> str:
        return self.ok(f"/api/v1/banks/{quote(bank, safe='')}/checkpoint").body.decode()

    def consistency(self, bank: str, old: int, new: int) -> list[bytes]:
        reply = self.json(
            f"/api/v1/banks/{quote(bank, safe='')}/proof/consistency", {"from": old, "to": new}
        )
        try:
            assert reply["from"] == old and reply["to"] == new
            return [bytes.fromhex(node) for node in reply["proof"]]
        except (AssertionError, KeyError, TypeError, ValueError):
            raise PeerUnavailable("a consistency proof needs from, to and proof") from None

    def envelope(self, digest: str) -> dict[str, Any] | None:
        """The envelope, or None when the peer does not disclose it to this hub."""
        response = self.get(f"/api/v1/envelopes/{digest}")
        if response.status == 404:
            return None
        if response.status != 200:
            raise PeerUnavailable(f"GET envelope {digest}: {response.status}")
        try:
            reply = json.loads(response.body)
        except ValueError:
            raise PeerUnavailable(f"envelope {digest}: the answer is not JSON") from None
        return reply if isinstance(reply, dict) else None

    def member_keys(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The origin's members' signing keys by (organisation, key id)."""
        keys: dict[tuple[str, str], dict[str, Any]] = {}
        offset = 0
        while True:
            reply = self.json("/api/v1/keys/", {"limit": KEYS_PAGE, "offset": offset})
            results = reply.get("results", []) if isinstance(reply, dict) else []
            for key in results:
                keys[(str(key.get("organisation")), str(key.get("key_id")))] = key
            if not reply.get("next") or not results:
                return keys
            offset += len(results)


class Quarantined(Exception):
    """The peer served a log that contradicts itself; the agreement is quarantined."""

    def __init__(self, quarantine: Quarantine) -> None:
        self.quarantine = quarantine
        super().__init__(quarantine.reason)


@dataclass
class PullResult:
    received_bank: ReceivedBank
    entries: int = 0
    envelopes: int = 0
    error: str = ""
    quarantine: Quarantine | None = None


def peer_verifier(agreement: PeeringAgreement, api: PeerApi) -> LogVerifier:
    """The client's log checks (hashfed_wire.logverify), with the agreement's key pinned:
    checkpoints of `<peer origin>/banks/<bank>` signed by it."""
    key = parse_key(agreement.public_key)
    if key.name != agreement.origin:
        raise Unverified(f"the agreement's key is named {key.name}, not {agreement.origin}")
    return LogVerifier(CheckpointPolicy(key), api.consistency, hub=agreement.base_url)


def _tree_of(received: ReceivedBank) -> BankTree:
    edge = RightEdge(received.tree_size, [bytes.fromhex(h) for h in received.right_edge])
    if not received.checkpoint_text:
        return BankTree(edge)
    return BankTree(
        edge,
        received.checkpoint_text,
        received.checkpoint_size,
        bytes.fromhex(received.checkpoint_root),
    )


def received_bank_pull(received: ReceivedBank, *, limit: int = PULL_PAGE) -> PullResult:
    """Bring one received bank up to the peer's log, page by page from where the last
    verified pull stopped: each page's signature by the agreement's key, each checkpoint
    (`<origin>/banks/<remote>`) consistent with the last one recorded, the entries making
    the signed tree, each add or update entry's member envelopes fetched and checked; then
    the entries applied to the local bank (logged again in this hub's own log) and the
    position, tree and checkpoint recorded, in one transaction per page. A peer whose log
    contradicts itself is quarantined (`Quarantined`); one that cannot be reached leaves
    everything as it was (`last_error`)."""
    agreement = received.agreement
    result = PullResult(received)
    if agreement.state != AgreementState.ACTIVE:
        result.error = f"the agreement is {agreement.state}"
        return result
    api = PeerApi(agreement)
    remote = received.remote_name
    try:
        verifier = peer_verifier(agreement, api)
        page_key = verifier.policy.hub_key.public_key
        tree = _tree_of(received)
        if tree.checkpoint is not None:
            verifier.check_latest(remote, tree, api.checkpoint(remote))
        keys: dict[tuple[str, str], dict[str, Any]] | None = None
        peer_labels = PeerLabels(api, agreement)
        while True:
            raw, signature = api.page(remote, received.position, limit)
            try:
                hub_signatures.verify_page_by_any([page_key], raw, signature)
            except hub_signatures.HubSignatureError as exc:
                raise Unverified(f"a sync page of the peer: {exc}") from None
            page, texts = split_page(raw)
            entries, next_cursor, head = _page_fields(page)
            trees = verifier.check_page({remote: tree}, page, texts, raw=raw, signature=signature)
            if any(e.get("bank") != remote for e in entries):
                raise SyncError(f"a page asked for {remote} holds entries of another bank")
            # An item that names its member comes from a bank that shows its contributors,
            # whose envelopes the origin discloses to the peers it shares the bank with;
            # one that names only its digest will not be disclosed: the digest is kept.
            named = _envelope_items(entries)
            known = set(
                ReceivedEnvelope.objects.filter(
                    agreement=agreement, digest__in=list(named)
                ).values_list("digest", flat=True)
            )
            fetch = sorted(d for d, shown in named.items() if shown and d not in known)
            if fetch and keys is None:
                keys = api.member_keys()
            envelopes = [_envelope_checked(api, agreement, d, keys or {}) for d in fetch] + [
                ReceivedEnvelope(agreement=agreement, digest=d, disclosed=False)
                for d, shown in sorted(named.items())
                if not shown and d not in known
            ]
            for envelope in envelopes:
                envelope.bank = received.bank
            new_tree = trees[remote]
            peer_labels.link(entries)
            with transaction.atomic():
                locked = ReceivedBank.objects.select_for_update().get(pk=received.pk)
                if locked.position != received.position:
                    raise PeerUnavailable("another pull of this bank ran meanwhile")
                rows_insert(ReceivedEnvelope, envelopes)
                _entries_apply(received.bank, entries, agreement)
                received.position = max(received.position, next_cursor)
                received.tree_size = new_tree.edge.size
                received.right_edge = [h.hex() for h in new_tree.edge.hashes]
                if new_tree.checkpoint is not None:
                    received.checkpoint_text = new_tree.checkpoint
                    received.checkpoint_size = new_tree.checkpoint_size
                    received.checkpoint_root = new_tree.checkpoint_root.hex()
                received.last_pulled_at = timezone.now()
                received.last_error = ""
                received.save()
            tree = new_tree
            result.entries += len(entries)
            result.envelopes += len(envelopes)
            if not entries or next_cursor >= head:
                break
    except Misbehaviour as exc:
        result.quarantine = quarantine_open(
            agreement=agreement, received=received, reason=exc.message, evidence=exc.evidence
        )
        result.error = exc.message
    except (PeerUnavailable, Unverified, SyncError, HubError) as exc:
        result.error = str(exc)
        ReceivedBank.objects.filter(pk=received.pk).update(last_error=result.error[:2000])
        logger.warning("peering: pull of %s stopped: %s", received, result.error)
    return result


LABEL_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,100}\Z")


class PeerLabels:
    """The labels the peer's entries carry that this hub's taxonomy does not have: each is
    created here once, marked with the origin hub (`Label.origin_hub`), retired (members
    here do not submit or dispute with it) and worded as the origin's taxonomy words it
    (`GET /api/v1/labels/` at the peer, asked once per pull, only when a label is new
    here), so that received signals keep every label the origin gave them. Created outside
    the page's transaction (a label is only a name: one left by a page not imported is
    harmless) and audited (`peering.label.created`)."""

    def __init__(self, api: PeerApi, agreement: PeeringAgreement) -> None:
        self.api = api
        self.agreement = agreement
        self.taxonomy: dict[str, dict[str, Any]] | None = None

    def _taxonomy(self) -> dict[str, dict[str, Any]]:
        if self.taxonomy is None:
            try:
                reply = self.api.json("/api/v1/labels/")
            except PeerUnavailable as exc:
                logger.warning("peering: the labels of %s: %s", self.agreement.origin, exc)
                reply = []
            self.taxonomy = {
                str(label.get("slug")): label
                for label in (reply if isinstance(reply, list) else [])
                if isinstance(label, dict)
            }
        return self.taxonomy

    def link(self, entries: list[dict[str, Any]]) -> list[Label]:
        """Create the labels of `entries` this hub does not have. Returns those created."""
        slugs = {
            str(slug)
            for entry in entries
            if entry.get("op") in (ChangeOp.ADD, ChangeOp.UPDATE)
            for slug in entry.get("labels") or ()
        }
        if not slugs:
            return []
        new = slugs - set(Label.objects.filter(slug__in=slugs).values_list("slug", flat=True))
        malformed = {slug for slug in new if not LABEL_SLUG.match(slug)}
        if malformed:
            logger.warning(
                "peering: %s sends labels that are not slugs: %s",
                self.agreement.origin,
                sorted(malformed)[:10],
            )
        created = []
        for slug in sorted(new - malformed):
            with transaction.atomic():
                label = self._create(slug, self._taxonomy().get(slug, {}))
            if label is not None:
                created.append(label)
        return created

    def _create(self, slug: str, spec: dict[str, Any]) -> Label | None:
        origin = self.agreement.origin
        severity = spec.get("severity")
        label, made = Label.objects.get_or_create(
            slug=slug,
            defaults={
                "name": str(spec.get("name") or slug)[:200],
                "category": str(spec.get("category") or "peer")[:32],
                "severity": severity if severity in Severity.values else Severity.MEDIUM,
                "description": str(spec.get("description") or "")
                or f"A label of the peer hub {origin}.",
                "taxonomy_version": str(spec.get("taxonomy_version") or "")[:16],
                "dsa_category": str(spec.get("dsa_category") or "")[:100],
                "active": False,
                "origin_hub": origin,
            },
        )
        if not made:
            return None
        audit_record(
            action="peering.label.created",
            context=AuditContext.system(),
            target=label,
            organisation=self.agreement.organisation,
            detail={"slug": slug, "origin": origin, "described_by_origin": bool(spec)},
        )
        logger.info("peering: label %s created from %s", slug, origin)
        return label


def _envelope_items(entries: list[dict[str, Any]]) -> dict[str, bool]:
    """The envelope digests the add and update entries commit to, each with whether the
    entry names its member (the origin bank shows its contributors)."""
    named: dict[str, bool] = {}
    for entry in entries:
        if entry.get("op") not in (ChangeOp.ADD, ChangeOp.UPDATE):
            continue
        for item in entry.get("envelopes") or ():
            if not isinstance(item, dict) or not provenance.is_digest(item.get("digest")):
                raise SyncError(f"entry {entry.get('sequence')} names a malformed envelope")
            digest = str(item["digest"])
            named[digest] = named.get(digest, False) or "organisation" in item
    return named


def _page_fields(page: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int, int]:
    entries, next_cursor, head = page.get("entries"), page.get("next_cursor"), page.get("head")
    if not (
        isinstance(entries, list)
        and all(isinstance(e, dict) for e in entries)
        and isinstance(next_cursor, int)
        and isinstance(head, int)
    ):
        raise SyncError("a sync page needs entries, next_cursor and head")
    return entries, next_cursor, head


def _envelope_checked(
    api: PeerApi,
    agreement: PeeringAgreement,
    digest: str,
    keys: Mapping[tuple[str, str], Mapping[str, Any]],
) -> ReceivedEnvelope:
    """The envelope behind `digest` as the peer discloses it, its member signature checked
    against the member's key the peer publishes, and its digest recomputed; or the digest
    alone when the peer does not disclose it. An envelope that does not match its digest or
    its signature is the peer's misbehaviour."""
    if not provenance.is_digest(digest):
        raise SyncError(f"an entry names an envelope digest {digest[:80]!r}")
    served = api.envelope(digest)
    if served is None:
        return ReceivedEnvelope(agreement=agreement, digest=digest, disclosed=False)
    organisation, key_id = str(served.get("organisation")), str(served.get("key_id"))
    payload_b64, signature_b64 = served.get("canonical_payload"), served.get("signature")
    evidence = {"envelope": served, "digest": digest, "hub": agreement.base_url}
    key = keys.get((organisation, key_id))
    if not isinstance(signature_b64, str) or key is None:
        raise Misbehaviour(
            "bad_envelope",
            f"envelope {digest}: signed by a key the peer does not publish",
            evidence,
        )
    signature = base64.b64decode(signature_b64)
    if payload_b64 is None:
        # Erased at the origin (its retention policy): only the digest can be kept.
        return ReceivedEnvelope(
            agreement=agreement,
            digest=digest,
            disclosed=True,
            organisation=organisation,
            key_id=key_id,
            public_key=str(key.get("public_key", "")),
            signature=signature_b64,
        )
    payload = base64.b64decode(str(payload_b64))
    public_key = base64.b64decode(str(key.get("public_key", "")))
    try:
        matches = provenance.envelope_digest(payload, signature, key_id) == digest
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, payload)
    except (provenance.ProvenanceError, InvalidSignature, ValueError) as exc:
        raise Misbehaviour(
            "bad_envelope", f"envelope {digest}: the member's signature does not verify", evidence
        ) from exc
    if not matches:
        raise Misbehaviour(
            "bad_envelope", f"envelope {digest}: the envelope served has another digest", evidence
        )
    return ReceivedEnvelope(
        agreement=agreement,
        digest=digest,
        disclosed=True,
        organisation=organisation,
        key_id=key_id,
        public_key=str(key.get("public_key")),
        canonical_payload=payload,
        signature=signature_b64,
    )


def _entry_key(entry: Mapping[str, Any]) -> tuple[str, str]:
    signal_type, value = entry.get("signal_type"), entry.get("value")
    if not isinstance(signal_type, str) or not isinstance(value, str):
        raise SyncError(f"entry {entry.get('sequence')} has no signal_type or value")
    return signal_type, value


def _entry_state(entry: Mapping[str, Any]) -> tuple[str, float | None]:
    """The status and confidence an entry gives its signal."""
    if entry.get("op") == ChangeOp.REMOVE:
        return SignalStatus.REMOVED, None
    if entry.get("op") not in (ChangeOp.ADD, ChangeOp.UPDATE):
        raise SyncError(f"entry {entry.get('sequence')} has an unknown op {entry.get('op')!r}")
    status = entry.get("status")
    confidence = entry.get("confidence")
    return (
        status if status in (SignalStatus.ACTIVE, SignalStatus.DISPUTED) else SignalStatus.ACTIVE,
        float(confidence) if isinstance(confidence, int | float) else None,
    )


def _entries_apply(bank: Bank, entries: list[dict[str, Any]], agreement: PeeringAgreement) -> None:
    """Apply the peer's entries, in order, to the local bank's signals, and log each change
    in this hub's own log: add and update set the signal as the entry says (status, labels,
    confidence, the envelopes behind it), remove takes it off the list with the origin's
    reason. Signals new here are written once, in their state after the page."""
    if not entries:
        return
    keys = [_entry_key(entry) for entry in entries]
    states = [_entry_state(entry) for entry in entries]
    signals = {
        (s.signal_type, s.value): s
        for s in Signal.objects.filter(bank=bank, value__in=_texts_in({value for _, value in keys}))
    }
    listed = {key: signal.status != SignalStatus.REMOVED for key, signal in signals.items()}
    existing = set(signals)
    now = timezone.now()
    final: dict[tuple[str, str], tuple[str, float | None]] = {}
    # A signal with one entry in the page is left in that entry's state (as `final`
    # says); one with several is logged, entry by entry, from copies.
    repeated = {key for key, count in Counter(keys).items() if count > 1}
    for key, (status, confidence) in zip(keys, states, strict=True):
        previous = final.get(key, (status, None))
        final[key] = (status, confidence if confidence is not None else previous[1])
    listing = {key for key, (status, _) in zip(keys, states, strict=True) if status != "removed"}
    missing = [
        {
            "bank_id": bank.pk,
            "signal_type": key[0],
            "value": key[1],
            "status": status,
            "labels_decided": False,
            "delisted_by_decision": False,
            "confidence": 0.5 if confidence is None else confidence,
            "legal_hold": False,
            "incident": "",
            "first_listed_at": now,
            "updated_at": now,
        }
        for key, (status, confidence) in final.items()
        if key not in signals and key in listing
    ]
    for created in _signals_insert(bank, missing):
        signals[(created.signal_type, created.value)] = created
        listed[(created.signal_type, created.value)] = False
    for key in existing:
        signals[key].bank = bank
    envelopes = {
        e.digest: e
        for e in ReceivedEnvelope.objects.filter(
            agreement=agreement,
            digest__in={
                str(item.get("digest"))
                for entry in entries
                for item in entry.get("envelopes") or ()
                if isinstance(item, dict)
            },
        )
    }
    labels = {label.slug: label.pk for label in Label.objects.all()}
    changes: list[Change] = []
    final_labels: dict[int, list[str]] = {}
    for entry, key, (status, confidence) in zip(entries, keys, states, strict=True):
        signal = signals.get(key)
        if signal is None:
            continue
        # What the entry says (on a copy where the page has more entries of the signal):
        # the change is logged as of this entry.
        seen = _signal_copy(signal) if key in repeated else signal
        seen.status = status
        if confidence is not None:
            seen.confidence = confidence
        seen.incident = ""
        if status == SignalStatus.REMOVED:
            if not listed[key]:
                continue
            listed[key] = False
            reason = entry.get("reason")
            changes.append(
                Change(
                    seen,
                    ChangeOp.REMOVE,
                    reason=reason if reason in REMOVAL_REASONS else "withdrawn",
                )
            )
            continue
        op = ChangeOp.UPDATE if listed[key] else ChangeOp.ADD
        listed[key] = True
        entry_labels = sorted({str(slug) for slug in entry.get("labels") or ()})
        final_labels[signal.pk] = entry_labels
        refs = []
        for item in entry.get("envelopes") or ():
            digest = str(item.get("digest")) if isinstance(item, dict) else ""
            known = envelopes.get(digest)
            organisation = (known.organisation if known else "") or str(
                item.get("organisation", "")
            )
            key_id = (known.key_id if known else "") or str(item.get("key_id", ""))
            refs.append(EnvelopeRef(digest, organisation, key_id))
        contributors = entry.get("contributors")
        changes.append(
            Change(
                seen,
                op,
                labels=entry_labels,
                contributors=[str(c) for c in contributors]
                if isinstance(contributors, list)
                else sorted({ref.organisation for ref in refs if ref.organisation}),
                envelopes=refs,
            )
        )
    # Signals that were here before the page take their state after it (few, most pages
    # bring values new here, written above in that state already).
    before = []
    for key in existing & set(final):
        signal = signals[key]
        status, confidence = final[key]
        signal.status = status
        if confidence is not None:
            signal.confidence = confidence
        signal.incident = ""
        signal.first_listed_at = signal.first_listed_at or now
        signal.updated_at = now
        before.append(signal)
    Signal.objects.bulk_update(
        before,
        ["status", "confidence", "incident", "first_listed_at", "updated_at"],
        batch_size=500,
    )
    if final_labels:
        through = Signal.labels.through
        through.objects.filter(signal_id__in=list(final_labels)).delete()
        rows_insert(
            through,
            [
                through(signal_id=pk, label_id=labels[slug])
                for pk, slugs in final_labels.items()
                for slug in slugs
                if slug in labels
            ],
            set_ids=False,
        )
    changelog_import(changes=changes)


def _texts_in(values: set[str]) -> Any:
    """The right side of an `__in` lookup on a text column: on PostgreSQL, one array
    parameter (`unnest`) instead of a placeholder per value, which Django and the driver
    handle one by one."""
    if connection.vendor != "postgresql":
        return values
    return RawSQL("SELECT unnest(%s::text[])", [list(values)])


def _signals_insert(bank: Bank, rows: list[dict[str, Any]]) -> list[Signal]:
    """Insert signals given as {field attname: value} (every field but the key) and return
    them as instances, their bank set, each made from its values by position (the quick
    way Django makes instances from query rows, without keyword handling)."""
    names = [field.attname for field in Signal._meta.concrete_fields]
    made = []
    for pk, row in zip(values_insert(Signal, rows), rows, strict=True):
        row["id"] = pk
        signal = Signal(*[row[name] for name in names])
        signal._state.adding = False
        signal._state.db = Signal.objects.db
        signal._state.fields_cache["bank"] = bank
        made.append(signal)
    return made


def _signal_copy(signal: Signal) -> Signal:
    """A copy of the instance that its changes do not touch (copy.copy without the
    pickling protocol): the same field values and related objects."""
    seen = Signal.__new__(Signal)
    seen.__dict__.update(signal.__dict__)
    state = ModelState()
    state.__dict__.update(signal._state.__dict__)
    state.fields_cache = dict(signal._state.fields_cache)
    seen._state = state
    return seen


def received_envelope_found(*, banks: QuerySet[Bank], digest: str) -> dict[str, Any] | None:
    """A member envelope received from a peer hub, behind an entry of one of `banks`, in
    the shape of GET /api/v1/envelopes/<digest> with the origin hub named; None if there is
    none (or the origin did not disclose it)."""
    found = (
        ReceivedEnvelope.objects.filter(bank__in=banks, digest=digest, disclosed=True)
        .select_related("bank", "agreement")
        .first()
    )
    if found is None or found.bank is None:
        return None
    payload = found.canonical_payload
    return {
        "digest": found.digest,
        "organisation": found.organisation,
        "key_id": found.key_id,
        "bank": found.bank.name,
        "canonical_payload": base64.b64encode(bytes(payload)).decode() if payload else None,
        "signature": found.signature,
        "verifiable": payload is not None,
        "erased_at": None,
        "explanation": None,
        "origin_hub": found.agreement.origin,
        "public_key": found.public_key,
    }


# ---- quarantine ---------------------------------------------------------------------


def _governance_recipients() -> list[Recipient]:
    users = User.objects.filter(
        is_active=True,
        memberships__organisation__kind=OrganisationKind.CONSORTIUM,
        memberships__role=Role.GOVERNANCE_OFFICER,
    ).distinct()
    return [Recipient.of(user) for user in users]


def quarantine_open(
    *,
    agreement: PeeringAgreement,
    received: ReceivedBank | None,
    reason: str,
    evidence: Mapping[str, Any],
) -> Quarantine:
    """Stop importing from the peer: the agreement is quarantined, the proof kept (the
    checkpoint this hub had recorded, the one that contradicts it, the rest of the
    evidence), staff with the governance role told by email, and a log line written."""
    checkpoints = [str(c) for c in evidence.get("checkpoints") or ()]
    before = received.checkpoint_text if received is not None else ""
    after = next((c for c in reversed(checkpoints) if c != before), "")
    with transaction.atomic():
        PeeringAgreement.objects.filter(pk=agreement.pk).update(state=AgreementState.QUARANTINED)
        agreement.state = AgreementState.QUARANTINED
        quarantine = Quarantine.objects.create(
            agreement=agreement,
            received_bank=received,
            reason=reason,
            checkpoint_before=before or (checkpoints[0] if len(checkpoints) > 1 else ""),
            checkpoint_after=after,
            evidence=json.loads(json.dumps(dict(evidence), default=str)),
        )
        audit_record(
            action="peering.quarantine.opened",
            context=AuditContext.system(),
            target=quarantine,
            organisation=agreement.organisation,
            detail={"origin": agreement.origin, "reason": reason[:500]},
        )
    PEER_QUARANTINES.labels(origin=agreement.origin).inc()
    logger.error("peering: %s quarantined: %s", agreement.origin, reason)
    link = hub_url(reverse("admin:peering_quarantine_change", args=[quarantine.pk]))
    email_people(
        recipients=_governance_recipients(),
        template="peering/email/quarantine.txt",
        context={"quarantine": quarantine, "agreement": agreement, "link": link},
    )
    return quarantine


@transaction.atomic
def quarantine_lift(*, quarantine: Quarantine, context: AuditContext) -> Quarantine:
    """Lift a quarantine: pulls resume (the agreement is active again once no quarantine
    of it is left open). Audited."""
    quarantine = Quarantine.objects.select_for_update().get(pk=quarantine.pk)
    if quarantine.lifted_at is not None:
        return quarantine
    quarantine.lifted_at = timezone.now()
    quarantine.lifted_by = context.user
    quarantine.save(update_fields=["lifted_at", "lifted_by"])
    agreement = quarantine.agreement
    still_open = agreement.quarantines.filter(lifted_at__isnull=True).exists()
    before = agreement.state
    if not still_open and agreement.state == AgreementState.QUARANTINED:
        agreement.state = AgreementState.ACTIVE
        agreement.save(update_fields=["state"])
    audit_record(
        action="peering.quarantine.lifted",
        context=context,
        target=quarantine,
        organisation=agreement.organisation,
        detail={"before": {"state": before}, "after": {"state": agreement.state}},
    )
    return quarantine


# ---- registration and the periodic pull ---------------------------------------------


@transaction.atomic
def received_bank_register(
    *,
    agreement: PeeringAgreement,
    remote_name: str,
    may_pass_on: bool,
    local_name: str = "",
    context: AuditContext,
) -> ReceivedBank:
    """Receive the peer's bank `remote_name` into a local bank (`local_name`, the remote
    name by default) marked with the origin hub: shareable with other peers only when the
    origin allows passing it on."""
    name = local_name or remote_name
    bank, created = Bank.objects.get_or_create(
        name=name,
        defaults={
            "title": f"{remote_name} from {agreement.origin}",
            "purpose": f"Received from the peer hub {agreement.origin}.",
            "origin_hub": agreement.origin,
            "origin_allows_pass_on": may_pass_on,
            "peer_shareable": may_pass_on,
        },
    )
    if not created and bank.origin_hub != agreement.origin:
        raise Invalid.for_field("local_name", f"the bank {name} is not one received from this peer")
    received, _ = ReceivedBank.objects.update_or_create(
        agreement=agreement,
        remote_name=remote_name,
        defaults={"bank": bank, "may_pass_on": may_pass_on},
    )
    received_bank_pass_on_set(received=received, may_pass_on=may_pass_on, context=context)
    return received


def received_bank_pass_on_set(
    *, received: ReceivedBank, may_pass_on: bool, context: AuditContext
) -> None:
    """What the origin allows: the local bank follows (never shareable with other peers,
    and never read by one, without it)."""
    stored = ReceivedBank.objects.select_related("bank").get(pk=received.pk)
    bank = stored.bank
    before = {"may_pass_on": stored.may_pass_on, "peer_shareable": bank.peer_shareable}
    received.may_pass_on = may_pass_on
    received.save(update_fields=["may_pass_on"])
    bank.origin_hub = received.agreement.origin
    bank.origin_allows_pass_on = may_pass_on
    if not may_pass_on:
        bank.peer_shareable = False
    bank.save(update_fields=["origin_hub", "origin_allows_pass_on", "peer_shareable"])
    after = {"may_pass_on": may_pass_on, "peer_shareable": bank.peer_shareable}
    if before != after:
        audit_record(
            action="peering.received_bank.changed",
            context=context,
            target=received,
            organisation=received.agreement.organisation,
            detail={"bank": bank.name, "before": before, "after": after},
        )


def peers_pull() -> list[PullResult]:
    """Pull every received bank of every active agreement."""
    results = []
    for received in ReceivedBank.objects.filter(
        agreement__state=AgreementState.ACTIVE
    ).select_related("agreement", "bank"):
        result = received_bank_pull(received)
        PEER_PULLED_ENTRIES.labels(origin=received.agreement.origin).inc(result.entries)
        results.append(result)
        if result.quarantine is not None:
            continue
    return results
