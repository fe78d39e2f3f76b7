"""Strict JSON: one reading of a document, whoever reads it.

The API's body parser, the envelope checks of hashfed_wire.envelope and the
member-side client all use it, so they refuse the same documents.
A parser that keeps the first or the last of two equal keys would see a
different statement than another parser, and a signature over it would be
ambiguous; so duplicate keys are refused at any depth, as are ``NaN``,
``Infinity``, numbers that overflow a double and bytes that are not UTF-8.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

Path = tuple[str | int, ...]

# Strings (with their escapes) are removed before the nesting is measured, so that
# brackets inside them do not count.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


class JSONRefused(ValueError):
    """A document was refused. ``code`` is one of ``invalid_json``, ``duplicate_key``,
    ``too_deep``, ``invalid_character``; ``path`` locates the offending key or value
    (empty when the whole document is at fault)."""

    def __init__(self, code: str, message: str, path: Path = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path


class _ObjectWithDuplicateKey(dict[str, Any]):
    """An object that repeated ``duplicate``. ``object_pairs_hook`` runs innermost-first
    and cannot see where the object sits, so it is marked here and located afterwards."""

    duplicate: str


class _Reader:
    """One parse: builds objects, and remembers whether any repeated a key, so that a
    document without one is not walked again to find it."""

    def __init__(self) -> None:
        self.saw_duplicate = False

    def object_from_pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        self.saw_duplicate = True
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                marked = _ObjectWithDuplicateKey(pairs)
                marked.duplicate = key
                return marked
            seen.add(key)
        raise AssertionError("unreachable: fewer keys than pairs means a repeated key")


def _reject_constant(name: str) -> NoReturn:
    raise JSONRefused("invalid_json", f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    # Python reads an out-of-range literal such as 1e400 as infinity, which JSON cannot
    # represent and RFC 8785 refuses.
    if not math.isfinite(number):
        raise JSONRefused("invalid_json", f"number {text} is out of range")
    return number


def nesting_depth_exceeds(text: str, max_depth: int) -> bool:
    """Whether arrays and objects nest deeper than ``max_depth``, measured without
    recursion (the standard parser recurses once per level)."""
    depth = 0
    for bracket in _NOT_A_BRACKET.sub("", _STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def _storable(text: str) -> bool:
    # PostgreSQL refuses NUL in text and jsonb, and a lone surrogate has no UTF-8 form.
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _first_problem(root: object, *, check_strings: bool) -> JSONRefused | None:
    """The first duplicate key (or, if asked, unstorable string), depth first in document
    order, without recursion."""
    stack: list[tuple[object, Path]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _ObjectWithDuplicateKey):
            return JSONRefused("duplicate_key", "duplicate object key", (*path, node.duplicate))
        if isinstance(node, dict):
            children: list[tuple[object, Path]] = []
            for key, value in node.items():
                if check_strings and not _storable(key):
                    return JSONRefused(
                        "invalid_character",
                        "a key holds a NUL character or a lone surrogate",
                        (*path, key),
                    )
                children.append((value, (*path, key)))
        elif isinstance(node, list):
            children = [(value, (*path, index)) for index, value in enumerate(node)]
        else:
            if check_strings and isinstance(node, str) and not _storable(node):
                return JSONRefused(
                    "invalid_character", "the text holds a NUL character or a lone surrogate", path
                )
            continue
        stack.extend(reversed(children))
    return None


def loads(
    raw: bytes | bytearray | memoryview | str,
    *,
    max_depth: int | None = None,
    check_strings: bool = False,
) -> object:
    """Parse one JSON document (RFC 8259) strictly. Bytes must be UTF-8.

    Returns plain dicts, lists, strings, ints, floats, bools and None. Raises JSONRefused:
    ``invalid_json`` (not JSON, not UTF-8, ``NaN``, ``Infinity``, a number overflowing a
    double), ``too_deep`` (nesting beyond ``max_depth``), ``duplicate_key`` (at any depth,
    with the key's path) and, with ``check_strings``, ``invalid_character`` for a key or
    string holding NUL or a lone surrogate (what a database cannot store).
    """
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONRefused("invalid_json", "the body is not valid UTF-8") from exc
    else:
        text = raw
    if max_depth is not None and nesting_depth_exceeds(text, max_depth):
        raise JSONRefused("too_deep", f"arrays and objects nest deeper than {max_depth} levels")
    reader = _Reader()
    try:
        parsed = json.loads(
            text,
            object_pairs_hook=reader.object_from_pairs,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except RecursionError as exc:
        raise JSONRefused("too_deep", "arrays and objects nest too deeply") from exc
    except JSONRefused:
        raise
    except ValueError as exc:
        raise JSONRefused("invalid_json", f"invalid JSON: {exc}") from exc
    # The strict decoder refuses raw control characters inside strings, so a NUL or a lone
    # surrogate can only come from a \u escape (or, for text given as str, be in it already):
    # without either, and without a repeated key, there is nothing left to look for.
    strings_may_fail = check_strings and ("\\u" in text or not _storable(text))
    if reader.saw_duplicate or strings_may_fail:
        problem = _first_problem(parsed, check_strings=check_strings)
        if problem is not None:
            raise problem
    return parsed


def dotted(path: Path) -> str:
    """``("submissions", 3, "payload", "bank")`` as ``submissions.3.payload.bank``, the
    API's way of naming a field."""
    return ".".join(str(part) for part in path)
