"""The API view of the hub's own apps: core's ApiView, with the caller as the hub knows it."""

from __future__ import annotations

from accounts.audit import AuditContext
from accounts.permissions import get_action
from accounts.principal import Principal
from core.api_base import ApiView


class HubApiView(ApiView):
    # This docstring is the description, in the API schema, of every operation whose view
    # has none of its own: kept word for word so the published schema does not change.
    """Subclasses set `actions = {"GET": "accounts.apikey.list", ...}`, and
    `error_statuses = {"POST": (409,)}` for the error statuses of a method that the API
    schema cannot see from the view itself (accounts/api_schema.py): 409 where its service
    raises Conflict, 429 where it is rate-limited. A view that pages its list sets
    `pagination_class`, which both the response and the schema follow."""

    @property
    def principal(self) -> Principal:
        assert isinstance(self.request.user, Principal)
        return self.request.user

    @property
    def audit_context(self) -> AuditContext:
        return AuditContext.from_request(self.request)

    def credentials_required(self, method: str) -> bool:
        action_name = self.actions.get(method)
        return action_name is not None and not get_action(action_name).public
