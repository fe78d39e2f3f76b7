"""A full audit of the stored transparency log (docs/transparency-log.md, "Auditing the
stored log"): every entry, every stored Merkle node and every checkpoint of each bank,
checked against each other and against the hub's keys.

The audit streams each bank's entries in `bank_index` order, a page at a time (keyset
paging on the (bank, bank_index) unique index), and rebuilds the bank's tree from their
leaf hashes as it goes, the way appends build it: only the right edge (one hash per level)
is kept between pages, so memory does not grow with the log. Each page's completed nodes
are compared with the stored ones read for the same range, and each checkpoint with the
root at its size when the stream reaches that size. On PostgreSQL the whole audit reads
one REPEATABLE READ snapshot, so appends that commit meanwhile are not half seen."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import rfc8785
from django.db import connection, transaction
from django.db.models import Count, Exists, Max, Min, OuterRef, Q

from hashbank.models import Bank, ChangeLogEntry, Checkpoint, MerkleNode
from hashbank.services.transparency import hub_checkpoint_verifiers, log_origin
from hashfed_wire import merkle, note

PAGE_SIZE = 10_000
# Past this many, problems are counted but not kept: one altered leaf already makes every
# node above it and every checkpoint after it differ.
MAX_PROBLEMS_KEPT = 1_000


@dataclass(frozen=True)
class Problem:
    """One thing found wrong, and where: `where` names the row (an entry by its sequence
    and place in the bank's tree, a node by level and index, a checkpoint by its size)."""

    bank: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.bank}: {self.where}: {self.detail}"


@dataclass
class AuditReport:
    entries: dict[str, int] = field(default_factory=dict)  # entries read, per bank
    nodes: dict[str, int] = field(default_factory=dict)  # stored nodes checked, per bank
    checkpoints: dict[str, int] = field(default_factory=dict)  # checkpoints checked, per bank
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    on_problem: Callable[[Problem], None] | None = None

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, bank: str, where: str, detail: str) -> None:
        problem = Problem(bank, where, detail)
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(problem)
        if self.on_problem is not None:
            self.on_problem(problem)


def _leaf_hash(entry: bytes) -> str:
    return hashlib.sha256(b"\x00" + entry).hexdigest()


class _Numbers:
    """A parse_float for json.loads that notes whether any number in the document might be
    written differently by json.dumps than by RFC 8785 (ECMAScript's Number to string)."""

    def __init__(self) -> None:
        self.unsure = False

    def integer(self, text: str) -> int:
        value = int(text)
        if abs(value) > 2**53 - 1:  # beyond I-JSON: rfc8785 refuses what json.dumps writes
            self.unsure = True
        return value

    def __call__(self, text: str) -> float:
        value = float(text)
        # Where both write the shortest round-trip digits in positional notation, they
        # agree: not for whole numbers (1.0 against 1), nor for exponent forms.
        if not (math.isfinite(value) and value != int(value) and 1e-4 <= abs(value) < 1e16):
            self.unsure = True
        return value


def _unsure_constant(text: str) -> float:
    raise ValueError(f"{text} is not a JSON number")


def canonical_form(entry: bytes) -> tuple[object, bool]:
    """The entry parsed, and whether its bytes are exactly its RFC 8785 form. Raises
    ValueError for what is not JSON. Python's own compact, sorted json.dumps is tried first
    (it is written in C): for UTF-8 without four-byte characters and without numbers the
    two might write differently, it writes the RFC 8785 form. Otherwise, or when it does not
    match, the rfc8785 package decides."""
    floats = _Numbers()
    text = entry.decode("utf-8")  # strict: no encoded surrogates
    parsed = json.loads(
        text, parse_float=floats, parse_int=floats.integer, parse_constant=_unsure_constant
    )
    if not floats.unsure and max(entry, default=0) < 0xF0:
        quick = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        try:
            if quick.encode("utf-8") == entry:
                return parsed, True
        except UnicodeEncodeError:  # a lone surrogate, from an escape: rfc8785 decides
            pass
    try:
        return parsed, rfc8785.dumps(parsed) == entry
    except (rfc8785.CanonicalizationError, ValueError):
        return parsed, False


def _entry_problem(entry: bytes, *, sequence: int, bank: str) -> str | None:
    """What is wrong with the bytes of one entry, if anything: they must be one JSON object
    in its RFC 8785 form that names the row's sequence and bank. Nothing else of its
    content is checked here, so the audit holds whatever an entry says."""
    try:
        parsed, canonical = canonical_form(entry)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError among them
        return f"the entry is not JSON ({exc})"
    if not canonical:
        return "the entry's bytes are not its RFC 8785 (canonical JSON) form"
    if not isinstance(parsed, dict):
        return "the entry is not a JSON object"
    if parsed.get("sequence") != sequence or isinstance(parsed.get("sequence"), bool):
        return f"the entry says sequence {parsed.get('sequence')!r}, its row {sequence}"
    if parsed.get("bank") != bank:
        return f"the entry says bank {parsed.get('bank')!r}, its row {bank}"
    return None


