"""Signed submissions: take a batch in (verify each envelope, record it idempotently,
list trusted contributors' new values on arrival) and moderate (approve, reject,
withdraw). Approval is what puts a value on the list."""

from hashbank.services.submissions.envelopes import incident_state_resolver_register
from hashbank.services.submissions.intake import MAX_BATCH, ItemResult, submission_batch_create
from hashbank.services.submissions.moderation import (
    submission_approve,
    submission_reject,
    submission_withdraw,
    submissions_reject,
)

__all__ = [
    "MAX_BATCH",
    "ItemResult",
    "incident_state_resolver_register",
    "submission_approve",
    "submission_batch_create",
    "submission_reject",
    "submission_withdraw",
    "submissions_reject",
]
