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
