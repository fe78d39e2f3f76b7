"""Every error code the hub can answer is in docs/errors.md, and the table names no code the
hub no longer has. The codes are read from the source itself: the typed service errors
(`code=`, `default_code`), the item rejections of the batch endpoints, the envelope, JSON and
signal-value errors, and the codes of the framework's own exceptions the API passes through
(core.errors.FRAMEWORK_ERROR_CODES)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from core.errors import FRAMEWORK_ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
# The hub's apps and the wire formats it answers with; the member client has codes of its own.
SOURCES = ["accounts", "core", "federation", "hashbank", "hashfed_wire", "taxii"]
# Errors whose first argument is the code.
CODE_FIRST = {
    "ItemRejected",
    "EnvelopeError",
    "SignalValueError",
    "JSONRefused",
    "RefusedMedia",
    "error_body",
    "__init__",  # a subclass naming its code: super().__init__("invalid_image", ...)
}
_CODE = re.compile(r"[a-z][a-z0-9_]*")


def _strings(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def codes_in_source() -> dict[str, str]:
    """code → the first place that raises it."""
    found: dict[str, str] = {}
    for app in SOURCES:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            where = str(path.relative_to(ROOT))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                codes: list[str] = []
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                    codes += [
                        s for kw in node.keywords if kw.arg == "code" for s in _strings(kw.value)
                    ]
                    if name in CODE_FIRST and node.args:
                        codes += _strings(node.args[0])
                elif isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id in {"code", "default_code"}
                    for t in node.targets
                ):
                    codes += _strings(node.value)
                elif isinstance(node, ast.Dict):
                    codes += [
                        s
                        for k, v in zip(node.keys, node.values, strict=True)
                        if isinstance(k, ast.Constant) and k.value == "code"
                        for s in _strings(v)
                    ]
                for code in codes:
                    if _CODE.fullmatch(code):
                        found.setdefault(code, f"{where}:{node.lineno}")
    for code in FRAMEWORK_ERROR_CODES:
        found.setdefault(code, "core/errors.py (FRAMEWORK_ERROR_CODES)")
    return found


def codes_in_docs() -> set[str]:
    """The first column of the tables of docs/errors.md."""
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z][a-z0-9_]*)` \|", text, re.MULTILINE))


def test_every_code_the_hub_answers_is_documented():
    missing = {c: w for c, w in codes_in_source().items() if c not in codes_in_docs()}
    assert not missing, f"add to docs/errors.md: {missing}"


def test_the_documented_codes_are_all_still_answered():
    stale = codes_in_docs() - set(codes_in_source())
    assert not stale, f"docs/errors.md names codes the hub no longer answers: {sorted(stale)}"


def test_the_scan_finds_codes_in_every_form_they_are_raised():
    codes = codes_in_source()
    # An item rejection, an envelope error, a signal value error, a JSON refusal, a service
    # error's keyword and class default, a lookup item's dict, a framework code.
    for code in (
        "wrong_audience",
        "bad_base64",
        "low_quality",
        "too_deep",
        "id_conflict",
        "already_revoked",
        "rate_limited",
        "not_authenticated",
        "too_many_fields",
        "video_too_long",
        "invalid_image",
    ):
        assert code in codes, code
