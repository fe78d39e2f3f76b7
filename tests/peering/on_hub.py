"""What the peering tests do inside a hub process of their own (tests/peering/conftest.py,
`PeerHub.call`): set the hub up, list and withdraw hashes, and misbehave on purpose.
Each function takes and returns JSON values. Runs under `manage.py shell`, with the hub's
own settings and database."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.utils import timezone

MEMBER = "northwind"


def _member_key() -> tuple[Ed25519PrivateKey, str]:
    """The member's signing key, kept in the hub's state folder between calls."""
    from accounts.audit import AuditContext
    from accounts.models import Organisation, SigningKey
    from accounts.services import signing_key_register

    path = Path(settings.STATE_DIR) / "member-ed25519.pem"
    if path.exists():
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(private, Ed25519PrivateKey)
    else:
        private = Ed25519PrivateKey.generate()
        path.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    encoded = base64.b64encode(raw).decode()
    organisation = Organisation.objects.get(slug=MEMBER)
    key = next(
        (
            k
            for k in SigningKey.objects.filter(organisation=organisation)
            if k.public_key_bytes == raw
        ),
        None,
    )
    if key is None:
        key = signing_key_register(
            organisation=organisation,
            public_key=encoded,
            name="peering tests",
            valid_from=timezone.now() - dt.timedelta(days=1),
            context=AuditContext.system(),
        )
    return private, key.key_id


def prepare(
    *,
    peer_slug: str = "hub-b",
    peer_origin: str = "hub-b.test",
    peer_url: str = "https://hub-b.invalid",
    peer_key: str = "",
    shared: tuple[str, ...] = ("TVEC", "OPEN"),
) -> dict[str, Any]:
    """The demo cast and banks, two more banks shareable with peers (OPEN shows its
    contributors, PRIV is never shared here), a peer hub organisation for the other hub with
    a peering agreement sharing `shared`, and an API key of that peer. Returns the peer's API
    key and this hub's origin and verifier key."""
    from accounts.audit import AuditContext
    from accounts.demo import load_demo_cast
    from accounts.hub_identity import hub_identity
    from accounts.models import Organisation, OrganisationKind
    from accounts.services import api_key_issue, organisation_create
    from federation.peering.models import PeeringAgreement
    from federation.peering.services import agreement_shared_banks_set
    from hashbank.demo import demo_shared_list_load
    from hashbank.models import Bank

    context = AuditContext.system()
    load_demo_cast()
    demo_shared_list_load()
    for name, shows in (("OPEN", True), ("PRIV", False)):
        Bank.objects.get_or_create(
            name=name,
            defaults={
                "title": f"{name} bank",
                "purpose": "peering tests",
                "peer_shareable": True,
                "show_contributors": shows,
            },
        )
    peer = Organisation.objects.filter(slug=peer_slug).first() or organisation_create(
        slug=peer_slug,
        name=f"Peer {peer_slug}",
        kind=OrganisationKind.PEER_HUB,
        country="FR",
        context=context,
    )
    agreement, _ = PeeringAgreement.objects.update_or_create(
        organisation=peer,
        defaults={"origin": peer_origin, "base_url": peer_url, "public_key": peer_key or "-"},
    )
    agreement_shared_banks_set(
        agreement=agreement, banks=list(Bank.objects.filter(name__in=shared)), context=context
    )
    _, api_key = api_key_issue(
        organisation=peer,
        name="pull",
        role="peer",
        scope="read",
        expires_at=None,
        context=context,
    )
    _member_key()
    identity = hub_identity()
    return {"api_key": api_key, "origin": settings.HUB_ORIGIN, "vkey": identity.note_verifier_key}


def publish(
    *,
    bank: str,
    count: int = 3,
    values: list[str] | None = None,
    labels: list[str] | None = None,
) -> list[str]:
    """The member signs and submits `count` new PDQ hashes (or `values`) into `bank`,
    moderators approve them and the hub signs checkpoints. Returns the values."""
    import secrets

    from accounts.audit import AuditContext
    from accounts.models import Organisation, User
    from hashbank.models import Submission
    from hashbank.services import submission_approve, submission_batch_create
    from hashbank.services.transparency import checkpoints_issue
    from hashfed_wire.envelope import sign_payload

    private, key_id = _member_key()
    values = values or [secrets.token_hex(32) for _ in range(count)]
    envelopes = [
        sign_payload(
            private,
            {
                "version": 1,
                "audience": settings.HUB_ORIGIN,
                "id": str(uuid.uuid4()),
                "created_at": timezone.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "organisation": MEMBER,
                "key_id": key_id,
                "bank": bank,
                "signal_type": "pdq",
                "value": value,
                "labels": labels or ["tvec-glorification"],
            },
        )
        for value in values
    ]
    organisation = Organisation.objects.get(slug=MEMBER)
    results = submission_batch_create(
        organisation=organisation, items=envelopes, context=AuditContext.system()
    )
    refused = [r for r in results if r.status == "rejected"]
    assert not refused, refused
    moderator = User.objects.get(email="moderator@consortium.example")
    for submission in Submission.objects.filter(review_state="pending"):
        submission_approve(submission=submission, context=AuditContext(user=moderator))
    checkpoints_issue()
    return values


