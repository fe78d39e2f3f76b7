"""Governance services: criteria, applications and decisions, mentoring, tiers,
suspension and offboarding; each writes its audit event."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from accounts.audit import AuditContext
from accounts.models import AuditEvent, Membership, Organisation, User
from core.errors import Conflict, Invalid, NotPermitted
from federation.governance import services
from federation.governance.models import (
    ApplicationState,
    Criterion,
    CriterionTarget,
    MembershipApplication,
    Mentorship,
    OrganisationDecision,
)
from federation.governance.selectors import (
    application_missing,
    mentorships_of,
    onboarding_checklist,
)
from tests.governance.conftest import COMPLETE_EVIDENCE, COMPLETE_FACTS, sign_in, signed_in


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True))


def test_criteria_load_from_the_versioned_fixture_and_reload_keeps_staff_edits(criteria):
    assert criteria == 1
    assert Criterion.objects.filter(active=True).count() == 6
    appeals = Criterion.objects.get(key="acts-on-reports-and-appeals")
    assert appeals.required_for == "associate" and appeals.evidence_kind == "document"
    assert Criterion.objects.get(key="human-rights-commitment").required_for == "full"
    appeals.title_en = "Edited by staff"
    appeals.save()
    services.criteria_load(context=AuditContext.system())
    appeals.refresh_from_db()
    assert appeals.title_en == "Edited by staff"


def test_a_draft_can_be_incomplete_but_submission_names_what_is_missing(criteria, make_applicant):
    applicant = make_applicant()
    context = AuditContext(user=applicant)
    application = services.application_start(applicant=applicant, language="en", context=context)
    services.application_save(
        application=application,
        facts={"organisation_name": "Tiny Pics"},
        evidence={},
        language="en",
        context=context,
    )
    with pytest.raises(Invalid) as raised:
        services.application_submit(application=application, context=context)
    assert "website" in raised.value.fields
    assert "criterion-acts-on-reports-and-appeals" in raised.value.fields
    # Criteria for full members only are not asked of an associate applicant.
    assert "criterion-human-rights-commitment" not in raised.value.fields
    application.refresh_from_db()
    assert application.state == ApplicationState.DRAFT
    assert application.organisation_name == "Tiny Pics"


def test_a_full_applicant_must_show_every_criterion(criteria, make_applicant):
    applicant = make_applicant()
    context = AuditContext(user=applicant)
    application = services.application_start(applicant=applicant, language="en", context=context)
    application = services.application_save(
        application=application,
        facts={**COMPLETE_FACTS, "requested_tier": "full"},
        evidence=COMPLETE_EVIDENCE,
        language="en",
        context=context,
    )
    missing = {m.field for m in application_missing(application=application)}
    assert missing == {"criterion-transparency-reporting", "criterion-human-rights-commitment"}


def test_one_open_application_per_person(criteria, make_applicant):
    applicant = make_applicant()
    context = AuditContext(user=applicant)
    first = services.application_start(applicant=applicant, language="en", context=context)
    assert services.application_start(applicant=applicant, language="en", context=context) == first


def test_information_round_trip(submitted_application, staff_context):
    services.application_request_information(
        application=submitted_application, message="Which moderators?", context=staff_context
    )
    submitted_application.refresh_from_db()
    assert submitted_application.state == ApplicationState.NEEDS_INFORMATION
    assert submitted_application.is_editable
    services.application_answer(
        application=submitted_application,
        body="Tia and Tom.",
        context=AuditContext(user=submitted_application.applicant),
    )
    submitted_application.refresh_from_db()
    assert submitted_application.state == ApplicationState.SUBMITTED
    kinds = list(submitted_application.messages.values_list("kind", flat=True))
    assert kinds == ["information_request", "answer"]
    assert "governance.application.information_requested" in _actions()
    assert "governance.application.information_provided" in _actions()


def test_only_staff_decide(submitted_application):
    with pytest.raises(NotPermitted):
        services.application_reject(
            application=submitted_application,
            reasons="no",
            context=AuditContext(user=submitted_application.applicant),
        )


def test_approval_creates_the_active_organisation_and_invites_its_admin(
    submitted_application, staff, staff_context, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        organisation = services.application_approve(
            application=submitted_application,
            tier="associate",
            reason="Welcome.",
            mentor_user=staff,
            context=staff_context,
        )
    assert organisation.status == "active" and organisation.tier == "associate"
    assert organisation.kind == "platform" and organisation.country == "FR"
    assert Membership.objects.get(organisation=organisation).role == "admin"
    assert Mentorship.objects.get(mentee=organisation).mentor_user == staff
    # Criteria for full members, not shown by the evidence, are tracked with target dates.
    assert set(
        CriterionTarget.objects.filter(organisation=organisation).values_list(
            "criterion__key", flat=True
        )
    ) == {"transparency-reporting", "human-rights-commitment"}
    assert "governance.application.approved" in _actions()
    invitation = next(m for m in mailoutbox if "/portal/set-password/" in m.body)
    assert invitation.to == [submitted_application.applicant.email]
    with pytest.raises(Conflict):
        services.application_approve(
            application=submitted_application, tier="full", reason="", context=staff_context
        )


def test_probation_needs_a_mentor(submitted_application, staff_context):
    with pytest.raises(Invalid):
        services.application_approve(
            application=submitted_application, tier="probation", reason="", context=staff_context
        )


def test_rejection_states_reasons_and_emails_them(
    submitted_application, staff_context, mailoutbox, django_capture_on_commit_callbacks
):
    with pytest.raises(Invalid):
        services.application_reject(
            application=submitted_application, reasons=" ", context=staff_context
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.application_reject(
            application=submitted_application,
            reasons="No appeal process yet.",
            context=staff_context,
        )
    submitted_application.refresh_from_db()
    assert submitted_application.state == ApplicationState.REJECTED
    assert submitted_application.organisation is None
    assert any("No appeal process yet." in m.body for m in mailoutbox)
    assert "governance.application.rejected" in _actions()


@override_settings(GOVERNANCE_BOARD_DECIDES=True, GOVERNANCE_BOARD_QUORUM=2)
def test_where_the_board_decides_the_decision_follows_quorum_and_majority(
    submitted_application, staff_context, cast
):
    with pytest.raises(NotPermitted):
        services.application_approve(
            application=submitted_application, tier="associate", reason="", context=staff_context
        )
    moderator = User.objects.get(email="moderator@consortium.example")
    from django.contrib.auth.models import Permission

    moderator.user_permissions.add(Permission.objects.get(codename="vote_membershipapplication"))
    moderator = User.objects.get(pk=moderator.pk)  # fresh permission cache
    services.application_vote(
        application=submitted_application, vote="approve", comment="", context=staff_context
    )
    services.application_vote(
        application=submitted_application,
        vote="reject",
        comment="",
        context=AuditContext(user=moderator),
    )
    with pytest.raises(NotPermitted):  # quorum reached, but a tie is no majority
        services.application_approve(
            application=submitted_application, tier="associate", reason="", context=staff_context
        )
    services.application_vote(
        application=submitted_application,
        vote="approve",
        comment="convinced",
        context=AuditContext(user=moderator),
    )
    services.application_approve(
        application=submitted_application, tier="associate", reason="", context=staff_context
    )
    assert _actions().count("governance.application.voted") == 3


def test_a_person_without_the_vote_permission_cannot_vote(submitted_application, cast):
    moderator = User.objects.get(email="moderator@consortium.example")
    with pytest.raises(NotPermitted):
        services.application_vote(
            application=submitted_application,
            vote="approve",
            comment="",
            context=AuditContext(user=moderator),
        )


def test_mentors_are_staff_or_active_full_members(cast, staff_context):
    pebble = Organisation.objects.get(slug="pebble")
    with pytest.raises(Invalid):
        services.mentor_assign(
            organisation=pebble,
            mentor_user=User.objects.get(email="admin@northwind.example"),
            context=staff_context,
        )
    with pytest.raises(Invalid):
        services.mentor_assign(
            organisation=pebble,
            mentor_organisation=Organisation.objects.get(slug="shadyshare"),
            context=staff_context,
        )
    services.mentor_assign(
        organisation=pebble,
        mentor_organisation=Organisation.objects.get(slug="northwind"),
        context=staff_context,
    )
    northwind_admin = User.objects.get(email="admin@northwind.example")
    assert [m.mentee.slug for m in mentorships_of(user=northwind_admin)] == ["pebble"]
    # Assigning again ends the first mentorship.
    services.mentor_assign(
        organisation=pebble,
        mentor_user=User.objects.get(email="moderator@consortium.example"),
        context=staff_context,
    )
    assert list(mentorships_of(user=northwind_admin)) == []


def test_tier_changes_are_reasoned_and_audited(cast, staff_context):
    pebble = Organisation.objects.get(slug="pebble")
    with pytest.raises(Invalid):
        services.organisation_tier_change(
            organisation=pebble, tier="full", reason="", context=staff_context
        )
    services.organisation_tier_change(
        organisation=pebble, tier="full", reason="Meets every criterion now.", context=staff_context
    )
    pebble.refresh_from_db()
    assert pebble.tier == "full"
    decision = OrganisationDecision.objects.get(organisation=pebble)
    assert (decision.from_value, decision.to_value) == ("associate", "full")
    assert "governance.organisation.tier_changed" in _actions()


def test_suspension_stops_the_api_and_reinstatement_restores_it(cast, staff_context):
    northwind = Organisation.objects.get(slug="northwind")
    alice = cast["northwind/admin"]
    assert alice.client().get("/api/v1/banks/").status_code == 200
    services.organisation_suspend(
        organisation=northwind, reason="Leaked hashes.", context=staff_context
    )
    refused = alice.client().get("/api/v1/banks/")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "organisation_inactive"
    assert "Leaked hashes." in refused.json()["error"]["message"]
    with pytest.raises(Conflict):
        services.organisation_suspend(organisation=northwind, reason="again", context=staff_context)
    services.organisation_reinstate(organisation=northwind, reason="Fixed.", context=staff_context)
    assert alice.client().get("/api/v1/banks/").status_code == 200
    northwind.refresh_from_db()
    assert northwind.status_reason == ""
    assert {"governance.organisation.suspended", "governance.organisation.reinstated"} <= set(
        _actions()
    )


def test_offboarding_keeps_approved_signals_listed(cast, staff_context, signer_for):
    from hashbank.models import Signal
    from tests.conftest import approve_all, submit

    alice = cast["northwind/admin"]
    response = submit(alice, signer_for("northwind/admin").envelope())
    assert response.status_code in (200, 201), response.content
    approve_all("northwind")
    listed = Signal.objects.filter(status="active").count()
    northwind = Organisation.objects.get(slug="northwind")
    services.organisation_offboard(
        organisation=northwind, reason="Left the consortium.", context=staff_context
    )
    northwind.refresh_from_db()
    assert northwind.status == "offboarded"
    assert Signal.objects.filter(status="active").count() == listed
    assert alice.client().get("/api/v1/sync/").status_code == 403
    services.organisation_reinstate(organisation=northwind, reason="Back.", context=staff_context)
    assert alice.client().get("/api/v1/sync/").status_code == 200


def test_the_onboarding_checklist_follows_what_the_member_did(cast):
    from accounts.services import api_key_issue
    from hashbank.models import LookupVolume

    pebble = Organisation.objects.get(slug="pebble")
    pebble.api_keys.all().delete()
    steps = {s.key: s.done for s in onboarding_checklist(organisation=pebble)}
    assert steps == {
        "api_key": False,
        "signing_key": False,
        "first_sync": False,
        "first_lookup": False,
    }
    _, raw = api_key_issue(
        organisation=pebble,
        name="k",
        role="admin",
        scope="read",
        expires_at=None,
        context=AuditContext.system(),
    )
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/sync/").status_code == 200
    assert (
        client.post(
            "/api/v1/lookup/",
            {"queries": [{"signal_type": "md5", "value": "0" * 32}]},
            format="json",
        ).status_code
        == 200
    )
    steps = {s.key: s.done for s in onboarding_checklist(organisation=pebble)}
    assert steps["api_key"] and steps["first_sync"]
    assert steps["first_lookup"] == LookupVolume.objects.filter(organisation=pebble).exists()
    assert not steps["signing_key"]


def test_unknown_application_fields_are_ignored(criteria, make_applicant):
    applicant = make_applicant()
    context = AuditContext(user=applicant)
    application = services.application_start(applicant=applicant, language="en", context=context)
    services.application_save(
        application=application,
        facts={"state": "approved"},
        evidence={"no-such-criterion": {"text": "x"}},
        language="en",
        context=context,
    )
    assert MembershipApplication.objects.get(pk=application.pk).state == "draft"


def test_a_members_dashboard_names_its_tier_change_in_words(cast, staff_context):
    """The member reads its decisions as sentences in its language, not stored keys."""
    pebble = Organisation.objects.get(slug="pebble")
    services.organisation_tier_change(
        organisation=pebble, tier="full", reason="Meets every criterion now.", context=staff_context
    )
    admin = next(u for u in User.objects.filter(memberships__organisation=pebble))
    page = signed_in(admin).get("/portal/organisations/pebble/").content.decode()
    assert "(Full member)" in page and "(full)" not in page
    french = sign_in(Client(headers={"accept-language": "fr"}), admin)
    page = french.get("/portal/organisations/pebble/").content.decode()
    assert "(Membre titulaire)" in page
