"""The commands that set a member up and keep its list: keygen, register-key, submit,
sync."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import stat
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hashfed_client import key_pinning
from hashfed_client.errors import HubError, InputError
from hashfed_client.hub import MAX_SYNC_LIMIT, HubClient
from hashfed_client.keys import key_id_of, load_private_key, public_key_b64, write_new_private_key
from hashfed_client.submit import (
    Row,
    RowError,
    build_envelopes,
    parse_created_at,
    parse_csv,
    parse_ndjson,
)
from hashfed_client.sync import SyncState, hub_public_key_of, sync_list
from hashfed_client.verify import (
    CheckpointPolicy,
    LogVerifier,
    Misbehaviour,
    compare,
    hub_verifier,
    parse_key,
    read_notes,
    read_proof,
    write_evidence,
)

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_HUB = 3
EXIT_MISBEHAVIOUR = 4
EXIT_UNVERIFIED = 5
EXIT_INTERRUPTED = 130


def _default_state_path(out: Path) -> Path:
    return out.with_suffix(".state.json") if out.suffix else out.with_name(out.name + ".state.json")


def _default_evidence_path(out: Path) -> Path:
    return out.with_name(out.stem + ".misbehaviour.json")


def _report_misbehaviour(exc: Misbehaviour, path: Path) -> int:
    write_evidence(path, exc.evidence)
    print(f"MISBEHAVIOUR ({exc.kind}): {exc.message}", file=sys.stderr)
    print(f"the signed evidence is in {path}; nothing of the page was applied", file=sys.stderr)
    return EXIT_MISBEHAVIOUR


def checkpoint_policy_from(args: argparse.Namespace, client: HubClient | None) -> CheckpointPolicy:
    """The hub key: --hub-key, else the one /.well-known/hashfed publishes (named by the
    hub's host); the witnesses and threshold from --witness and --witness-threshold."""
    if args.hub_key:
        hub_key = parse_key(args.hub_key)
    elif client is not None:
        hub_key = hub_verifier(
            str(client.hub_identity().get("origin", "")), hub_public_key_of(client)
        )
    else:
        raise InputError("--hub-key is needed to check checkpoints without a hub")
    witnesses = [parse_key(vkey, witness=True) for vkey in args.witness or ()]
    threshold = len(witnesses) if args.witness_threshold is None else args.witness_threshold
    return CheckpointPolicy(hub_key, witnesses, threshold)


def log_verifier_from(args: argparse.Namespace, client: HubClient) -> LogVerifier:
    return LogVerifier(
        checkpoint_policy_from(args, client), client.consistency_proof, hub=client.base_url
    )


def _resolve_api_key(args: argparse.Namespace) -> str:
    """The key from, in order: --api-key, --api-key-file, HASHFED_API_KEY,
    HASHFED_API_KEY_FILE."""
    candidates: list[tuple[str | None, bool]] = [
        (args.api_key, False),
        (args.api_key_file, True),
        (os.environ.get("HASHFED_API_KEY"), False),
        (os.environ.get("HASHFED_API_KEY_FILE"), True),
    ]
    for value, is_file in candidates:
        if not value:
            continue
        if not is_file:
            return value.strip()
        try:
            return Path(value).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"cannot read the API key file {value}: {exc.strerror}") from exc
    raise InputError("no API key: set HASHFED_API_KEY or pass --api-key")


def hub_client_from(args: argparse.Namespace) -> HubClient:
    client = HubClient(args.hub, _resolve_api_key(args))
    if client.is_plain_http_to_remote:
        print(
            f"warning: {client.base_url} is plain HTTP; the API key is not encrypted",
            file=sys.stderr,
        )
    return client


def _load_signing_key(path: str) -> Ed25519PrivateKey:
    with contextlib.suppress(OSError):
        mode = os.stat(path).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            print(f"warning: {path} is readable by other users; chmod 600 it", file=sys.stderr)
    return load_private_key(path)


def keygen_command(args: argparse.Namespace) -> int:
    key = write_new_private_key(args.out)
    print(f"public_key: {public_key_b64(key)}")
    print(f"key_id: {key_id_of(key)}")
    return EXIT_OK


