"""Checking the list the hub serves against its signed checkpoints: the checks live in
hashfed_wire.logverify, shared with the hub, which checks its peer hubs' logs the same way."""

from hashfed_wire.logverify import (
    BankTree,
    CheckpointPolicy,
    Comparison,
    EVIDENCE_TYPE,
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
    write_evidence,
)

__all__ = [
    "BankTree",
    "CheckpointPolicy",
    "Comparison",
    "EVIDENCE_TYPE",
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
    "write_evidence",
]
