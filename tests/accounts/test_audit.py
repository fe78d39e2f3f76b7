import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import Client
from rest_framework.test import APIClient

from accounts.audit import AuditContext, audit_chain_verify, audit_record
from accounts.models import AuditEvent, DenialCounter, User
from tests.conftest import sign_in


def tamper(sql: str, params: list) -> None:
    """What someone with the database owner's rights could do: switch the append-only
    trigger off, rewrite a row, switch it on again."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE accounts_auditevent DISABLE TRIGGER USER")
            cursor.execute(sql, params)
            cursor.execute("ALTER TABLE accounts_auditevent ENABLE TRIGGER USER")
        else:
            cursor.execute("DROP TRIGGER accounts_auditevent_append_only")
            cursor.execute(sql, params)
            cursor.execute("""CREATE TRIGGER accounts_auditevent_append_only
                BEFORE UPDATE ON accounts_auditevent
                BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;""")


def test_state_changes_are_recorded_with_actor_key_and_address(alice):
    alice.client().post(
        "/api/v1/api-keys/",
        {"name": "n", "role": "viewer", "scope": "read"},
        format="json",
        REMOTE_ADDR="203.0.113.7",
    )
    event = AuditEvent.objects.filter(action="accounts.apikey.issued").latest("sequence")
    assert event.organisation_slug == "northwind"
    assert event.api_key_prefix == alice.account.api_key.split("_")[1]
    assert event.ip_address == "203.0.113.7"
    assert event.outcome == "success"


def test_a_denied_attempt_is_recorded(cast):
    cast["ruritania-ctu/liaison"].client().get("/api/v1/signing-keys/")
    event = AuditEvent.objects.latest("sequence")
    assert (event.action, event.outcome) == ("accounts.signingkey.list", "denied")
    assert event.organisation_slug == "ruritania-ctu"


def test_the_chain_is_numbered_without_gaps_and_verifies(cast):
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(len(sequences)))
    checked, problems = audit_chain_verify()
    assert checked == len(sequences) and problems == []
    call_command("verify_audit_chain")


def test_a_rolled_back_change_leaves_no_audit_record(db):
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(action="accounts.test.rolled_back", context=AuditContext.system())
        raise RuntimeError
    assert AuditEvent.objects.count() == before


def test_the_database_refuses_to_update_an_event(cast):
    event = AuditEvent.objects.order_by("sequence").first()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="accounts.nothing.happened")
    with pytest.raises(DatabaseError), transaction.atomic():
        event.outcome = "denied"
        event.save()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="DELETE is refused on PostgreSQL")
def test_the_database_refuses_to_delete_an_event(cast):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(sequence=0).delete()


def test_a_rewritten_event_is_detected(cast):
    tamper(
        "UPDATE accounts_auditevent SET actor_email = %s WHERE sequence = %s",
        ["someone-else@example.org", 3],
    )
    _, problems = audit_chain_verify()
    assert [p.sequence for p in problems] == [3]
    with pytest.raises(CommandError):
        call_command("verify_audit_chain")


def test_a_removed_event_is_detected(cast):
    tamper("DELETE FROM accounts_auditevent WHERE sequence = %s", [5])
    _, problems = audit_chain_verify()
    assert problems and problems[0].sequence == 6


def test_changes_made_in_admin_are_audited(cast):
    from django.test import Client

    from accounts.models import Membership, Organisation

    client = sign_in(Client(), cast["consortium/governance_officer"].user)
    org = Organisation.objects.get(slug="pebble")
    response = client.post(
        f"/admin/accounts/organisation/{org.pk}/change/",
        {
            "name": "Pebble Forum",
            "slug": "pebble",
            "kind": "platform",
            "country": "FR",
            "status": "active",
            "status_reason": "",
            "tier": "full",
            "website": "",
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.filter(action="accounts.organisation.changed").latest("sequence")
    assert event.actor_email == "governance@consortium.example"
    assert "Tier" in str(event.detail)
    membership = Membership.objects.get(user__email="admin@pebble.example")
    response = client.post(
        f"/admin/accounts/membership/{membership.pk}/change/",
        {
            "user": membership.user_id,
            "organisation": membership.organisation_id,
            "role": "liaison",
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
        },
    )
    assert response.status_code == 200, "a role the organisation's kind lacks is refused"
    membership.refresh_from_db()
    assert membership.role == "admin"


def _bad_key_requests(client, count: int, address: str) -> None:
    client.credentials(HTTP_AUTHORIZATION="Bearer hf_abcdefghij_not-a-real-secret")
    for _ in range(count):
        response = client.get("/api/v1/me/", REMOTE_ADDR=address)
        assert response.status_code == 401


def test_a_flood_of_bad_keys_adds_a_bounded_number_of_audit_events_and_keeps_the_count(cast):
    before = AuditEvent.objects.count()
    _bad_key_requests(APIClient(), 1000, "198.51.100.23")
    denied = AuditEvent.objects.filter(sequence__gte=before, action="accounts.auth.failed")
    assert AuditEvent.objects.count() - before == 1
    assert denied.get().ip_address == "198.51.100.23"
    [counter] = DenialCounter.objects.filter(source="198.51.100.23")
    assert (counter.count, counter.reason) == (1000, "unknown API key")
    assert counter.first_event_sequence == denied.get().sequence

    # Another source is still recorded in the chain, and counted apart.
    _bad_key_requests(APIClient(), 3, "203.0.113.99")
    assert AuditEvent.objects.filter(ip_address="203.0.113.99").count() == 1
    assert DenialCounter.objects.get(source="203.0.113.99").count == 3
    # Stepping through one IPv6 /64 is one source.
    _bad_key_requests(APIClient(), 1, "2001:db8:1:2::1")
    _bad_key_requests(APIClient(), 1, "2001:db8:1:2::ffff")
    assert DenialCounter.objects.get(source="2001:db8:1:2::/64").count == 2
    assert audit_chain_verify()[1] == []


def test_many_sources_at_once_chain_a_capped_number_of_denials_and_count_them_all(cast, settings):
    settings.AUDIT_DENIAL_CHAIN_LIMIT = 3
    before = AuditEvent.objects.count()
    for n in range(6):
        _bad_key_requests(APIClient(), 2, f"192.0.2.{n}")
    assert AuditEvent.objects.count() - before == 3
    assert DenialCounter.objects.filter(count=2).count() == 6


def test_the_denial_counts_are_visible_in_admin(cast):
    _bad_key_requests(APIClient(), 5, "198.51.100.77")
    staff = Client()
    sign_in(staff, User.objects.get(email="governance@consortium.example"))
    page = staff.get("/admin/accounts/denialcounter/").content.decode()
    assert "198.51.100.77" in page and "unknown API key" in page
