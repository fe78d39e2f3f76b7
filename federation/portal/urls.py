"""Portal routes. Every name here is listed in accounts.routes.NON_API_ROUTES with who
reaches it, and tests/portal/test_access.py tries each with those who must not."""

from django.urls import path

from federation.portal.views import (
    application,
    lawful_requests,
    member,
    mentoring,
    public,
    two_factor,
)

app_name = "portal"

urlpatterns = [
    path("membership/", public.membership_page, name="membership"),
    path("portal/", public.home, name="home"),
    path("portal/signup/", public.signup, name="signup"),
    path("portal/signup/sent/", public.signup_sent, name="signup-sent"),
    path("portal/verify/<text:token>/", public.verify_email, name="verify"),
    path("portal/login/", public.PortalLoginView.as_view(), name="login"),
    path("portal/logout/", public.PortalLogoutView.as_view(), name="logout"),
    path("portal/two-factor/", two_factor.two_factor, name="two-factor"),
    path("portal/two-factor/setup/", two_factor.two_factor_setup, name="two-factor-setup"),
    path(
        "portal/two-factor/recovery-codes/",
        two_factor.recovery_codes_renew,
        name="recovery-codes",
    ),
    path(
        "portal/set-password/<uidb64>/<token>/",
        public.SetPasswordView.as_view(),
        name="set-password",
    ),
    path(
        "portal/set-password/done/", public.SetPasswordDoneView.as_view(), name="set-password-done"
    ),
    path("portal/application/", application.application_edit, name="application-edit"),
    path("portal/application/status/", application.application_status, name="application-status"),
    path("portal/mentoring/", mentoring.mentoring, name="mentoring"),
    path("portal/mentoring/<slug:slug>/", mentoring.mentee, name="mentee"),
    path("portal/organisations/<slug:slug>/", member.dashboard, name="dashboard"),
    path("portal/organisations/<slug:slug>/api-keys/", member.api_keys, name="api-keys"),
    path(
        "portal/organisations/<slug:slug>/api-keys/<text:prefix>/revoke/",
        member.api_key_revoke,
        name="api-key-revoke",
    ),
    path(
        "portal/organisations/<slug:slug>/signing-keys/", member.signing_keys, name="signing-keys"
    ),
    path(
        "portal/organisations/<slug:slug>/signing-keys/<text:key_id>/revoke/",
        member.signing_key_revoke,
        name="signing-key-revoke",
    ),
    path("portal/organisations/<slug:slug>/people/", member.people, name="people"),
    path("portal/organisations/<slug:slug>/disputes/", member.disputes, name="disputes"),
    path(
        "portal/organisations/<slug:slug>/lawful-requests/",
        lawful_requests.lawful_requests,
        name="lawful-requests",
    ),
    path(
        "portal/organisations/<slug:slug>/lawful-requests/new/",
        lawful_requests.lawful_request_file,
        name="lawful-request-file",
    ),
    path(
        "portal/organisations/<slug:slug>/lawful-requests/<uuid:request_id>/",
        lawful_requests.lawful_request_detail,
        name="lawful-request",
    ),
    path(
        "portal/organisations/<slug:slug>/lawful-requests/<uuid:request_id>/acknowledge/",
        lawful_requests.lawful_request_acknowledge,
        name="lawful-request-acknowledge",
    ),
    path(
        "portal/organisations/<slug:slug>/lawful-requests/<uuid:request_id>/answer/",
        lawful_requests.lawful_request_answer,
        name="lawful-request-answer",
    ),
]