def _checkpoints(bank: Bank, page_size: int) -> Iterator[Checkpoint]:
    """The bank's checkpoints by size, a page at a time."""
    rows = Checkpoint.objects.filter(bank=bank)
    while True:
        page = list(rows.order_by("size")[:page_size])
        yield from page
        if len(page) < page_size:
            return
        rows = Checkpoint.objects.filter(bank=bank, size__gt=page[-1].size)


def _entry_pages(bank: Bank, page_size: int) -> Iterator[list[tuple[int, int, bytes, str]]]:
    """The bank's entries by bank_index, a page at a time; the first page from the lowest
    index there is, negative or not."""
    rows = ChangeLogEntry.objects.filter(bank=bank)
    while True:
        page = [
            (sequence, index, bytes(entry), leaf)
            for sequence, index, entry, leaf in rows.order_by("bank_index").values_list(
                "sequence", "bank_index", "entry", "leaf_hash"
            )[:page_size]
        ]
        if page:
            yield page
        if len(page) < page_size:
            return
        rows = ChangeLogEntry.objects.filter(bank=bank, bank_index__gt=page[-1][1])


def _stored_nodes(bank: Bank, begin: int, end: int) -> dict[tuple[int, int], str]:
    """The stored nodes whose last leaf is among leaves [begin, end): at level L, indexes
    begin >> L up to (not including) end >> L."""
    ranges = Q()
    level = 1
    while end >> level:
        if end >> level > begin >> level:
            ranges |= Q(level=level, index__gte=begin >> level, index__lt=end >> level)
        level += 1
    if not ranges:
        return {}
    return {
        (node_level, index): value
        for node_level, index, value in MerkleNode.objects.filter(ranges, bank=bank).values_list(
            "level", "index", "hash"
        )
    }


