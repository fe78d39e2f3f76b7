"""An authority liaison's desk, from the attacker's side: it speaks of their lawful
requests alone, links to nothing they may not open, and reads the same whatever the hash
bank holds."""

from __future__ import annotations

import re

from django.test import Client
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import Organisation
from federation.incidents.models import Incident
from federation.incidents.services import incident_declare
from hashbank.models import LookupVolume, SyncStatus
from tests.governance.conftest import signed_in
from tests.portal.test_access import _forwarded_request

DESK = "/portal/organisations/ruritania-ctu/"
HREF = re.compile(r'href="(/[^"#]*)')
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"|nonce="[^"]+"')


def _desk_pages(client: Client, request_id: str) -> dict[str, str]:
    """The liaison's pages, and every page they link to, as read by the liaison."""
    pages: dict[str, str] = {}
    queue = [DESK, DESK + "lawful-requests/", f"{DESK}lawful-requests/{request_id}/"]
    while queue:
        path = queue.pop()
        if path in pages or not path.startswith("/portal/"):
            continue
        response = client.get(path, follow=True)
        assert response.status_code == 200, (path, response.status_code)
        pages[path] = TOKEN.sub("", response.content.decode())
        queue += HREF.findall(pages[path])
    return pages


def test_the_liaison_dashboard_speaks_of_lawful_requests_alone(cast):
    body = signed_in(cast["ruritania-ctu/liaison"].user).get(DESK).content.decode()
    assert "lawful requests" in body.lower() and "File a lawful request" in body
    for hash_bank_word in ("sync", "look up", "Signing keys", "Submissions", "First steps"):
        assert hash_bank_word not in body, hash_bank_word
    assert "signing-keys" not in body and "disputes" not in body and "/api/v1/" not in body


def test_no_link_on_the_desk_leads_to_a_page_the_liaison_may_not_open(cast):
    northwind = Organisation.objects.get(slug="northwind")
    filed = _forwarded_request(northwind)
    client = signed_in(cast["ruritania-ctu/liaison"].user)
    pages = _desk_pages(client, str(filed.public_id))
    assert DESK + "api-keys/" in pages and DESK + "people/" in pages
    assert 'id="lawful-request-keys"' in pages[DESK + "api-keys/"]
    assert not [p for p in pages if "signing-keys" in p or "disputes" in p or "mentoring" in p]


def test_what_the_desk_shows_does_not_change_with_the_hash_bank(cast):
    filed = _forwarded_request(Organisation.objects.get(slug="northwind"))
    client = signed_in(cast["ruritania-ctu/liaison"].user)
    before = _desk_pages(client, str(filed.public_id))
    now = timezone.now()
    for slug in ("northwind", "lakeside"):
        org = Organisation.objects.get(slug=slug)
        LookupVolume.objects.create(organisation=org, window_start=now, queries=40, matches=3)
        SyncStatus.objects.create(organisation=org, first_synced_at=now, last_synced_at=now)
    incident_declare(
        incident=Incident(
            slug="quay-attack", title="Quay attack", description="x", level=2, started_at=now
        ),
        authorities=[],
        context=AuditContext(user=cast["consortium/governance_officer"].user),
    )
    after = _desk_pages(client, str(filed.public_id))
    assert after == before


def test_a_research_organisations_dashboard_offers_nothing_of_the_hash_bank(cast):
    client = signed_in(cast["open-harms-lab/researcher"].user)
    body = client.get("/portal/organisations/open-harms-lab/").content.decode()
    assert "Open Harms Lab" in body
    for hash_bank_word in ("sync", "look up", "Signing keys", "Submissions", "First steps"):
        assert hash_bank_word not in body, hash_bank_word
