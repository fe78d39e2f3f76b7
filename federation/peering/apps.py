from django.apps import AppConfig


class PeeringConfig(AppConfig):
    name = "federation.peering"
    label = "peering"
    verbose_name = "Peer hubs"

    def ready(self) -> None:
        # Envelopes received from peer hubs are served with the hub's own (hashbank.api).
        from federation.peering.services import received_envelope_found
        from hashbank.selectors import received_envelope_finder_register

        received_envelope_finder_register(received_envelope_found)
