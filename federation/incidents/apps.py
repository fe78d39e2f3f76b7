from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "federation.incidents"
    label = "incidents"
    verbose_name = "Crisis incidents and webhooks"

    def ready(self) -> None:
        # The hash bank accepts an incident tag only for an incident declared here; it
        # learns how to ask when this app loads, so it never imports from federation.
        from federation.incidents.selectors import incident_state
        from hashbank.services.submissions.envelopes import incident_state_resolver_register

        incident_state_resolver_register(incident_state)
