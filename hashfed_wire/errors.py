"""What goes wrong, by whose fault: the hub's (HubError), the user's (InputError), the
change-log feed's (SyncError)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class HubError(Exception):
    """The hub refused a request, or did not answer.

    ``status`` is the HTTP status, or 0 when no answer arrived. ``code``, ``message``
    and ``fields`` come from the hub's error body ``{"error": {"code", "message",
    "fields"}}``; when the answer is not in that shape ``code`` is ``http_<status>``
    (``bad_response`` for a success body that breaks the contract, ``unreachable``
    when the hub could not be reached, ``redirect`` when it answered with one).
    ``fields`` maps a field path to a list of ``{"code", "message"}``.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        super().__init__(f"{status} {code}: {message}" if status else f"{code}: {message}")


class InputError(Exception):
    """A local problem the user must fix: arguments, key file, input file, state file."""


class SyncError(Exception):
    """The change-log feed broke its contract (unknown op, sequences out of order, a
    cursor that does not advance). The local state is left as it was before the page."""
