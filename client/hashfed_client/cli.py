"""The ``hashfed`` command line (``docs/client.md``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from hashfed_client import commands, inclusion, signal_commands
from hashfed_client.commands import EXIT_HUB, EXIT_INTERRUPTED, EXIT_USAGE
from hashfed_client.errors import HubError, InputError, SyncError
from hashfed_client.hub import DEFAULT_HUB, MAX_SYNC_LIMIT


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
        help="do not check the hub's signature on each page (checked by default)",
    )
    _add_hub_options(sync)
    sync.set_defaults(handler=commands.sync_command)
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
    problem (nothing sent), 3 the hub refused a request, could not be reached or answered
    what does not verify, 130 interrupted."""
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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
