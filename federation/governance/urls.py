"""Portal routes. Every name here is listed in accounts.routes.NON_API_ROUTES with who
reaches it, and tests/governance/test_portal_access.py tries each with those who must not."""

from django.urls import path

from federation.governance import lawful_request_views, two_factor_views, views

app_name = "governance"

urlpatterns = [
    path("membership/", views.membership_page, name="membership"),
    path("portal/", views.home, name="home"),
    path("portal/signup/", views.signup, name="signup"),
    path("portal/signup/sent/", views.signup_sent, name="signup-sent"),
    path("portal/verify/<text:token>/", views.verify_email, name="verify"),
    path("portal/login/", views.PortalLoginView.as_view(), name="login"),
    path("portal/logout/", views.PortalLogoutView.as_view(), name="logout"),
    path("portal/two-factor/", two_factor_views.two_factor, name="two-factor"),
    path("portal/two-factor/setup/", two_factor_views.two_factor_setup, name="two-factor-setup"),
    path(
        "portal/two-factor/recovery-codes/",
        two_factor_views.recovery_codes_renew,
        name="recovery-codes",
    ),
    path(
        "portal/set-password/<uidb64>/<token>/",
        views.SetPasswordView.as_view(),
        name="set-password",
    ),
    path(
        "portal/set-password/done/", views.SetPasswordDoneView.as_view(), name="set-password-done"
    ),
    path("portal/application/", views.application_edit, name="application-edit"),
    path("portal/application/status/", views.application_status, name="application-status"),
    path("portal/mentoring/", views.mentoring, name="mentoring"),
    path("portal/mentoring/<slug:slug>/", views.mentee, name="mentee"),
    path("portal/organisations/<slug:slug>/", views.dashboard, name="dashboard"),
    path("portal/organisations/<slug:slug>/api-keys/", views.api_keys, name="api-keys"),
    path(
        "portal/organisations/<slug:slug>/api-keys/<text:prefix>/revoke/",
        views.api_key_revoke,
        name="api-key-revoke",
    ),
    path("portal/organisations/<slug:slug>/signing-keys/", views.signing_keys, name="signing-keys"),
    path(
        "portal/organisations/<slug:slug>/signing-keys/<text:key_id>/revoke/",
        views.signing_key_revoke,
        name="signing-key-revoke",
    ),
    path("portal/organisations/<slug:slug>/people/", views.people, name="people"),
    path("portal/organisations/<slug:slug>/disputes/", views.disputes, name="disputes"),
    path(
        "portal/organisations/<slug:slug>/lawful-requests/",
        lawful_request_views.lawful_requests,
        name="lawful-requests",
    ),
    path(
        "portal/organisations/<slug:slug>/lawful-requests/new/",
        lawful_request_views.lawful_request_file,
        name="lawful-request-file",
    ),
    path(
        "portal/organisations/<slug:slug>/lawful-requests/<uuid:request_id>/",
        lawful_request_views.lawful_request_detail,
        name="lawful-request",
    ),
    path(
        "portal/organisations/<slug:slug>/lawful-requests/<uuid:request_id>/acknowledge/",
        lawful_request_views.lawful_request_acknowledge,
        name="lawful-request-acknowledge",
    ),
    path(
        "portal/organisations/<slug:slug>/lawful-requests/<uuid:request_id>/answer/",
        lawful_request_views.lawful_request_answer,
        name="lawful-request-answer",
    ),
]
