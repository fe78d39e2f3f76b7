"""The public transparency pages (no login), mounted at /transparency/."""

from django.urls import path

from federation.transparency import views

app_name = "transparency_public"

urlpatterns = [
    path("", views.report_list, name="report-list"),
    path("<uuid:public_id>/", views.report_detail, name="report-detail"),
    path("<uuid:public_id>.json", views.report_json, name="report-json"),
    path("<uuid:public_id>.csv", views.report_csv, name="report-csv"),
]
