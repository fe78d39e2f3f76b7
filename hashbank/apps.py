from django.apps import AppConfig


class HashbankConfig(AppConfig):
    name = "hashbank"
    verbose_name = "Hash bank"

    def ready(self) -> None:
        from accounts.services import signing_key_compromise_handler_register
        from core.health import register_degrading_check
        from hashbank.services.compromise import compromised_key_handler
        from hashbank.services.inclusion import inclusion_promise_check

        # Approved submissions whose entry no checkpoint covered within the receipts' delay.
        register_degrading_check("inclusion_promise", inclusion_promise_check)

        # A key revoked as compromised withdraws what it signed, in the same transaction.
        signing_key_compromise_handler_register(compromised_key_handler)
