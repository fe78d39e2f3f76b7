"""The shared list: banks, labels, signals, signed submissions, opinions, disputes and the
change log that members sync."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.models import Organisation, User
from hashfed_wire import note as signed_note


class Severity(models.IntegerChoices):
    LOW = 1, "Low"
    MEDIUM = 2, "Medium"
    HIGH = 3, "High"
    CRITICAL = 4, "Critical"


class Label(models.Model):
    """One entry of the shared taxonomy (fixtures/taxonomy.json, versioned)."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=32, db_index=True)
    severity = models.IntegerField(choices=Severity.choices)
    description = models.TextField()
    taxonomy_version = models.CharField(max_length=16)
    # Labels are retired, never deleted: old submissions and log entries still name them.
    active = models.BooleanField(default=True)
    # The EU DSA transparency database category this label maps to, where one exists.
    dsa_category = models.CharField(max_length=100, blank=True)
    # A label a peer hub's entries carry that this hub's taxonomy does not have: created
    # when the first such entry is pulled, retired (not offered to members for submissions
    # or disputes), with the origin's wording where the origin publishes it.
    origin_hub = models.CharField(
        max_length=200,
        blank=True,
        help_text="For a label received from a peer hub and not in this hub's taxonomy: "
        "that hub's origin name. Empty for the labels of this hub's taxonomy.",
    )

    class Meta:
        ordering = ["category", "slug"]

    def __str__(self) -> str:
        return self.slug


class BankReadAccess(models.TextChoices):
    ALL_MEMBERS = "all_members", "All active member platforms (associates included)"
    FULL_MEMBERS = "full_members", "Full and probation members"
    GRANTED = "granted", "Only organisations granted access"


class BankContributeAccess(models.TextChoices):
    FULL_MEMBERS = "full_members", "Full and probation members"
    GRANTED = "granted", "Only organisations granted the right to contribute"


class Bank(models.Model):
    """A named list with a purpose and its own access rules."""

    name = models.CharField(max_length=32, unique=True, help_text="e.g. TVEC, CSAM")
    title = models.CharField(max_length=200)
    purpose = models.TextField()
    read_access = models.CharField(
        max_length=16, choices=BankReadAccess.choices, default=BankReadAccess.FULL_MEMBERS
    )
    contribute_access = models.CharField(
        max_length=16,
        choices=BankContributeAccess.choices,
        default=BankContributeAccess.FULL_MEMBERS,
    )
    peer_shareable = models.BooleanField(
        default=False, help_text="Peer hubs may receive this bank."
    )
    show_contributors = models.BooleanField(
        default=False, help_text="The feed names the members whose submissions support a signal."
    )
    origin_hub = models.CharField(
        max_length=200,
        blank=True,
        help_text="For a bank received from a peer hub: that hub's origin name. Empty for the "
        "hub's own banks.",
    )
    origin_allows_pass_on = models.BooleanField(
        default=False,
        help_text="For a received bank: the origin hub allows its hashes to be passed on to "
        "other peer hubs.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("read_bank", "May read and sync this bank (per-organisation grant)"),
            ("contribute_bank", "May contribute to this bank (per-organisation grant)"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def received(self) -> bool:
        return bool(self.origin_hub)


class SignalStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISPUTED = "disputed", "Disputed"
    REMOVED = "removed", "Removed"


class Signal(models.Model):
    """One value of one signal type in one bank, as the list holds it."""

    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="signals")
    signal_type = models.CharField(max_length=32)
    value = models.TextField()
    status = models.CharField(
        max_length=16, choices=SignalStatus.choices, default=SignalStatus.ACTIVE
    )
    labels = models.ManyToManyField(Label, related_name="signals", blank=True)
    # Set when a dispute decision fixed the labels; later submissions then no longer change
    # them.
    labels_decided = models.BooleanField(default=False)
    # Set when a dispute overturned the listing: the signal stays off the list whatever
    # submissions support it, until a later decision says otherwise.
    delisted_by_decision = models.BooleanField(default=False)
    confidence = models.FloatField(default=0.5)
    legal_hold = models.BooleanField(default=False)
    incident = models.CharField(max_length=64, blank=True)
    first_listed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bank", "signal_type", "value"], name="signal_unique_per_bank"
            ),
        ]
        indexes = [models.Index(fields=["signal_type", "value"], name="signal_type_value_idx")]

    def __str__(self) -> str:
        return f"{self.bank.name}:{self.signal_type}:{self.value[:16]}"

    @property
    def is_listed(self) -> bool:
        return self.status != SignalStatus.REMOVED


class ReviewState(models.TextChoices):
    PENDING = "pending", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn by the submitter"


