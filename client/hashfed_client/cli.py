"""The ``hashfed`` command line (``docs/client.md``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from hashfed_client import commands, inclusion, signal_commands
from hashfed_client.commands import EXIT_HUB, EXIT_INTERRUPTED, EXIT_UNVERIFIED, EXIT_USAGE
from hashfed_client.errors import HubError, InputError, SyncError
from hashfed_client.hub import DEFAULT_HUB, MAX_SYNC_LIMIT
from hashfed_client.verify import Unverified


def _add_hub_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hub",
        default=os.environ.get("HASHFED_URL", DEFAULT_HUB),
        help="the hub's address (default: $HASHFED_URL or %(default)s)",
    )
    parser.add_argument(
        "--api-key",
        help="the organisation's API key (default: $HASHFED_API_KEY); prefer the "
        "environment or --api-key-file, as other users can see command lines",
    )
    parser.add_argument(
        "--api-key-file", help="read the API key from this file (or $HASHFED_API_KEY_FILE)"
    )


def _add_verify_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hub-key",
        metavar="VKEY",
        default=os.environ.get("HASHFED_HUB_KEY"),
        help="the hub's checkpoint verifier key, <host>+<key id>+<base64 key> (default: "
        "$HASHFED_HUB_KEY, else the key /.well-known/hashfed publishes, pinned in the state)",
    )
    parser.add_argument(
        "--witness",
        action="append",
        metavar="VKEY",
        help="a witness's cosignature verifier key (repeatable)",
    )
    parser.add_argument(
        "--witness-threshold",
        type=int,
        metavar="K",
        help="accept a checkpoint only with K valid witness cosignatures (default: all)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hashfed",
        description="Submit signed hashes to a Hashfed hub, keep a local copy of its list, "
        "look hashes up, and dispute or give an opinion on what it lists.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keygen = subcommands.add_parser("keygen", help="create an Ed25519 signing key")
    keygen.add_argument("--out", required=True, metavar="KEYFILE", help="new private key file")
    keygen.set_defaults(handler=commands.keygen_command)

    register = subcommands.add_parser("register-key", help="register a key's public half")
    register.add_argument("--key", required=True, metavar="KEYFILE")
    register.add_argument("--name", default="", help="a name to recognise the key by")
    _add_hub_options(register)
    register.set_defaults(handler=commands.register_key_command)

    submit = subcommands.add_parser("submit", help="sign and submit the rows of a file")
    submit.add_argument("--key", required=True, metavar="KEYFILE")
    submit.add_argument("--bank", required=True, help="the bank's name, e.g. TVEC")
    submit.add_argument("--file", required=True, help="CSV or NDJSON rows; - for stdin")
    submit.add_argument(
        "--format", choices=("csv", "ndjson"), help="default: from the extension, else csv"
    )
    submit.add_argument("--audience", metavar="HOST", help="default: the hub's own origin")
    submit.add_argument("--organisation", metavar="SLUG", help="default: the API key's")
    submit.add_argument(
        "--id-namespace",
        metavar="UUID",
        help="derive each row's id from this namespace and the row, so re-runs replay",
    )
    submit.add_argument(
        "--created-at",
        metavar="TIME",
        help="signing time, RFC 3339 UTC (default: now; required with --id-namespace)",
    )
    submit.add_argument(
        "--receipts",
        metavar="FILE",
        help="append the hub's signed receipts to this file, one JSON line per submission "
        "(for hashfed inclusion --receipts)",
    )
    _add_hub_options(submit)
    submit.set_defaults(handler=commands.submit_command)

    sync = subcommands.add_parser("sync", help="update a local copy of the list")
    sync.add_argument("--out", required=True, metavar="FILE.ndjson")
    sync.add_argument("--state", metavar="FILE.state.json", help="default: next to --out")
    sync.add_argument("--limit", type=int, default=MAX_SYNC_LIMIT, help="entries per page")
    sync.add_argument("--progress", action="store_true", help="show progress even off a TTY")
    sync.add_argument(
        "--no-verify",
        action="store_true",
        help="check nothing: neither the hub's signature on each page nor the banks' "
        "checkpoints and trees (all checked by default)",
    )
    sync.add_argument(
        "--from-snapshot",
        action="store_true",
        help="with --no-verify, a first sync starts from the hub's signed snapshots "
        "(their signature and hash checked), then reads the log from their position",
    )
    sync.add_argument(
        "--evidence",
        metavar="FILE.json",
        help="where to write the proof of a misbehaviour (default: next to --out)",
    )
    _add_verify_options(sync)
    _add_hub_options(sync)
    sync.set_defaults(handler=commands.sync_command)
    verify = subcommands.add_parser(
        "verify", help="check two checkpoint notes of a bank against each other"
    )
    verify.add_argument("first", metavar="A", help="a checkpoint note file")
    verify.add_argument("second", metavar="B", help="another checkpoint note of the bank")
    verify.add_argument(
        "--proof",
        metavar="FILE.json",
        help="the consistency proof from the smaller to the larger (default: ask the hub)",
    )
    verify.add_argument("--evidence", metavar="FILE.json", help="also write a misbehaviour here")
    _add_verify_options(verify)
    _add_hub_options(verify)
    verify.set_defaults(handler=commands.verify_command)
    signal_commands.add_parsers(subcommands, _add_hub_options)
    inclusion.add_parser(subcommands, _add_hub_options)
    return parser


def _print_hub_error(error: HubError) -> None:
    print(f"error: {error}", file=sys.stderr)
    for name, problems in error.fields.items():
        for problem in problems if isinstance(problems, list) else [problems]:
            message = problem.get("message") if isinstance(problem, dict) else problem
            print(f"  {name}: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code: 0 done, 1 some rows or queries were
    rejected by the hub (or a submission is not in the log yet), 2 a usage or local input
    problem (nothing sent), 3 the hub refused a request or could not be reached, 4 the hub
    misbehaved (a rollback, fork or list that does not match its signed checkpoint, or a
    submission's receipt, checkpoint or inclusion proof that does not verify or a promise
    past due; the evidence is written or printed), 5 a checkpoint does not verify
    (signature, origin, witness cosignatures), 130 interrupted."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HubError as exc:
        _print_hub_error(exc)
        return EXIT_HUB
    except SyncError as exc:
        print(f"error: the sync feed is inconsistent: {exc}", file=sys.stderr)
        return EXIT_HUB
    except Unverified as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNVERIFIED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
