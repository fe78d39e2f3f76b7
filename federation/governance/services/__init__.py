"""Writes of governance, one module per sub-domain: criteria, sign-up, applications and
their decisions, mentoring, and decisions on members (tiers, suspension, offboarding).

Every state change records an audit event (`governance.*`) in the same transaction; emails
are enqueued on commit, so a rolled-back decision never tells anyone anything.
"""

from federation.governance.services.access import staff_required
from federation.governance.services.applications import (
    APPLICATION_FACTS,
    application_answer,
    application_approve,
    application_note_add,
    application_reject,
    application_request_information,
    application_review_start,
    application_save,
    application_start,
    application_submit,
    application_vote,
)
from federation.governance.services.criteria import (
    CRITERIA_FILE,
    criteria_load,
    criterion_target_reschedule,
    criterion_target_set,
)
from federation.governance.services.decisions import (
    organisation_offboard,
    organisation_reinstate,
    organisation_suspend,
    organisation_tier_change,
)
from federation.governance.services.invitations import (
    INVITATION_SALT,
    Invitation,
    invitation_accept,
    invitation_read,
    invitation_send,
)
from federation.governance.services.mentoring import mentor_assign, mentorship_end
from federation.governance.services.signup import (
    VERIFY_SALT,
    applicant_signup,
    applicant_verify_email,
    unconfirmed_account,
    verification_resend,
    verification_token,
)

__all__ = [
    "APPLICATION_FACTS",
    "CRITERIA_FILE",
    "INVITATION_SALT",
    "VERIFY_SALT",
    "Invitation",
    "applicant_signup",
    "applicant_verify_email",
    "application_answer",
    "application_approve",
    "application_note_add",
    "application_reject",
    "application_request_information",
    "application_review_start",
    "application_save",
    "application_start",
    "application_submit",
    "application_vote",
    "criteria_load",
    "criterion_target_reschedule",
    "criterion_target_set",
    "invitation_accept",
    "invitation_read",
    "invitation_send",
    "mentor_assign",
    "mentorship_end",
    "organisation_offboard",
    "organisation_reinstate",
    "organisation_suspend",
    "organisation_tier_change",
    "staff_required",
    "unconfirmed_account",
    "verification_resend",
    "verification_token",
]
