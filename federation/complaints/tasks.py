"""Emails to complainants and the retention of their data. Tasks take ids, are enqueued on
commit by the services, and are safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.urls import reverse

from accounts.mail import Recipient, email_people, email_person, hub_url


@shared_task(acks_late=True)
def send_complaint_acknowledgement(complaint_pk: int) -> int:
    from federation.complaints.models import Complaint

    complaint = Complaint.objects.get(pk=complaint_pk)
    if not complaint.email:
        return 0
    return email_person(
        recipient=Recipient(email=complaint.email, language=complaint.language),
        template="complaints/email/acknowledgement.txt",
        context={
            "complaint": complaint,
            "help_link": hub_url(reverse("portal:help")),
            "retention_days": settings.HUB_COMPLAINT_RETENTION_DAYS,
        },
    )


TRIAGE_PERMISSION = "complaints.change_complaint"


def complaint_triagers() -> list[Recipient]:
    """The consortium staff who may triage complaints in admin, each in their own language."""
    from accounts.models import User

    staff = User.objects.filter(is_staff=True, is_active=True).order_by("email")
    return [Recipient.of(user) for user in staff if user.has_perm(TRIAGE_PERMISSION)]


@shared_task(acks_late=True)
def send_complaint_staff_notice(complaint_pk: int) -> int:
    """Tell the staff who triage complaints that one is waiting: its reference, the platform
    and a link to it in admin. The complainant's address and words stay in admin."""
    from federation.complaints.models import Complaint

    complaint = Complaint.objects.get(pk=complaint_pk)
    return email_people(
        recipients=complaint_triagers(),
        template="complaints/email/staff_notice.txt",
        context={
            "complaint": complaint,
            "admin_link": hub_url(
                reverse("admin:complaints_complaint_change", args=[complaint.pk])
            ),
        },
    )


@shared_task(acks_late=True)
def send_complaint_answer(answer_pk: int) -> int:
    from federation.complaints.models import ComplaintAnswer

    answer = ComplaintAnswer.objects.select_related("complaint").get(pk=answer_pk)
    complaint = answer.complaint
    if not complaint.email or not answer.body:
        return 0
    return email_person(
        recipient=Recipient(email=complaint.email, language=complaint.language),
        template="complaints/email/answer.txt",
        context={"complaint": complaint, "answer": answer},
    )


@shared_task(acks_late=True)
def erase_expired_complaints() -> int:
    """The retention policy: personal data of complaints closed more than
    HUB_COMPLAINT_RETENTION_DAYS ago is erased."""
    from federation.complaints.services import complaints_erase_expired

    return complaints_erase_expired()
