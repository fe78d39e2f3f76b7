"""The shared list in STIX 2.1: one `indicator` per listed signal, made by the hub's one
`identity`. Pure functions of what the selectors read; docs/interop.md ("TAXII 2.1")
describes every property.

Ids are stable: UUIDv5 in a namespace derived from the hub id, so the same hub always
serves the same signal under the same id, and two hubs never share ids."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import stix2

STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
SPEC_VERSION = "2.1"

# How each signal type is written as a STIX pattern: the file hash name (STIX's
# hash-algorithm-ov where it has one, PDQ and vPDQ as custom hash names), or, for `url`,
# a custom property of the url object (the hub holds the SHA-256 of the normalised URL,
# never the URL).
FILE_HASH_NAMES = {
    "md5": "MD5",
    "video_md5": "MD5",
    "sha256": "'SHA-256'",
    "pdq": "PDQ",
    "vpdq": "vPDQ",
}
URL_DIGEST_PROPERTY = "x_hashfed_sha256"

INDICATOR_TYPES = ["malicious-activity"]


@lru_cache(maxsize=8)
def hub_namespace(hub_id: str) -> uuid.UUID:
    return uuid.uuid5(uuid.UUID(hub_id), "taxii")


def identity_id(hub_id: str) -> str:
    return f"identity--{uuid.uuid5(hub_namespace(hub_id), 'identity')}"


def collection_id(hub_id: str, bank: str) -> str:
    return str(uuid.uuid5(hub_namespace(hub_id), f"collection\x00{bank}"))


def indicator_id(hub_id: str, bank: str, signal_type: str, value: str, listing: int = 0) -> str:
    """The indicator of one value in one bank. A signal removed and later listed again
    starts a new indicator (`listing` counts its earlier removals): STIX forbids
    un-revoking an object."""
    name = f"indicator\x00{bank}\x00{signal_type}\x00{value}"
    if listing:
        name += f"\x00{listing}"
    return f"indicator--{uuid.uuid5(hub_namespace(hub_id), name)}"


def timestamp(moment: dt.datetime) -> str:
    """STIX and TAXII timestamps: UTC, microseconds, `Z`."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> dt.datetime:
    """The moment of a timestamp as `timestamp` writes it (or with fewer decimals)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pattern_for(signal_type: str, value: str) -> str:
    if signal_type == "url":
        return f"[url:{URL_DIGEST_PROPERTY} = {_quoted(value)}]"
    return f"[file:hashes.{FILE_HASH_NAMES[signal_type]} = {_quoted(value)}]"


def _built(cls: type[stix2.base._STIXBase], properties: dict[str, Any]) -> dict[str, Any]:
    """`properties` built into a STIX object by the stix2 library, which validates them
    (raises stix2.exceptions.STIXError), and written as the feed writes it. stix2 drops a
    timestamp's trailing zeros; the feed writes every one to the microsecond, as versions
    are named (`modified`, match[version]), so the same version is always the same text."""
    built = cls(allow_custom=True, **properties)
    serialized: dict[str, Any] = json.loads(built.serialize())
    for name in _TIMESTAMPS:
        if name in properties:
            serialized[name] = properties[name]
    return serialized


_TIMESTAMPS = ("created", "modified", "valid_from")


def identity_object(*, hub_id: str, origin: str, created: dt.datetime) -> dict[str, Any]:
    stamp = timestamp(created)
    return _built(
        stix2.v21.Identity,
        {
            "id": identity_id(hub_id),
            "created": stamp,
            "modified": stamp,
            "name": f"Hashfed hub {origin}",
            "identity_class": "organization",
            "x_hashfed_hub_id": hub_id,
        },
    )


@dataclass(frozen=True)
class IndicatorVersion:
    """One signal as its latest change-log entry left it."""

    bank: str
    signal_type: str
    value: str
    labels: list[str]
    status: str
    confidence: float
    incident: str
    listing: int
    created: dt.datetime
    modified: dt.datetime


def indicator_object(*, hub_id: str, version: IndicatorVersion) -> dict[str, Any]:
    """The indicator of one version, built and validated by stix2 (about 2 ms, most of it
    parsing the pattern: the feed stores what this returns, taxii.models.StoredVersion)."""
    created = timestamp(version.created)
    properties: dict[str, Any] = {
        "id": indicator_id(
            hub_id, version.bank, version.signal_type, version.value, version.listing
        ),
        "created_by_ref": identity_id(hub_id),
        "created": created,
        "modified": timestamp(version.modified),
        "name": f"{version.bank} {version.signal_type}",
        "indicator_types": INDICATOR_TYPES,
        "pattern": pattern_for(version.signal_type, version.value),
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": created,
        "confidence": round(version.confidence * 100),
        "x_hashfed_bank": version.bank,
        "x_hashfed_signal_type": version.signal_type,
        "x_hashfed_status": version.status,
        "x_hashfed_disputed": version.status == "disputed",
    }
    if version.labels:
        properties["labels"] = sorted(version.labels)
    if version.incident:
        properties["x_hashfed_incident"] = version.incident
    if version.status == "removed":
        properties["revoked"] = True
    return _built(stix2.v21.Indicator, properties)
