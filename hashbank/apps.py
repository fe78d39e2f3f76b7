from django.apps import AppConfig


class HashbankConfig(AppConfig):
    name = "hashbank"
    verbose_name = "Hash bank"

    def ready(self) -> None:
        from accounts.services import signing_key_compromise_handler_register
        from hashbank.services.compromise import compromised_key_handler

        # A key revoked as compromised withdraws what it signed, in the same transaction.
        signing_key_compromise_handler_register(compromised_key_handler)
