from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Identity and access"

    def ready(self) -> None:
        from django.urls import register_converter

        from accounts import checks  # noqa: F401  (registers the system checks)
        from accounts.url_converters import DatabaseIdConverter, PlainTextConverter

        # Registered before any URL module is imported, so every app can use them.
        register_converter(DatabaseIdConverter, "id")
        register_converter(PlainTextConverter, "text")
