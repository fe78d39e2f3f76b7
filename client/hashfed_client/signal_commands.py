"""The commands that ask about signals or speak up about them: lookup, hash, dispute,
opinion. Each prints the hub's answer as JSON on standard output."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hashfed_client.commands import EXIT_OK, EXIT_REJECTED, hub_client_from
from hashfed_client.errors import InputError
from hashfed_client.hub import MAX_LOOKUP_BATCH


def _print_json(document: object) -> None:
    print(json.dumps(document, ensure_ascii=False, indent=2))


def _query_from_argument(text: str) -> dict[str, Any]:
    # Signal type names never hold a colon, so the first one ends the type (a URL value
    # keeps its own).
    signal_type, colon, value = text.partition(":")
    if not colon or not signal_type or not value:
        raise InputError(
            f"a query is TYPE:VALUE, e.g. md5:d41d8cd98f00b204e9800998ecf8427e; got {text!r}"
        )
    return {"signal_type": signal_type.strip(), "value": value.strip()}


def _queries_from_file(path: str) -> list[dict[str, Any]]:
    """``signal_type,value`` rows (a header row naming them is skipped)."""
    try:
        if path == "-":
            rows = list(csv.reader(sys.stdin))
        else:
            with open(path, encoding="utf-8-sig", newline="") as file:
                rows = list(csv.reader(file))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text") from exc
    except csv.Error as exc:
        raise InputError(f"{path}: {exc}") from exc
    queries = []
    for line, cells in enumerate(rows, start=1):
        cells = [cell.strip() for cell in cells]
        if not any(cells) or (line == 1 and cells[0] == "signal_type"):
            continue
        if len(cells) != 2 or not all(cells):
            raise InputError(f"{path} line {line}: expected signal_type,value")
        queries.append({"signal_type": cells[0], "value": cells[1]})
    return queries


def _batches(queries: list[dict[str, Any]]) -> Iterable[tuple[int, list[dict[str, Any]]]]:
    for start in range(0, len(queries), MAX_LOOKUP_BATCH):
        yield start, queries[start : start + MAX_LOOKUP_BATCH]


def lookup_command(args: argparse.Namespace) -> int:
    queries = [_query_from_argument(text) for text in args.queries]
    if args.file:
        queries += _queries_from_file(args.file)
    if not queries:
        raise InputError("nothing to look up: give TYPE:VALUE queries or --file")
    client = hub_client_from(args)
    failed = 0
    for start, batch in _batches(queries):
        for result in client.lookup(batch, max_distance=args.max_distance):
            index = start + result["index"]
            print(json.dumps({**result, "index": index, "value": queries[index]["value"]}))
            error = result.get("error")
            if error:
                failed += 1
                field = f" {error.get('field')}" if error.get("field") else ""
                print(
                    f"query {index}: {error.get('code')}{field}: {error.get('message')}",
                    file=sys.stderr,
                )
    return EXIT_REJECTED if failed else EXIT_OK


def hash_command(args: argparse.Namespace) -> int:
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {args.file}: {exc.strerror}") from exc
    if args.local:
        if args.match:
            raise InputError("--match asks the hub; look the hashes up with `hashfed lookup`")
        from hashfed_client.local_hashing import hash_video

        _print_json(hash_video(data))
        return EXIT_OK
    _print_json(hub_client_from(args).hash_media(data, match=args.match))
    return EXIT_OK


def dispute_command(args: argparse.Namespace) -> int:
    dispute = hub_client_from(args).dispute_open(
        signal=args.signal,
        kind=args.kind,
        grounds=args.grounds,
        evidence=args.evidence,
        proposed_labels=args.labels,
    )
    _print_json(dispute)
    return EXIT_OK


def opinion_command(args: argparse.Namespace) -> int:
    opinion = hub_client_from(args).opinion_record(
        signal=args.signal, kind=args.kind, reasons=args.reasons, proposed_labels=args.labels
    )
    _print_json(opinion)
    return EXIT_OK


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    add_hub_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The four commands' arguments, on the command line's sub-parsers."""
    lookup = commands.add_parser("lookup", help="look hashes up in the banks you may read")
    lookup.add_argument("queries", nargs="*", metavar="TYPE:VALUE", help="e.g. pdq:<64 hex>")
    lookup.add_argument("--file", help="signal_type,value rows (CSV); - for stdin")
    lookup.add_argument(
        "--max-distance", type=int, metavar="BITS", help="PDQ match distance (hub default: 31)"
    )
    add_hub_options(lookup)
    lookup.set_defaults(handler=lookup_command)

    hash_ = commands.add_parser(
        "hash", help="have the hub hash an image or a video (kept in memory only)"
    )
    hash_.add_argument("file", metavar="FILE", help="the image or video file; - for stdin")
    hash_.add_argument("--match", action="store_true", help="also look its hashes up")
    hash_.add_argument(
        "--local",
        action="store_true",
        help="hash a video here instead (vPDQ, MD5, SHA-256; needs the 'video' extra)",
    )
    add_hub_options(hash_)
    hash_.set_defaults(handler=hash_command)

    dispute = commands.add_parser("dispute", help="dispute a listed signal")
    dispute.add_argument("--signal", type=int, required=True, metavar="ID")
    dispute.add_argument(
        "--kind",
        choices=("signal", "labels"),
        required=True,
        help="signal: it should not be listed; labels: its labels are wrong",
    )
    dispute.add_argument("--grounds", required=True, help="why, for the reviewers")
    dispute.add_argument("--evidence", default="", help="supporting evidence (text)")
    dispute.add_argument(
        "--label",
        dest="labels",
        action="append",
        default=[],
        metavar="SLUG",
        help="a label the signal should carry instead (repeat for several)",
    )
    add_hub_options(dispute)
    dispute.set_defaults(handler=dispute_command)

    opinion = commands.add_parser("opinion", help="record your opinion of a signal")
    opinion.add_argument("--signal", type=int, required=True, metavar="ID")
    opinion.add_argument(
        "--kind",
        choices=("seen", "true_positive", "false_positive", "disagree_labels"),
        required=True,
    )
    opinion.add_argument("--reasons", default="", help="why (the hub asks for it with some kinds)")
    opinion.add_argument(
        "--label",
        dest="labels",
        action="append",
        default=[],
        metavar="SLUG",
        help="a label you propose instead (repeat for several)",
    )
    add_hub_options(opinion)
    opinion.set_defaults(handler=opinion_command)
