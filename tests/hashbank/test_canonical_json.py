"""Log entries' canonical JSON: the standard encoder where it writes what RFC 8785 writes,
rfc8785 itself everywhere else; the bytes (or the error) are the same."""

from __future__ import annotations

import random
from typing import Any

import pytest
import rfc8785

from hashbank.models import ChangeOp
from hashbank.services.changelog import canonical_json

_TEXT = 'az\t\n"\\\x00\x1f\x7fé€\uffff\U0001f600'
_FLOATS = [0.5, 1.0, -0.0, 1e-4, 1e-5, 9.999e15, 1e16, 1e21, 123.456, float("inf")]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -7, 2**53 - 1, 2**53, -(2**60), rng.randrange(-(10**6), 10**6)])
    if kind == 2:
        scaled = rng.random() * 10 ** rng.randrange(-9, 22)
        return rng.choice([*_FLOATS, rng.uniform(-1e6, 1e6), scaled])
    if kind in (3, 4, 5):
        return "".join(rng.choice(_TEXT) for _ in range(rng.randrange(6)))
    if kind in (6, 7):
        return {_key(rng): _value(rng, depth + 1) for _ in range(rng.randrange(5))}
    return [_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def _key(rng: random.Random) -> Any:
    if rng.random() < 0.05:
        return rng.choice([1, None, 2.5])  # not a string: both refuse it
    return "".join(rng.choice(_TEXT) for _ in range(rng.randrange(4)))


def _outcome(encode: Any, value: Any) -> bytes | type[Exception]:
    try:
        return bytes(encode(value))
    except Exception as exc:
        return type(exc)


def test_canonical_json_writes_what_rfc8785_writes() -> None:
    rng = random.Random(8785)
    for _ in range(3000):
        value = _value(rng)
        assert _outcome(canonical_json, value) == _outcome(rfc8785.dumps, value), value


@pytest.mark.parametrize(
    "value",
    [
        0.5,
        1.0,
        -0.0,
        1e-4,
        1e-5,
        1e-7,
        9.999e15,
        1e16,
        1e21,
        1 / 3,
        2**53 - 1,
        2**53,
        -(2**53) + 1,
        float("nan"),
        "x\ud800",
        "tab\tand \x7f and é",
        {1: 2},
        {"\U0001f600": 1, "\uffff": 2, "é": 3},
        {"op": ChangeOp.ADD, ChangeOp.REMOVE: [1.5, (2, 3)]},
    ],
)
def test_canonical_json_edges(value: Any) -> None:
    for shape in (value, [value], {"v": value}):
        assert _outcome(canonical_json, shape) == _outcome(rfc8785.dumps, shape)
