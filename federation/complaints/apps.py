from django.apps import AppConfig


class ComplaintsConfig(AppConfig):
    name = "federation.complaints"
    label = "complaints"
    verbose_name = "Help and complaints from the public"