def withdraw(*, value: str) -> None:
    """The member withdraws its submission of `value`: the hub logs its removal."""
    from accounts.audit import AuditContext
    from hashbank.models import Submission
    from hashbank.services import submission_withdraw
    from hashbank.services.transparency import checkpoints_issue

    for submission in Submission.objects.filter(value=value):
        submission_withdraw(submission=submission, context=AuditContext.system())
    checkpoints_issue()


def tamper_entry(*, bank: str, index: int) -> None:
    """Rewrite one logged entry in the database, as an intruder or a broken hub would:
    the entry no longer makes the tree the hub signed."""
    from hashbank.models import ChangeLogEntry

    row = ChangeLogEntry.objects.get(bank__name=bank, bank_index=index)
    entry = bytes(row.entry).replace(b'"pdq"', b'"md5"', 1)
    assert entry != bytes(row.entry)
    ChangeLogEntry.objects.filter(pk=row.pk).update(entry=entry)


def fork_latest_checkpoint(*, bank: str) -> str:
    """Sign, with this hub's key, another checkpoint of the bank at the size of its latest
    one but over a different root, and serve it from now on: a split view. Returns it."""
    import hashlib

    from accounts.hub_identity import hub_keys
    from hashbank.models import Checkpoint
    from hashbank.services.transparency import log_origin
    from hashfed_wire import note

    latest = Checkpoint.objects.filter(bank__name=bank).order_by("-size").first()
    assert latest is not None
    root = hashlib.sha256(b"another tree" + latest.root_hash.encode()).digest()
    text = hub_keys().sign_note(
        note.checkpoint_body(
            note.Checkpoint(
                log_origin(latest.bank),
                latest.size,
                root,
                issued_at=int(timezone.now().timestamp()),
            )
        )
    )
    Checkpoint.objects.filter(pk=latest.pk).update(note=text, root_hash=root.hex())
    return text


def label_add(*, slug: str, name: str, category: str, severity: int) -> None:
    """A label of this hub's taxonomy that the other hub's taxonomy does not have."""
    from hashbank.models import Label

    Label.objects.create(
        slug=slug,
        name=name,
        category=category,
        severity=severity,
        description=f"{name}, as this hub's taxonomy describes it.",
        taxonomy_version="9.9",
    )


def label_retire(*, slug: str) -> None:
    from hashbank.models import Label

    Label.objects.filter(slug=slug).update(active=False)


def publish_history(*, banks: list[str], batches: list[int]) -> list[str]:
    """The same history in each of `banks`: batches of new hashes (a checkpoint after each),
    then the first hash withdrawn. Returns the values, in order."""
    values: list[str] = []
    for count in batches:
        batch = publish(bank=banks[0], count=count)
        for bank in banks[1:]:
            publish(bank=bank, values=batch)
        values += batch
    withdraw(value=values[0])
    return values


def pull_from(
    *,
    peer_slug: str,
    origin: str,
    base_url: str,
    public_key: str,
    api_key: str,
    banks: dict[str, str],
    may_pass_on: bool = False,
) -> dict[str, Any]:
    """This hub's staff register an agreement with another hub (`origin`, at `base_url`,
    its key, the API key it issued to this hub) receiving `banks` (remote name: local
    name), and this hub pulls each of them (`received_bank_pull`, as the periodic task
    does). Returns each pull's outcome and what this hub then holds, and what the peer
    answers this hub about its banks."""
    import json

    from accounts.audit import AuditContext
    from accounts.models import OrganisationKind
    from accounts.services import organisation_create
    from federation.peering.models import PeeringAgreement
    from federation.peering.services import PeerApi, received_bank_pull, received_bank_register
    from hashbank.models import ChangeLogEntry, Signal
    from hashfed_wire.logverify import split_page

    context = AuditContext.system()
    organisation = organisation_create(
        slug=peer_slug,
        name=f"Peer {peer_slug}",
        kind=OrganisationKind.PEER_HUB,
        country="FR",
        context=context,
    )
    agreement = PeeringAgreement.objects.create(
        organisation=organisation,
        origin=origin,
        base_url=base_url,
        public_key=public_key,
        pull_credential=api_key,
    )
    pulls = {}
    for remote, local in banks.items():
        received = received_bank_register(
            agreement=agreement,
            remote_name=remote,
            may_pass_on=may_pass_on,
            local_name=local,
            context=context,
        )
        result = received_bank_pull(received)
        received.refresh_from_db()
        pulls[remote] = {
            "error": result.error,
            "entries": result.entries,
            "quarantined": result.quarantine is not None,
            "listed": sorted(
                Signal.objects.filter(bank=received.bank)
                .exclude(status="removed")
                .values_list("value", flat=True)
            ),
            "tree_size": received.tree_size,
            "checkpoint": received.checkpoint_text,
        }
    api = PeerApi(agreement)
    page, _ = split_page(api.ok("/api/v1/sync/", {"cursor": 0, "limit": 10000}).body)
    return {
        "pulls": pulls,
        "values_here": sorted(Signal.objects.values_list("value", flat=True)),
        "logged_here": [json.loads(bytes(row.entry)) for row in ChangeLogEntry.objects.all()],
        "peer_banks": sorted(bank["name"] for bank in api.json("/api/v1/banks/")),
        "peer_sync": {
            "banks": sorted({entry["bank"] for entry in page["entries"]}),
            "values": sorted(entry["value"] for entry in page["entries"]),
            "checkpoints": sorted(page.get("checkpoints") or {}),
        },
        "peer_checkpoint_status": {
            name: api.get(f"/api/v1/banks/{name}/checkpoint").status for name in banks
        },
    }
