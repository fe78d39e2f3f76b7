"""The permission class every API view uses: it checks the action the view declares for the
request's method with accounts.access.action_refusal, which records each denial in the audit
trail.

Kept apart from api_base so DRF can import it from settings without importing its views.
"""

from __future__ import annotations

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from accounts.access import ORGANISATION_INACTIVE, READ_ONLY_KEY, action_refusal
from accounts.audit import AuditContext
from accounts.permissions import get_action
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
        refusal = action_refusal(
            action_name, principal=principal, context=AuditContext.from_request(request)
        )
        if refusal is None:
            return True
        if refusal.code == ORGANISATION_INACTIVE:
            raise OrganisationInactive(refusal.message)
        if refusal.code == READ_ONLY_KEY:
            raise ReadOnlyKey()
        raise exceptions.PermissionDenied(refusal.message)
