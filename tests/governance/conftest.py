"""Governance fixtures on top of the fixed cast: the published criteria, applicants at each
stage of the application, and the consortium staff who decide."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from accounts.audit import AuditContext
from accounts.models import User
from federation.governance import services
from federation.governance.models import MembershipApplication
from tests.conftest import sign_in

COMPLETE_FACTS = {
    "organisation_name": "Tiny Pics",
    "website": "https://tinypics.example",
    "country": "FR",
    "description": "A small image board.",
    "size": "tiny",
    "requested_tier": "associate",
    "contact_name": "Tia Tiny",
    "contact_email": "tia@tinypics.example",
}
COMPLETE_EVIDENCE = {
    "tos-prohibits-tvec": {"url": "https://tinypics.example/rules"},
    "acts-on-reports-and-appeals": {"text": "Two moderators; appeals go to the other one."},
    "trust-and-safety-contact": {"text": "Tia Tiny, founder, tia@tinypics.example"},
    "shares-and-gives-feedback": {"answer": True, "text": "Yes, we will."},
}


@pytest.fixture
def criteria(db) -> int:
    return services.criteria_load(context=AuditContext.system())


@pytest.fixture
def staff(cast) -> User:
    return User.objects.get(email="governance@consortium.example")


@pytest.fixture
def staff_context(staff) -> AuditContext:
    return AuditContext(user=staff)


@pytest.fixture
def make_applicant(db) -> Callable[..., User]:
    def make(email: str = "tia@tinypics.example") -> User:
        return User.objects.create_user(email, "a long passphrase 42", full_name="Tia Tiny")

    return make


@pytest.fixture
def submitted_application(criteria, make_applicant) -> MembershipApplication:
    applicant = make_applicant()
    context = AuditContext(user=applicant)
    application = services.application_start(applicant=applicant, language="fr", context=context)
    services.application_save(
        application=application,
        facts=COMPLETE_FACTS,
        evidence=COMPLETE_EVIDENCE,
        language="fr",
        context=context,
    )
    return services.application_submit(application=application, context=context)


def signed_in(user: User) -> Client:
    return sign_in(Client(), user)
