"""Every portal page, tried by each person who must not reach it: anonymous visitors,
other applicants, people of other organisations, people who mentor someone else, and
anyone outside consortium staff in governance admin."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.audit import AuditContext
from accounts.models import Organisation
from accounts.routes import NON_API_ROUTES, all_routes
from accounts.services import api_key_issue
from federation.governance import services
from tests.governance.conftest import COMPLETE_EVIDENCE, COMPLETE_FACTS, signed_in

# Member pages of an organisation: (route, method, path after /portal/organisations/<slug>/).
MEMBER_PAGES = [
    ("governance:dashboard", "get", ""),
    ("governance:api-keys", "get", "api-keys/"),
    ("governance:api-key-revoke", "post", "api-keys/{prefix}/revoke/"),
    ("governance:signing-keys", "get", "signing-keys/"),
    ("governance:signing-key-revoke", "post", "signing-keys/{key_id}/revoke/"),
    ("governance:people", "get", "people/"),
]
SIGNED_IN_PAGES = [
    ("governance:home", "/portal/"),
    ("governance:application-edit", "/portal/application/"),
    ("governance:application-status", "/portal/application/status/"),
    ("governance:mentoring", "/portal/mentoring/"),
    ("governance:mentee", "/portal/mentoring/pebble/"),
]
PUBLIC_PAGES = {
    "set_language",
    "governance:membership",
    "governance:signup",
    "governance:signup-sent",
    "governance:verify",
    "governance:login",
    "governance:logout",
    "governance:set-password",
    "governance:set-password-done",
}


def test_every_portal_route_is_listed_and_covered_here():
    portal = {r.name for r in all_routes() if r.name.startswith("governance:")}
    assert portal <= set(NON_API_ROUTES)
    covered = {n for n, *_ in MEMBER_PAGES} | {n for n, _ in SIGNED_IN_PAGES} | PUBLIC_PAGES
    assert portal | {"set_language"} == covered


def _targets(org: Organisation) -> dict[str, str]:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from accounts.services import signing_key_register

    api_key, _ = api_key_issue(
        organisation=org,
        name="target",
        role="viewer" if org.kind == "platform" else "peer",
        scope="read",
        expires_at=None,
        context=AuditContext.system(),
    )
    raw = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    key = signing_key_register(
        organisation=org, public_key=base64.b64encode(raw).decode(), context=AuditContext.system()
    )
    return {"prefix": api_key.prefix, "key_id": key.key_id}


def test_anonymous_visitors_are_sent_to_sign_in(cast):
    client = Client()
    targets = _targets(Organisation.objects.get(slug="northwind"))
    for _, path in SIGNED_IN_PAGES:
        response = client.get(path)
        assert response.status_code == 302 and "/portal/login/" in response["Location"], path
    for _, method, suffix in MEMBER_PAGES:
        path = "/portal/organisations/northwind/" + suffix.format(**targets)
        response = getattr(client, method)(path)
        assert response.status_code == 302 and "/portal/login/" in response["Location"], path


def test_members_reach_only_their_own_organisation(cast):
    platforms = list(Organisation.objects.filter(kind="platform", status="active"))
    targets = {org.slug: _targets(org) for org in platforms}
    for actor in cast:
        client = signed_in(actor.user)
        for org in platforms:
            if org.pk == actor.org.pk:
                continue
            for _, method, suffix in MEMBER_PAGES:
                path = f"/portal/organisations/{org.slug}/" + suffix.format(**targets[org.slug])
                response = getattr(client, method)(path)
                assert response.status_code == 404, (actor.label, path, response.status_code)
    # Nothing was revoked by any of those attempts.
    assert all(
        Organisation.objects.get(slug=slug).api_keys.get(prefix=t["prefix"]).revoked_at is None
        for slug, t in targets.items()
    )


def test_applicants_see_only_their_own_application(criteria, make_applicant, cast):
    first = make_applicant("first@tiny.example")
    second = make_applicant("second@tiny.example")
    application = services.application_start(
        applicant=first, language="en", context=AuditContext(user=first)
    )
    services.application_save(
        application=application,
        facts={**COMPLETE_FACTS, "organisation_name": "Secret Forum"},
        evidence=COMPLETE_EVIDENCE,
        language="en",
        context=AuditContext(user=first),
    )
    for person in [second, *(actor.user for actor in cast)]:
        client = signed_in(person)
        for _, path in SIGNED_IN_PAGES[1:3]:
            page = client.get(path, follow=True).content.decode()
            assert "Secret Forum" not in page, (person.email, path)
            assert "https://tinypics.example/rules" not in page, (person.email, path)


def test_mentors_see_only_their_mentees(cast):
    staff_context = AuditContext(user=cast["consortium/governance_officer"].user)
    pebble = Organisation.objects.get(slug="pebble")
    services.mentor_assign(
        organisation=pebble,
        mentor_organisation=Organisation.objects.get(slug="lakeside"),
        context=staff_context,
    )
    mentor = signed_in(cast["lakeside/admin"].user)
    assert mentor.get("/portal/mentoring/pebble/").status_code == 200
    for slug in ("northwind", "shadyshare", "lakeside"):
        assert mentor.get(f"/portal/mentoring/{slug}/").status_code == 404, slug
    for actor in cast:
        if actor.label == "lakeside/admin":
            continue
        response = signed_in(actor.user).get("/portal/mentoring/pebble/")
        assert response.status_code == 404, actor.label
        assert "Pebble" not in signed_in(actor.user).get("/portal/mentoring/").content.decode()


@pytest.mark.parametrize(
    "page",
    [
        "/admin/governance/",
        "/admin/governance/membershipapplication/",
        "/admin/governance/criterion/",
        "/admin/governance/memberorganisation/",
        "/admin/governance/mentorship/",
        "/admin/governance/organisationdecision/",
    ],
)
def test_nobody_outside_consortium_staff_reaches_governance_admin(
    cast, make_applicant, criteria, page
):
    people = [actor.user for actor in cast if actor.org.kind != "consortium"]
    for person in [*people, make_applicant()]:
        response = signed_in(person).get(page)
        assert response.status_code == 302, (person.email, page)
        assert "/admin/login/" in response["Location"]
    assert signed_in(cast["consortium/governance_officer"].user).get(page).status_code == 200