class Submission(models.Model):
    """A member's signed statement: this value, in this bank, with these labels.

    The canonical payload bytes and the signature are kept exactly as signed, so anyone can
    verify the statement again later with the member's public key.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="submissions"
    )
    submission_id = models.UUIDField()
    signing_key = models.ForeignKey(
        "accounts.SigningKey", on_delete=models.PROTECT, related_name="submissions"
    )
    canonical_payload = models.BinaryField()
    payload_digest = models.CharField(max_length=64)
    signature = models.CharField(max_length=88)
    # The envelope digest (hashfed_wire.provenance.envelope_digest): what change-log
    # entries commit to. It outlives the payload: erasing the note empties
    # canonical_payload, and the digest still names the envelope the log committed to.
    envelope_digest = models.CharField(max_length=64, db_index=True)
    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="submissions")
    signal_type = models.CharField(max_length=32)
    value = models.TextField(help_text="as normalised by the hub")
    labels = models.ManyToManyField(Label, related_name="submissions")
    incident = models.CharField(max_length=64, blank=True)
    note = models.CharField(max_length=500, blank=True)
    # When the note was erased (with the canonical payload that held it): the member's
    # signature can no longer be checked, the log that commits to envelope_digest still can.
    note_erased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(help_text="when the member signed it")
    received_at = models.DateTimeField(default=timezone.now)
    review_state = models.CharField(
        max_length=16, choices=ReviewState.choices, default=ReviewState.PENDING, db_index=True
    )
    # Approved on arrival (trusted contributor, crisis fast path): still to be looked at.
    auto_approved = models.BooleanField(default=False)
    post_reviewed = models.BooleanField(default=False)
    reviewed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.TextField(blank=True)
    signal = models.ForeignKey(
        Signal, on_delete=models.PROTECT, null=True, blank=True, related_name="submissions"
    )
    # The hub's signed promise given on arrival (hashfed_wire.receipt), returned again on
    # every replay; empty for submissions received before receipts existed.
    receipt = models.TextField(blank=True)
    # The change-log entry that listed the value when this submission was approved (or,
    # when the approval corroborated a value already listed, the entry that listed it).
    log_entry = models.ForeignKey(
        "ChangeLogEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            # Idempotency by constraint: one submission per member-chosen id.
            models.UniqueConstraint(
                fields=["organisation", "submission_id"], name="submission_id_unique_per_org"
            ),
            models.CheckConstraint(
                condition=~models.Q(review_state="approved") | models.Q(signal__isnull=False),
                name="submission_approved_has_signal",
            ),
        ]
        indexes = [models.Index(fields=["signal_type", "value"], name="submission_value_idx")]

    def __str__(self) -> str:
        return f"{self.organisation.slug}:{self.submission_id}"


class OpinionKind(models.TextChoices):
    SEEN = "seen", "Seen"
    TRUE_POSITIVE = "true_positive", "True positive"
    FALSE_POSITIVE = "false_positive", "False positive"
    DISAGREE_LABELS = "disagree_labels", "Disagrees with the labels"


class Opinion(models.Model):
    """One organisation's current view of one signal (a later opinion replaces it)."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="opinions"
    )
    signal = models.ForeignKey(Signal, on_delete=models.CASCADE, related_name="opinions")
    kind = models.CharField(max_length=20, choices=OpinionKind.choices)
    reasons = models.TextField(blank=True)
    proposed_labels = models.ManyToManyField(Label, blank=True, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "signal"], name="opinion_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.organisation.slug} on {self.signal_id}: {self.kind}"


# Choice labels are only marked for translation: they stay English in audit entries, emails
# and API errors, and the portal translates them as it renders (`{% trans %}`).
class DisputeKind(models.TextChoices):
    SIGNAL = "signal", gettext_noop("The hash should not be listed")
    LABELS = "labels", gettext_noop("The labels are wrong")


class DisputeState(models.TextChoices):
    OPEN = "open", gettext_noop("Open")
    IN_REVIEW = "in_review", gettext_noop("In review")
    DECIDED = "decided", gettext_noop("Decided")
    APPEALED = "appealed", gettext_noop("Appealed")
    CLOSED = "closed", gettext_noop("Closed (appeal decided)")


class DisputeOutcome(models.TextChoices):
    UPHELD = "upheld", gettext_noop("Upheld: the listing stands")
    OVERTURNED = "overturned", gettext_noop("Overturned: removed from the list")
    RELABELLED = "relabelled", gettext_noop("Relabelled")


