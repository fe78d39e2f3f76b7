"""A local copy of the shared list, kept up to date from the change-log feed and
resumable after any interruption (``docs/sync.md``)."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hashfed_client import fastjson, key_pinning
from hashfed_client.errors import HubError, InputError, SyncError
from hashfed_client.hub import MAX_SYNC_LIMIT, HubClient, sync_page_checked
from hashfed_client.readahead import ReadAhead
from hashfed_client.snapshots import snapshots_fetch
from hashfed_client.transport import is_int
from hashfed_client.verify import (
    BankTree,
    LogVerifier,
    Unverified,
    parse_key,
    split_page_bytes,
)
from hashfed_wire import hub_signatures, note, provenance
from hashfed_wire.files import write_atomically

STATE_FORMAT = 2
# Format 1 had no trees: its list is kept, and the next verified sync reads the log again
# from the start to build them (applying nothing twice).
OLD_STATE_FORMATS = (1,)
# A verified sync holds back up to this many entries (whole pages) when a bank's checkpoint
# is ahead of them, so that one consistency proof covers them all before they are applied.
MAX_HELD_ENTRIES = 20_000
# The state is written whole (atomically, flushed to disk), so writing it after every page
# would make a long sync quadratic in the list's size. It is written after the last page,
# when the sync stops on an error or an interruption (what was applied up to then), and on
# the way at most every SAVE_INTERVAL seconds, less often when writing it takes long (never
# more than 1/SAVE_SHARE of the time): only a crash of the process loses more than a page.
SAVE_INTERVAL = 5.0
SAVE_SHARE = 10

SignalKey = tuple[str, str, str]


@dataclass
class SyncState:
    """A local copy of the shared list and where the change log was read up to.

    ``cursor`` is the hub's ``next_cursor`` to ask for next (opaque to the client);
    ``last_sequence`` the sequence of the last entry applied (-1 before any: the
    hub numbers entries from 0); ``signals`` the list
    keyed by (bank, signal_type, value), each record being the entry that last set
    it, without ``op``. ``hub`` is the address the state was built from.

    ``trees`` is, per bank, the right edge of the Merkle tree over the bank's entries
    read up to ``verified_cursor`` and the last checkpoint accepted (``verify.BankTree``);
    ``hub_key`` the verifier key the checkpoints were checked with (pinned at the first
    verified sync, moved only along the hub's signed key transitions);
    ``hub_keys_followed`` the keys it replaced that way, oldest first (they still verify
    what they signed before). A sync without verification moves ``cursor`` but not
    ``verified_cursor``; the next verified one reads again from there.
    """

    hub: str | None = None
    cursor: int = 0
    last_sequence: int = -1
    head: int | None = None
    signals: dict[SignalKey, dict[str, Any]] = field(default_factory=dict)
    verified_cursor: int = 0
    hub_key: str | None = None
    trees: dict[str, BankTree] = field(default_factory=dict)
    hub_keys_followed: list[str] = field(default_factory=list)

    def apply(
        self,
        entries: Iterable[Mapping[str, Any]],
        disclosures: Mapping[str, Any] | None = None,
    ) -> int:
        """Apply change-log entries in order: ``add`` and ``update`` set the record,
        ``remove`` deletes it (removing an absent record is a no-op). Entries at or
        below ``last_sequence`` are skipped, so a page that overlaps what was already
        applied is harmless. A record's ``incident`` is the page's disclosure for the
        entry (``disclosures``, keyed by sequence) once it opens the entry's
        ``incident_commitment``, or None when there is none (or it was erased). All or
        nothing: raises SyncError, changing nothing, for an unknown op, a malformed
        entry, a disclosure that does not open its commitment or sequences out of
        order. Returns how many entries were applied."""
        # Every entry is checked before any is applied, so a bad one changes nothing;
        # the list itself is then changed in place (copying it per page would make a
        # long sync quadratic in the list's size).
        last = self.last_sequence
        changes: list[tuple[SignalKey, dict[str, Any] | None]] = []
        for entry in entries:
            sequence = entry.get("sequence")
            if not is_int(sequence):
                raise SyncError(f"an entry without an integer sequence: {entry!r}")
            if sequence <= last:
                if changes:
                    raise SyncError(f"sequence {sequence} comes after {last}")
                continue
            try:
                key = (str(entry["bank"]), str(entry["signal_type"]), str(entry["value"]))
            except KeyError as exc:
                raise SyncError(f"entry {sequence} has no {exc.args[0]}") from None
            op = entry.get("op")
            if op in ("add", "update"):
                record = dict(entry)
                del record["op"]
                if "incident_commitment" in entry:
                    # Most pages disclose nothing: then no entry's incident is disclosed.
                    record["incident"] = (
                        _disclosed_incident(entry, disclosures) if disclosures else None
                    )
                changes.append((key, record))
            elif op == "remove":
                changes.append((key, None))
            else:
                raise SyncError(f"entry {sequence} has an unknown op {op!r}")
            last = sequence
        signals = self.signals
        for key, change in changes:
            if change is None:
                signals.pop(key, None)
            else:
                signals[key] = change
        self.last_sequence = last
        return len(changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "hub": self.hub,
            "cursor": self.cursor,
            "last_sequence": self.last_sequence,
            "head": self.head,
            "verified_cursor": self.verified_cursor,
            "hub_key": self.hub_key,
            "hub_keys_followed": list(self.hub_keys_followed),
            "trees": {bank: tree.to_json() for bank, tree in sorted(self.trees.items())},
            # In the order applied: only the list file (write_list) is sorted, once, at the
            # end; sorting the whole list for every save cost as much as writing it.
            "signals": list(self.signals.values()),
        }

    @classmethod
    def from_json(cls, data: object) -> SyncState:
        """Raises InputError for anything but a state this module wrote (in this format
        or an older one, which is migrated)."""
        if not isinstance(data, dict) or data.get("format") not in (
            STATE_FORMAT,
            *OLD_STATE_FORMATS,
        ):
            raise InputError(f"not a sync state file (format {STATE_FORMAT})")
        try:
            current = data["format"] == STATE_FORMAT
            trees = (
                {str(bank): BankTree.from_json(tree) for bank, tree in data["trees"].items()}
                if current
                else {}
            )
            signals = {
                (str(r["bank"]), str(r["signal_type"]), str(r["value"])): r for r in data["signals"]
            }
            return cls(
                hub=data.get("hub"),
                cursor=int(data["cursor"]),
                last_sequence=int(data["last_sequence"]),
                head=data.get("head"),
                signals=signals,
                verified_cursor=int(data["verified_cursor"]) if current else 0,
                hub_key=data.get("hub_key") if current else None,
                trees=trees,
                hub_keys_followed=[str(vkey) for vkey in data.get("hub_keys_followed", [])],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"the sync state file is damaged: {exc}") from exc

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SyncState:
        """The state saved at ``path``, or an empty one if there is no file yet."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            return cls.from_json(fastjson.loads(text))
        except ValueError as exc:
            raise InputError(f"{path} is not valid JSON: {exc}") from exc

    def save(self, path: str | os.PathLike[str]) -> None:
        write_atomically(path, fastjson.dumps(self.to_json()))

    def sorted_records(self) -> list[dict[str, Any]]:
        return [self.signals[key] for key in sorted(self.signals)]

    def write_list(self, path: str | os.PathLike[str]) -> None:
        """Write the list as NDJSON, one signal per line, sorted by (bank, signal_type,
        value), keys sorted, atomically."""
        write_atomically(path, fastjson.dumps_lines(self.sorted_records()))


def _disclosed_incident(entry: Mapping[str, Any], disclosures: Mapping[str, Any]) -> str | None:
    """The incident an entry commits to, from the page's disclosures; None if the entry
    commits to none or its text was erased. Raises SyncError if a disclosure does not
    open the commitment."""
    sequence = entry["sequence"]
    disclosure = disclosures.get(str(sequence))
    if disclosure is None:
        return None
    try:
        return provenance.open_commitment("incident", entry.get("incident_commitment"), disclosure)
    except provenance.ProvenanceError as exc:
        raise SyncError(f"entry {sequence}: {exc}") from None


def hub_public_key_of(client: HubClient) -> bytes:
    """The hub's Ed25519 public key from /.well-known/hashfed, checked against its key id."""
    try:
        return hub_signatures.hub_public_key(client.hub_identity())
    except hub_signatures.HubSignatureError as exc:
        raise HubError(200, "bad_response", str(exc)) from exc


class _Saver:
    """Writes the state to ``path`` as ``SAVE_INTERVAL`` and ``SAVE_SHARE`` say."""

    def __init__(self, state: SyncState, path: str | os.PathLike[str]) -> None:
        self.state, self.path = state, path
        self.saved_at = time.monotonic()
        self.cost = 0.0
        self.pending = False

    def progressed(self) -> None:
        """The state moved on (a page or pages applied whole)."""
        self.pending = True
        if time.monotonic() - self.saved_at >= max(SAVE_INTERVAL, SAVE_SHARE * self.cost):
            self.save()

    def save(self) -> None:
        started = time.monotonic()
        self.state.save(self.path)
        self.saved_at = time.monotonic()
        self.cost, self.pending = self.saved_at - started, False

    @contextlib.contextmanager
    def saving(self) -> Iterator[None]:
        """Saves once the block is done; if it raises, saves what was applied first."""
        try:
            yield
        except BaseException:
            if self.pending:
                # The error that stopped the sync is the one to report.
                with contextlib.suppress(Exception):
                    self.save()
            raise
        self.save()


def _page_of(raw: bytes) -> dict[str, Any]:
    """A sync page's JSON, checked to have entries, next_cursor and head; raises HubError."""
    try:
        page = fastjson.loads(raw)
    except ValueError:
        raise HubError(200, "bad_response", "GET /api/v1/sync/: the answer is not JSON") from None
    return sync_page_checked(page)


def _after(position: int, page: Mapping[str, Any]) -> int | None:
    """Where the page after ``page`` (read at ``position``) starts; None after the last
    one, or when the cursor did not advance (which the caller refuses)."""
    entries, next_cursor, head = page["entries"], page["next_cursor"], page["head"]
    if not entries or next_cursor >= head or next_cursor == position:
        return None
    return int(next_cursor)


def sync_list(
    client: HubClient,
    *,
    out: str | os.PathLike[str],
    state_path: str | os.PathLike[str],
    limit: int = MAX_SYNC_LIMIT,
    progress: Callable[[SyncState], None] | None = None,
    hub_public_key: bytes | None = None,
    verifier: LogVerifier | None = None,
    from_snapshots: bool = False,
) -> SyncState:
    """Bring the local copy up to date and write it to ``out``.

    Resumes from the cursor in ``state_path``. Reads pages while ``next_cursor < head`` and
    the page is not empty, the next page fetched while this one is checked and applied
    (``readahead.ReadAhead``), then rewrites ``out`` atomically. The state is saved after
    the last page, when the sync stops on an error or Ctrl-C, and on the way as
    ``SAVE_INTERVAL`` says, so an interruption costs nothing applied and a crash at most the
    pages since the last save. The cyclic garbage collector is paused meanwhile, and the
    interpreter's switch interval shortened (``_interpreter_for_sync``). Raises InputError
    if the state belongs to another hub, SyncError if the feed breaks its contract,
    HubError if the hub refuses or cannot be reached.

    With ``verifier``, every page is checked against the banks' checkpoints before
    anything of it is applied (``verify.LogVerifier.check_page``), reading from
    ``verified_cursor``; first, each bank's latest checkpoint is checked against the one
    accepted. Raises verify.Misbehaviour or verify.Unverified, the state left as it was
    after the last page that passed.

    With ``from_snapshots`` (and no ``verifier``), a state with nothing in it yet starts
    from the hub's signed snapshots (``snapshots.snapshots_fetch``), then reads the log
    from their position.
    """
    with _interpreter_for_sync():
        return _sync_list(
            client, out, state_path, limit, progress, hub_public_key, verifier, from_snapshots
        )


# How long the thread that applies pages may keep the interpreter lock while the read-ahead
# thread waits for it (Python's default is 5 ms).
SWITCH_INTERVAL = 0.0005


@contextlib.contextmanager
def _interpreter_for_sync() -> Iterator[None]:
    """For the block, then as they were: the cyclic garbage collector off, and a shorter
    switch interval.

    A sync builds a list of hundreds of thousands of records, none in a cycle (reference
    counting frees all that is dropped); every full collection on the way would walk the
    whole list again, which cost a first sync about as much as applying the entries. The
    read-ahead thread reads a page of some megabytes from its socket in many reads, and
    after each one waits for the lock the applying thread holds: up to the switch interval
    each time, which at 5 ms made fetching a page slower than checking and applying one."""
    enabled, interval = gc.isenabled(), sys.getswitchinterval()
    gc.disable()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        if enabled:
            gc.enable()


def _sync_list(
    client: HubClient,
    out: str | os.PathLike[str],
    state_path: str | os.PathLike[str],
    limit: int,
    progress: Callable[[SyncState], None] | None,
    hub_public_key: bytes | None,
    verifier: LogVerifier | None,
    from_snapshots: bool,
) -> SyncState:
    state = SyncState.load(state_path)
    if state.hub is None:
        state.hub = client.base_url
    elif state.hub != client.base_url:
        raise InputError(
            f"{state_path} follows {state.hub}, not {client.base_url}; use another --state"
        )
    saver = _Saver(state, state_path)
    if from_snapshots and verifier is None and state.cursor == 0 and not state.signals:
        _start_from_snapshots(client, state, hub_public_key)
        state.save(state_path)
    if verifier is not None:
        with saver.saving():
            try:
                _sync_verified(
                    client, state, saver, state_path, limit, progress, hub_public_key, verifier
                )
            except HubError as error:
                if error.code != "bad_signature":
                    raise
                # The hub may have finished a key rotation since the pin was checked: once
                # more, from the last pages verified, following it if it did.
                _sync_verified(
                    client, state, saver, state_path, limit, progress, hub_public_key, verifier
                )
        state.write_list(out)
        return state

    def fetch(position: int) -> tuple[int, dict[str, Any]]:
        raw, _ = client.sync_raw(position, limit, hub_public_key=hub_public_key)
        return position, _page_of(raw)

    with saver.saving(), ReadAhead(fetch, lambda read: _after(*read), state.cursor) as pages:
        for position, page in pages:
            entries = page["entries"]
            if entries and page["next_cursor"] == position:
                raise SyncError(f"the hub's cursor did not advance past {position}")
            disclosures = page.get("disclosures", {})
            if not isinstance(disclosures, dict):
                raise SyncError("the page's disclosures are not an object")
            state.apply(entries, disclosures)
            state.cursor, state.head = page["next_cursor"], page["head"]
            saver.progressed()
            if progress:
                progress(state)
            if _after(position, page) is None:
                break
    state.write_list(out)
    return state


def _pin_hub_key(
    client: HubClient,
    state: SyncState,
    state_path: str | os.PathLike[str],
    verifier: LogVerifier,
) -> note.Verifier:
    """The hub key the sync checks with: the state's pin (the key given, at the first
    verified sync), moved along the hub's signed key transitions when the hub no longer
    signs its pages with it (``key_pinning``). The key given (--hub-key, or the one the hub
    publishes) must be the pin or a key of its chain. Sets the pin in ``verifier`` and in
    ``state`` (saved with the first pages that verify). Raises Unverified."""
    given = verifier.policy.hub_key
    pinned = parse_key(state.hub_key) if state.hub_key else given
    previous = [parse_key(vkey) for vkey in state.hub_keys_followed]
    position = min(state.verified_cursor, state.cursor)
    chain = key_pinning.follow(
        client,
        pinned,
        key_pinning.page_signed_by(lambda: client.sync_page_signatures(position)),
        "hub's sync page",
    )
    if chain:
        key_pinning.report(chain)
        previous += [pinned, *(transition.new for transition in chain[:-1])]
        pinned = chain[-1].new
    if given != pinned and given not in previous:
        raise Unverified(
            f"{state_path} was verified with the hub key {pinned.vkey}, not {given.vkey}, "
            "and no signed key transition leads from the one to the other: if the hub "
            "changed its key, check that out of band and start a new --state"
        )
    verifier.policy.pin(pinned, previous)
    verifier.evidence_base["hub_key"] = pinned.vkey
    state.hub_key, state.hub_keys_followed = pinned.vkey, [key.vkey for key in previous]
    return pinned


def _start_from_snapshots(
    client: HubClient, state: SyncState, hub_public_key: bytes | None
) -> None:
    identity = client.hub_identity()
    if hub_public_key is None:
        try:
            hub_public_key = hub_signatures.hub_public_key(identity)
        except hub_signatures.HubSignatureError as exc:
            raise HubError(200, "bad_response", str(exc)) from exc
    fetched = snapshots_fetch(
        client, origin=str(identity.get("origin")), hub_public_keys=[hub_public_key]
    )
    if fetched is not None:
        state.cursor, state.signals = fetched
        state.last_sequence = state.cursor - 1


_Read = tuple[int, bytes, str | None, dict[str, Any], list[bytes]]


def _sync_verified(
    client: HubClient,
    state: SyncState,
    saver: _Saver,
    state_path: str | os.PathLike[str],
    limit: int,
    progress: Callable[[SyncState], None] | None,
    hub_public_key: bytes | None,
    verifier: LogVerifier,
) -> None:
    pinned = _pin_hub_key(client, state, state_path, verifier)
    if hub_public_key is not None:
        hub_public_key = pinned.public_key
    for bank, tree in sorted(state.trees.items()):
        if tree.checkpoint is not None:
            verifier.check_latest(bank, tree, client.checkpoint(bank))
    trees = state.trees
    # Pages read but not applied yet, waiting for one consistency proof to cover them all.
    held: list[tuple[list[Any], dict[str, Any], int, int, bytes, str | None]] = []
    held_banks: set[str] = set()
    held_entries = 0

    def fetch(position: int) -> _Read:
        raw, signature = client.sync_raw(position, limit, hub_public_key=hub_public_key)
        page, texts = split_page_bytes(raw)
        return position, raw, signature, sync_page_checked(page), texts

    start = min(state.verified_cursor, state.cursor)
    with ReadAhead(fetch, lambda read: _after(read[0], read[3]), start) as pages:
        for position, raw, signature, page, texts in pages:
            entries, next_cursor, head = page["entries"], page["next_cursor"], page["head"]
            if entries and next_cursor == position:
                raise SyncError(f"the hub's cursor did not advance past {position}")
            trees = verifier.check_page(
                trees, page, texts, raw=raw, signature=signature, defer_proofs=True
            )
            disclosures = page.get("disclosures", {})
            if not isinstance(disclosures, dict):
                raise SyncError("the page's disclosures are not an object")
            held.append((entries, disclosures, next_cursor, head, raw, signature))
            held_banks.update(
                bank for bank, tree in trees.items() if tree is not state.trees.get(bank)
            )
            held_entries += len(entries)
            last = _after(position, page) is None
            if not last and held_entries < MAX_HELD_ENTRIES:
                continue
            verified_to = next_cursor
            verifier.prove(trees, held_banks, [(body, sig) for *_, body, sig in held])
            for entries, disclosures, next_cursor, head, _, _ in held:
                state.apply(entries, disclosures)
                state.cursor, state.head = max(state.cursor, next_cursor), head
            state.trees, state.verified_cursor = trees, verified_to
            saver.progressed()
            held, held_banks, held_entries = [], set(), 0
            if progress:
                progress(state)
            if last:
                break
