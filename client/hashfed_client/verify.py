"""Checking the list the hub serves against its signed checkpoints: the checks live in
hashfed_wire.logverify, shared with the hub, which checks its peer hubs' logs the same way."""

from hashfed_wire.logverify import (
    EVIDENCE_TYPE,
    BankTree,
    CheckpointPolicy,
    Comparison,
    FetchConsistency,
    LogVerifier,
    Misbehaviour,
    Opened,
    Unverified,
    compare,
    hub_verifier,
    parse_key,
    read_notes,
    read_proof,
    split_page,
    split_page_bytes,
    write_evidence,
)

__all__ = [
    "EVIDENCE_TYPE",
    "BankTree",
    "CheckpointPolicy",
    "Comparison",
    "FetchConsistency",
    "LogVerifier",
    "Misbehaviour",
    "Opened",
    "Unverified",
    "compare",
    "hub_verifier",
    "parse_key",
    "read_notes",
    "read_proof",
    "split_page",
    "split_page_bytes",
    "write_evidence",
]
