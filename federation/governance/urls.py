"""Portal routes. Every name here is listed in NON_API_ROUTES below with who reaches it,
and tests/governance/test_portal_access.py tries each with those who must not."""

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

# Who reaches each route (core.routes).
NON_API_ROUTES: dict[str, str] = {
    "membership": "public: membership criteria and tiers",
    "signup": "public: portal sign-up",
    "signup-sent": "public",
    "verify": "public, with a signed email-verification token",
    "login": "public",
    "logout": "signed-in people",
    "two-factor": "signed-in people: their own second factor, after the password",
    "two-factor-setup": "signed-in people: enrol their own second factor (once they have one, "
    "only with it verified)",
    "recovery-codes": "signed-in people with their second factor verified: replace their own "
    "recovery codes",
    "set-password": "public, with a one-time set-password token",
    "set-password-done": "public",
    "home": "signed-in people",
    "application-edit": "signed-in people: their own application only",
    "application-status": "signed-in people: their own application only",
    "mentoring": "signed-in people: the organisations they mentor only",
    "mentee": "mentors of that organisation only (staff mentor or its mentor organisation's "
    "admins); 404 otherwise",
    "dashboard": "people of that organisation only; 404 otherwise",
    "api-keys": "people of that active organisation with accounts.apikey.list (issuing: "
    "accounts.apikey.issue)",
    "api-key-revoke": "people of that active organisation with accounts.apikey.revoke",
    "signing-keys": "people of that active organisation with accounts.signingkey.list "
    "(registering: accounts.signingkey.register)",
    "signing-key-revoke": "people of that active organisation with accounts.signingkey.revoke",
    "people": "people of that active organisation with accounts.membership.list",
    "disputes": "people of that active organisation with hashbank.dispute.list: the disputes it "
    "is a party to",
    "lawful-requests": "people of that active organisation with authorities.request.list: the "
    "requests it filed, or forwarded to it (reads logged)",
    "lawful-request-file": "people of that active organisation with authorities.request.file "
    "(authority liaisons)",
    "lawful-request": "people of that active organisation with authorities.request.list; 404 for "
    "a request it neither filed nor was forwarded",
    "lawful-request-acknowledge": "people of that active organisation with "
    "authorities.request.answer; 404 for a request not forwarded to it",
    "lawful-request-answer": "people of that active organisation with authorities.request.answer; "
    "404 for a request not forwarded to it",
}
