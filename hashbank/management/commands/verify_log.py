import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hashbank.models import Bank
from hashbank.services.log_audit import PAGE_SIZE, Problem, log_verify


class Command(BaseCommand):
    help = (
        "Audit the stored transparency log: every entry (gap-free bank_index in sequence "
        "order, leaf hash, canonical JSON naming its sequence and bank), every stored Merkle "
        "node recomputed from the leaves, and every checkpoint (signature under a hub key, "
        "root at its size). Prints each problem found; exits 1 if there is any."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bank",
            action="append",
            metavar="NAME",
            help="audit only this bank (repeatable); without it, every bank and the log's "
            "numbering as a whole",
        )
        parser.add_argument(
            "--page-size",
            type=int,
            default=PAGE_SIZE,
            help=f"entries read per query (default {PAGE_SIZE:,})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        banks = None
        if options["bank"]:
            found = {bank.name: bank for bank in Bank.objects.filter(name__in=options["bank"])}
            unknown = sorted(set(options["bank"]) - found.keys())
            if unknown:
                raise CommandError(f"no such bank: {', '.join(unknown)}")
            banks = [found[name] for name in dict.fromkeys(options["bank"])]
        if options["page_size"] < 1:
            raise CommandError("--page-size must be at least 1")

        def report_problem(problem: Problem) -> None:
            self.stdout.write(f"PROBLEM {problem}")

        started = time.monotonic()
        shown = {"entries": 0}

        def report_progress(bank: str, entries: int) -> None:
            # With -v 2: a line per million entries read, for logs that take minutes.
            if options["verbosity"] >= 2 and entries // 1_000_000 > shown["entries"] // 1_000_000:
                self.stderr.write(
                    f"{bank}: {entries:,} entries read ({time.monotonic() - started:.0f} s)"
                )
            shown["entries"] = entries

        report = log_verify(
            banks=banks,
            page_size=options["page_size"],
            on_problem=report_problem,
            on_page=report_progress,
        )
        seconds = time.monotonic() - started
        for name, entries in report.entries.items():
            self.stdout.write(
                f"{name}: {entries:,} entries, {report.nodes[name]:,} stored nodes, "
                f"{report.checkpoints[name]:,} checkpoints"
            )
        if not report.ok:
            raise CommandError(
                f"the log failed its audit: {report.problem_count:,} "
                f"{'problem' if report.problem_count == 1 else 'problems'} ({seconds:.1f} s)"
            )
        self.stdout.write(f"OK: the log passed its audit ({seconds:.1f} s)")
