from django.apps import AppConfig


class TransparencyConfig(AppConfig):
    name = "federation.transparency"
    label = "transparency"
    verbose_name = "Transparency reports"
