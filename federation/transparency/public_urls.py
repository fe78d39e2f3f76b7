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

# Who reaches each route (core.routes).
NON_API_ROUTES: dict[str, str] = {
    "report-list": "public: published transparency reports",
    "report-detail": "public: one published report, charts drawn server-side",
    "report-json": "public: a published report as JSON",
    "report-csv": "public: a published report as CSV",
}
