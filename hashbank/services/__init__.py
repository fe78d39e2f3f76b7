"""Writes of the shared list, by sub-domain."""

from hashbank.services.changelog import changelog_append
from hashbank.services.compromise import submissions_distrust_compromised
from hashbank.services.disputes import (
    dispute_appeal,
    dispute_assign_reviewer,
    dispute_decide,
    dispute_decide_appeal,
    dispute_decide_appeal_by_origin,
    dispute_decide_by_origin,
    dispute_mark_in_review,
    dispute_open,
    opinion_record,
)
from hashbank.services.signals import signal_refresh
from hashbank.services.submissions import (
    MAX_BATCH,
    ItemResult,
    submission_approve,
    submission_batch_create,
    submission_reject,
    submission_withdraw,
    submissions_reject,
)

__all__ = [
    "MAX_BATCH",
    "ItemResult",
    "changelog_append",
    "dispute_appeal",
    "dispute_assign_reviewer",
    "dispute_decide",
    "dispute_decide_appeal",
    "dispute_decide_appeal_by_origin",
    "dispute_decide_by_origin",
    "dispute_mark_in_review",
    "dispute_open",
    "opinion_record",
    "signal_refresh",
    "submission_approve",
    "submission_batch_create",
    "submission_reject",
    "submission_withdraw",
    "submissions_distrust_compromised",
    "submissions_reject",
]
