"""Checking the list a hub serves against its signed checkpoints (``docs/client.md``,
``docs/transparency-log.md``).

Per bank, the client keeps the last checkpoint it accepted and the right edge of the Merkle
tree over the bank's entries it received (``BankTree``). Every sync page is checked by
``LogVerifier.check_page`` before any of it is applied: each checkpoint the page names must
be signed by the pinned hub key (and cosigned by enough of the configured witnesses), must
extend the accepted one (a consistency proof from the hub), and must agree with the entries
received: equal roots when the sizes are equal, a consistency proof from the client's size
when the checkpoint is larger. A violation is a ``Misbehaviour`` carrying portable evidence:
the signed checkpoint notes, the proof that failed and the signed page.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from json.scanner import make_scanner
from operator import itemgetter
from types import ModuleType
from typing import Any, cast

from hashfed_wire import note
from hashfed_wire.errors import HubError, InputError, SyncError
from hashfed_wire.files import write_atomically
from hashfed_wire.merkle import EMPTY_ROOT, ProofError, RightEdge, verify_consistency

orjson: ModuleType | None
try:
    import orjson
except ImportError:  # the standard library's json does the same, slower
    orjson = None

EVIDENCE_TYPE = "hashfed-misbehaviour"

FetchConsistency = Callable[[str, int, int], list[bytes]]
"""``(bank, from size, to size)`` -> the hub's consistency proof."""


class Misbehaviour(Exception):
    """The hub signed something that contradicts what it signed or served before.

    ``kind``: ``rollback`` (a checkpoint smaller than one accepted), ``fork`` (two
    checkpoints no consistency proof joins: same size and different roots, or a proof that
    fails), ``root_mismatch`` (the entries received do not make the checkpoint's tree:
    an entry left out, changed or reordered), ``omission`` (a page delivers fewer entries of
    a bank than it says the bank holds), ``uncovered`` (a page delivers more entries than
    its checkpoint covers). ``evidence`` is the JSON object ``write_evidence`` saves."""

    def __init__(self, kind: str, message: str, evidence: dict[str, Any]) -> None:
        self.kind = kind
        self.message = message
        self.evidence = {"type": EVIDENCE_TYPE, "kind": kind, "message": message, **evidence}
        super().__init__(f"{kind}: {message}")


class Unverified(Exception):
    """A checkpoint cannot be accepted: malformed, not signed by the pinned hub key, of
    another log, or without enough valid witness cosignatures. Nothing is proven against
    the hub (anyone can send an unsigned note), so nothing is written."""


