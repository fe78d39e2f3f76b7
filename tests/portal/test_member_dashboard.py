"""The member dashboard: first steps that lead where each is done, the mentor's contact,
the way to one's mentees, revocations that ask first, the banner of an open crisis
incident, and deadlines with their time zone and the time left."""

from __future__ import annotations

import base64
import datetime as dt

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone, translation

from accounts.audit import AuditContext
from accounts.models import Organisation
from accounts.services import api_key_issue, signing_key_register
from federation.governance import services
from federation.incidents.models import Incident
from federation.incidents.services import incident_declare
from federation.portal.templatetags.portal import deadline, time_left
from tests.governance.conftest import signed_in

NORTHWIND = "/portal/organisations/northwind/"


def test_each_first_step_links_to_where_it_is_done(cast):
    body = signed_in(cast["northwind/admin"].user).get(NORTHWIND).content.decode()
    assert f'href="{NORTHWIND}api-keys/">Create an API key</a>' in body
    assert f'href="{NORTHWIND}signing-keys/">Register a signing key</a>' in body
    assert 'href="/api/v1/docs/">Sync the list for the first time</a>' in body


def test_the_mentee_sees_whom_to_write_to_and_the_mentor_reaches_their_mentees(cast):
    pebble = Organisation.objects.get(slug="pebble")
    services.mentor_assign(
        organisation=pebble,
        mentor_organisation=Organisation.objects.get(slug="lakeside"),
        context=AuditContext(user=cast["consortium/governance_officer"].user),
    )
    mentee = signed_in(cast["pebble/admin"].user).get("/portal/organisations/pebble/")
    mentor_block = mentee.content.decode().split('id="mentor"')[1].split("</div>")[0]
    assert "Lakeside Social" in mentor_block
    assert "Liam Admin" in mentor_block and 'href="mailto:admin@lakeside.example"' in mentor_block
    # Only the mentoring organisation's admins are its contacts.
    assert "analyst@lakeside.example" not in mentor_block
    mentor = signed_in(cast["lakeside/admin"].user).get("/portal/organisations/lakeside/")
    assert 'href="/portal/mentoring/"' in mentor.content.decode()
    analyst = signed_in(cast["lakeside/analyst"].user).get("/portal/organisations/lakeside/")
    assert 'href="/portal/mentoring/"' not in analyst.content.decode()


def test_revoking_an_api_key_asks_first(cast):
    org = Organisation.objects.get(slug="northwind")
    key, _ = api_key_issue(
        organisation=org,
        name="moderation server",
        role="viewer",
        scope="read",
        expires_at=None,
        context=AuditContext.system(),
    )
    client = signed_in(cast["northwind/admin"].user)
    listing = client.get(NORTHWIND + "api-keys/").content.decode()
    revoke = f"{NORTHWIND}api-keys/{key.prefix}/revoke/"
    assert f'href="{revoke}"' in listing and f'action="{revoke}"' not in listing
    confirm = client.get(revoke)
    assert confirm.status_code == 200 and "moderation server" in confirm.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None
    assert client.post(revoke).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_revoking_a_signing_key_asks_first_with_its_reason(cast):
    org = Organisation.objects.get(slug="northwind")
    raw = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    key = signing_key_register(
        organisation=org, public_key=base64.b64encode(raw).decode(), context=AuditContext.system()
    )
    client = signed_in(cast["northwind/admin"].user)
    revoke = f"{NORTHWIND}signing-keys/{key.key_id}/revoke/"
    confirm = client.get(revoke)
    assert confirm.status_code == 200 and 'name="reason"' in confirm.content.decode()
    assert client.post(revoke, {"reason": "no-such-reason"}).status_code == 400
    key.refresh_from_db()
    assert key.revoked_at is None
    assert client.post(revoke, {"reason": "superseded"}).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revocation_reason == "superseded"
    # A viewer may read the keys, never revoke one, not even reach the question.
    viewer = signed_in(cast["northwind/viewer"].user)
    assert viewer.get(revoke).status_code == 403


