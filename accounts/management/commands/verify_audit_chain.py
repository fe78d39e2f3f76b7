from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.audit import audit_chain_verify


class Command(BaseCommand):
    help = "Recompute the audit trail's hash chain; exit non-zero if any entry was tampered with."

    def handle(self, *args: Any, **options: Any) -> None:
        checked, problems = audit_chain_verify()
        for problem in problems:
            self.stderr.write(f"audit event #{problem.sequence}: {problem.problem}")
        if problems:
            raise CommandError(
                f"audit chain broken: {len(problems)} problem(s) in {checked} events"
            )
        self.stdout.write(f"audit chain intact: {checked} events")
