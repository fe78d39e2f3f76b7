"""Emails to complainants and the retention of their data. Tasks take ids, are enqueued on
commit by the services, and are safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.urls import reverse

from accounts.mail import Recipient, email_person, hub_url


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
