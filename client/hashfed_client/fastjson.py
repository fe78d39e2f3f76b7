"""JSON through orjson when it is installed (``pip install 'hashfed-client[fast]'``), else
through the standard library.

The client works the same without it: the sync reads its pages, and writes its state and
list, with the standard library instead, several times slower on a large list
(docs/benchmarks.md). The JSON is the same either way; nothing else depends on orjson.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

orjson: ModuleType | None
try:
    import orjson
except ImportError:  # the standard library does the same, slower
    orjson = None


def loads(data: bytes | str) -> Any:
    """Raises ValueError for anything but JSON."""
    if orjson is not None:
        return orjson.loads(data)
    return json.loads(data)


def dumps(value: Any) -> bytes:
    """Compact JSON in UTF-8, keys in their order."""
    if orjson is not None:
        try:
            return bytes(orjson.dumps(value))
        except TypeError:  # orjson's JSONEncodeError: an integer wider than 64 bits
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def dumps_lines(records: Iterable[Any]) -> Iterator[bytes]:
    """Each record as one line of compact JSON, keys sorted, in UTF-8 (NDJSON)."""
    if orjson is not None:
        option = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
        for record in records:
            try:
                yield bytes(orjson.dumps(record, option=option))
                continue
            except TypeError:
                pass
            yield _sorted_line(record)
        return
    for record in records:
        yield _sorted_line(record)


def _sorted_line(record: Any) -> bytes:
    text = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8") + b"\n"
