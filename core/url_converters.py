"""Path converters that keep what the database cannot hold out of a URL's parameters: a
path that does not convert matches no route, so it is a 404, never a database error."""

from __future__ import annotations

from core.api_input import MAX_BIGINT


class DatabaseIdConverter:
    """`<id:name>`: a row id, at most PostgreSQL's bigint (Django's `int` takes any length,
    and 99999999999999999999 would then fail in the database instead of matching nothing)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_BIGINT:
            raise ValueError("beyond bigint")
        return number

    def to_url(self, value: int) -> str:
        return str(value)


class PlainTextConverter:
    """`<text:name>`: like `str`, without NUL or other control characters (PostgreSQL
    refuses NUL in text)."""

    regex = "[^/\x00-\x1f\x7f]{1,200}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class TilePathConverter:
    """`<tilepath:name>`: the rest of a C2SP tlog-tiles path (`0/x001/234`,
    `entries/005.p/17`); anything else is not a route (404), never a lookup."""

    regex = "[0-9a-z./]{1,100}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
