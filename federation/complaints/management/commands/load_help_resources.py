from typing import Any

from django.core.management.base import BaseCommand

from accounts.audit import AuditContext
from federation.complaints.services import HELP_FILE, help_resources_load


class Command(BaseCommand):
    help = (
        "Create the countries and organisations of fixtures/victim_support.json that do not "
        "exist yet (the public help pages; staff edit them in admin)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", default=str(HELP_FILE))

    def handle(self, *args: Any, **options: Any) -> None:
        from pathlib import Path

        countries, resources = help_resources_load(
            path=Path(options["file"]), context=AuditContext.system()
        )
        self.stdout.write(f"Help pages: {countries} countries and {resources} organisations added")