class Dispute(models.Model):
    """A member's case against a signal or its labels, decided by staff, appealable once to
    a different reviewer."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    signal = models.ForeignKey(Signal, on_delete=models.PROTECT, related_name="disputes")
    opened_by = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="disputes_opened"
    )
    kind = models.CharField(max_length=8, choices=DisputeKind.choices)
    grounds = models.TextField()
    evidence = models.TextField(blank=True)
    proposed_labels = models.ManyToManyField(Label, blank=True, related_name="+")
    state = models.CharField(
        max_length=12, choices=DisputeState.choices, default=DisputeState.OPEN, db_index=True
    )
    opened_at = models.DateTimeField(default=timezone.now)
    deadline = models.DateTimeField()
    reviewer = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(max_length=12, choices=DisputeOutcome.choices, blank=True)
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    appealed_by = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    appeal_grounds = models.TextField(blank=True)
    appealed_at = models.DateTimeField(null=True, blank=True)
    appeal_deadline = models.DateTimeField(null=True, blank=True)
    appeal_outcome = models.CharField(max_length=12, choices=DisputeOutcome.choices, blank=True)
    appeal_reason = models.TextField(blank=True)
    appeal_decided_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    appeal_decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(state__in=["decided", "appealed", "closed"])
                | ~models.Q(outcome=""),
                name="dispute_decided_has_outcome",
            ),
        ]

    def __str__(self) -> str:
        return f"Dispute {str(self.public_id)[:8]} on {self.signal}"

    @property
    def appealable_until(self) -> dt.datetime | None:
        """Until when the decision may be appealed; None unless decided and not appealed."""
        if self.state != DisputeState.DECIDED or self.decided_at is None:
            return None
        return self.decided_at + dt.timedelta(days=settings.DISPUTE_APPEAL_WINDOW_DAYS)

    @property
    def is_final(self) -> bool:
        """Nothing can change the outcome any more: the appeal is decided, or the decision's
        appeal window has closed without one."""
        if self.state == DisputeState.CLOSED:
            return True
        until = self.appealable_until
        return until is not None and timezone.now() > until

    @property
    def is_overdue(self) -> bool:
        now = timezone.now()
        if self.state in (DisputeState.OPEN, DisputeState.IN_REVIEW):
            return now > self.deadline
        if self.state == DisputeState.APPEALED and self.appeal_deadline:
            return now > self.appeal_deadline
        return False


class ChangeOp(models.TextChoices):
    ADD = "add", "Add"
    UPDATE = "update", "Update"
    REMOVE = "remove", "Remove"


class ChangeLogEntry(models.Model):
    """One change to the list, numbered from 0 without gaps, stored as the exact canonical
    JSON bytes clients receive. `leaf_hash` is the RFC 6962 leaf hash of those bytes
    (SHA-256 of 0x00 ‖ entry), ready for the Merkle transparency log."""

    sequence = models.BigIntegerField(unique=True)
    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="+")
    # The entry's position in its bank's Merkle tree: the bank's entries numbered from 0
    # without gaps, in sequence order (docs/transparency-log.md).
    bank_index = models.BigIntegerField()
    signal = models.ForeignKey(Signal, on_delete=models.PROTECT, related_name="log_entries")
    op = models.CharField(max_length=8, choices=ChangeOp.choices)
    entry = models.BinaryField()
    leaf_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sequence"]
        verbose_name_plural = "change log entries"
        indexes = [
            models.Index(fields=["bank", "sequence"], name="changelog_bank_seq_idx"),
            # The TAXII feed's `added_after`: a poll reads a bank's recent entries without
            # walking all of them.
            models.Index(fields=["bank", "created_at"], name="changelog_bank_created_idx"),
            # An inclusion proof asked by leaf hash (proof/inclusion?leaf_hash=).
            models.Index(fields=["bank", "leaf_hash"], name="changelog_bank_leaf_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["bank", "bank_index"], name="changelog_bank_index"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.op} {self.signal_id}"


class EntryDisclosure(models.Model):
    """Free text an entry commits to and does not hold: the entry's leaf has
    `<field>_commitment`, this row the text and the salt that open it. Deleting the row
    erases the text; the leaf, the tree and every proof stay as they were."""

    entry = models.OneToOneField(
        ChangeLogEntry, on_delete=models.CASCADE, related_name="disclosure"
    )
    field = models.CharField(max_length=32, default="incident")
    salt = models.CharField(max_length=64)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"disclosure of #{self.entry_id}"


class MerkleNode(models.Model):
    """The hash of one complete, aligned subtree of a bank's Merkle tree (RFC 6962): the
    2**level leaves from index * 2**level on. Leaves (level 0) are the entries' leaf
    hashes; nodes from level 1 up are stored here as the log grows, never changed."""

    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="+")
    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["bank", "level", "index"]
        constraints = [
            models.UniqueConstraint(fields=["bank", "level", "index"], name="merkle_node_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.bank_id} L{self.level} #{self.index}"


class Checkpoint(models.Model):
    """A signed statement of one bank's tree: its size and root hash, as a C2SP signed
    note (tlog-checkpoint) signed with the hub key. Every checkpoint of a bank is
    consistent with the earlier ones."""

    bank = models.ForeignKey(Bank, on_delete=models.PROTECT, related_name="checkpoints")
    size = models.BigIntegerField()
    root_hash = models.CharField(max_length=64)
    note = models.TextField()
    issued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["bank", "-size"]
        constraints = [
            models.UniqueConstraint(fields=["bank", "size"], name="checkpoint_bank_size"),
        ]

    def __str__(self) -> str:
        return f"{self.bank_id} @ {self.size}"


def validate_cosignature_key(value: str) -> None:
    """A C2SP verifier key string of an Ed25519 cosignature key (type 0x04)."""
    try:
        verifier = signed_note.parse_verifier_key(value)
    except signed_note.NoteError as error:
        raise ValidationError(f"not a C2SP verifier key: {error}") from None
    if verifier.signature_type != signed_note.COSIGNATURE_ED25519:
        raise ValidationError(
            "a witness key is an Ed25519 cosignature key (type 0x04, tlog-cosignature)"
        )


class Witness(models.Model):
    """An independent party that checks the banks' checkpoints are consistent and cosigns
    them (C2SP tlog-cosignature). Configured by staff; its cosignatures are served beside the
    hub's signature on every checkpoint of the banks it witnesses."""

    name = models.CharField(max_length=100, unique=True)
    verifier_key = models.CharField(
        max_length=200,
        unique=True,
        validators=[validate_cosignature_key],
        help_text="C2SP verifier key: <name>+<hex key id>+<base64(0x04 || Ed25519 public key)>",
    )
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="witnesses",
        limit_choices_to={"kind": "peer_hub"},
        help_text="The peer hub that runs it: its API keys fetch checkpoints and post "
        "cosignatures for this witness.",
    )
    active = models.BooleanField(default=True)
    banks = models.ManyToManyField(Bank, related_name="witnesses", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "witnesses"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.organisation is not None and self.organisation.kind != "peer_hub":
            raise ValidationError({"organisation": "a witness is run by a peer hub"})


class Cosignature(models.Model):
    """A witness's verified tlog-cosignature line over one checkpoint's exact text."""

    checkpoint = models.ForeignKey(
        Checkpoint, on_delete=models.PROTECT, related_name="cosignatures"
    )
    witness = models.ForeignKey(Witness, on_delete=models.PROTECT, related_name="cosignatures")
    line = models.CharField(max_length=300, help_text="the signature line, with its newline")
    signed_at = models.DateTimeField(help_text="the cosignature's own timestamp")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["checkpoint", "witness"]
        constraints = [
            models.UniqueConstraint(
                fields=["checkpoint", "witness"], name="cosignature_checkpoint_witness"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.witness_id} on {self.checkpoint_id}"


class Snapshot(models.Model):
    """A compressed NDJSON copy of one bank's list as of `up_to_sequence` log entries,
    signed by the hub, for a member's first sync."""

    bank = models.ForeignKey(Bank, on_delete=models.CASCADE, related_name="snapshots")
    up_to_sequence = models.BigIntegerField(help_text="the log entries 0 … n-1 it reflects")
    signal_count = models.IntegerField()
    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    # The current key's signature, and `X-Hashfed-Signatures` of every key that signed
    # (both during a key rotation; hub_signatures.verify_snapshot_by_any checks it).
    signature = models.CharField(max_length=88)
    signatures = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-up_to_sequence"]

    def __str__(self) -> str:
        return f"{self.bank.name} @ {self.up_to_sequence}"


class LookupVolume(models.Model):
    """Lookups per organisation per minute: the rate limiter's counter, and the record staff
    read to spot a member scanning the list."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="lookup_volumes"
    )
    window_start = models.DateTimeField()
    queries = models.IntegerField(default=0)
    matches = models.IntegerField(default=0)

    class Meta:
        ordering = ["-window_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "window_start"], name="lookupvolume_unique_window"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation.slug} @ {self.window_start:%Y-%m-%d %H:%M}: {self.queries}"


class SyncStatus(models.Model):
    """When an organisation last pulled the change log, and how far: staff see who keeps
    up with the list (and who has fallen behind), and a new member's checklist sees its
    first sync."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="sync_status"
    )
    first_synced_at = models.DateTimeField()
    last_synced_at = models.DateTimeField()
    last_cursor = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "sync statuses"
        ordering = ["-last_synced_at"]

    def __str__(self) -> str:
        return f"{self.organisation.slug} at {self.last_cursor}"
