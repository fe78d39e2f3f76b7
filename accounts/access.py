"""The one check of a declared action for someone acting for an organisation, shared by the
API's permission class and the portal's member pages: the organisation must be active (or
suspended, for the few actions that stay open while suspended), the role must be granted the
action in the matrix, and a write needs a credential that may write. Every refusal is
recorded in the audit trail, whichever channel it came through."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.audit import AuditContext, audit_record_denial
from accounts.models import OrganisationStatus
from accounts.permissions import get_action, is_granted
from accounts.principal import Principal

ORGANISATION_INACTIVE = "organisation_inactive"
ROLE_NOT_GRANTED = "role_not_granted"
READ_ONLY_KEY = "read_only_key"


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


def action_refusal(
    action_name: str, *, principal: Principal, context: AuditContext
) -> Refusal | None:
    """None when `principal` may perform `action_name`; otherwise why not, after recording
    the refusal with audit_record_denial."""
    action = get_action(action_name)
    org = principal.organisation
    if not org.is_active and not (
        action.while_suspended and org.status == OrganisationStatus.SUSPENDED
    ):
        audit_record_denial(
            action=action_name, context=context, reason=f"organisation {org.status}"
        )
        return Refusal(
            ORGANISATION_INACTIVE,
            f"Your organisation is {org.status}; this is not available to it."
            + (f" Reason: {org.status_reason}" if org.status_reason else ""),
        )
    if not is_granted(action_name, kind=principal.kind, role=principal.role):
        audit_record_denial(
            action=action_name,
            context=context,
            reason=f"role {principal.role} of a {principal.kind}",
        )
        return Refusal(ROLE_NOT_GRANTED, "Your role in your organisation does not allow this.")
    if action.write and not principal.can_write:
        audit_record_denial(action=action_name, context=context, reason="read-only key")
        return Refusal(READ_ONLY_KEY, "This API key is read-only.")
    return None
