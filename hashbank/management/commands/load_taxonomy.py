from typing import Any

from django.core.management.base import BaseCommand

from accounts.audit import AuditContext
from hashbank.taxonomy import banks_load, taxonomy_load


class Command(BaseCommand):
    help = "Load fixtures/taxonomy.json (labels) and create the banks of fixtures/banks.json."

    def handle(self, *args: Any, **options: Any) -> None:
        loaded, retired = taxonomy_load(context=AuditContext.system())
        banks = banks_load(context=AuditContext.system())
        self.stdout.write(
            f"{loaded} labels loaded, {retired} retired; banks: {', '.join(b.name for b in banks)}"
        )
