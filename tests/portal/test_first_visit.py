"""A first visit: the portal's entry explains membership, sign-up asks for the password
twice, a person who has not confirmed their email is told so, a submitted application is
confirmed, and an application waiting for information says so."""

from __future__ import annotations

from django.test import Client
from django.utils.html import escape

from accounts.audit import AuditContext
from accounts.models import User
from federation.governance import selectors, services
from federation.governance.models import ApplicationState
from tests.governance.conftest import COMPLETE_EVIDENCE, COMPLETE_FACTS, signed_in


def test_a_visitor_to_the_portal_reads_what_membership_is_and_may_sign_up_or_in(criteria):
    response = Client().get("/portal/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'href="/portal/signup/"' in body and 'href="/portal/login/"' in body
    assert "Who can join" in body and "What members commit to" in body
    for criterion in selectors.criteria_current():
        assert escape(criterion.title) in body
    french = Client(headers={"accept-language": "fr"}).get("/portal/").content.decode()
    assert "Qui peut adhérer" in french


def test_a_signed_in_person_still_goes_on_to_their_application(make_applicant, criteria):
    response = signed_in(make_applicant()).get("/portal/")
    assert response.status_code == 302 and response["Location"] == "/portal/application/"


def _signed_up(email: str = "tia@tinypics.example") -> User:
    return services.applicant_signup(
        email=email,
        password="a long passphrase 42",
        full_name="Tia",
        language="en",
        context=AuditContext.system(),
    )


def test_signing_in_before_confirming_says_so_and_offers_the_link_again(
    criteria, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _signed_up()
    mailoutbox.clear()
    client = Client()
    response = client.post(
        "/portal/login/", {"username": "tia@tinypics.example", "password": "a long passphrase 42"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "not confirmed yet" in body
    assert 'action="/portal/verify/resend/"' in body
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/portal/verify/resend/", {"email": "tia@tinypics.example"})
    assert response.status_code == 302 and response["Location"] == "/portal/signup/sent/"
    [mail] = mailoutbox
    assert mail.to == ["tia@tinypics.example"] and "/portal/verify/" in mail.body


def test_a_wrong_password_tells_nothing_about_the_account(criteria, mailoutbox):
    _signed_up()
    body = (
        Client()
        .post("/portal/login/", {"username": "tia@tinypics.example", "password": "a guess"})
        .content.decode()
    )
    assert "not confirmed" not in body and "/portal/verify/resend/" not in body


def test_the_link_is_sent_again_only_to_an_unconfirmed_account(
    cast, mailoutbox, django_capture_on_commit_callbacks
):
    client = Client()
    for email in ("nobody@nowhere.example", "admin@northwind.example"):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/portal/verify/resend/", {"email": email})
        # The same answer whatever the address: it tells nobody who has an account.
        assert response.status_code == 302 and response["Location"] == "/portal/signup/sent/"
    assert mailoutbox == []
    assert client.get("/portal/verify/resend/").status_code == 405


def _complete_draft(applicant: User):
    context = AuditContext(user=applicant)
    application = services.application_start(applicant=applicant, language="en", context=context)
    services.application_save(
        application=application,
        facts=COMPLETE_FACTS,
        evidence=COMPLETE_EVIDENCE,
        language="en",
        context=context,
    )
    return application


def _form_data(client: Client) -> dict[str, str]:
    form = client.get("/portal/application/").context["form"]
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value not in (None, ""):
            data[name] = "yes" if value is True else "no" if value is False else str(value)
    return data


def test_submitting_confirms_on_a_page_and_by_email(
    criteria, make_applicant, mailoutbox, django_capture_on_commit_callbacks
):
    applicant = make_applicant()
    _complete_draft(applicant)
    client = signed_in(applicant)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/portal/application/", {**_form_data(client), "submit": "1"})
    assert response.status_code == 302
    assert response["Location"] == "/portal/application/submitted/"
    page = client.get("/portal/application/submitted/").content.decode()
    assert "Tiny Pics" in page and "What happens next" in page
    [confirmation] = [m for m in mailoutbox if m.to == ["tia@tinypics.example"]]
    assert "Tiny Pics" in confirmation.subject
    assert "http://" in confirmation.body and "/portal/application/status/" in confirmation.body


def test_the_confirmation_page_waits_for_a_submission(criteria, make_applicant):
    applicant = make_applicant()
    _complete_draft(applicant)
    response = signed_in(applicant).get("/portal/application/submitted/")
    assert response.status_code == 302 and response["Location"] == "/portal/application/"


def test_an_application_waiting_for_information_says_so_with_the_question(
    submitted_application, staff_context
):
    services.application_request_information(
        application=submitted_application,
        message="How fast do you act on reports?",
        context=staff_context,
    )
    client = signed_in(submitted_application.applicant)
    body = client.get("/portal/application/").content.decode()
    assert "Information requested" in body and "How fast do you act on reports?" in body
    assert "Save draft" not in body and "Submit application" not in body
    response = client.post("/portal/application/", {**_form_data(client), "save": "1"}, follow=True)
    saved = response.content.decode()
    assert "Information requested" in saved and "Draft saved" not in saved
    submitted_application.refresh_from_db()
    assert submitted_application.state == ApplicationState.NEEDS_INFORMATION
    french = signed_in(submitted_application.applicant)
    french.cookies["django_language"] = "fr"
    assert "Informations demandées" in french.get("/portal/application/").content.decode()


def test_past_a_lockout_the_right_password_gets_no_hint_either(criteria, settings):
    settings.AXES_FAILURE_LIMIT = 3
    _signed_up()
    client = Client()
    for _ in range(3):
        client.post("/portal/login/", {"username": "tia@tinypics.example", "password": "guess"})
    body = client.post(
        "/portal/login/", {"username": "tia@tinypics.example", "password": "a long passphrase 42"}
    ).content.decode()
    assert "not confirmed" not in body and "/portal/verify/resend/" not in body


def test_an_expired_confirmation_link_offers_a_new_one(criteria, settings):
    from federation.governance.services import verification_token

    user = _signed_up()
    settings.GOVERNANCE_VERIFY_MAX_AGE = -1
    response = Client().get(f"/portal/verify/{verification_token(user)}/")
    assert response.status_code == 400
    assert 'action="/portal/verify/resend/"' in response.content.decode()
