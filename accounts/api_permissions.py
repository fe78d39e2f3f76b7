"""The permission class every API view uses: it checks the action the view declares for the
request's method against the matrix, and records each denial in the audit trail.

Kept apart from api_base so DRF can import it from settings without importing its views.
"""

from __future__ import annotations

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from accounts.audit import AuditContext, audit_record_denial
from accounts.models import OrganisationStatus
from accounts.permissions import get_action, is_granted
from accounts.principal import Principal


class OrganisationInactive(exceptions.PermissionDenied):
    default_code = "organisation_inactive"


class ReadOnlyKey(exceptions.PermissionDenied):
    default_code = "read_only_key"
    default_detail = "This API key is read-only."


class DeclaredActionPermission(permissions.BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        actions: dict[str, str] = getattr(view, "actions", {})
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        action_name = actions.get(method or "")
        if action_name is None:
            # A method the view does not declare: DRF answers 405 for it.
            return True
        action = get_action(action_name)
        if action.public:
            return True
        principal = request.user
        if not isinstance(principal, Principal):
            raise exceptions.NotAuthenticated()
        context = AuditContext.from_request(request)
        org = principal.organisation
        if not org.is_active and not (
            action.while_suspended and org.status == OrganisationStatus.SUSPENDED
        ):
            audit_record_denial(
                action=action_name, context=context, reason=f"organisation {org.status}"
            )
            raise OrganisationInactive(
                f"Your organisation is {org.status}; this is not available to it."
                + (f" Reason: {org.status_reason}" if org.status_reason else "")
            )
        if not is_granted(action_name, kind=principal.kind, role=principal.role):
            audit_record_denial(
                action=action_name,
                context=context,
                reason=f"role {principal.role} of a {principal.kind}",
            )
            raise exceptions.PermissionDenied("Your role in your organisation does not allow this.")
        if action.write and not principal.can_write:
            audit_record_denial(action=action_name, context=context, reason="read-only key")
            raise ReadOnlyKey()
        return True
