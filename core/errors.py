"""One error shape for the whole API: `{"error": {"code", "message", "fields"}}`.

Services raise the typed errors below; views never build error responses themselves.
`fields` maps a field path ("expires_at", "items.3.payload.bank") to a list of
`{"code", "message"}` objects.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    status_code: int = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[dict[str, str]]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.fields = fields or {}

    @classmethod
    def for_field(cls, field: str, message: str, *, code: str | None = None) -> ServiceError:
        code = code or cls.default_code
        return cls(message, code=code, fields={field: [{"code": code, "message": message}]})


class Invalid(ServiceError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"


class Conflict(ServiceError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class NotPermitted(ServiceError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "permission_denied"


class NotFound(ServiceError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"


# The codes of the framework's own exceptions, which the handler below passes through as they
# are (docs/errors.md lists them with the hub's own): a missing or refused credential, a
# role that does not allow the action, a method or media type the endpoint does not take, a
# throttle, and DRF's parse error (the hub's JSON parser raises its own codes instead).
FRAMEWORK_ERROR_CODES = (
    "not_authenticated",
    "authentication_failed",
    "permission_denied",
    "not_found",
    "method_not_allowed",
    "not_acceptable",
    "unsupported_media_type",
    "parse_error",
    "throttled",
)


def error_body(code: str, message: str, fields: dict | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[dict[str, str]]]:
    """DRF's nested error details as {"a.b.0.c": [{"code", "message"}]}."""
    out: dict[str, list[dict[str, str]]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                path = prefix or "non_field_errors"
            for k, v in _flatten(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail) for item in detail):
            out[prefix or "non_field_errors"] = [
                {"code": item.code, "message": str(item)} for item in detail
            ]
        else:
            for index, item in enumerate(detail):
                for k, v in _flatten(item, f"{prefix}.{index}" if prefix else str(index)).items():
                    out.setdefault(k, []).extend(v)
    elif isinstance(detail, exceptions.ErrorDetail):
        out[prefix or "non_field_errors"] = [{"code": str(detail.code), "message": str(detail)}]
    return out


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, ServiceError):
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return Response(
            error_body(exc.code, exc.message, exc.fields), status=exc.status_code, headers=headers
        )
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        # Django raises these while reading a form or multipart body; left alone they
        # would become its HTML "Bad Request" page.
        code = "request_too_large" if isinstance(exc, RequestDataTooBig) else "too_many_fields"
        return Response(error_body(code, str(exc)), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.APIException):
        # NotAuthenticated and Throttled carry these; the exception handler of DRF itself
        # reads them the same way.
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        wait = getattr(exc, "wait", None)
        if wait:
            headers["Retry-After"] = str(int(wait))
        if isinstance(exc, exceptions.ValidationError):
            body = error_body("invalid", "The request has invalid fields.", _flatten(exc.detail))
        else:
            detail = exc.detail
            error_code = (
                detail.code if isinstance(detail, exceptions.ErrorDetail) else exc.default_code
            )
            body = error_body(str(error_code), str(detail))
        return Response(body, status=exc.status_code, headers=headers)
    return None


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )


def handler404(request: HttpRequest, exception: Exception | None = None):
    if _wants_json(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler403(request: HttpRequest, exception: Exception | None = None):
    if _wants_json(request):
        return JsonResponse(
            error_body("permission_denied", str(exceptions.PermissionDenied.default_detail)),
            status=403,
        )
    from django.views.defaults import permission_denied

    return permission_denied(request, exception or DjangoPermissionDenied())


def handler500(request: HttpRequest):
    # No stack trace, ever: the details are in the server log.
    if _wants_json(request):
        return JsonResponse(
            error_body("server_error", "The hub could not complete the request."), status=500
        )
    from django.views.defaults import server_error

    return server_error(request)
