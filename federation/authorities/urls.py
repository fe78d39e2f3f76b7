from django.urls import path

from federation.authorities import api

app_name = "authorities"

urlpatterns = [
    path("lawful-requests/", api.LawfulRequestListCreateApi.as_view(), name="request-list"),
    path(
        "lawful-requests/<uuid:request_id>/",
        api.LawfulRequestDetailApi.as_view(),
        name="request-detail",
    ),
    path(
        "lawful-requests/<uuid:request_id>/acknowledge/",
        api.LawfulRequestAcknowledgeApi.as_view(),
        name="request-acknowledge",
    ),
    path(
        "lawful-requests/<uuid:request_id>/answer/",
        api.LawfulRequestAnswerApi.as_view(),
        name="request-answer",
    ),
]
