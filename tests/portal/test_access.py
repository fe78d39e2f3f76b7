"""Every portal page, tried by each person who must not reach it: anonymous visitors,
other applicants, people of other organisations, people who mentor someone else, and
anyone outside consortium staff in governance admin."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.audit import AuditContext
from accounts.models import Organisation, User
from accounts.services import api_key_issue, membership_add, organisation_create
from core.routes import all_routes, non_api_routes
from federation.authorities.models import LawfulRequest
from federation.authorities.services import lawful_request_file, lawful_request_validate
from federation.governance import services
from tests.governance.conftest import COMPLETE_EVIDENCE, COMPLETE_FACTS, signed_in

# Member pages of an organisation: (route, method, path after /portal/organisations/<slug>/).
MEMBER_PAGES = [
    ("portal:dashboard", "get", ""),
    ("portal:api-keys", "get", "api-keys/"),
    ("portal:api-key-revoke", "post", "api-keys/{prefix}/revoke/"),
    ("portal:signing-keys", "get", "signing-keys/"),
    ("portal:signing-key-revoke", "post", "signing-keys/{key_id}/revoke/"),
    ("portal:people", "get", "people/"),
    ("portal:disputes", "get", "disputes/"),
    ("portal:lawful-requests", "get", "lawful-requests/"),
    ("portal:lawful-request-file", "get", "lawful-requests/new/"),
    ("portal:lawful-request", "get", "lawful-requests/{request_id}/"),
    ("portal:lawful-request-acknowledge", "post", "lawful-requests/{request_id}/acknowledge/"),
    ("portal:lawful-request-answer", "post", "lawful-requests/{request_id}/answer/"),
]
LAWFUL_REQUEST_PAGES = [page for page in MEMBER_PAGES if "{request_id}" in page[2]]
NEW_MEMBER_PAGES = {name for name, *_ in MEMBER_PAGES[6:]}
SIGNED_IN_PAGES = [
    ("portal:application-edit", "/portal/application/"),
    ("portal:application-status", "/portal/application/status/"),
    ("portal:application-submitted", "/portal/application/submitted/"),
    ("portal:mentoring", "/portal/mentoring/"),
    ("portal:mentee", "/portal/mentoring/pebble/"),
    ("portal:two-factor", "/portal/two-factor/"),
    ("portal:two-factor-setup", "/portal/two-factor/setup/"),
    ("portal:recovery-codes", "/portal/two-factor/recovery-codes/"),
]
PUBLIC_PAGES = {
    "set_language",
    "portal:site-home",
    "portal:membership",
    "portal:help",
    "portal:help-country",
    "portal:complaint",
    "portal:complaint-sent",
    "portal:home",
    "portal:signup",
    "portal:verify-resend",
    "portal:invitation-accept",
    "portal:signup-sent",
    "portal:verify",
    "portal:login",
    "portal:logout",
    "portal:set-password",
    "portal:set-password-done",
}


def test_every_portal_route_is_listed_and_covered_here():
    portal = {r.name for r in all_routes() if r.name.startswith("portal:")}
    assert portal <= set(non_api_routes())
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
    return {
        "prefix": api_key.prefix,
        "key_id": key.key_id,
        "request_id": str(_forwarded_request(org).public_id),
    }


def _forwarded_request(platform: Organisation) -> LawfulRequest:
    """A removal order of Ruritania's counter-terrorism unit, forwarded to `platform`."""
    filed = lawful_request_file(
        authority=Organisation.objects.get(slug="ruritania-ctu"),
        filed_by=None,
        kind="removal_order",
        issuing_authority="Ruritania Counter-Terrorism Unit",
        officer="Inspector R. Example",
        legal_basis="Regulation (EU) 2021/784, art. 3",
        jurisdiction="DE",
        addressed=[platform.slug],
        subject_urls=[f"https://{platform.slug}.example/v/1"],
        subject_hashes=[],
        subject_accounts=[],
        description="",
        context=AuditContext.system(),
    )
    staff = User.objects.get(email="governance@consortium.example")
    return lawful_request_validate(request=filed.request, context=AuditContext(user=staff))


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


def test_lawful_requests_of_other_organisations_answer_404_on_ones_own_pages(cast):
    northwind = Organisation.objects.get(slug="northwind")
    request_id = str(_forwarded_request(northwind).public_id)
    borduria = organisation_create(
        slug="borduria-police",
        name="Borduria Police",
        kind="authority",
        country="AT",
        tier=None,
        status="active",
        context=AuditContext.system(),
    )
    other_liaison = User.objects.create_user("liaison@borduria.example", "x")
    membership_add(
        user=other_liaison, organisation=borduria, role="liaison", context=AuditContext.system()
    )
    outsiders = [
        (other_liaison, borduria),
        *((cast[label].user, cast[label].org) for label in ("lakeside/admin", "lakeside/analyst")),
    ]
    for person, org in outsiders:
        client = signed_in(person)
        for _, method, suffix in LAWFUL_REQUEST_PAGES:
            path = f"/portal/organisations/{org.slug}/" + suffix.format(request_id=request_id)
            if method == "post" and org.kind == "authority":
                continue  # authorities never answer: the matrix refuses them first (below)
            response = getattr(client, method)(path, {"outcome": "actioned"})
            assert response.status_code == 404, (person.email, path, response.status_code)
        listing = client.get(f"/portal/organisations/{org.slug}/lawful-requests/")
        assert request_id not in listing.content.decode(), person.email
    request = LawfulRequest.objects.get(public_id=request_id)
    assert request.state == "forwarded"
    assert not request.addressees.filter(acknowledged_at__isnull=False).exists()


def test_roles_without_the_action_are_refused_lawful_requests_and_disputes(cast):
    request_id = str(_forwarded_request(Organisation.objects.get(slug="northwind")).public_id)
    refused = {
        "northwind/viewer": [p for p in MEMBER_PAGES if "lawful-request" in p[0]],
        "ruritania-ctu/liaison": [
            ("portal:disputes", "get", "disputes/"),
            *[p for p in LAWFUL_REQUEST_PAGES if p[1] == "post"],
        ],
        "northwind/admin": [("portal:lawful-request-file", "get", "lawful-requests/new/")],
        "open-harms-lab/researcher": [p for p in MEMBER_PAGES if p[0] in NEW_MEMBER_PAGES],
        # A peer hub follows the disputes it forwarded for its members, nothing else here.
        "southern-hub/peer": [
            p for p in MEMBER_PAGES if p[0] in NEW_MEMBER_PAGES and p[0] != "portal:disputes"
        ],
    }
    for label, pages in refused.items():
        actor = cast[label]
        client = signed_in(actor.user)
        for _, method, suffix in pages:
            path = f"/portal/organisations/{actor.org.slug}/" + suffix.format(request_id=request_id)
            response = getattr(client, method)(path)
            assert response.status_code == 403, (label, path, response.status_code)
    assert LawfulRequest.objects.get(public_id=request_id).state == "forwarded"


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
        for _, path in SIGNED_IN_PAGES[:3]:
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
