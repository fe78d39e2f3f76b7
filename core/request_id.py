"""One id per request, in every log line the request causes and in its response.

The reverse proxy in front of the hub sends its own id (nginx's `$request_id`, see
deploy/nginx.conf) in `X-Request-ID`; the hub keeps it when it is a plausible id (1 to 64
letters, digits, `-`, `_` or `.`), else makes one. The id is returned in the response's
`X-Request-ID` header, so a member reporting a problem can quote it, and it is added to every
log record (`request_id`) by `RequestIdFilter`, which the LOGGING setting attaches to the
console handler. Outside a request (a Celery task, a command) the id is "-".
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from contextvars import ContextVar

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
_META_KEY = "HTTP_X_REQUEST_ID"
_PLAUSIBLE = re.compile(r"[A-Za-z0-9._-]{1,64}")
NO_REQUEST = "-"

_current: ContextVar[str] = ContextVar("hashfed_request_id", default=NO_REQUEST)


def current_request_id() -> str:
    """The id of the request this thread is serving, or "-" outside one."""
    return _current.get()


def request_id_of(request: HttpRequest) -> str:
    """The proxy's id for `request` when it is plausible, else a new random one."""
    offered = request.META.get(_META_KEY, "")
    if isinstance(offered, str) and _PLAUSIBLE.fullmatch(offered):
        return offered
    return secrets.token_hex(16)


class RequestIdMiddleware:
    """Names each request (see the module's docstring). Place it first, so that every later
    middleware's log lines carry the id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        request.META[_META_KEY] = request_id
        # Kept until the response is closed (request_finished), not only while the middleware
        # runs: Django logs a request's 4xx and 5xx after the middleware chain returns.
        _current.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


def _request_finished(**kwargs: object) -> None:
    _current.set(NO_REQUEST)


request_finished.connect(_request_finished, dispatch_uid="hashfed_request_id_finished")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record that passes through the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get()
        return True
