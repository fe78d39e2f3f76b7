from typing import Any

from django.core.management.base import BaseCommand

from accounts.audit import AuditContext
from federation.governance.services import CRITERIA_FILE, criteria_load


class Command(BaseCommand):
    help = "Load the membership criteria from fixtures/membership_criteria.json (by key)."

    def add_arguments(self, parser):
        parser.add_argument("--file", default=str(CRITERIA_FILE))

    def handle(self, *args: Any, **options: Any) -> None:
        from pathlib import Path

        version = criteria_load(path=Path(options["file"]), context=AuditContext.system())
        self.stdout.write(f"Membership criteria version {version} loaded")
