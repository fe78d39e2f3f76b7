"""The Celery application. Every periodic job of the hub is listed in `beat_schedule` here."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "federation.settings")

app = Celery("federation")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "hashbank-snapshots": {"task": "hashbank.tasks.create_snapshots", "schedule": 6 * 3600},
    # Cheap when nothing was appended: a checkpoint is signed only for a tree that grew.
    "hashbank-checkpoints": {"task": "hashbank.tasks.issue_checkpoints", "schedule": 5},
    "hashbank-inclusion-promises": {
        "task": "hashbank.tasks.check_inclusion_promises",
        "schedule": 60,
    },
    "hashbank-pdq-index": {"task": "hashbank.tasks.rebuild_pdq_index", "schedule": 3600},
    "hashbank-disclosure-retention": {
        "task": "hashbank.tasks.erase_expired_disclosures",
        "schedule": 24 * 3600,
    },
    # Cheap when nothing was appended: each bank's index starts where it stopped.
    "taxii-indicator-ids": {"task": "taxii.tasks.index_indicator_ids", "schedule": 30},
    "authorities-overdue-reminders": {
        "task": "federation.authorities.tasks.remind_overdue_lawful_requests",
        "schedule": 300,
    },
    # Cheap when the peers' logs did not grow: each received bank resumes where it stopped.
    "peering-pull": {"task": "federation.peering.tasks.pull_from_peers", "schedule": 60},
    "incidents-webhook-requeue": {
        "task": "federation.incidents.tasks.requeue_due_webhooks",
        "schedule": 30,
    },
}
