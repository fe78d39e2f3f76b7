"""A first sync from the hub's signed snapshots (``docs/sync.md``, "Snapshots"): download
each readable bank's file, check it is the one the hub signed, load its records, then
follow the change log from the snapshots' position."""

from __future__ import annotations

import gc
import hashlib
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from hashfed_client import fastjson
from hashfed_client.errors import HubError, SyncError
from hashfed_client.transport import is_int
from hashfed_wire import ed25519, hub_signatures

# Compressed bytes inflated at a time; each block's whole lines are parsed in one call.
INFLATE_CHUNK = 1 << 20

Record = dict[str, Any]


def snapshot_verify(
    item: Mapping[str, Any], data: bytes, *, origin: str, hub_public_keys: Sequence[bytes]
) -> str:
    """Check a downloaded snapshot against its listing: the file's SHA-256 is the one
    listed, and a known hub key signed (origin, bank, position, SHA-256). The listing's
    ``signatures`` hold every signing key's (both during a key rotation); a listing
    without them (an older hub) is checked with its one ``signature`` and the first key.
    Returns the key id that verified; raises HubError(code="bad_signature")."""
    bank, position = item.get("bank"), item.get("up_to_sequence")
    if not isinstance(bank, str) or not is_int(position):
        raise HubError(200, "bad_response", "a snapshot needs a bank and up_to_sequence")
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        if sha256 != item.get("sha256"):
            raise hub_signatures.HubSignatureError(
                f"the {bank} snapshot's file is not the one listed (SHA-256 {sha256})"
            )
        signatures = item.get("signatures")
        if signatures:
            return hub_signatures.verify_snapshot_by_any(
                hub_public_keys,
                str(signatures),
                origin=origin,
                bank=bank,
                up_to_sequence=position,
                sha256=sha256,
            )
        signature = item.get("signature")
        hub_signatures.verify_snapshot(
            hub_public_keys[0],
            signature if isinstance(signature, str) else None,
            origin=origin,
            bank=bank,
            up_to_sequence=position,
            sha256=sha256,
        )
        return ed25519.key_id_for(hub_public_keys[0])
    except hub_signatures.HubSignatureError as exc:
        raise HubError(200, "bad_signature", str(exc)) from exc


def snapshot_records(data: bytes, *, bank: str) -> Iterator[list[Record]]:
    """The records of a snapshot file (gzip, one RFC 8785 JSON object a line), in blocks:
    each block of whole lines is parsed as one JSON array, which costs far less than a
    parse per line, with orjson when it is installed (``fastjson``, as the log's pages).
    Raises SyncError for a file that is not a snapshot of ``bank``."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    rest = b""
    try:
        for start in range(0, len(data), INFLATE_CHUNK):
            block = rest + inflate.decompress(data[start : start + INFLATE_CHUNK])
            cut = block.rfind(b"\n") + 1
            rest = block[cut:]
            if cut:
                # A JSON text holds no raw newline: each one ends a record.
                records = fastjson.loads(b"[" + block[: cut - 1].replace(b"\n", b",") + b"]")
                for record in records:
                    if not isinstance(record, dict) or record.get("bank") != bank:
                        raise SyncError(f"the {bank} snapshot holds a record of another bank")
                yield records
        rest += inflate.flush()
    except (zlib.error, ValueError) as exc:
        raise SyncError(f"the {bank} snapshot is not gzip NDJSON: {exc}") from None
    if rest or not inflate.eof or inflate.unused_data:
        raise SyncError(f"the {bank} snapshot does not end with a whole line")


def snapshots_apply(
    signals: dict[tuple[str, str, str], Record], records: Iterable[list[Record]]
) -> int:
    """Put the records into a list keyed like the sync state's: (bank, signal_type, value).
    A record that commits to an incident gets ``incident`` None: a snapshot never holds
    the text. Returns how many were put."""
    count = 0
    # Millions of records, all kept: the cyclic collector would walk them again and again
    # while they are made (they hold no cycles), so it waits until the load is done.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for block in records:
            for record in block:
                try:
                    key = (record["bank"], record["signal_type"], record["value"])
                except KeyError as exc:
                    raise SyncError(f"a snapshot record has no {exc.args[0]}") from None
                if "incident_commitment" in record:
                    record["incident"] = None
                signals[key] = record
            count += len(block)
    finally:
        if collecting:
            gc.enable()
    return count


def snapshots_fetch(
    client: Any, *, origin: str, hub_public_keys: Sequence[bytes]
) -> tuple[int, dict[tuple[str, str, str], Record]] | None:
    """Download, check and load every snapshot the hub lists for the caller
    (``client``: a HubClient). Returns the position they were all made at and the list
    they hold, or None when the hub lists none. Raises HubError, SyncError."""
    listing = client.snapshots()
    if not listing:
        return None
    positions = {item.get("up_to_sequence") for item in listing}
    if len(positions) != 1:
        raise HubError(200, "bad_response", "the listed snapshots are at different positions")
    position = positions.pop()
    if not is_int(position) or position < 0:
        raise HubError(200, "bad_response", "a snapshot's up_to_sequence is not a position")
    signals: dict[tuple[str, str, str], Record] = {}
    for item in listing:
        data = client.snapshot_download(item)
        snapshot_verify(item, data, origin=origin, hub_public_keys=hub_public_keys)
        snapshots_apply(signals, snapshot_records(data, bank=str(item["bank"])))
    return position, signals
