"""The envelopes behind listed hashes, and erasing free text without touching the log.

Change-log entries commit to the envelopes of the submissions behind each signal (their
envelope digests) and to their incident by a salted commitment; the text itself is an
EntryDisclosure beside the entry. Erasing a disclosure deletes that row: every leaf, tree,
checkpoint and proof stays as it was, and sync pages no longer carry the text. Erasing a
submission's note empties its canonical payload (which holds the note): the member's
signature can no longer be checked, while the entries that commit to its digest still can.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.audit import AuditContext, audit_record
from core.errors import Conflict
from hashbank.models import ChangeLogEntry, EntryDisclosure, Submission
from hashfed_wire import provenance

NOTE_ERASED_EXPLANATION = (
    "the submission's note was erased under the retention policy, and with it the canonical "
    "payload that held it: this member signature can no longer be verified. The change-log "
    "entries that commit to this envelope digest, and their proofs, still verify."
)


@dataclass(frozen=True)
class EnvelopeCheck:
    """The envelope digest recomputed from what is stored, and whether it is the one the
    log commits to (`envelope_digest`)."""

    digest: str
    matches: bool
    explanation: str


def envelope_check(submission: Submission) -> EnvelopeCheck:
    """Recompute the envelope digest from the stored payload, signature and key id."""
    if submission.note_erased_at is not None:
        return EnvelopeCheck(submission.envelope_digest, False, NOTE_ERASED_EXPLANATION)
    try:
        signature = base64.b64decode(submission.signature, validate=True)
        digest = provenance.envelope_digest(
            bytes(submission.canonical_payload), signature, submission.signing_key.key_id
        )
    except (ValueError, provenance.ProvenanceError) as exc:
        return EnvelopeCheck(submission.envelope_digest, False, f"unreadable: {exc}")
    if digest != submission.envelope_digest:
        return EnvelopeCheck(digest, False, "the stored envelope is not the one the log names")
    return EnvelopeCheck(digest, True, "the stored envelope has the digest the log names")


def envelope_disclose(*, submission: Submission, context: AuditContext) -> EnvelopeCheck:
    """Staff look at the envelope behind a submission. In a bank that hides its
    contributors this discloses who stands behind a listed hash, so it is audited."""
    check = envelope_check(submission)
    if not submission.bank.show_contributors:
        audit_record(
            action="hashbank.envelope.disclosed",
            context=context,
            target=submission,
            organisation=submission.organisation,
            detail={"bank": submission.bank.name, "digest": submission.envelope_digest},
        )
    return check


@transaction.atomic
def erase_disclosures(
    *,
    context: AuditContext,
    sequences: Iterable[int] | None = None,
    incident: str | None = None,
    superseded_before: dt.datetime | None = None,
) -> int:
    """Erase the text (and salt) beside change-log entries: those numbered `sequences`,
    those disclosing `incident`, or those appended before `superseded_before` that a later
    entry of the same signal has superseded. At least one selector is needed; several
    narrow each other. Leaves, trees, checkpoints and proofs are untouched. Returns how
    many disclosures were erased."""
    if sequences is None and incident is None and superseded_before is None:
        raise ValueError("say which disclosures to erase")
    rows = EntryDisclosure.objects.all()
    if sequences is not None:
        rows = rows.filter(entry__sequence__in=list(sequences))
    if incident is not None:
        rows = rows.filter(field="incident", text=incident)
    if superseded_before is not None:
        later = ChangeLogEntry.objects.filter(
            signal_id=OuterRef("entry__signal_id"), sequence__gt=OuterRef("entry__sequence")
        )
        rows = rows.filter(entry__created_at__lt=superseded_before).filter(Exists(later))
    erased = list(rows.values_list("entry__sequence", flat=True))
    if not erased:
        return 0
    EntryDisclosure.objects.filter(entry__sequence__in=erased).delete()
    audit_record(
        action="hashbank.disclosures.erased",
        context=context,
        detail={"count": len(erased), "first": min(erased), "last": max(erased)},
    )
    return len(erased)


def erase_expired_disclosures() -> int:
    """The retention policy (docs/governance.md): the text beside an entry is kept while
    the entry is its signal's latest, and for HASHBANK_DISCLOSURE_RETENTION_DAYS after a
    later entry superseded it."""
    cutoff = timezone.now() - dt.timedelta(days=settings.HASHBANK_DISCLOSURE_RETENTION_DAYS)
    return erase_disclosures(context=AuditContext.system(), superseded_before=cutoff)


@transaction.atomic
def submission_note_erase(*, submission: Submission, context: AuditContext) -> Submission:
    """Erase a submission's note. The note is signed inside the canonical payload, so the
    payload goes too: the envelope digest stays (entries commit to it), the signature can no
    longer be checked, and the envelope endpoint says so."""
    submission = Submission.objects.select_for_update().get(pk=submission.pk)
    if submission.note_erased_at is not None:
        raise Conflict("this submission's note is already erased", code="already_erased")
    submission.note = ""
    submission.canonical_payload = b""
    submission.note_erased_at = timezone.now()
    submission.save(update_fields=["note", "canonical_payload", "note_erased_at"])
    audit_record(
        action="hashbank.submission.note_erased",
        context=context,
        target=submission,
        organisation=submission.organisation,
        detail={"digest": submission.envelope_digest},
    )
    return submission
