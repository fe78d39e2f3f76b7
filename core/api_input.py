"""What the API reads from a request, in one place: the JSON body parser and the typed
fields of query parameters.

Bad input is refused here with a 4xx in the API's error shape, before it can reach the
database: PostgreSQL refuses NUL in text, a bigint column refuses integers beyond 2**63 - 1,
and date arithmetic near year 1 or 9999 overflows.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser

from core.errors import Invalid, ServiceError
from hashfed_wire import strict_json

# Deep enough for any document the API defines (a submission envelope is four levels
# down), shallow enough that nothing downstream recurses into trouble.
MAX_JSON_DEPTH = 32
# Database ids, cursors and offsets are PostgreSQL bigints.
MAX_BIGINT = 2**63 - 1
# Dates outside this range are refused: no record of the hub is older, and date arithmetic
# (a year back, a month's end, a time zone) stays far from datetime's limits.
EARLIEST_DATE = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST_DATE = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
# Tabs, line breaks and other C0/C1 controls never belong in a query parameter.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class RequestTooLarge(ServiceError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


def max_body_bytes() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class StrictJSONParser(BaseParser):
    """The API's only JSON parser: at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes of UTF-8, nested
    at most MAX_JSON_DEPTH levels, no duplicate key at any depth (docs/signing.md, section
    2), no NUL or lone surrogate in a key or string. Refusals are 400 `invalid_json`,
    `too_deep`, `duplicate_key`, `invalid_character` (naming the field) or 413
    `request_too_large`."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = max_body_bytes()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(f"the body is larger than {limit} bytes")
        try:
            return strict_json.loads(raw, max_depth=MAX_JSON_DEPTH, check_strings=True)
        except strict_json.JSONRefused as exc:
            if exc.path:
                raise Invalid.for_field(
                    strict_json.dotted(exc.path), exc.message, code=exc.code
                ) from exc
            raise Invalid(exc.message, code=exc.code) from exc


class QueryText(serializers.CharField):
    """A text query parameter: no NUL or other control character, at most 200 characters
    unless told otherwise."""

    default_error_messages = {"control_character": "control characters are not allowed"}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 200)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if _CONTROL.search(value):
            self.fail("control_character")
        return value


class QueryInteger(serializers.IntegerField):
    """A whole number within [min_value, max_value]; both default to the bigint range's
    non-negative half, so a 20-digit number is a 400, never a database error."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_BIGINT)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        # IntegerField also reads " 7 " and "7.0"; a query parameter is digits only, and
        # the length cap keeps int() from reading a megabyte of them.
        if isinstance(data, str) and not re.fullmatch(r"[0-9]{1,30}", data):
            self.fail("invalid")
        return super().to_internal_value(data)


class QueryDateTime(serializers.DateTimeField):
    """An ISO 8601 time between 1970 and 2200."""

    default_error_messages = {
        "out_of_range": "must be between {earliest} and {latest}",
    }

    def to_internal_value(self, value: Any) -> dt.datetime:
        parsed = super().to_internal_value(value)
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, dt.UTC)
        if not EARLIEST_DATE <= parsed < LATEST_DATE:
            self.fail(
                "out_of_range",
                earliest=EARLIEST_DATE.date().isoformat(),
                latest=LATEST_DATE.date().isoformat(),
            )
        return parsed


def query_params(serializer_class: type[serializers.Serializer], request: Any) -> dict[str, Any]:
    """Validate a request's query string with a serializer of Query* fields; unknown
    parameters are ignored, bad ones are a 400 naming them. A parameter given empty is
    validated as given (a plain dict: DRF reads an empty value in a QueryDict as absent)."""
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class PlainTextParser(BaseParser):
    """A `text/plain` body as bytes, at most DATA_UPLOAD_MAX_MEMORY_SIZE of them (413
    `request_too_large`), for the few endpoints whose protocol is text, not JSON (the
    tlog-witness add-checkpoint request)."""

    media_type = "text/plain"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = max_body_bytes()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(f"the body is larger than {limit} bytes")
        return raw
