"""An organisation's admins invite people by email: a signed link, for the invitee alone,
that works once and for a limited time, and creates their account with the role given."""

from __future__ import annotations

import re

from django.test import Client, override_settings

from accounts.models import AuditEvent, Membership, User
from tests.governance.conftest import signed_in

PEOPLE = "/portal/organisations/northwind/people/"


def _invite(client: Client, email: str = "new@northwind.example", role: str = "analyst"):
    return client.post(PEOPLE, {"email": email, "role": role})


def _link(mail) -> str:
    return re.search(r"https://hub\.example\.org(/portal/invitation/\S+/)", mail.body).group(1)


@override_settings(HUB_PUBLIC_URL="https://hub.example.org")
def test_an_admin_invites_and_the_link_creates_the_account_once(
    cast, mailoutbox, django_capture_on_commit_callbacks
):
    admin = signed_in(cast["northwind/admin"].user)
    form = admin.get(PEOPLE).content.decode()
    assert all(f'value="{role}"' in form for role in ("admin", "analyst", "viewer"))
    with django_capture_on_commit_callbacks(execute=True):
        assert _invite(admin).status_code == 302
    [mail] = mailoutbox
    assert mail.to == ["new@northwind.example"] and not mail.cc and not mail.bcc
    assert "Northwind Video" in mail.subject and "Analyst" in mail.body
    link = _link(mail)

    invitee = Client()
    page = invitee.get(link)
    assert page.status_code == 200 and "new@northwind.example" in page.content.decode()
    differ = invitee.post(
        link,
        {"full_name": "Nia New", "password": "a long passphrase 42", "password_again": "other"},
    )
    assert differ.status_code == 400 and not User.objects.filter(email="new@northwind.example")
    weak = invitee.post(link, {"full_name": "Nia New", "password": "123", "password_again": "123"})
    assert weak.status_code == 400 and not User.objects.filter(email="new@northwind.example")
    response = invitee.post(
        link,
        {
            "full_name": "Nia New",
            "password": "a long passphrase 42",
            "password_again": "a long passphrase 42",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/portal/organisations/northwind/"
    membership = Membership.objects.get(user__email="new@northwind.example")
    assert membership.organisation.slug == "northwind" and membership.role == "analyst"
    assert membership.user.is_active and membership.user.check_password("a long passphrase 42")
    assert invitee.get("/portal/organisations/northwind/").status_code == 200

    used = Client().get(link)
    assert used.status_code == 400 and "used already" in used.content.decode()
    assert Client().post(link, {"full_name": "X", "password": "p" * 20}).status_code == 400
    assert User.objects.filter(email="new@northwind.example").count() == 1
    actions = set(
        AuditEvent.objects.filter(organisation_slug="northwind").values_list("action", flat=True)
    )
    assert {"governance.invitation.sent", "governance.invitation.accepted"} <= actions
    sent = AuditEvent.objects.get(action="governance.invitation.sent")
    assert sent.actor_email == "admin@northwind.example"
    assert sent.detail == {"email": "new@northwind.example", "role": "analyst"}


@override_settings(HUB_PUBLIC_URL="https://hub.example.org")
def test_an_expired_or_tampered_link_fails_clearly(
    cast, mailoutbox, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(signed_in(cast["northwind/admin"].user))
    link = _link(mailoutbox[0])
    tampered = Client().get(link[:-3] + "xx/")
    assert tampered.status_code == 400 and "not valid" in tampered.content.decode()
    settings.GOVERNANCE_INVITATION_MAX_AGE = -1
    expired = Client().get(link)
    assert expired.status_code == 400 and "expired" in expired.content.decode()
    assert not User.objects.filter(email="new@northwind.example").exists()


def test_only_the_organisations_admins_invite(cast, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for label in ("northwind/analyst", "northwind/viewer"):
            assert _invite(signed_in(cast[label].user)).status_code == 403, label
            assert 'id="invite"' not in signed_in(cast[label].user).get(PEOPLE).content.decode()
        # Another organisation's admin does not even find the page.
        assert _invite(signed_in(cast["lakeside/admin"].user)).status_code == 404
        # A suspended organisation's admin invites nobody.
        shady = signed_in(cast["shadyshare/admin"].user)
        response = shady.post(
            "/portal/organisations/shadyshare/people/", {"email": "x@y.example", "role": "viewer"}
        )
        assert response.status_code == 403
        # A role the organisation's kind does not have is refused.
        admin = signed_in(cast["northwind/admin"].user)
        assert _invite(admin, role="liaison").status_code == 400
    assert mailoutbox == []
    assert not AuditEvent.objects.filter(action="governance.invitation.sent").exists()


def test_an_address_with_an_account_is_not_invited(cast, mailoutbox):
    response = _invite(signed_in(cast["northwind/admin"].user), email="admin@lakeside.example")
    assert response.status_code == 400
    assert "has an account already" in response.content.decode()
    assert mailoutbox == []


def test_an_invitation_is_withdrawn_with_its_inviters_rights(
    cast, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(signed_in(cast["northwind/admin"].user))
    link = re.search(r"http://\S+(/portal/invitation/\S+/)", mailoutbox[0].body).group(1)
    Membership.objects.filter(user__email="admin@northwind.example").update(role="viewer")
    response = Client().get(link)
    assert response.status_code == 400 and "withdrawn" in response.content.decode()
