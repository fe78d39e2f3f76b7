"""Who may take governance decisions."""

from __future__ import annotations

from accounts.audit import AuditContext
from accounts.models import User
from core.errors import NotPermitted


def staff_required(context: AuditContext) -> User:
    """The acting staff user. Raises NotPermitted for anyone else (or no one)."""
    if context.user is None or not context.user.is_staff:
        raise NotPermitted("Only consortium staff decide on applications.")
    return context.user
