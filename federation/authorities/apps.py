from django.apps import AppConfig


class AuthoritiesConfig(AppConfig):
    name = "federation.authorities"
    label = "authorities"
    verbose_name = "Lawful requests"

    def ready(self) -> None:
        from federation.authorities import holds

        holds.connect_deletion_guard()
