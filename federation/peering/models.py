"""Peering between hubs: what this hub shares with a peer hub and receives from it, the
state of each pull, the peer logs this hub witnesses, disputes forwarded to an origin hub,
and the evidence kept when a peer misbehaves."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from accounts.models import Organisation, OrganisationKind, User
from hashbank.models import Bank, Dispute


class AgreementState(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    QUARANTINED = "quarantined", "Quarantined (served an inconsistent log)"


class PeeringAgreement(models.Model):
    """An agreement with one peer hub, registered by staff on both sides. The peer is an
    organisation of kind peer_hub here (its people and API keys read what is shared with it);
    `origin` and `public_key` are how its checkpoints and pages are verified; `base_url` is
    where this hub pulls from (checked by the outbound address policy)."""

    organisation = models.OneToOneField(
        Organisation,
        on_delete=models.PROTECT,
        related_name="peering_agreement",
        limit_choices_to={"kind": OrganisationKind.PEER_HUB},
    )
    origin = models.CharField(
        max_length=200,
        unique=True,
        help_text="The peer hub's origin name: the key name of its checkpoints and pages.",
    )
    base_url = models.URLField(help_text="Where the peer hub serves its API (https).")
    public_key = models.CharField(
        max_length=300,
        help_text="The peer hub's C2SP verifier key (<name>+<key hash>+<base64 key>), "
        "as its /.well-known/hashfed lists it.",
    )
    pull_credential = models.CharField(
        max_length=200,
        blank=True,
        help_text="The API key the peer hub issued to this hub for pulling and forwarding.",
    )
    shared_banks = models.ManyToManyField(
        Bank,
        blank=True,
        related_name="shared_with_peers",
        help_text="This hub's banks the peer receives (only banks marked shareable with peers).",
    )
    state = models.CharField(
        max_length=12, choices=AgreementState.choices, default=AgreementState.ACTIVE
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["origin"]

    def __str__(self) -> str:
        return self.origin

    def clean(self) -> None:
        if self.organisation_id and self.organisation.kind != OrganisationKind.PEER_HUB:
            raise ValidationError({"organisation": "a peering agreement is with a peer hub"})


class ReceivedBank(models.Model):
    """A bank received from a peer: pulled into a local bank marked with the origin hub."""

    agreement = models.ForeignKey(
        PeeringAgreement, on_delete=models.PROTECT, related_name="received_banks"
    )
    remote_name = models.CharField(max_length=32, help_text="The bank's name at the peer hub.")
    bank = models.OneToOneField(Bank, on_delete=models.PROTECT, related_name="received_from")
    may_pass_on = models.BooleanField(
        default=False,
        help_text="The origin hub allows passing these hashes on to other peer hubs.",
    )
    # Where the last verified pull stopped: the peer's log position and the checkpoint that
    # covered it (its exact signed text), the start of the next pull's consistency proof.
    position = models.BigIntegerField(default=0)
    checkpoint_size = models.BigIntegerField(default=0)
    checkpoint_root = models.CharField(max_length=64, blank=True)
    checkpoint_text = models.TextField(blank=True)
    # The right edge of the peer's tree over the entries received (hashfed_wire.merkle
    # RightEdge: `tree_size` leaves, the hex hashes of its complete subtrees): what the next
    # page's entries are appended to and checked against the peer's checkpoint.
    tree_size = models.BigIntegerField(default=0)
    right_edge = models.JSONField(default=list, blank=True)
    last_pulled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["agreement", "remote_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "remote_name"], name="received_bank_agreement_remote"
            )
        ]

    def __str__(self) -> str:
        return f"{self.agreement.origin}/{self.remote_name}"


class Quarantine(models.Model):
    """Proof that a peer served an inconsistent log: the two checkpoints it signed that
    cannot both be true (or the checkpoint and the entries that contradict it)."""

    agreement = models.ForeignKey(
        PeeringAgreement, on_delete=models.PROTECT, related_name="quarantines"
    )
    received_bank = models.ForeignKey(
        ReceivedBank, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField()
    checkpoint_before = models.TextField(blank=True)
    checkpoint_after = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    detected_at = models.DateTimeField(default=timezone.now)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-detected_at"]

    def __str__(self) -> str:
        return f"{self.agreement.origin} quarantined at {self.detected_at:%Y-%m-%d %H:%M}"


class ReceivedEnvelope(models.Model):
    """A member envelope of the origin hub that an entry received from it commits to: the
    exact bytes the member signed and the signature, checked against the member's key as
    the origin publishes it; or only the digest, when the origin does not disclose the
    envelope to this hub (a bank that does not show its contributors)."""

    agreement = models.ForeignKey(
        PeeringAgreement, on_delete=models.PROTECT, related_name="received_envelopes"
    )
    digest = models.CharField(max_length=64)
    # The local bank whose entries commit to it: who may read that bank (where it shows its
    # contributors) may fetch the envelope from this hub.
    bank = models.ForeignKey(
        Bank, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    disclosed = models.BooleanField(default=False)
    organisation = models.CharField(max_length=100, blank=True, help_text="At the origin hub.")
    key_id = models.CharField(max_length=64, blank=True)
    public_key = models.CharField(max_length=100, blank=True)
    canonical_payload = models.BinaryField(null=True, blank=True)
    signature = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["agreement", "digest"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "digest"], name="received_envelope_agreement_digest"
            )
        ]

    def __str__(self) -> str:
        return f"{self.agreement.origin} envelope {self.digest[:12]}"


class WitnessedLog(models.Model):
    """A peer's log this hub witnesses (C2SP tlog-witness): the latest checkpoint it
    cosigned. Updated atomically, never to an older size or an inconsistent tree."""

    agreement = models.ForeignKey(
        PeeringAgreement, on_delete=models.PROTECT, related_name="witnessed_logs"
    )
    log_origin = models.CharField(max_length=300, unique=True)
    size = models.BigIntegerField(default=0)
    root_hash = models.CharField(max_length=64, blank=True)
    checkpoint_text = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(
        blank=True, help_text="Why the last witnessing run of this log failed; empty if not."
    )

    class Meta:
        ordering = ["log_origin"]

    def __str__(self) -> str:
        return self.log_origin


class ForwardedDisputeState(models.TextChoices):
    PENDING = "pending", "Waiting to be forwarded"
    FORWARDED = "forwarded", "Forwarded to the origin hub"
    DECIDED = "decided", "Decided by the origin hub"
    FOLLOWING = "following", "Decision applied here; an appeal at the origin hub may follow"
    APPLIED = "applied", "Decision applied here"


class AppliedStage(models.TextChoices):
    """How far the origin's decisions have been applied here."""

    NONE = "", "Nothing yet"
    DECIDED = "decided", "The first decision"
    APPEAL_DECIDED = "appeal_decided", "The appeal's decision"


