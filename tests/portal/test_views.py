"""The portal's pages with Django's test client: sign-up and verification, the application form
(nothing typed is lost), the status page, the member pages, and what a rejected or a
suspended organisation sees and can no longer do."""

from __future__ import annotations

import re

from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Organisation, User
from federation.governance import services
from federation.governance.models import MembershipApplication
from tests.governance.conftest import signed_in


def test_the_membership_page_lists_the_criteria_in_french(criteria):
    response = Client().get("/membership/", HTTP_ACCEPT_LANGUAGE="fr")
    body = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="fr">' in body
    assert "Capacité à traiter les signalements et les recours des utilisateurs" in body


def test_sign_up_sends_a_verification_link_that_activates_the_account(
    criteria, mailoutbox, django_capture_on_commit_callbacks
):
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/portal/signup/",
            {
                "full_name": "Tia",
                "email": "Tia@TinyPics.example",
                "password": "a long passphrase 42",
                "password_again": "a long passphrase 42",
            },
        )
    assert response.status_code == 302
    user = User.objects.get(email="tia@tinypics.example")
    assert not user.is_active
    link = re.search(r"http://\S+(/portal/verify/\S+/)", mailoutbox[0].body).group(1)
    assert client.get(link.replace("/verify/", "/verify/x")).status_code == 400
    response = client.get(link, follow=True)
    assert response.redirect_chain[-1][0] == "/portal/application/"
    user.refresh_from_db()
    assert user.is_active


