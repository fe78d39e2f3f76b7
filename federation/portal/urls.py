"""Portal routes. Every name here is listed in NON_API_ROUTES below with who reaches it,
and tests/portal/test_access.py tries each with those who must not."""

from django.urls import path

from federation.portal.views import (
    application,
    help,
    lawful_requests,
    member,
    mentoring,
    public,
    two_factor,
)

app_name = "portal"

# Who reaches each route (core.routes).
NON_API_ROUTES: dict[str, str] = {
    "site-home": "public: the home page (what the consortium does, labels, reports, contact)",
    "membership": "public: membership criteria and tiers",
    "help": "public: help for people affected by terrorist content, child sexual abuse imagery "
    "or targeted hate, by country",
    "help-country": "public: the help available in one country",
    "complaint": "public: a complaint about content wrongly matched or removed (no account; "
    "rate-limited per address)",
    "complaint-sent": "public: the complaint's confirmation, with its reference",
    "signup": "public: portal sign-up",
    "signup-sent": "public",
    "verify": "public, with a signed email-verification token",
    "verify-resend": "public: sends the confirmation link again to an unconfirmed account "
    "(answers the same for any address)",
    "invitation-accept": "public, with a signed, expiring, single-use invitation token",
    "login": "public",
    "logout": "signed-in people",
    "two-factor": "signed-in people: their own second factor, after the password",
    "two-factor-setup": "signed-in people: enrol their own second factor (once they have one, "
    "only with it verified)",
    "recovery-codes": "signed-in people with their second factor verified: replace their own "
    "recovery codes",
    "set-password": "public, with a one-time set-password token",
    "set-password-done": "public",
    "home": "public: what membership is, with sign-up and sign-in; signed-in people go on "
    "to their organisation or application",
    "application-edit": "signed-in people: their own application only",
    "application-status": "signed-in people: their own application only",
    "application-submitted": "signed-in people: the confirmation of their own submitted "
    "application",
    "mentoring": "signed-in people: the organisations they mentor only",
    "mentee": "mentors of that organisation only (staff mentor or its mentor organisation's "
    "admins), who also move its target dates; 404 otherwise",
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


urlpatterns = [
    path("", public.site_home, name="site-home"),
    path("membership/", public.membership_page, name="membership"),
    path("help/", help.help_index, name="help"),
    path("help/complaint/", help.complaint, name="complaint"),
    path("help/complaint/sent/", help.complaint_sent, name="complaint-sent"),
    path("help/<slug:country>/", help.help_country, name="help-country"),
    path("portal/", public.home, name="home"),
    path("portal/signup/", public.signup, name="signup"),
    path("portal/signup/sent/", public.signup_sent, name="signup-sent"),
    path("portal/verify/resend/", public.verify_resend, name="verify-resend"),
    path("portal/verify/<text:token>/", public.verify_email, name="verify"),
    path("portal/invitation/<text:token>/", public.invitation_accept, name="invitation-accept"),
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
    path(
        "portal/application/submitted/",
        application.application_submitted,
        name="application-submitted",
    ),
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
