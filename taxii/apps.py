from django.apps import AppConfig


class TaxiiConfig(AppConfig):
    name = "taxii"
    verbose_name = "TAXII 2.1 feed"

    def ready(self) -> None:
        from taxii import checks  # noqa: F401  (registers the system check)