class ForwardedDispute(models.Model):
    """A member's dispute of a hash received from a peer, forwarded to its origin hub, which
    decides it; the decision comes back and is applied here."""

    dispute = models.OneToOneField(Dispute, on_delete=models.PROTECT, related_name="forwarded")
    agreement = models.ForeignKey(
        PeeringAgreement, on_delete=models.PROTECT, related_name="forwarded_disputes"
    )
    remote_id = models.CharField(max_length=64, blank=True)
    state = models.CharField(
        max_length=12,
        choices=ForwardedDisputeState.choices,
        default=ForwardedDisputeState.PENDING,
    )
    remote_outcome = models.CharField(max_length=12, blank=True)
    remote_reason = models.TextField(blank=True)
    # The origin's decision of an appeal, once there is one, and whether the origin's
    # dispute is final (its appeal decided, or the appeal window closed without one).
    remote_appeal_outcome = models.CharField(max_length=12, blank=True)
    remote_appeal_reason = models.TextField(blank=True)
    remote_final = models.BooleanField(default=False)
    applied_stage = models.CharField(
        max_length=16, choices=AppliedStage.choices, default=AppliedStage.NONE, blank=True
    )
    forwarded_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # A run's claim on the step that calls the origin hub: taken and released in short
    # transactions, never held across the HTTP call; an expired lease may be taken over.
    lease_token = models.CharField(max_length=32, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-forwarded_at"]

    def __str__(self) -> str:
        return f"dispute {self.dispute.public_id} forwarded to {self.agreement.origin}"
