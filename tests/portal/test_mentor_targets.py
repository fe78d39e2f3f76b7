"""A mentor moves the dates their mentee's open criteria are due; nobody else can."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import AuditEvent, Organisation
from federation.governance import services
from federation.governance.models import Criterion, CriterionTarget
from tests.governance.conftest import signed_in

MENTEE = "/portal/mentoring/pebble/"


def _mentored_pebble(cast, criteria) -> CriterionTarget:
    staff = AuditContext(user=cast["consortium/governance_officer"].user)
    pebble = Organisation.objects.get(slug="pebble")
    services.mentor_assign(
        organisation=pebble,
        mentor_organisation=Organisation.objects.get(slug="lakeside"),
        context=staff,
    )
    return services.criterion_target_set(
        organisation=pebble,
        criterion=Criterion.objects.get(key="trust-and-safety-contact"),
        target_date=timezone.localdate() + dt.timedelta(days=30),
        context=staff,
    )


def test_the_mentor_moves_a_target_date_and_it_is_audited(cast, criteria):
    target = _mentored_pebble(cast, criteria)
    mentor = signed_in(cast["lakeside/admin"].user)
    page = mentor.get(MENTEE).content.decode()
    assert 'id="target-trust-and-safety-contact"' in page
    new_date = timezone.localdate() + dt.timedelta(days=60)
    response = mentor.post(
        MENTEE, {"criterion": "trust-and-safety-contact", "target_date": new_date.isoformat()}
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.target_date == new_date
    event = AuditEvent.objects.get(action="governance.criterion_target.rescheduled")
    assert event.actor_email == "admin@lakeside.example" and event.organisation_slug == "pebble"
    assert event.detail["to"] == new_date.isoformat()
    # The mentee reads the new date, with the time left.
    mentee = signed_in(cast["pebble/admin"].user).get("/portal/organisations/pebble/")
    assert new_date.isoformat() in mentee.content.decode()
    assert "(in 1\xa0month)" in mentee.content.decode()


def test_a_date_in_the_past_is_refused(cast, criteria):
    target = _mentored_pebble(cast, criteria)
    before = target.target_date
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    response = signed_in(cast["lakeside/admin"].user).post(
        MENTEE, {"criterion": "trust-and-safety-contact", "target_date": yesterday.isoformat()}
    )
    assert response.status_code == 400
    assert "Choose today or a later date." in response.content.decode()
    target.refresh_from_db()
    assert target.target_date == before
    assert not AuditEvent.objects.filter(action="governance.criterion_target.rescheduled")


def test_nobody_but_the_mentor_moves_a_date(cast, criteria):
    target = _mentored_pebble(cast, criteria)
    before = target.target_date
    later = (timezone.localdate() + dt.timedelta(days=90)).isoformat()
    for label in ("northwind/admin", "lakeside/analyst", "pebble/admin", "ruritania-ctu/liaison"):
        response = signed_in(cast[label].user).post(
            MENTEE, {"criterion": "trust-and-safety-contact", "target_date": later}
        )
        assert response.status_code == 404, label
    # The mentor cannot move a criterion that is no open target of the mentee.
    response = signed_in(cast["lakeside/admin"].user).post(
        MENTEE, {"criterion": "no-such-criterion", "target_date": later}
    )
    assert response.status_code == 404
    target.refresh_from_db()
    assert target.target_date == before
    assert not AuditEvent.objects.filter(action="governance.criterion_target.rescheduled")