class _Checker:
    def __init__(
        self,
        bank: Bank,
        report: AuditReport,
        verifiers: list[note.Verifier],
        on_page: Callable[[str, int], None] | None,
    ) -> None:
        self.bank = bank
        self.report = report
        self.verifiers = verifiers
        self.on_page = on_page
        self.origin = log_origin(bank)

    def problem(self, where: str, detail: str) -> None:
        self.report.add(self.bank.name, where, detail)

    def checkpoint(self, checkpoint: Checkpoint, root: bytes | None) -> None:
        """One checkpoint: its note verifies under a hub key and says what its row says,
        and its root is the one recomputed at its size (None: the tree is smaller)."""
        where = f"checkpoint at size {checkpoint.size}"
        try:
            opened = note.open_checkpoint(checkpoint.note, self.verifiers).checkpoint
        except (note.NoteError, note.CheckpointError) as exc:
            self.problem(where, f"its note does not verify under the hub's keys: {exc}")
        else:
            if opened.origin != self.origin:
                self.problem(where, f"its note is of {opened.origin!r}, not {self.origin!r}")
            if opened.size != checkpoint.size:
                self.problem(where, f"its note says size {opened.size}")
            if opened.root_hash.hex() != checkpoint.root_hash:
                self.problem(where, f"its note says root {opened.root_hash.hex()}")
        if root is None:
            self.problem(where, "the bank's tree has fewer entries than it counts")
        elif root.hex() != checkpoint.root_hash:
            self.problem(
                where,
                f"its root {checkpoint.root_hash} is not the tree's at that size, {root.hex()}",
            )

    def run(self, page_size: int) -> None:
        name = self.bank.name
        size, previous_sequence = 0, -1
        edge: list[bytes] = []
        checkpoints = _checkpoints(self.bank, page_size)
        pending = next(checkpoints, None)
        entries = nodes_checked = checkpoints_checked = 0
        while pending is not None and pending.size == 0:
            self.checkpoint(pending, merkle.EMPTY_ROOT)
            checkpoints_checked += 1
            pending = next(checkpoints, None)
        for page in _entry_pages(self.bank, page_size):
            begin = size
            computed: list[tuple[int, int, bytes]] = []
            for sequence, index, entry, leaf in page:
                where = f"entry {sequence} (bank_index {index})"
                entries += 1
                if index > size:
                    self.problem(
                        where,
                        f"bank_index {index} where {size} was next: entries "
                        f"{size}..{index - 1} are missing",
                    )
                elif index < size:
                    self.problem(where, f"bank_index {index} where {size} was next")
                if sequence <= previous_sequence:
                    self.problem(
                        where,
                        f"sequence {sequence} after {previous_sequence}: the bank's entries "
                        "are not in sequence order",
                    )
                previous_sequence = sequence
                if _leaf_hash(entry) != leaf:
                    self.problem(where, "leaf_hash is not SHA-256(0x00 || entry)")
                detail = _entry_problem(entry, sequence=sequence, bank=name)
                if detail is not None:
                    self.problem(where, detail)
                try:
                    leaf_bytes = bytes.fromhex(leaf)
                except ValueError:
                    leaf_bytes = b""
                if len(leaf_bytes) != merkle.HASH_SIZE:
                    self.problem(where, "leaf_hash is not 32 bytes in hex")
                    leaf_bytes = hashlib.sha256(b"\x00" + entry).digest()
                # The tree is rebuilt from the leaf hashes as stored: those are what the
                # hub's proofs and checkpoints are made of.
                merkle.push_leaf(size, edge, leaf_bytes, computed)
                size += 1
                while pending is not None and pending.size == size:
                    self.checkpoint(pending, merkle.root_from_right_edge(size, edge))
                    checkpoints_checked += 1
                    pending = next(checkpoints, None)
            stored = _stored_nodes(self.bank, begin, size)
            for level, index, value in computed:
                if level == 0:
                    continue
                nodes_checked += 1
                found = stored.pop((level, index), None)
                if found is None:
                    self.problem(f"node level {level} index {index}", "not stored")
                elif found != value.hex():
                    self.problem(
                        f"node level {level} index {index}",
                        f"stored {found}, recomputed from its children {value.hex()}",
                    )
            if self.on_page is not None:
                self.on_page(name, entries)
        # Nodes no entry completes: beyond the tree, or at level 0 (leaves are not nodes).
        inside = Q()
        level = 1
        while size >> level:
            inside |= Q(level=level, index__gte=0, index__lt=size >> level)
            level += 1
        extra = MerkleNode.objects.filter(bank=self.bank)
        if inside:
            extra = extra.exclude(inside)
        for level, index in extra.order_by("level", "index").values_list("level", "index")[:100]:
            self.problem(
                f"node level {level} index {index}",
                f"stored but not in the tree of {size} entries",
            )
        while pending is not None:
            self.checkpoint(pending, None)
            checkpoints_checked += 1
            pending = next(checkpoints, None)
        self.report.entries[name] = entries
        self.report.nodes[name] = nodes_checked
        self.report.checkpoints[name] = checkpoints_checked


def _sequence_gaps(report: AuditReport) -> None:
    """The log as a whole is numbered 0..n-1 without gaps."""
    summary = ChangeLogEntry.objects.aggregate(
        n=Count("pk"), low=Min("sequence"), high=Max("sequence")
    )
    if not summary["n"]:
        return
    if summary["low"] != 0:
        report.add("(log)", f"entry {summary['low']}", "the log does not start at sequence 0")
    if summary["high"] - summary["low"] + 1 == summary["n"]:
        return
    missing_next = (
        ChangeLogEntry.objects.filter(sequence__lt=summary["high"])
        .annotate(followed=Exists(ChangeLogEntry.objects.filter(sequence=OuterRef("sequence") + 1)))
        .filter(followed=False)
        .order_by("sequence")
        .values_list("sequence", flat=True)[:100]
    )
    for sequence in missing_next:
        report.add("(log)", f"after entry {sequence}", f"no entry {sequence + 1}: a gap")


def _snapshot() -> None:
    """One consistent view for the whole audit, where the database offers it as a level."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")


def log_verify(
    *,
    banks: Iterable[Bank] | None = None,
    page_size: int = PAGE_SIZE,
    on_problem: Callable[[Problem], None] | None = None,
    on_page: Callable[[str, int], None] | None = None,
) -> AuditReport:
    """Audit every bank's log (or those given): entries, leaf hashes, stored nodes and
    checkpoints. Returns the report; `on_problem` is called with each problem as found,
    `on_page` with the bank's name and how many of its entries were read after each page."""
    report = AuditReport(on_problem=on_problem)
    # Before the read-only snapshot: the hub's key is bound to the database at first use.
    verifiers = hub_checkpoint_verifiers()
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            _snapshot()
        chosen = list(Bank.objects.order_by("name") if banks is None else banks)
        if banks is None:
            _sequence_gaps(report)
        for bank in chosen:
            _Checker(bank, report, verifiers, on_page).run(page_size)
    return report
