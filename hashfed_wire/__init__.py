"""The wire formats a Hashfed hub and its members share, in one implementation.

Pure Python: it imports neither Django nor any of the hub's apps, so the member client
(``client/``) ships it as it is. ``envelope`` (signed submissions), ``strict_json`` (one
reading of a JSON document), ``ed25519`` (keys and key ids), ``hub_signatures`` (what the
hub signs: sync pages, snapshots), ``files`` (atomic writes, key files), and the verifiable
log: ``merkle`` (RFC 6962 trees and proofs), ``note`` (C2SP signed notes, checkpoints and
cosignatures) and ``tiles`` (C2SP tlog-tiles paths and encodings).
"""
