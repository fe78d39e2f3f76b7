"""A period of demo activity for transparency tests: signed submissions (most approved),
rejections, opinions, disputes with decisions, lawful requests with answers, an incident."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import Organisation, User
from federation.authorities.services import (
    lawful_request_answer,
    lawful_request_file,
    lawful_request_validate,
)
from federation.incidents.models import Incident
from federation.incidents.services import incident_close, incident_declare
from hashbank.demo import demo_signals_load
from hashbank.models import Signal, Submission
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
