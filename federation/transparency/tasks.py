"""Background generation of transparency reports (they read the whole period's data)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def generate_transparency_report(report_pk: int) -> str:
    from federation.transparency.services import transparency_report_generate

    return transparency_report_generate(report_pk=report_pk).state
