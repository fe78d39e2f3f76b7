"""Emails: one message per person, only that person's address in its headers, written in
that person's language, every link starting with the hub's configured public address."""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import User
from federation.authorities.models import LawfulRequest
from federation.incidents.models import Incident
from federation.incidents.services import incident_declare
from tests.conftest import sign_in

HUB = "https://hub.example.org"
LINK = re.compile(r"\b\w+://\S+")


def _speaks_french(email: str) -> None:
    User.objects.filter(email=email).update(language="fr")


def _assert_private_messages(messages: list[mail.EmailMessage], expected: set[str]) -> None:
    """Each message goes to one person, names nobody else anywhere, and its links all start
    with the hub's public address."""
    assert sorted(m.to[0] for m in messages) == sorted(expected)
    for message in messages:
        assert len(message.to) == 1 and not message.cc and not message.bcc
        raw = message.message().as_string()
        for other in expected - {message.to[0]}:
            assert other not in raw, (message.to, other)
        links = LINK.findall(message.body)
        assert links, message.body
        assert all(link.startswith(HUB + "/") for link in links), links


def test_a_request_forwarded_to_several_platforms_is_one_message_per_person_in_their_language(
    cast, settings, django_capture_on_commit_callbacks
):
    settings.HUB_PUBLIC_URL = HUB + "/"
    _speaks_french("analyst@lakeside.example")
    response = (
        cast["ruritania-ctu/liaison"]
        .client()
        .post(
            "/api/v1/lawful-requests/",
            {
                "kind": "removal_order",
                "issuing_authority": "Ruritania Counter-Terrorism Unit",
                "officer": "Inspector R. Example",
                "legal_basis": "Regulation (EU) 2021/784, art. 3",
                "jurisdiction": "DE",
                "addressed_platforms": ["northwind", "lakeside"],
                "subject": {"urls": ["https://video.northwind.example/v/8d2f"]},
            },
            format="json",
        )
    )
    request = LawfulRequest.objects.get(public_id=response.json()["id"])
    staff = Client()
    sign_in(staff, User.objects.get(email="governance@consortium.example"))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(
            "/admin/authorities/lawfulrequest/",
            {"action": "validate_and_forward", "_selected_action": [request.pk]},
        )

    platforms = {
        "admin@northwind.example",
        "analyst@northwind.example",
        "admin@lakeside.example",
        "analyst@lakeside.example",
    }
    _assert_private_messages(mail.outbox, platforms)
    by_person = {m.to[0]: m for m in mail.outbox}
    french = by_person["analyst@lakeside.example"]
    assert "Injonction de retrait" in french.subject and "transmise" in french.subject
    assert "Demande légale" in french.body and "Échéance" in french.body
    english = by_person["admin@lakeside.example"]
    assert "Removal order" in english.subject and "forwarded" in english.subject
    # Each platform's people are sent to their own organisation's page of the request.
    assert f"{HUB}/portal/organisations/lakeside/lawful-requests/{request.public_id}/" in (
        french.body
    )
    assert "/portal/organisations/northwind/" in by_person["admin@northwind.example"].body


def test_an_incident_declaration_is_one_message_per_person_in_their_language(
    cast, settings, django_capture_on_commit_callbacks
):
    settings.HUB_PUBLIC_URL = HUB
    _speaks_french("liaison@ruritania.example")
    _speaks_french("admin@pebble.example")
    staff = User.objects.get(email="governance@consortium.example")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        incident_declare(
            incident=Incident(
                slug="harbour-attack",
                title="Harbour attack livestream",
                description='Attack "filmed" & streamed.',
                level=3,
                started_at=timezone.now() - dt.timedelta(hours=1),
            ),
            authorities=[cast["ruritania-ctu/liaison"].org],
            context=AuditContext(user=staff),
        )

    people = {
        "admin@northwind.example",
        "analyst@northwind.example",
        "admin@lakeside.example",
        "analyst@lakeside.example",
        "admin@pebble.example",
        "liaison@ruritania.example",
    }
    _assert_private_messages(mail.outbox, people)
    by_person = {m.to[0]: m for m in mail.outbox}
    liaison = by_person["liaison@ruritania.example"]
    assert liaison.subject == "[Hashfed] Incident harbour-attack déclaré"
    assert "Niveau 3 : protocole de crise" in liaison.body
    assert "Marquez vos soumissions" not in liaison.body  # authorities do not submit
    assert "Marquez vos soumissions avec l'incident « harbour-attack »" in (
        by_person["admin@pebble.example"].body
    )
    english = by_person["admin@northwind.example"]
    assert english.subject == "[Hashfed] Incident harbour-attack declared"
    assert 'Attack "filmed" & streamed.' in english.body  # plain text, not HTML-escaped
    assert f"{HUB}/api/v1/incidents/?slug=harbour-attack" in english.body


def test_signing_in_to_the_portal_remembers_the_language_emails_are_written_in(cast, settings):
    # The cast's passwords are stored with the fast hasher the fixture loads them with.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client = Client()
    client.cookies["django_language"] = "fr"
    response = client.post(
        "/portal/login/",
        {"username": "liaison@ruritania.example", "password": "hashfed-demo"},
        REMOTE_ADDR="203.0.113.7",
    )
    assert response.status_code == 302, response.content
    assert User.objects.get(email="liaison@ruritania.example").language == "fr"


def test_no_code_sends_email_but_through_the_one_function_for_one_person():
    root = Path(__file__).resolve().parents[2]
    senders = {"send_mail", "send_mass_mail", "mail_admins", "mail_managers", "EmailMessage"}
    senders |= {"EmailMultiAlternatives", "get_connection"}
    offenders = []
    for path in root.glob("**/*.py"):
        relative = path.relative_to(root)
        if relative.parts[0] in {".venv", "tests"} or relative == Path("accounts/mail.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "django.core.mail"
            ):
                offenders += [f"{relative}: {a.name}" for a in node.names if a.name in senders]
            elif isinstance(node, ast.Import) and any(
                a.name.startswith("django.core.mail") for a in node.names
            ):
                offenders.append(f"{relative}: import django.core.mail")
    assert offenders == []


def test_a_decision_reaches_each_admin_alone_in_plain_text_with_the_hub_address(
    cast, settings, django_capture_on_commit_callbacks
):
    from accounts.services import membership_add
    from federation.governance.services import organisation_suspend

    settings.HUB_PUBLIC_URL = HUB
    northwind = cast["northwind/admin"].org
    second = User.objects.create_user("nina@northwind.example", language="fr")
    membership_add(user=second, organisation=northwind, role="admin", context=AuditContext.system())
    staff = User.objects.get(email="governance@consortium.example")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        organisation_suspend(
            organisation=northwind,
            reason='Unanswered reports & "repeated" misuse.',
            context=AuditContext(user=staff),
        )

    admins = {"admin@northwind.example", "nina@northwind.example"}
    _assert_private_messages(mail.outbox, admins)
    for message in mail.outbox:
        assert 'Unanswered reports & "repeated" misuse.' in message.body  # not HTML-escaped
    french = next(m for m in mail.outbox if m.to == ["nina@northwind.example"])
    assert "Motifs" in french.body
