"""A period of demo activity for transparency tests: signed submissions (most approved),
rejections, opinions, disputes with decisions, lawful requests with answers, an incident."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import Organisation, User
from federation.authorities.models import LawfulRequest, LawfulRequestAddressee
from federation.authorities.services import (
    lawful_request_answer,
    lawful_request_file,
    lawful_request_validate,
)
from federation.incidents.models import Incident
from federation.incidents.services import incident_close, incident_declare
from hashbank.demo import demo_signals_load
from hashbank.models import ChangeLogEntry, Dispute, Opinion, Signal, Submission
from hashbank.services import dispute_decide, dispute_open, opinion_record, submission_reject


@pytest.fixture
def demo_period(cast) -> tuple[dt.datetime, dt.datetime]:
    start = timezone.now() - dt.timedelta(seconds=1)
    context = AuditContext.system()
    staff = User.objects.get(email="moderator@consortium.example")
    northwind = Organisation.objects.get(slug="northwind")
    lakeside = Organisation.objects.get(slug="lakeside")
    authority = Organisation.objects.get(slug="ruritania-ctu")

    demo_signals_load()
    for submission in Submission.objects.filter(review_state="pending")[:2]:
        submission_reject(
            submission=submission, reason="not TVEC", context=AuditContext(user=staff)
        )
    signals = list(Signal.objects.filter(status="active").order_by("pk"))
    for signal, kind in zip(signals[:3], ["true_positive", "false_positive", "seen"], strict=True):
        opinion_record(
            organisation=lakeside, signal=signal, kind=kind, reasons="why", context=context
        )
    for signal, outcome in zip(signals[3:5], ["upheld", "overturned"], strict=True):
        dispute = dispute_open(
            organisation=lakeside, signal=signal, kind="signal", grounds="g", context=context
        )
        dispute_decide(
            dispute=dispute, outcome=outcome, reason="r", reviewer=staff, context=context
        )
    dispute_open(
        organisation=lakeside, signal=signals[5], kind="signal", grounds="g", context=context
    )

    for kind, jurisdiction, outcome in [
        ("removal_order", "DE", "actioned"),
        ("notice", "DE", "declined"),
        ("information", "FR", None),
    ]:
        filed = lawful_request_file(
            authority=authority,
            filed_by=None,
            kind=kind,
            issuing_authority="Unit",
            officer="Officer",
            legal_basis="Act",
            jurisdiction=jurisdiction,
            addressed=["northwind"],
            subject_urls=["https://video.example/v/1"],
            subject_hashes=[],
            subject_accounts=[],
            description="",
            context=context,
        )
        lawful_request_validate(request=filed.request, context=context)
        if outcome:
            lawful_request_answer(
                request=filed.request,
                organisation=northwind,
                outcome=outcome,
                details="done or why not",
                context=context,
            )
    incident = incident_declare(
        incident=Incident(
            slug="demo-crisis",
            title="Demo crisis",
            description="d",
            level=2,
            started_at=start,
        ),
        authorities=[authority],
        context=context,
    )
    incident_close(incident=incident, context=context)
    return start, timezone.now() + dt.timedelta(seconds=1)


# The known quarter: every figure of its report is computed by hand in
# tests/transparency/test_report_figures.py from what this fixture records.
Q1_START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
Q1_END = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def _platform(slug: str, tier: str, created: str, status: str = "active") -> Organisation:
    from accounts.services import organisation_create

    org = organisation_create(
        slug=slug,
        name=slug.title(),
        kind="platform",
        country="IE",
        tier=tier,
        status=status,
        context=AuditContext.system(),
    )
    Organisation.objects.filter(pk=org.pk).update(created_at=at(created))
    return org


def _decision(org: Organisation, kind: str, frm: str, to: str, when: str) -> None:
    from federation.governance.models import OrganisationDecision

    OrganisationDecision.objects.create(
        organisation=org,
        kind=kind,
        from_value=frm,
        to_value=to,
        reason="known data set",
        decided_at=at(when),
    )


def _submission(
    signer, received: str, *, approve: str = "", reject: str = "", labels: list[str] | None = None
) -> Submission:
    from hashbank.services import submission_approve
    from tests.conftest import random_pdq, submit

    value = random_pdq()
    response = submit(
        signer.actor, signer.envelope(value=value, labels=labels or ["tvec-glorification"])
    )
    assert response.status_code in (200, 201, 202), response.content
    submission = Submission.objects.get(value=value)
    Submission.objects.filter(pk=submission.pk).update(received_at=at(received))
    staff = AuditContext(user=User.objects.get(email="moderator@consortium.example"))
    if approve:
        submission_approve(submission=submission, context=staff)
        Submission.objects.filter(pk=submission.pk).update(reviewed_at=at(approve))
        submission.refresh_from_db()
        ChangeLogEntry.objects.filter(signal=submission.signal).update(created_at=at(approve))
    if reject:
        submission_reject(submission=submission, reason="not TVEC", context=staff)
        Submission.objects.filter(pk=submission.pk).update(reviewed_at=at(reject))
    submission.refresh_from_db()
    return submission


def _lawful_request(
    kind: str,
    jurisdiction: str,
    received: str,
    *,
    forwarded: str = "",
    deadline: str = "",
    answered: str = "",
    outcome: str = "actioned",
    refused: bool = False,
) -> LawfulRequest:
    from federation.authorities.services import lawful_request_refuse

    context = AuditContext.system()
    filed = lawful_request_file(
        authority=Organisation.objects.get(slug="ruritania-ctu"),
        filed_by=None,
        kind=kind,
        issuing_authority="Unit",
        officer="Officer",
        legal_basis="Act",
        jurisdiction=jurisdiction,
        addressed=["northwind"],
        subject_urls=["https://video.example/v/1"],
        subject_hashes=[],
        subject_accounts=[],
        description="",
        context=context,
    )
    request = filed.request
    if refused:
        lawful_request_refuse(request=request, reason="not authentic", context=context)
    else:
        lawful_request_validate(request=request, context=context)
        if answered:
            lawful_request_answer(
                request=request,
                organisation=Organisation.objects.get(slug="northwind"),
                outcome=outcome,
                details="done or why not",
                context=context,
            )
    LawfulRequest.objects.filter(pk=request.pk).update(
        received_at=at(received),
        **({"forwarded_at": at(forwarded), "deadline": at(deadline)} if forwarded else {}),
    )
    if answered:
        LawfulRequestAddressee.objects.filter(request=request).update(answered_at=at(answered))
    return request


@pytest.fixture
def known_quarter(cast, signer_for) -> tuple[dt.datetime, dt.datetime]:
    """Q1 2025, [2025-01-01, 2025-04-01), with events on both sides of each boundary."""
    from federation.governance.models import OrganisationDecision

    context = AuditContext.system()
    OrganisationDecision.objects.all().delete()
    Organisation.objects.update(created_at=at("2024-06-01T00:00"))
    # Neither the consortium nor a research lab is a member, even when created in the period.
    Organisation.objects.filter(slug="consortium").update(created_at=at("2025-01-15T00:00"))
    Organisation.objects.filter(slug="open-harms-lab").update(created_at=at("2025-02-01T00:00"))
    _platform("early", "associate", "2025-01-01T00:00")  # joins on the first instant
    _platform("late", "associate", "2025-04-01T00:00")  # joins on the first instant after
    gone = _platform("gone", "full", "2024-06-01T00:00", status="offboarded")
    _decision(gone, "offboarded", "active", "offboarded", "2025-03-01T00:00")
    # Pebble became full and ShadyShare was suspended after the quarter: at its end, Pebble
    # was an associate and ShadyShare an active member on probation.
    Organisation.objects.filter(slug="pebble").update(tier="full")
    pebble = Organisation.objects.get(slug="pebble")
    _decision(pebble, "tier_changed", "associate", "full", "2025-05-01T00:00")
    shady = Organisation.objects.get(slug="shadyshare")
    _decision(shady, "suspended", "active", "suspended", "2025-06-01T00:00")

    signer = signer_for("northwind/admin")
    signer.actor = cast["northwind/admin"]
    # Two labels of one EU DSA category: one signal under each label, once under the category.
    s1 = _submission(
        signer,
        "2025-01-10T00:00",
        approve="2025-01-10T02:00",
        labels=["tvec-glorification", "tvec-radicalisation"],
    )
    s2 = _submission(signer, "2025-02-01T00:00", approve="2025-02-01T04:00")
    _submission(signer, "2025-03-31T23:00", approve="2025-04-01T01:00")
    _submission(signer, "2024-12-31T23:00", reject="2025-01-01T09:00")
    _submission(signer, "2025-01-01T00:00")
    _submission(signer, "2025-04-01T00:00")

    lakeside = Organisation.objects.get(slug="lakeside")
    staff = User.objects.get(email="moderator@consortium.example")
    opinion_record(
        organisation=lakeside, signal=s1.signal, kind="true_positive", reasons="r", context=context
    )
    Opinion.objects.filter(signal=s1.signal).update(updated_at=at("2025-02-02T00:00"))
    opinion_record(
        organisation=lakeside, signal=s2.signal, kind="seen", reasons="r", context=context
    )
    Opinion.objects.filter(signal=s2.signal).update(updated_at=at("2025-04-02T00:00"))
    for signal, opened, decided, outcome in [
        (s1.signal, "2025-02-20T00:00", "2025-02-21T00:00", "upheld"),
        (s2.signal, "2025-03-10T00:00", "2025-03-11T06:00", "overturned"),
    ]:
        dispute = dispute_open(
            organisation=lakeside, signal=signal, kind="signal", grounds="g", context=context
        )
        dispute_decide(
            dispute=dispute, outcome=outcome, reason="r", reviewer=staff, context=context
        )
        Dispute.objects.filter(pk=dispute.pk).update(opened_at=at(opened), decided_at=at(decided))
        ChangeLogEntry.objects.filter(signal=signal, op="remove").update(created_at=at(decided))

    _lawful_request(
        "removal_order",
        "DE",
        "2025-01-05T09:00",
        forwarded="2025-01-05T10:00",
        deadline="2025-01-05T11:00",
        answered="2025-01-05T10:30",
    )
    # Overdue and never answered: late.
    _lawful_request(
        "removal_order",
        "DE",
        "2025-02-05T09:00",
        forwarded="2025-02-05T10:00",
        deadline="2025-02-05T11:00",
    )
    _lawful_request(
        "notice",
        "FR",
        "2025-03-01T00:00",
        forwarded="2025-03-01T00:00",
        deadline="2025-03-02T00:00",
        answered="2025-03-03T00:00",
        outcome="declined",
    )
    # Due after the quarter: neither on time nor late in it.
    _lawful_request(
        "information",
        "FR",
        "2025-03-31T12:00",
        forwarded="2025-03-31T12:00",
        deadline="2025-04-03T12:00",
    )
    _lawful_request("notice", "DE", "2025-01-20T00:00", refused=True)

    for slug, declared, closed in [
        ("closed-before", "2024-11-01T00:00", "2025-01-01T00:00"),  # closed before: no
        ("closed-on-start", "2024-12-01T00:00", "2025-01-01T00:00"),  # same, ordered second
        ("closed-in", "2025-02-01T00:00", "2025-02-10T00:00"),
        ("still-open", "2024-12-15T00:00", ""),
        ("declared-at-end", "2025-04-01T00:00", ""),
    ]:
        Incident.objects.create(
            slug=slug,
            title=slug,
            description="d",
            level=2,
            started_at=at(declared),
            declared_at=at(declared),
            state="closed" if closed else "open",
            closed_at=at(closed) if closed else None,
            debrief={"members_reached": 3} if closed else {},
        )
    return Q1_START, Q1_END