def write_evidence(path: str | os.PathLike[str], evidence: Mapping[str, Any]) -> None:
    text = json.dumps(evidence, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    write_atomically(path, text.encode("utf-8"))


@dataclass
class BankTree:
    """What the client holds of one bank's tree: the right edge over the entries it
    received, and the last checkpoint it accepted (note, size, root)."""

    edge: RightEdge = field(default_factory=RightEdge)
    checkpoint: str | None = None
    checkpoint_size: int = 0
    checkpoint_root: bytes = EMPTY_ROOT

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.edge.size,
            "right_edge": [value.hex() for value in self.edge.hashes],
            "checkpoint": self.checkpoint,
            "checkpoint_size": self.checkpoint_size,
            "checkpoint_root": self.checkpoint_root.hex(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BankTree:
        """Raises KeyError, TypeError or ValueError for a damaged record."""
        edge = RightEdge(int(data["size"]), [bytes.fromhex(h) for h in data["right_edge"]])
        checkpoint = data["checkpoint"]
        if checkpoint is not None and not isinstance(checkpoint, str):
            raise TypeError("a checkpoint is a note's text")
        root = bytes.fromhex(data["checkpoint_root"])
        if len(root) != len(EMPTY_ROOT):
            raise ValueError("a root hash is 32 bytes")
        return cls(edge, checkpoint, int(data["checkpoint_size"]), root)


# ---- the page's bytes ----------------------------------------------------------------

_scan: Callable[[str, int], tuple[Any, int]] = make_scanner(cast(Any, json.JSONDecoder()))
_SPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def split_page(raw: bytes) -> tuple[dict[str, Any], list[str]]:
    """A sync page parsed, and the exact text of each of its entries (their UTF-8 bytes are
    the trees' leaves). Raises HubError(code="bad_response") for anything but a JSON
    object. ``split_page_bytes`` gives the entries' bytes, without decoding them."""
    page, spans = split_page_bytes(raw)
    return page, [span.decode("utf-8") for span in spans]


def split_page_bytes(raw: bytes) -> tuple[dict[str, Any], list[bytes]]:
    """A sync page parsed, and the exact bytes of each of its entries (the trees' leaves).
    Raises HubError(code="bad_response") for anything but a JSON object.

    A page as the hub writes it (``{"entries":[`` first, the entries compact JSON objects
    joined by commas) is split without a parse of each entry (``_split_compact``); any
    other is parsed by one pass of the standard library's JSON scanner."""
    try:
        split = _split_compact(raw)
        if split is not None:
            return split
        text = raw.decode("utf-8")
        page, texts = _split_object(text)
        return page, [entry.encode("utf-8") for entry in texts]
    except (UnicodeDecodeError, StopIteration, IndexError, ValueError) as exc:
        raise HubError(200, "bad_response", f"a sync page is not a JSON object: {exc}") from None


_ENTRIES_FIRST = b'{"entries":'
_BETWEEN_ENTRIES = b"},{"


def _loads(raw: bytes) -> Any:
    if orjson is not None:
        return orjson.loads(raw)
    return json.loads(raw.decode("utf-8"))


def _dumps(value: Any) -> bytes:
    """Compact JSON, keys in their order, UTF-8 as is."""
    if orjson is not None:
        return bytes(orjson.dumps(value))
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _split_compact(raw: bytes) -> tuple[dict[str, Any], list[bytes]] | None:
    """The page and its entries' bytes when the entries are written as compact JSON does
    (what the hub's canonical JSON is), else None (the caller parses the page otherwise).

    The entries are parsed in one call, written again compactly, and that must be the
    page's bytes from ``[`` on; in compact JSON, objects are joined by ``},{``, so when the
    written list splits there into exactly one piece per entry, and every entry is an
    object, no piece is cut inside a string and the pieces are the entries' bytes. The
    rest of the page is parsed as ``split_page`` always did (repeated keys refused)."""
    if not raw.startswith(_ENTRIES_FIRST):
        return None
    try:
        entries = _loads(raw)["entries"]
        if type(entries) is not list or (entries and set(map(type, entries)) != {dict}):
            return None
        listed = _dumps(entries)
    except (ValueError, TypeError, KeyError, UnicodeError, RecursionError):
        return None
    start = len(_ENTRIES_FIRST)
    if not raw.startswith(listed, start):
        return None
    spans: list[bytes] = []
    if len(entries) == 1:
        spans = [listed[1:-1]]
    elif entries:
        pieces = listed[2:-2].split(_BETWEEN_ENTRIES)
        if len(pieces) != len(entries):
            return None  # "},{" inside a string
        spans = [b"{" + piece + b"}" for piece in pieces]
    rest = raw[start + len(listed) :].decode("utf-8")
    page: dict[str, Any] = {"entries": entries}
    if rest[:1] == ",":
        others, _ = _split_object("{" + rest[1:])
        if "entries" in others:
            raise ValueError("a repeated or non-string key 'entries'")
        page.update(others)
    elif rest[:1] != "}" or _skip(rest, 1) != len(rest):
        return None
    return page, spans


def _split_object(text: str) -> tuple[dict[str, Any], list[str]]:
    pos = _skip(text, 0)
    if text[pos] != "{":
        raise ValueError("expected an object")
    page: dict[str, Any] = {}
    spans: list[str] = []
    pos = _skip(text, pos + 1)
    if text[pos] == "}":
        if _skip(text, pos + 1) != len(text):
            raise ValueError("text after the object")
        return page, spans
    while True:
        key, pos = _scan(text, pos)
        if not isinstance(key, str) or key in page:
            raise ValueError(f"a repeated or non-string key {key!r}")
        pos = _skip(text, pos)
        if text[pos] != ":":
            raise ValueError("expected ':'")
        pos = _skip(text, pos + 1)
        if key == "entries" and text[pos] == "[":
            value, pos = _split_list(text, pos, spans)
        else:
            value, pos = _scan(text, pos)
        page[key] = value
        pos = _skip(text, pos)
        separator = text[pos]
        pos = _skip(text, pos + 1)
        if separator == "}":
            if pos != len(text):
                raise ValueError("text after the object")
            return page, spans
        if separator != ",":
            raise ValueError("expected ',' or '}'")


def _split_list(text: str, pos: int, spans: list[str]) -> tuple[list[Any], int]:
    items: list[Any] = []
    pos = _skip(text, pos + 1)
    if text[pos] == "]":
        return items, pos + 1
    scan, add_item, add_span = _scan, items.append, spans.append
    while True:
        item, end = scan(text, pos)
        add_item(item)
        add_span(text[pos:end])
        separator = text[end]
        if separator == ",":
            pos = end + 1
            if text[pos] in " \t\n\r":
                pos = _skip(text, pos)
            continue
        if separator != "]":
            pos = _skip(text, end)
            separator = text[pos]
            if separator == ",":
                pos = _skip(text, pos + 1)
                continue
            if separator != "]":
                raise ValueError("expected ',' or ']'")
            end = pos
        return items, end + 1


# ---- the checks ----------------------------------------------------------------------


def hub_verifier(origin_or_name: str, public_key: bytes) -> note.Verifier:
    """The C2SP verifier of the hub's checkpoints: its key name is the hub's host."""
    name = origin_or_name.split("://", 1)[-1].rstrip("/")
    return note.Verifier(name, public_key)


def parse_key(vkey: str, *, witness: bool = False) -> note.Verifier:
    """A verifier key string (``<name>+<key id>+<base64 key>``); a witness's has type 0x04.
    Raises InputError."""
    try:
        verifier = note.parse_verifier_key(vkey.strip())
    except note.NoteError as exc:
        raise InputError(f"not a verifier key {vkey!r}: {exc}") from None
    wanted = note.COSIGNATURE_ED25519 if witness else note.ED25519
    if verifier.signature_type != wanted:
        kind = "a witness (cosignature, type 0x04)" if witness else "the hub's (Ed25519, 0x01)"
        raise InputError(f"{vkey!r} is not {kind} verifier key")
    return verifier


@dataclass(frozen=True)
class Opened:
    text: str
    checkpoint: note.Checkpoint


class CheckpointPolicy:
    """Which checkpoint notes are acceptable: signed by ``hub_key`` (or by one of
    ``previous``, the keys it replaced through verified key transitions, for what they
    signed before), of the origin ``<hub key name>/banks/<bank>``, with valid cosignatures
    from at least ``threshold`` of ``witnesses``."""

    def __init__(
        self,
        hub_key: note.Verifier,
        witnesses: Sequence[note.Verifier] = (),
        threshold: int = 0,
        previous: Sequence[note.Verifier] = (),
    ) -> None:
        if not 0 <= threshold <= len(witnesses):
            raise InputError(
                f"--witness-threshold {threshold} needs at least that many --witness keys"
            )
        self.hub_key = hub_key
        self.previous = list(previous)
        self.witnesses = list(witnesses)
        self.threshold = threshold
        self._opened: dict[str, note.Checkpoint] = {}

    @property
    def hub_keys(self) -> list[note.Verifier]:
        """The keys a hub checkpoint may be signed with: the pinned one, then those it
        replaced."""
        return [self.hub_key, *self.previous]

    def pin(self, hub_key: note.Verifier, previous: Sequence[note.Verifier]) -> None:
        """Trust ``hub_key`` from now on, and ``previous`` for what they signed before (the
        chain of key transitions that led to it, verified by the caller)."""
        self.hub_key, self.previous = hub_key, list(previous)
        self._opened.clear()

    def open(self, text: str, bank: str | None = None, *, witnessed: bool = True) -> Opened:
        """The checkpoint in ``text``; raises Unverified. ``bank`` None: any bank's.
        ``witnessed=False`` skips the witness threshold (the hub's signature is still
        required): enough to prove a rollback or fork, not to accept the checkpoint."""
        checkpoint = self._opened.get(text)
        if checkpoint is None and not witnessed:
            try:
                checkpoint = note.open_checkpoint(text, self.hub_keys).checkpoint
            except (note.NoteError, note.CheckpointError) as exc:
                raise Unverified(f"a checkpoint of the hub does not verify: {exc}") from None
        if checkpoint is None:
            try:
                checkpoint = note.open_checkpoint(text, self.hub_keys).checkpoint
            except (note.NoteError, note.CheckpointError) as exc:
                raise Unverified(f"a checkpoint of the hub does not verify: {exc}") from None
            cosigned = 0
            for witness in self.witnesses:
                try:
                    note.verify_cosignature(text, witness)
                    cosigned += 1
                except note.NoteError:
                    pass
            if cosigned < self.threshold:
                raise Unverified(
                    f"the checkpoint of {checkpoint.origin} at size {checkpoint.size} has "
                    f"{cosigned} valid witness cosignature(s), {self.threshold} are required"
                )
            if len(self._opened) > 256:
                self._opened.clear()
            self._opened[text] = checkpoint
        prefix = f"{self.hub_key.name}/banks/"
        if not checkpoint.origin.startswith(prefix) or (
            bank is not None and checkpoint.origin != prefix + bank
        ):
            raise Unverified(f"a checkpoint of {checkpoint.origin!r}, not of {prefix}{bank}")
        return Opened(text, checkpoint)


def _tree_json(edge: RightEdge) -> dict[str, Any]:
    return {
        "size": edge.size,
        "root": edge.root().hex(),
        "right_edge": [value.hex() for value in edge.hashes],
    }


def _proof_json(old: int, new: int, proof: Sequence[bytes]) -> dict[str, Any]:
    return {"from": old, "to": new, "proof": [value.hex() for value in proof]}


def _excerpt(leaf: bytes) -> str:
    return leaf[:200].decode("utf-8", "replace")


def _leaves_by_bank(
    entries: Sequence[Any], texts: Sequence[str] | Sequence[bytes]
) -> Mapping[str, Sequence[bytes]]:
    """Each bank's entries' bytes, in order. The hot path of a verified sync, so no Python
    loop over the entries when the page is of one bank."""
    if not texts:
        return {}
    leaves: Sequence[bytes] = (
        [text.encode() for text in cast(Sequence[str], texts)]
        if isinstance(texts[0], str)
        else cast(Sequence[bytes], texts)
    )
    try:
        banks = set(map(itemgetter("bank"), entries))
    except (TypeError, KeyError):
        banks = set()  # the loop below names the entry at fault
    if len(banks) == 1:
        bank = next(iter(banks))
        if isinstance(bank, str):
            return {bank: leaves}
    by_bank: dict[str, list[bytes]] = {}
    last_bank: object = None
    add = None
    for entry, leaf in zip(entries, leaves, strict=True):
        try:
            bank = entry["bank"]
        except (TypeError, KeyError, IndexError):
            raise SyncError(f"an entry without a bank: {_excerpt(leaf)}") from None
        if bank != last_bank or add is None:
            if not isinstance(bank, str):
                raise SyncError(f"an entry without a bank: {_excerpt(leaf)}")
            add = by_bank.setdefault(bank, []).append
            last_bank = bank
        add(leaf)
    return by_bank


class LogVerifier:
    """Checks pages and checkpoints for one hub; ``fetch_consistency`` asks the hub for a
    consistency proof. ``evidence_base`` goes into every Misbehaviour's evidence (the hub's
    address and key)."""

    def __init__(
        self,
        policy: CheckpointPolicy,
        fetch_consistency: FetchConsistency,
        *,
        hub: str | None = None,
    ) -> None:
        self.policy = policy
        self.fetch_consistency = fetch_consistency
        self.evidence_base = {"hub": hub, "hub_key": policy.hub_key.vkey}

    def _misbehaviour(self, kind: str, message: str, bank: str, **extra: Any) -> Misbehaviour:
        return Misbehaviour(kind, message, {**self.evidence_base, "bank": bank, **extra})

    def accept(
        self, bank: str, tree: BankTree, opened: Opened, page: Mapping[str, Any] | None = None
    ) -> None:
        """Check that ``opened`` extends the accepted checkpoint of ``tree``: raises
        Misbehaviour (``rollback``, ``fork``) if it does not. Changes nothing."""
        if tree.checkpoint is None:
            return
        new = opened.checkpoint
        old_size, old_root = tree.checkpoint_size, tree.checkpoint_root
        notes = [tree.checkpoint, opened.text]
        if new.size < old_size:
            raise self._misbehaviour(
                "rollback",
                f"bank {bank}: the hub signed a checkpoint of size {new.size} after one of "
                f"size {old_size}",
                bank,
                checkpoints=notes,
                **(page or {}),
            )
        if new.size == old_size:
            if new.root_hash != old_root:
                raise self._misbehaviour(
                    "fork",
                    f"bank {bank}: two checkpoints of size {new.size} with different roots",
                    bank,
                    checkpoints=notes,
                    **(page or {}),
                )
            return
        proof = self.fetch_consistency(bank, old_size, new.size)
        try:
            verify_consistency(old_size, new.size, old_root, new.root_hash, proof)
        except ProofError as exc:
            raise self._misbehaviour(
                "fork",
                f"bank {bank}: the checkpoint of size {new.size} does not extend the one of "
                f"size {old_size}: {exc}",
                bank,
                checkpoints=notes,
                consistency_proof=_proof_json(old_size, new.size, proof),
                **(page or {}),
            ) from None

    def check_latest(self, bank: str, tree: BankTree, text: str) -> None:
        """Check the bank's latest checkpoint (``GET .../checkpoint``) against the accepted
        one, without accepting it: the pages carry their own. The witness threshold does
        not apply (the latest checkpoint may not be cosigned yet; the hub's signature is
        what proves a rollback or fork)."""
        self.accept(bank, tree, self.policy.open(text, bank, witnessed=False))

    def check_page(
        self,
        trees: Mapping[str, BankTree],
        page: Mapping[str, Any],
        entry_texts: Sequence[str] | Sequence[bytes],
        *,
        raw: bytes | None = None,
        signature: str | None = None,
        defer_proofs: bool = False,
    ) -> dict[str, BankTree]:
        """The banks' trees once the page is applied, every check passed; ``trees`` is not
        changed. ``entry_texts`` are the entries' exact texts or bytes (``split_page``,
        ``split_page_bytes``). Raises Misbehaviour, Unverified or SyncError. With
        ``defer_proofs``, a bank whose checkpoint is larger than its tree is not checked
        with a consistency proof from the tree's size: ``prove`` must be called before the
        page is applied (so that one proof covers several pages read in a row)."""
        checkpoints = page.get("checkpoints")
        if not isinstance(checkpoints, dict):
            raise SyncError("the page names no checkpoints")
        entries = page["entries"]
        if len(entries) != len(entry_texts):
            raise ValueError("one text per entry")
        leaves = _leaves_by_bank(entries, entry_texts)
        unnamed = set(leaves) - set(checkpoints)
        if unnamed:
            raise SyncError(f"the page names no checkpoint of {', '.join(sorted(unnamed))}")
        page_evidence: dict[str, Any] = {}
        if raw is not None:
            page_evidence = {"page": {"body": raw.decode("utf-8"), "signature": signature}}
        out = dict(trees)
        for bank, named in checkpoints.items():
            tree = trees.get(bank) or BankTree()
            received = leaves.get(bank, ())
            try:
                text, tree_size = named["checkpoint"]["note"], named["tree_size"]
            except (KeyError, TypeError):
                raise SyncError(
                    f"the page's checkpoint of {bank} lacks note or tree_size"
                ) from None
            if not received and text == tree.checkpoint and tree_size == tree.edge.size:
                continue
            if not isinstance(text, str) or not isinstance(tree_size, int):
                raise SyncError(f"the page's checkpoint of {bank} is malformed")
            opened = self.policy.open(text, bank)
            self.accept(bank, tree, opened, page_evidence)
            edge = tree.edge.copy()
            edge.append_entries(received)
            self._check_entries(bank, edge, opened, tree_size, page_evidence, defer_proofs)
            new = opened.checkpoint
            out[bank] = BankTree(edge, text, new.size, new.root_hash)
        return out

    def _check_entries(
        self,
        bank: str,
        edge: RightEdge,
        opened: Opened,
        tree_size: int,
        page_evidence: Mapping[str, Any],
        defer_proof: bool = False,
    ) -> None:
        size, checkpoint = edge.size, opened.checkpoint
        evidence = {
            "checkpoints": [opened.text],
            "client_tree": _tree_json(edge),
            **page_evidence,
        }
        if size != tree_size:
            kind = "omission" if size < tree_size else "uncovered"
            raise self._misbehaviour(
                kind,
                f"bank {bank}: the page says the bank holds {tree_size} entries, "
                f"its entries make {size}",
                bank,
                **evidence,
            )
        if size > checkpoint.size:
            raise self._misbehaviour(
                "uncovered",
                f"bank {bank}: {size} entries received, the checkpoint covers {checkpoint.size}",
                bank,
                **evidence,
            )
        if size == checkpoint.size:
            if edge.root() != checkpoint.root_hash:
                raise self._misbehaviour(
                    "root_mismatch",
                    f"bank {bank}: the {size} entries received do not make the signed root",
                    bank,
                    **evidence,
                )
            return
        if size == 0 or defer_proof:
            return
        self._prove(bank, edge, opened.text, checkpoint, evidence)

    def _prove(
        self,
        bank: str,
        edge: RightEdge,
        text: str,
        checkpoint: note.Checkpoint,
        evidence: Mapping[str, Any],
    ) -> None:
        size = edge.size
        proof = self.fetch_consistency(bank, size, checkpoint.size)
        try:
            verify_consistency(size, checkpoint.size, edge.root(), checkpoint.root_hash, proof)
        except ProofError as exc:
            raise self._misbehaviour(
                "root_mismatch",
                f"bank {bank}: the {size} entries received are not the start of the signed "
                f"tree of {checkpoint.size}: {exc}",
                bank,
                consistency_proof=_proof_json(size, checkpoint.size, proof),
                **evidence,
            ) from None

    def prove(
        self,
        trees: Mapping[str, BankTree],
        banks: Iterable[str],
        pages: Sequence[tuple[bytes, str | None]] = (),
    ) -> None:
        """For each of ``banks`` whose tree is smaller than its accepted checkpoint, the
        consistency proof from the tree's size to the checkpoint's (what ``check_page``
        deferred). ``pages`` (bytes, signature) go into the evidence. Raises Misbehaviour
        (``root_mismatch``)."""
        for bank in sorted(set(banks)):
            tree = trees[bank]
            if tree.checkpoint is None or not 0 < tree.edge.size < tree.checkpoint_size:
                continue
            checkpoint = self.policy.open(tree.checkpoint, bank, witnessed=False).checkpoint
            evidence = {
                "checkpoints": [tree.checkpoint],
                "client_tree": _tree_json(tree.edge),
                "pages": [
                    {"body": body.decode("utf-8"), "signature": signature}
                    for body, signature in pages
                ],
            }
            self._prove(bank, tree.edge, tree.checkpoint, checkpoint, evidence)


# ---- two checkpoints against each other (``hashfed verify``) --------------------------


@dataclass(frozen=True)
class Comparison:
    """The outcome of ``compare``: ``consistent`` or a Misbehaviour was raised."""

    origin: str
    sizes: tuple[int, int]
    proof: list[bytes] | None


def compare(
    policy: CheckpointPolicy,
    first: str,
    second: str,
    fetch_consistency: FetchConsistency | None,
    proof: Sequence[bytes] | None = None,
    *,
    hub: str | None = None,
) -> Comparison:
    """Check two checkpoint notes of one bank against each other: both must verify under
    ``policy`` (Unverified otherwise) and be of the same origin (InputError); equal sizes
    need equal roots, different sizes a consistency proof from the smaller to the larger
    (``proof`` if given, else ``fetch_consistency``). Raises Misbehaviour(``fork``) if not."""
    a, b = policy.open(first), policy.open(second)
    if a.checkpoint.origin != b.checkpoint.origin:
        raise InputError(
            f"the checkpoints are of two logs: {a.checkpoint.origin} and {b.checkpoint.origin}"
        )
    origin = a.checkpoint.origin
    bank = origin.rsplit("/banks/", 1)[-1]
    if a.checkpoint.size > b.checkpoint.size:
        a, b = b, a
    old, new = a.checkpoint, b.checkpoint
    base = {"hub": hub, "hub_key": policy.hub_key.vkey, "bank": bank}
    notes = [a.text, b.text]
    if old.size == new.size:
        if old.root_hash != new.root_hash:
            raise Misbehaviour(
                "fork",
                f"split view: two checkpoints of {origin} at size {old.size} with different "
                f"roots ({base64.b64encode(old.root_hash).decode()} and "
                f"{base64.b64encode(new.root_hash).decode()})",
                {**base, "checkpoints": notes},
            )
        return Comparison(origin, (old.size, new.size), None)
    if proof is None:
        if fetch_consistency is None:
            raise InputError("checkpoints of two sizes need a consistency proof: --proof or --hub")
        proof = fetch_consistency(bank, old.size, new.size)
    try:
        verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    except ProofError as exc:
        raise Misbehaviour(
            "fork",
            f"the checkpoint of {origin} at size {new.size} does not extend the one at size "
            f"{old.size}: {exc}",
            {
                **base,
                "checkpoints": notes,
                "consistency_proof": _proof_json(old.size, new.size, proof),
            },
        ) from None
    return Comparison(origin, (old.size, new.size), list(proof))


def read_proof(path: str) -> list[bytes]:
    """A consistency proof from a file: the hub's answer ``{"from", "to", "proof"}``, or a
    misbehaviour file's ``consistency_proof``. Raises InputError."""
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
        if isinstance(data, dict) and "consistency_proof" in data:
            data = data["consistency_proof"]
        return [bytes.fromhex(node) for node in data["proof"]]
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a consistency proof: {exc}") from None


def read_notes(paths: Iterable[str]) -> list[str]:
    notes: list[str] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", newline="") as file:
                notes.append(file.read())
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise InputError(f"{path} is not UTF-8 text") from None
    return notes