def test_an_open_crisis_incident_is_a_banner_to_members_not_to_authorities(cast):
    incident_declare(
        incident=Incident(
            slug="harbour-attack",
            title="Harbour attack livestream",
            description="Copies spread from a forum thread; staff contact: secret-room",
            level=3,
            started_at=timezone.now(),
        ),
        authorities=[Organisation.objects.get(slug="ruritania-ctu")],
        context=AuditContext(user=cast["consortium/governance_officer"].user),
    )
    for label, page in [
        ("northwind/admin", NORTHWIND),
        ("northwind/viewer", NORTHWIND + "signing-keys/"),
        ("pebble/admin", "/portal/organisations/pebble/"),
    ]:
        body = signed_in(cast[label].user).get(page).content.decode()
        assert 'id="incident-harbour-attack"' in body and "Harbour attack livestream" in body
        assert "secret-room" not in body
    for label, page in [
        ("ruritania-ctu/liaison", "/portal/organisations/ruritania-ctu/"),
        ("ruritania-ctu/liaison", "/portal/organisations/ruritania-ctu/lawful-requests/"),
        ("open-harms-lab/researcher", "/portal/organisations/open-harms-lab/"),
    ]:
        body = signed_in(cast[label].user).get(page).content.decode()
        assert "harbour" not in body.lower(), (label, page)


def test_deadlines_show_their_time_zone_and_the_time_left_in_the_readers_language():
    now = timezone.now()
    # Django writes the number and its unit with a no-break space between them.
    assert time_left(now + dt.timedelta(days=3, hours=1), now) == "in 3\xa0days"
    assert time_left(now - dt.timedelta(hours=5, minutes=2), now) == "5\xa0hours ago"
    with translation.override("fr"):
        assert time_left(now + dt.timedelta(days=3, hours=1), now) == "dans 3\xa0jours"
    shown = deadline(dt.datetime(2031, 5, 4, 14, 30, tzinfo=dt.UTC))
    assert "2031-05-04 14:30 UTC" in shown and "(in " in shown
    assert "(in 2\xa0days)" in deadline(timezone.localdate() + dt.timedelta(days=2))


def test_the_revocation_questions_are_closed_to_whoever_may_not_revoke(cast):
    from django.test import Client

    org = Organisation.objects.get(slug="northwind")
    key, _ = api_key_issue(
        organisation=org,
        name="target",
        role="viewer",
        scope="read",
        expires_at=None,
        context=AuditContext.system(),
    )
    question = f"{NORTHWIND}api-keys/{key.prefix}/revoke/"
    anonymous = Client().get(question)
    assert anonymous.status_code == 302 and "/portal/login/" in anonymous["Location"]
    assert signed_in(cast["northwind/analyst"].user).get(question).status_code == 403
    assert signed_in(cast["lakeside/admin"].user).get(question).status_code == 404
    lakeside_own = "/portal/organisations/lakeside/api-keys/" + key.prefix + "/revoke/"
    assert signed_in(cast["lakeside/admin"].user).get(lakeside_own).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_the_api_keys_page_gives_the_hub_key_to_pin_and_the_next_one_in_a_rotation(cast):
    """A member takes the hub's verifier key from its signed-in portal, a channel apart
    from the API's discovery document; during a rotation the page names the next key."""
    from django.core.management import call_command

    from accounts.hub_identity import hub_keys

    page = signed_in(cast["northwind/admin"].user).get(NORTHWIND + "api-keys/").content.decode()
    current = hub_keys().current.note_verifier_key
    assert f'<code class="secret" id="hub-verifier-key">{current}</code>' in page
    assert f"export HASHFED_HUB_KEY='{current}'" in page
    assert 'id="hub-next-key"' not in page
    call_command("rotate_hub_key", "--begin")
    following = hub_keys().next
    assert following is not None
    page = signed_in(cast["northwind/admin"].user).get(NORTHWIND + "api-keys/").content.decode()
    assert current in page and following.note_verifier_key in page
    assert 'id="hub-next-key"' in page
    # An authority's keys reach its lawful requests alone: no key for syncing the list.
    desk = signed_in(cast["ruritania-ctu/liaison"].user)
    page = desk.get("/portal/organisations/ruritania-ctu/api-keys/").content.decode()
    assert "hub-verifier-key" not in page and current not in page
