"""Reads of the shared list. Every query starts from the caller's organisation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet

from accounts import grants
from accounts.models import Organisation, OrganisationKind
from core.db_routing import ReplicaBehind, reading_from_replica
from core.errors import Invalid, NotFound
from hashbank.models import (
    Bank,
    BankContributeAccess,
    BankReadAccess,
    ChangeLogEntry,
    Dispute,
    EntryDisclosure,
    Label,
    Opinion,
    ReviewState,
    Signal,
    Snapshot,
    Submission,
    Witness,
)
from hashfed_wire import provenance


def banks_readable_by(*, organisation: Organisation) -> QuerySet[Bank]:
    """Banks whose list the organisation may sync and match against.

    Platforms: banks open to all members; banks open to full members if their tier is full
    or probation; restricted banks they were granted. Peer hubs: banks marked shareable with
    peers that their agreement shares with them (a read grant), received banks only where
    the origin allows passing them on. Nobody else (authorities and researchers never read
    the hash bank).
    """
    if not organisation.is_active:
        return Bank.objects.none()
    if organisation.kind == OrganisationKind.PEER_HUB:
        # A peer hub reads what its peering agreement shares with it (a read grant on a
        # bank marked shareable), and never a bank received from another hub whose origin
        # did not allow passing it on.
        granted = grants.objects_granted(
            organisation=organisation,
            permission="hashbank.read_bank",
            queryset=Bank.objects.filter(peer_shareable=True),
        )
        return Bank.objects.filter(pk__in=granted.values("pk")).exclude(
            ~Q(origin_hub=""), origin_allows_pass_on=False
        )
    if organisation.kind != OrganisationKind.PLATFORM:
        return Bank.objects.none()
    open_to = Q(read_access=BankReadAccess.ALL_MEMBERS)
    if organisation.may_contribute:
        open_to |= Q(read_access=BankReadAccess.FULL_MEMBERS)
    granted = grants.objects_granted(
        organisation=organisation,
        permission="hashbank.read_bank",
        queryset=Bank.objects.filter(read_access=BankReadAccess.GRANTED),
    )
    return Bank.objects.filter(open_to | Q(pk__in=granted.values("pk")))


def bank_readable(*, organisation: Organisation, name: str) -> Bank:
    """A bank the organisation may read, by name; anything else is NotFound, the same
    whether the bank exists or not."""
    bank = banks_readable_by(organisation=organisation).filter(name=name).first()
    if bank is None:
        raise NotFound("no such bank")
    return bank


def witnesses_of(*, organisation: Organisation) -> QuerySet[Witness]:
    """The active witnesses the organisation runs (a peer hub's, configured by staff)."""
    if not organisation.is_active or organisation.kind != OrganisationKind.PEER_HUB:
        return Witness.objects.none()
    return Witness.objects.filter(organisation=organisation, active=True)


def bank_log_visible(*, organisation: Organisation, name: str) -> Bank:
    """A bank whose checkpoints and consistency proofs the organisation may fetch: one it
    may read, or one a witness it runs is configured to witness. A witness learns the
    bank's tree sizes and roots, never its entries. Anything else is NotFound, the same
    whether the bank exists or not."""
    witnessed = Bank.objects.filter(
        pk__in=witnesses_of(organisation=organisation).values("banks")
    ).values("pk")
    bank = (
        Bank.objects.filter(
            Q(pk__in=banks_readable_by(organisation=organisation).values("pk"))
            | Q(pk__in=witnessed),
            name=name,
        )
        .order_by()
        .first()
    )
    if bank is None:
        raise NotFound("no such bank")
    return bank


def bank_sizes_before(*, banks: Iterable[Bank], sequence: int) -> dict[Bank, int]:
    """How many entries of each bank the log holds before entry `sequence`: the size of the
    bank's tree a client has once it has applied the log up to there. One round trip: each
    bank's last entry before `sequence` is a query of its own, with the bank's id written
    into it (so the planner knows which index finds it at once), and the queries are sent
    as one UNION ALL (on PostgreSQL)."""
    banks = list(banks)
    lasts = [
        ChangeLogEntry.objects.filter(bank_id=bank.pk, sequence__lt=sequence)
        .order_by("-sequence")
        .values_list("bank_id", "bank_index")[:1]
        for bank in banks
    ]
    if len(lasts) > 1 and connection.features.supports_slicing_ordering_in_compound:
        found = dict(lasts[0].union(*lasts[1:], all=True))
    else:  # SQLite: no LIMIT in a compound query's parts
        found = dict(row for last in lasts for row in last)
    return {bank: found[bank.pk] + 1 if bank.pk in found else 0 for bank in banks}


def banks_contributable_by(*, organisation: Organisation) -> QuerySet[Bank]:
    if not organisation.may_contribute:
        return Bank.objects.none()
    granted = grants.objects_granted(
        organisation=organisation,
        permission="hashbank.contribute_bank",
        queryset=Bank.objects.filter(contribute_access=BankContributeAccess.GRANTED),
    )
    return Bank.objects.filter(
        Q(contribute_access=BankContributeAccess.FULL_MEMBERS) | Q(pk__in=granted.values("pk"))
    )


def labels_active() -> QuerySet[Label]:
    return Label.objects.filter(active=True)


def submissions_of(*, organisation: Organisation) -> QuerySet[Submission]:
    return (
        organisation.submissions.select_related("bank", "signing_key")
        .prefetch_related("labels")
        .order_by("-received_at")
    )


def submission_of(*, organisation: Organisation, submission_id: str) -> Submission:
    try:
        return submissions_of(organisation=organisation).get(submission_id=submission_id)
    except (Submission.DoesNotExist, ValueError):
        raise NotFound("no such submission") from None


def envelope_readable(*, organisation: Organisation, digest: str) -> Submission:
    """The submission whose envelope has this digest, when the organisation may see it:
    its own submission in any bank; another member's once approved (the log commits to it)
    in a bank the organisation may read and that shows its contributors. Anything else is
    NotFound, the same whether the envelope exists or not."""
    if not provenance.is_digest(digest):
        raise NotFound("no such envelope")
    others = Q(
        bank__in=banks_readable_by(organisation=organisation),
        bank__show_contributors=True,
        signal__isnull=False,
    )
    found = (
        Submission.objects.select_related("organisation", "signing_key", "bank")
        .filter(envelope_digest=digest)
        .filter(Q(organisation=organisation) | others)
        .first()
    )
    if found is None:
        raise NotFound("no such envelope")
    return found


ReceivedEnvelopeFinder = Callable[..., dict[str, Any] | None]
# Envelopes received from peer hubs live in federation.peering, which depends on this app,
# not the other way round; it registers its lookup here when it loads.
_received_envelope_finder: ReceivedEnvelopeFinder = lambda **_: None  # noqa: E731


def received_envelope_finder_register(finder: ReceivedEnvelopeFinder) -> None:
    global _received_envelope_finder
    _received_envelope_finder = finder


def received_envelope_readable(*, organisation: Organisation, digest: str) -> dict[str, Any]:
    """A member envelope this hub received from a peer hub, behind a listed hash of a bank
    the organisation may read and that shows its contributors; anything else is NotFound,
    the same whether the envelope exists or not."""
    found = None
    if provenance.is_digest(digest):
        found = _received_envelope_finder(
            banks=banks_readable_by(organisation=organisation).filter(show_contributors=True),
            digest=digest,
        )
    if found is None:
        raise NotFound("no such envelope")
    return found


def signal_readable(*, organisation: Organisation, signal_id: int) -> Signal:
    """A signal of a bank the organisation may read; anything else is NotFound."""
    try:
        return (
            Signal.objects.select_related("bank")
            .prefetch_related("labels")
            .filter(bank__in=banks_readable_by(organisation=organisation))
            .get(pk=signal_id)
        )
    except (Signal.DoesNotExist, ValueError):
        raise NotFound("no such signal") from None


def signal_readable_by_value(
    *, organisation: Organisation, bank: str, signal_type: str, value: str
) -> Signal:
    """The signal of this type and value in a bank the organisation may read, by the bank's
    name; anything else is NotFound."""
    signal = (
        Signal.objects.select_related("bank")
        .filter(
            bank__in=banks_readable_by(organisation=organisation),
            bank__name=bank,
            signal_type=signal_type,
            value=value,
        )
        .first()
    )
    if signal is None:
        raise NotFound("no such signal")
    return signal


def disputes_visible_to(*, organisation: Organisation) -> QuerySet[Dispute]:
    """Disputes the organisation opened, and disputes against signals its own approved
    submissions support (it is a party to those)."""
    supported = Submission.objects.filter(
        organisation=organisation, review_state=ReviewState.APPROVED
    ).values("signal_id")
    return (
        # `forwarded`: the dispute as forwarded to the hub a received hash came from.
        Dispute.objects.select_related("signal__bank", "opened_by", "forwarded")
        .prefetch_related("proposed_labels")
        .filter(Q(opened_by=organisation) | Q(signal_id__in=supported))
        .distinct()
    )


def dispute_visible(*, organisation: Organisation, public_id: str) -> Dispute:
    try:
        return disputes_visible_to(organisation=organisation).get(public_id=public_id)
    except (Dispute.DoesNotExist, ValueError):
        raise NotFound("no such dispute") from None


def signal_as_listed(
    signal: Signal,
    *,
    labels: Iterable[str] | None = None,
    contributors: Iterable[str] | None = None,
) -> dict[str, Any]:
    """A signal as members see it on the list: what a change-log entry records and a lookup
    match shows. Labels are sorted slugs; a signal in no incident says None; contributors
    (the organisations of its approved submissions, sorted) only where the bank shows them.
    `labels` and `contributors`, when the caller already has them, save their queries."""
    seen: dict[str, Any] = {
        "signal": signal.pk,
        "bank": signal.bank.name,
        "signal_type": signal.signal_type,
        "value": signal.value,
        "labels": sorted(labels if labels is not None else (lb.slug for lb in signal.labels.all())),
        "status": signal.status,
        "confidence": signal.confidence,
        "incident": signal.incident or None,
    }
    if signal.bank.show_contributors:
        if contributors is None:
            contributors = signal.submissions.filter(review_state=ReviewState.APPROVED).values_list(
                "organisation__slug", flat=True
            )
        seen["contributors"] = sorted(set(contributors))
    return seen


# The log has two positions worth naming, and they differ by one: the last entry's number,
# and the next entry's number (= how many entries the log holds, what the sync API calls
# `head` and a snapshot's `up_to_sequence`).


def changelog_last_entry() -> QuerySet[ChangeLogEntry]:
    """The newest entry (at most one row), as a queryset: for a subquery, or to read more
    than its number."""
    return ChangeLogEntry.objects.order_by("-sequence")[:1]


def changelog_last_sequence() -> int | None:
    """The newest entry's number; None while the log is empty."""
    return changelog_last_entry().values_list("sequence", flat=True).first()


def changelog_next_sequence() -> int:
    """The number the next entry gets: how many entries the log holds (numbers have no
    gaps and start at 0)."""
    last = changelog_last_sequence()
    return 0 if last is None else last + 1


def sync_banks(*, organisation: Organisation, names: Sequence[str] | None) -> QuerySet[Bank]:
    """The banks a sync reads: all the organisation may read, or those of `names` only.

    A name the organisation cannot read (no such bank, or one it has no access to: the two
    answer alike) is refused, naming the field `bank`, rather than read as an empty list.
    """
    readable = banks_readable_by(organisation=organisation)
    if names is None:
        return readable
    wanted = set(names)
    chosen = readable.filter(name__in=wanted)
    missing = sorted(wanted - set(chosen.values_list("name", flat=True)))
    if missing:
        raise Invalid.for_field(
            "bank",
            f"no bank you may read is named {', '.join(missing)}",
            code="unknown_bank",
        )
    return chosen


@dataclass(frozen=True)
class ChangelogPage:
    entries: list[bytes]
    # By sequence (as a string), the text an entry commits to and is still held:
    # `{field: text, "salt": salt}`; an erased one is simply absent.
    disclosures: dict[str, dict[str, str]]
    # The page's entries are those of `bank_ids` numbered `first_sequence` to
    # `last_sequence` (None when the page is empty).
    bank_ids: list[int]
    first_sequence: int | None
    last_sequence: int | None
    next_cursor: int
    head: int


def changelog_page(
    *, organisation: Organisation, cursor: int, limit: int, banks: QuerySet[Bank] | None = None
) -> ChangelogPage:
    """Entries numbered `cursor` and up in the banks the organisation may read (only those
    of `banks`, from `sync_banks`, if given).

    Returns the entry bytes in order, the text disclosed beside them, their signals, the
    next cursor and the head. The head is read first, so entries appended while the page is
    read wait for the next call; when the page is not full the next cursor jumps to the
    head, past entries of banks the caller does not read. A cursor past the head is refused
    (`cursor_ahead`), naming the head: the
    client's copy is not of this log.
    """
    head = changelog_next_sequence()
    if cursor > head and reading_from_replica():
        # The caller read further on the primary than the replica has replayed.
        raise ReplicaBehind
    if cursor > head:
        raise Invalid.for_field(
            "cursor",
            f"the cursor {cursor} is past the head of the log, {head}",
            code="cursor_ahead",
        )
    if banks is None:
        banks = banks_readable_by(organisation=organisation)
    bank_ids = list(banks.values_list("pk", flat=True))
    rows = list(
        ChangeLogEntry.objects.filter(sequence__gte=cursor, sequence__lt=head, bank_id__in=bank_ids)
        .order_by("sequence")
        .values_list("pk", "sequence", "entry")[:limit]
    )
    next_cursor = rows[-1][1] + 1 if len(rows) == limit else head
    return ChangelogPage(
        entries=[bytes(row[2]) for row in rows],
        disclosures=_page_disclosures(rows),
        bank_ids=bank_ids,
        first_sequence=rows[0][1] if rows else None,
        last_sequence=rows[-1][1] if rows else None,
        next_cursor=next_cursor,
        head=head,
    )


def _page_disclosures(rows: Sequence[tuple[int, int, Any]]) -> dict[str, dict[str, str]]:
    """The disclosures of a page's entries (rows of pk, sequence, entry), by sequence as a
    string. A range of the disclosures' own unique index on the entry, not a join of the
    page's query: most entries commit to no text, so the range is mostly empty, and the
    page's read stays the plain keyset scan of the log."""
    if not rows:
        return {}
    sequence_of = {pk: sequence for pk, sequence, _ in rows}
    return {
        str(sequence_of[entry_id]): {field: text, "salt": salt}
        for entry_id, field, text, salt in EntryDisclosure.objects.filter(
            entry_id__gte=min(sequence_of), entry_id__lte=max(sequence_of)
        ).values_list("entry_id", "field", "text", "salt")
        if entry_id in sequence_of
    }


def own_opinions_on(*, organisation: Organisation, page: ChangelogPage) -> dict[str, str]:
    """The organisation's own current opinions of the signals of a page's entries, as
    {signal id: kind}: never another organisation's. The page's signals are named by its
    sequence range in a subquery, not as a list of ids (10,000 bound parameters per page
    cost more than the page itself)."""
    if page.first_sequence is None:
        return {}
    in_page = ChangeLogEntry.objects.filter(
        sequence__gte=page.first_sequence,
        sequence__lte=page.last_sequence,
        bank_id__in=page.bank_ids,
    ).values("signal_id")
    return {
        str(signal_id): kind
        for signal_id, kind in Opinion.objects.filter(
            organisation=organisation, signal_id__in=in_page
        ).values_list("signal_id", "kind")
    }


def snapshots_readable_by(*, organisation: Organisation) -> QuerySet[Snapshot]:
    readable = banks_readable_by(organisation=organisation)
    latest = (
        Snapshot.objects.filter(bank__in=readable)
        .order_by("-up_to_sequence")
        .values_list("up_to_sequence", flat=True)
        .first()
    )
    if latest is None:
        return Snapshot.objects.none()
    return Snapshot.objects.filter(bank__in=readable, up_to_sequence=latest).select_related("bank")


def snapshot_readable(*, organisation: Organisation, snapshot_id: int) -> Snapshot:
    try:
        return Snapshot.objects.select_related("bank").get(
            pk=snapshot_id, bank__in=banks_readable_by(organisation=organisation)
        )
    except (Snapshot.DoesNotExist, ValueError):
        raise NotFound("no such snapshot") from None


def track_record(*, organisation: Organisation) -> dict[str, int]:
    """Accepted / rejected / disputed counts of an organisation's submissions, for review."""
    counts = Submission.objects.filter(organisation=organisation).aggregate(
        approved=Count("pk", filter=Q(review_state=ReviewState.APPROVED)),
        rejected=Count("pk", filter=Q(review_state=ReviewState.REJECTED)),
        pending=Count("pk", filter=Q(review_state=ReviewState.PENDING)),
    )
    counts["disputed"] = (
        Dispute.objects.filter(signal__submissions__organisation=organisation).distinct().count()
    )
    return counts
