"""Demo content for the shared list: the taxonomy, the demo banks, and a few signed
submissions of synthetic hashes (random values: nothing here matches real content)."""

from __future__ import annotations

import base64
import datetime as dt
import random
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import grants
from accounts.audit import AuditContext
from accounts.models import Organisation, User
from accounts.services import signing_key_register
from hashbank.models import Bank, Submission
from hashbank.services import submission_approve, submission_batch_create
from hashbank.taxonomy import banks_load, taxonomy_load
from hashfed_wire.envelope import sign_payload


@transaction.atomic
def demo_shared_list_load() -> None:
    """Taxonomy, banks, the restricted CSAM bank granted to Northwind, and the banks shareable
    with peers shared with the demo's peer hubs (what their peering agreements share)."""
    context = AuditContext.system()
    taxonomy_load(context=context)
    banks_load(context=context)
    csam = Bank.objects.get(name="CSAM")
    northwind = Organisation.objects.get(slug="northwind")
    for permission in ("hashbank.read_bank", "hashbank.contribute_bank"):
        grants.grant(organisation=northwind, permission=permission, obj=csam)
    for peer in Organisation.objects.filter(kind="peer_hub"):
        for bank in Bank.objects.filter(peer_shareable=True):
            grants.grant(organisation=peer, permission="hashbank.read_bank", obj=bank)


DEMO_LABELS = {
    "TVEC": [
        "tvec-glorification",
        "tvec-radicalisation",
        "tvec-graphic-violence-defenceless",
        "tvec-attacker-manifesto",
    ],
    "HATE": ["hate-dehumanisation", "hate-targeted-incitement"],
}


@transaction.atomic
def demo_signals_load(*, count: int = 40, seed: int = 7) -> int:
    """Northwind signs and submits synthetic hashes; staff approve most of them. Only when
    the list is empty, so loading twice changes nothing."""
    if Submission.objects.exists():
        return 0
    rng = random.Random(seed)  # noqa: S311 — synthetic demo values, not secrets
    northwind = Organisation.objects.get(slug="northwind")
    private_key = Ed25519PrivateKey.generate()
    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key = signing_key_register(
        organisation=northwind,
        public_key=base64.b64encode(raw).decode(),
        name="demo key",
        context=AuditContext.system(),
        valid_from=timezone.now() - dt.timedelta(days=1),
    )
    envelopes = []
    for index in range(count):
        bank = "HATE" if index % 4 == 0 else "TVEC"
        signal_type = ["pdq", "md5", "sha256"][index % 3]
        value = f"{rng.getrandbits({'pdq': 256, 'md5': 128, 'sha256': 256}[signal_type]):x}"
        value = value.zfill({"pdq": 64, "md5": 32, "sha256": 64}[signal_type])
        envelopes.append(
            sign_payload(
                private_key,
                {
                    "version": 1,
                    "audience": settings.HUB_ORIGIN,
                    "id": str(uuid.UUID(int=index + 1)),
                    "created_at": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "organisation": northwind.slug,
                    "key_id": key.key_id,
                    "bank": bank,
                    "signal_type": signal_type,
                    "value": value,
                    "labels": [rng.choice(DEMO_LABELS[bank])],
                },
            )
        )
    submission_batch_create(organisation=northwind, items=envelopes, context=AuditContext.system())
    moderator = User.objects.get(email="moderator@consortium.example")
    # Leave a few pending, so the review queue has work in it.
    for submission in Submission.objects.order_by("submission_id")[: count - 5]:
        submission_approve(submission=submission, context=AuditContext(user=moderator))
    return count
