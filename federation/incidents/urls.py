from django.urls import path

from federation.incidents import api

app_name = "incidents"

urlpatterns = [
    path("incidents/", api.IncidentListApi.as_view(), name="incident-list"),
    path("webhooks/", api.WebhookEndpointListCreateApi.as_view(), name="webhook-list"),
    path(
        "webhooks/<uuid:endpoint_id>/",
        api.WebhookEndpointDetailApi.as_view(),
        name="webhook-detail",
    ),
    path(
        "webhooks/<uuid:endpoint_id>/deliveries/",
        api.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
]
