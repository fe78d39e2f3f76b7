from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from accounts.demo import demo_second_factors, load_demo_cast
from hashbank.demo import demo_shared_list_load, demo_signals_load
from hashbank.services.transparency import checkpoints_issue


class Command(BaseCommand):
    help = (
        "Load the demo cast (invented organisations, people and API keys), the taxonomy, "
        "banks and synthetic demo hashes, and print the accounts."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        accounts = load_demo_cast()
        # The portal's application form needs the published membership criteria.
        call_command("load_membership_criteria", stdout=self.stdout)
        # The public help pages, by country.
        call_command("load_help_resources", stdout=self.stdout)
        demo_shared_list_load()
        signals = demo_signals_load()
        # Sign each bank's checkpoint now, as the beat does every few seconds in production:
        # `./dev serve` runs no beat, and the receipts' inclusion promise would otherwise be
        # reported broken (/healthz "degraded") until a member first asks.
        checkpoints_issue()
        self.stdout.write(f"Demo accounts (password for all: {accounts[0].password})")
        self.stdout.write(f"{'organisation':<16} {'kind':<11} {'role':<19} {'email':<32} API key")
        for a in accounts:
            self.stdout.write(
                f"{a.organisation:<16} {a.kind:<11} {a.role:<19} {a.email:<32} {a.api_key}"
            )
        if signals:
            self.stdout.write(f"{signals} signed demo submissions of synthetic hashes loaded")
        self.stdout.write("Admin: http://127.0.0.1:8000/admin/ (governance@consortium.example)")
        self.stdout.write("Staff sign in with a second factor after the password: the key for an")
        self.stdout.write("authenticator app, or one of the one-time recovery codes")
        for factor in demo_second_factors():
            if factor.email == "governance@consortium.example":
                self.stdout.write(f"  authenticator key: {factor.totp_key}")
                self.stdout.write(f"  recovery codes: {' '.join(factor.recovery_codes)}")
        self.stdout.write("API docs: http://127.0.0.1:8000/api/v1/docs/")