def test_sign_up_keeps_what_was_typed_when_the_password_is_weak(criteria):
    response = Client().post(
        "/portal/signup/",
        {
            "full_name": "Tia Example",
            "email": "tia@tinypics.example",
            "password": "123",
            "password_again": "123",
        },
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'value="tia@tinypics.example"' in body
    assert 'value="Tia Example"' in body
    # Passwords are never written back into the page.
    assert 'value="123"' not in body
    assert not User.objects.filter(email="tia@tinypics.example").exists()


def test_sign_up_asks_for_the_password_twice(criteria):
    response = Client().post(
        "/portal/signup/",
        {
            "full_name": "Tia Example",
            "email": "tia@tinypics.example",
            "password": "a long passphrase 42",
            "password_again": "a long passphrase 24",
        },
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "The two passwords differ." in body
    assert 'value="tia@tinypics.example"' in body and 'value="Tia Example"' in body
    assert 'name="password_again"' in body
    assert not User.objects.filter(email="tia@tinypics.example").exists()


def test_an_invalid_field_loses_nothing_and_saves_nothing(criteria, make_applicant):
    client = signed_in(make_applicant())
    response = client.post(
        "/portal/application/",
        {
            "organisation_name": "Tiny Pics",
            "website": "not a url at all",
            "requested_tier": "associate",
            "ev_acts-on-reports-and-appeals_text": "Two moderators.",
        },
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert "Tiny Pics" in body and "Two moderators." in body
    assert 'aria-invalid="true"' in body or "errorlist" in body
    assert MembershipApplication.objects.get().organisation_name == ""


def test_submitting_an_incomplete_application_keeps_the_draft(criteria, make_applicant):
    client = signed_in(make_applicant())
    response = client.post(
        "/portal/application/",
        {"organisation_name": "Tiny Pics", "requested_tier": "associate", "submit": "1"},
    )
    assert response.status_code == 400
    assert "Required to submit" in response.content.decode()
    application = MembershipApplication.objects.get()
    assert application.state == "draft" and application.organisation_name == "Tiny Pics"
    status = client.get("/portal/application/status/").content.decode()
    assert "Still missing" in status and "The platform&#x27;s website" in status


def test_the_applicant_answers_a_request_for_information(submitted_application, staff_context):
    services.application_request_information(
        application=submitted_application, message="Who reviews appeals?", context=staff_context
    )
    client = signed_in(submitted_application.applicant)
    page = client.get("/portal/application/status/").content.decode()
    assert "Who reviews appeals?" in page
    assert client.post("/portal/application/status/", {"body": ""}).status_code == 400
    response = client.post("/portal/application/status/", {"body": "Tom does."})
    assert response.status_code == 302
    submitted_application.refresh_from_db()
    assert submitted_application.state == "submitted"


def test_a_rejected_applicant_sees_why_and_cannot_use_the_api(submitted_application, staff_context):
    services.application_reject(
        application=submitted_application,
        reasons="No way for users to appeal a removal yet.",
        context=staff_context,
    )
    client = signed_in(submitted_application.applicant)
    page = client.get("/portal/application/status/").content.decode()
    assert "Your application was not approved" in page
    assert "No way for users to appeal a removal yet." in page
    # No organisation, no key, no session access to the API.
    assert not Organisation.objects.filter(name="Tiny Pics").exists()
    api = APIClient()
    api.force_login(submitted_application.applicant)
    response = api.get("/api/v1/banks/")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "no_membership"


def test_a_suspended_member_sees_why_how_to_appeal_and_cannot_use_the_api(cast, staff_context):
    pebble = Organisation.objects.get(slug="pebble")
    services.organisation_suspend(
        organisation=pebble, reason="Shared hashes outside the consortium.", context=staff_context
    )
    admin = cast["pebble/admin"]
    client = signed_in(admin.user)
    response = client.get("/portal/organisations/pebble/")
    page = response.content.decode()
    assert response.status_code == 403
    assert "Your organisation is suspended" in page
    assert "Shared hashes outside the consortium." in page
    assert "How to appeal" in page
    assert client.get("/portal/organisations/pebble/api-keys/").status_code == 403
    refused = admin.client().post(
        "/api/v1/lookup/", {"queries": [{"signal_type": "md5", "value": "0" * 32}]}, format="json"
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "organisation_inactive"


def test_the_member_issues_a_key_shown_once_and_revokes_it(cast):
    client = signed_in(cast["pebble/admin"].user)
    response = client.post(
        "/portal/organisations/pebble/api-keys/",
        {"name": "matcher", "role": "viewer", "scope": "read"},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = re.search(r"hf_[a-z0-9]+_[\w-]+", response.content.decode()).group(0)
    prefix = secret.split("_")[1]
    again = client.get("/portal/organisations/pebble/api-keys/").content.decode()
    assert secret not in again and prefix in again
    assert client.post(f"/portal/organisations/pebble/api-keys/{prefix}/revoke/").status_code == 302
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/me/").json()["error"]["code"] == "api_key_revoked"


def test_a_viewer_sees_signing_keys_but_cannot_register_one(cast):
    client = signed_in(cast["northwind/viewer"].user)
    assert client.get("/portal/organisations/northwind/signing-keys/").status_code == 200
    assert (
        client.post(
            "/portal/organisations/northwind/signing-keys/", {"public_key": "x"}
        ).status_code
        == 403
    )
    assert client.get("/portal/organisations/northwind/api-keys/").status_code == 403


def test_a_bad_public_key_is_explained_and_kept(cast):
    client = signed_in(cast["northwind/admin"].user)
    response = client.post(
        "/portal/organisations/northwind/signing-keys/", {"public_key": "not-a-key"}
    )
    assert response.status_code == 400
    assert "not-a-key" in response.content.decode()


def test_a_mentor_sees_the_mentee_progress(cast, staff_context):
    pebble = Organisation.objects.get(slug="pebble")
    services.mentor_assign(
        organisation=pebble,
        mentor_organisation=Organisation.objects.get(slug="lakeside"),
        context=staff_context,
    )
    client = signed_in(cast["lakeside/admin"].user)
    assert "Pebble Forum" in client.get("/portal/mentoring/").content.decode()
    page = client.get("/portal/mentoring/pebble/").content.decode()
    assert "First steps" in page


def test_a_member_admin_sees_the_people_of_their_organisation(cast):
    from django.test import Client

    client = Client()
    client.force_login(cast["northwind/admin"].user)
    response = client.get("/portal/organisations/northwind/people/")
    assert response.status_code == 200
    assert b"analyst@northwind.example" in response.content
    assert client.get("/portal/organisations/lakeside/people/").status_code == 404