def register_key_command(args: argparse.Namespace) -> int:
    key = _load_signing_key(args.key)
    client = hub_client_from(args)
    record = client.register_signing_key(public_key_b64(key), args.name)
    expected = key_id_of(key)
    if record.get("key_id") != expected:
        raise HubError(201, "bad_response", f"the hub answered key id {record.get('key_id')!r}")
    print(f"registered key_id: {expected}")
    return EXIT_OK


def _read_input_rows(path: str, fmt: str | None) -> tuple[list[Row], list[RowError]]:
    if fmt is None:
        fmt = "ndjson" if Path(path).suffix.lower() in (".ndjson", ".jsonl") else "csv"
    parse = parse_ndjson if fmt == "ndjson" else parse_csv
    try:
        if path == "-":
            return parse(sys.stdin)
        # utf-8-sig: spreadsheet exports often start with a byte order mark.
        with open(path, encoding="utf-8-sig", newline="") as file:
            return parse(file)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text") from exc


def _report_row_errors(errors: Sequence[RowError]) -> int:
    for error in errors:
        print(error, file=sys.stderr)
    print(f"{len(errors)} invalid row(s); nothing was sent", file=sys.stderr)
    return EXIT_USAGE


def submit_command(args: argparse.Namespace) -> int:
    if args.id_namespace is not None and args.created_at is None:
        # A replay must be byte for byte the same envelope, signing time included.
        raise InputError("--id-namespace needs --created-at, so a re-run signs the same bytes")
    namespace = _parse_namespace(args.id_namespace)
    created_at = parse_created_at(args.created_at) if args.created_at else None
    key = _load_signing_key(args.key)
    rows, errors = _read_input_rows(args.file, args.format)
    if errors:
        return _report_row_errors(errors)
    client = hub_client_from(args)
    organisation = args.organisation or str(client.me()["organisation"]["slug"])
    audience = args.audience or str(client.hub_identity()["origin"])
    built, errors = build_envelopes(
        rows,
        private_key=key,
        bank=args.bank,
        organisation=organisation,
        audience=audience,
        created_at=created_at,
        id_namespace=namespace,
    )
    if errors:
        return _report_row_errors(errors)
    return _send(client, built, receipts=args.receipts)


def _parse_namespace(text: str | None) -> uuid.UUID | None:
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise InputError(f"--id-namespace must be a UUID, got {text!r}") from exc


def _store_receipts(path: str, results: Sequence[Mapping[str, Any]]) -> None:
    """Append ``{"id", "receipt"}`` lines for the accepted and replayed results."""
    lines = [
        json.dumps({"id": r["id"], "receipt": r["receipt"]}) + "\n"
        for r in results
        if r.get("status") in ("accepted", "replayed") and isinstance(r.get("receipt"), str)
    ]
    try:
        with open(path, "a", encoding="utf-8") as file:
            file.writelines(lines)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from exc


def _send(
    client: HubClient, built: Sequence[tuple[Row, dict[str, Any]]], *, receipts: str | None = None
) -> int:
    counts = {"accepted": 0, "replayed": 0, "rejected": 0}
    done = 0
    try:
        for results in client.submit_in_batches([envelope for _, envelope in built]):
            if receipts:
                _store_receipts(receipts, results)
            for result in results:
                status = str(result.get("status"))
                counts[status] = counts.get(status, 0) + 1
                if status == "rejected":
                    _report_rejection(built[result["index"]][0], result.get("error") or {})
            done += len(results)
    except HubError:
        _print_summary(counts, done, len(built))
        print(f"stopped after {done} of {len(built)} rows", file=sys.stderr)
        raise
    _print_summary(counts, done, len(built))
    return EXIT_REJECTED if counts["rejected"] else EXIT_OK


def _report_rejection(row: Row, error: Mapping[str, Any]) -> None:
    rejection = RowError(
        row.line,
        str(error.get("code") or "rejected"),
        error.get("field"),
        str(error.get("message") or "rejected by the hub"),
    )
    print(rejection, file=sys.stderr)


