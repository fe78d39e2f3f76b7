from django.urls import path

from federation.transparency import api

app_name = "transparency"

urlpatterns = [
    path("statistics/", api.StatisticsApi.as_view(), name="statistics"),
]
