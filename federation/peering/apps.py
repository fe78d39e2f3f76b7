from django.apps import AppConfig


class PeeringConfig(AppConfig):
    name = "federation.peering"
    label = "peering"
    verbose_name = "Peer hubs"