def _print_summary(counts: Mapping[str, int], done: int, total: int) -> None:
    others = "".join(
        f", {name} {count}"
        for name, count in counts.items()
        if name not in ("accepted", "replayed", "rejected")
    )
    print(
        f"accepted {counts['accepted']}, replayed {counts['replayed']}, "
        f"rejected {counts['rejected']}{others} ({done} of {total} rows sent)"
    )


class _ProgressLine:
    """``synced N/M entries`` on stderr: rewritten in place on a terminal, one line
    per page otherwise (for logs)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.in_place = stream.isatty()
        self.shown = False

    def __call__(self, state: SyncState) -> None:
        text = f"synced {state.cursor}/{state.head} entries"
        self.stream.write(f"\r{text}" if self.in_place else f"{text}\n")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.in_place and self.shown:
            self.stream.write("\n")


def sync_command(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_SYNC_LIMIT:
        raise InputError(f"--limit must be between 1 and {MAX_SYNC_LIMIT}")
    if args.from_snapshot and not args.no_verify:
        raise InputError(
            "--from-snapshot needs --no-verify: a verified sync reads the whole log "
            "to build each bank's tree"
        )
    out = Path(args.out)
    state_path = Path(args.state) if args.state else _default_state_path(out)
    client = hub_client_from(args)
    progress = _ProgressLine(sys.stderr) if args.progress or sys.stderr.isatty() else None
    verifier = None if args.no_verify else log_verifier_from(args, client)
    hub_public_key = None if verifier is None else verifier.policy.hub_key.public_key
    try:
        state = sync_list(
            client,
            out=out,
            state_path=state_path,
            limit=args.limit,
            progress=progress,
            hub_public_key=hub_public_key,
            verifier=verifier,
            from_snapshots=args.from_snapshot,
        )
    except Misbehaviour as exc:
        evidence = Path(args.evidence) if args.evidence else _default_evidence_path(out)
        return _report_misbehaviour(exc, evidence)
    finally:
        if progress:
            progress.finish()
    print(f"{len(state.signals)} signals in {out} (cursor {state.cursor}, head {state.head})")
    return EXIT_OK


def _follow_hub_key(client: HubClient, policy: CheckpointPolicy, notes: Sequence[str]) -> None:
    """When a note is not signed by the pinned key, trust the key the hub's signed key
    transitions lead to from it (``key_pinning``), and the keys on the way. Raises
    Unverified."""
    pinned = policy.hub_key
    unsigned = [text for text in notes if not key_pinning.note_signed_by(text)(pinned)]
    if not unsigned:
        return
    chain = key_pinning.follow(
        client, pinned, key_pinning.note_signed_by(unsigned[-1]), "checkpoint"
    )
    if chain:
        key_pinning.report(chain)
        policy.pin(chain[-1].new, [pinned, *(transition.new for transition in chain[:-1])])


def verify_command(args: argparse.Namespace) -> int:
    """Two checkpoint notes of one bank against each other."""
    first, second = read_notes([args.first, args.second])
    proof = read_proof(args.proof) if args.proof else None
    client = None
    if proof is None or not args.hub_key:
        client = hub_client_from(args)
    policy = checkpoint_policy_from(args, client)
    if client is not None and args.hub_key:
        _follow_hub_key(client, policy, [first, second])
    try:
        result = compare(
            policy,
            first,
            second,
            None if client is None else client.consistency_proof,
            proof,
            hub=None if client is None else client.base_url,
        )
    except Misbehaviour as exc:
        if args.evidence:
            write_evidence(args.evidence, exc.evidence)
            print(f"the evidence is in {args.evidence}", file=sys.stderr)
        print(f"MISBEHAVIOUR ({exc.kind}): {exc.message}", file=sys.stderr)
        json.dump(exc.evidence, sys.stdout, ensure_ascii=False, indent=2, sort_keys=True)
        print()
        return EXIT_MISBEHAVIOUR
    old, new = result.sizes
    how = (
        "the same tree" if old == new else f"consistent (proof of {len(result.proof or [])} hashes)"
    )
    signers = policy.hub_key.vkey
    if policy.previous:
        signers += " (or a key it replaced: " + ", ".join(k.vkey for k in policy.previous) + ")"
    print(f"OK: {result.origin}, sizes {old} and {new}: {how}; both signed by {signers}")
    return EXIT_OK
