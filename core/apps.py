from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.urls import register_converter

        from core import checks  # noqa: F401  (registers the system checks)
        from core.url_converters import DatabaseIdConverter, PlainTextConverter, TilePathConverter

        # Registered before any URL module is imported, so every app can use them.
        register_converter(DatabaseIdConverter, "id")
        register_converter(PlainTextConverter, "text")
        register_converter(TilePathConverter, "tilepath")
