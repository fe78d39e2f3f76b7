from typing import Any

from django.core.management.base import BaseCommand

from hashbank.matching.matcher import pdq_index_build


class Command(BaseCommand):
    help = "Build the PDQ index files from the database and make them current."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"PDQ index built: {pdq_index_build()}")
