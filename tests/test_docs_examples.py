"""The documents' HTTP examples and first integration, run against a live hub.

Every ```http request block in docs/ is sent, in the order of its document, to a fresh example
hub (docs/api.md, "Examples in these documents"), and the ```http response block after it
must match what the hub answers: the status, every header it shows, and the JSON body: the
same fields, the same values, except where the document writes `…` (any value; inside a string,
any text at that place; as the last item of a list, any further items; as a key, any further
fields). docs/integrate.md's program runs as written, as a member would run it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accounts.audit import AuditContext
from accounts.hub_identity import hub_identity
from accounts.models import Organisation
from accounts.services import signing_key_register
from hashfed_wire import ed25519, note

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLE_ORIGIN = "hub.example.org"
# docs/signing.md, section 6: the seed of RFC 8032 section 7.1 test 1.
EXAMPLE_PUBLIC_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
EXAMPLE_KEY_VALID_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
EXAMPLE_LIST = ROOT / "fixtures" / "docs" / "example_list.json"
# The example hub's own key: the seed of RFC 8032 section 7.1, test 2.
EXAMPLE_HUB_SEED = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
ANY = "…"

_FENCE = re.compile(r"^```http\n(.*?)^```", re.MULTILINE | re.DOTALL)
_KEY_PLACEHOLDER = re.compile(r"<API key of ([a-z0-9-]+/[a-z_]+)>")
_FILE_PLACEHOLDER = re.compile(rb"<contents of ([A-Za-z0-9_./-]+)>")
_STATUS_LINE = re.compile(r"^HTTP/1\.1 (\d{3})\b")
_REQUEST_LINE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/\S*)(?: HTTP/1\.1)?$")


@dataclass
class HttpBlock:
    line: int
    start: str
    headers: list[tuple[str, str]]
    body: str

    @property
    def is_response(self) -> bool:
        return bool(_STATUS_LINE.match(self.start))


@dataclass
class Example:
    document: str
    request: HttpBlock
    response: HttpBlock

    @property
    def where(self) -> str:
        return f"{self.document}:{self.request.line}"


def http_blocks(text: str) -> list[HttpBlock]:
    blocks = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 2
        head, _, body = match.group(1).partition("\n\n")
        start, *header_lines = head.splitlines()
        headers = [tuple(part.strip() for part in h.split(":", 1)) for h in header_lines]
        blocks.append(HttpBlock(line, start.strip(), headers, body))  # type: ignore[arg-type]
    return blocks


def examples_of(path: Path) -> list[Example]:
    """The request/response pairs of a document; a request must be followed by its answer."""
    blocks = http_blocks(path.read_text(encoding="utf-8"))
    examples, pending = [], None
    for block in blocks:
        if block.is_response:
            assert pending is not None, f"{path.name}:{block.line}: a response with no request"
            examples.append(Example(path.name, pending, block))
            pending = None
        else:
            assert _REQUEST_LINE.match(block.start), f"{path.name}:{block.line}: {block.start!r}"
            assert pending is None, f"{path.name}:{pending.line}: a request with no response"
            pending = block
    assert pending is None, f"{path.name}:{pending.line}: a request with no response"
    return examples


def documents_with_examples() -> list[str]:
    return sorted(p.name for p in DOCS.glob("*.md") if "```http\n" in p.read_text("utf-8"))


def matches(documented: Any, actual: Any, path: str = "body") -> str | None:
    """None when `actual` is what the document shows, else where it is not."""
    if documented == ANY:
        return None
    if isinstance(documented, str) and ANY in documented:
        pattern = ".*".join(re.escape(part) for part in documented.split(ANY))
        if isinstance(actual, str) and re.fullmatch(pattern, actual, re.DOTALL):
            return None
        return f"{path}: {actual!r} is not {documented!r}"
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return f"{path}: {actual!r} is not an object"
        shown = set(documented) - {ANY}
        if ANY not in documented and set(actual) != shown:
            return f"{path}: fields {sorted(actual)}, the document shows {sorted(shown)}"
        for key in sorted(shown):
            if key not in actual:
                return f"{path}: no field {key!r}"
            if (problem := matches(documented[key], actual[key], f"{path}.{key}")) is not None:
                return problem
        return None
    if isinstance(documented, list):
        if not isinstance(actual, list):
            return f"{path}: {actual!r} is not a list"
        open_ended = bool(documented) and documented[-1] == ANY
        items = documented[:-1] if open_ended else documented
        if len(actual) < len(items) or (not open_ended and len(actual) != len(items)):
            return f"{path}: {len(actual)} items, the document shows {len(items)}"
        for index, item in enumerate(items):
            if (problem := matches(item, actual[index], f"{path}[{index}]")) is not None:
                return problem
        return None
    if type(documented) is not type(actual) or documented != actual:
        return f"{path}: {actual!r}, the document shows {documented!r}"
    return None


class ExampleHub:
    def __init__(self, url: str, api_keys: dict[str, str]) -> None:
        self.url, self.api_keys = url, api_keys

    def send(self, request: HttpBlock) -> httpx.Response:
        method, path = _REQUEST_LINE.match(request.start).groups()  # type: ignore[union-attr]
        headers = {}
        for name, value in request.headers:
            if name.lower() == "host":
                continue
            headers[name] = _KEY_PLACEHOLDER.sub(lambda m: self.api_keys[m.group(1)], value)
        body = request.body.encode("utf-8")
        if headers.get("Content-Type", "").startswith("multipart/"):
            body = body.replace(b"\n", b"\r\n")
            body = _FILE_PLACEHOLDER.sub(lambda m: (ROOT / m.group(1).decode()).read_bytes(), body)
        with httpx.Client(base_url=self.url, timeout=60, trust_env=False) as client:
            return client.request(method, path, headers=headers, content=body or None)

    def check(self, example: Example) -> None:
        answer = self.send(example.request)
        expected = example.response
        status = int(_STATUS_LINE.match(expected.start).group(1))  # type: ignore[union-attr]
        where = example.where
        assert answer.status_code == status, f"{where}: {answer.status_code} {answer.text[:2000]}"
        for name, value in expected.headers:
            problem = matches(value, answer.headers.get(name), f"header {name}")
            assert problem is None, f"{where}: {problem}"
        if expected.body.strip():
            documented = json.loads(expected.body)
            problem = matches(documented, answer.json())
            assert problem is None, f"{where}: {problem}\n{json.dumps(answer.json(), indent=1)}"


def example_hub_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(EXAMPLE_HUB_SEED))


def example_hub_key_install(settings) -> str:
    """The example hub's key as the hub's, before its first use; its C2SP verifier key."""
    key = example_hub_key()
    Path(settings.HUB_SIGNING_KEY_FILE).write_bytes(ed25519.private_key_pem(key))
    hub_identity.cache_clear()
    return note.Verifier(EXAMPLE_ORIGIN, ed25519.public_key_raw(key)).vkey


@pytest.fixture
def example_hub(live_server, transactional_db, settings, cast) -> ExampleHub:
    """The hub docs/api.md describes for the examples: the demo cast and shared list, origin
    hub.example.org, signing with the example hub key, Lakeside holding the example signing
    key of docs/signing.md and having submitted the example list."""
    settings.HUB_ORIGIN = EXAMPLE_ORIGIN
    example_hub_key_install(settings)
    signing_key_register(
        organisation=Organisation.objects.get(slug="lakeside"),
        public_key=EXAMPLE_PUBLIC_KEY,
        name="example key",
        valid_from=EXAMPLE_KEY_VALID_FROM,
        context=AuditContext.system(),
    )
    api_keys = {f"{a.organisation}/{a.role}": a.api_key for a in (x.account for x in cast)}
    hub = ExampleHub(live_server.url, api_keys)
    answer = httpx.post(
        f"{live_server.url}/api/v1/submissions/",
        content=EXAMPLE_LIST.read_bytes(),
        headers={
            "Authorization": f"Bearer {api_keys['lakeside/admin']}",
            "Content-Type": "application/json",
        },
        timeout=60,
        trust_env=False,
    )
    assert answer.status_code == 200
    assert [r["review_state"] for r in answer.json()["results"]] == ["approved", "approved"]
    return hub


@pytest.mark.parametrize("document", documents_with_examples())
def test_every_http_example_of_the_document_is_what_the_hub_answers(example_hub, document):
    examples = examples_of(DOCS / document)
    assert examples
    for example in examples:
        example_hub.check(example)


def test_the_runner_refuses_an_answer_the_document_does_not_show():
    documented = {"results": [{"id": "e5a1…", "status": "accepted", "error": None}, ANY]}
    assert (
        matches(documented, {"results": [{"id": "e5a1c0de", "status": "accepted", "error": None}]})
        is None
    )
    assert matches(documented, {"results": [{"id": "x", "status": "accepted", "error": None}]})
    assert matches(documented, {"results": [{"id": "e5a1", "status": "rejected", "error": None}]})
    assert matches(
        documented, {"results": [{"id": "e5a1", "status": "accepted", "error": None, "new": 1}]}
    )
    assert matches(documented, {"results": []})
    assert matches({"count": 1}, {"count": True})
    assert matches({"a": 1, ANY: ANY}, {"a": 1, "b": 2}) is None


def test_a_request_without_its_response_is_refused(tmp_path):
    document = tmp_path / "doc.md"
    document.write_text("```http\nGET /api/v1/banks/\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="a request with no response"):
        examples_of(document)


def first_integration() -> str:
    text = (DOCS / "integrate.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, "docs/integrate.md holds one program"
    return blocks[0]


def test_the_first_integration_is_under_thirty_lines_and_imports_only_its_three_libraries():
    program = first_integration()
    assert len(program.splitlines()) < 30
    imported = set(re.findall(r"^(?:import|from) ([a-z0-9_]+)", program, re.MULTILINE))
    assert imported <= {
        "base64",
        "datetime",
        "hashlib",
        "json",
        "os",
        "uuid",
        "httpx",
        "rfc8785",
        "cryptography",
    }


def test_the_first_integration_runs_against_a_live_hub(example_hub, tmp_path):
    script = tmp_path / "first_integration.py"
    script.write_text(first_integration(), encoding="utf-8")
    environment = {
        **os.environ,
        "HASHFED_URL": example_hub.url,
        "HASHFED_API_KEY": example_hub.api_keys["northwind/admin"],
        # The hub is on this machine: no proxy of the environment stands between.
        "NO_PROXY": "localhost,127.0.0.1",
        "no_proxy": "localhost,127.0.0.1",
    }
    done = subprocess.run(
        [sys.executable, str(script)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # What docs/integrate.md says it prints: the page verified, the statement accepted and
    # pending review (Northwind is not a trusted contributor), so the lookup finds nothing.
    assert "entries verified, next cursor 2" in done.stdout
    assert "'status': 'accepted', 'review_state': 'pending', 'error': None" in done.stdout
    assert "'matches': [], 'error': None" in done.stdout


def test_the_worked_example_of_signing_md_is_the_first_test_vector():
    text = (DOCS / "signing.md").read_text(encoding="utf-8")
    vectors = json.loads((ROOT / "fixtures" / "signing" / "vectors.json").read_text("utf-8"))
    first = vectors["vectors"][0]
    assert first["canonical_utf8"] in text
    assert f"one line, {len(first['canonical_utf8'].encode())} bytes" in text
    assert first["signature_b64"] in text
    assert first["public_key_b64"] == EXAMPLE_PUBLIC_KEY
    taxonomy = (ROOT / "fixtures" / "taxonomy.json").read_text("utf-8")
    for vector in vectors["vectors"]:
        for label in vector["payload"].get("labels", []):
            assert isinstance(label, str) and f'"{label}"' in taxonomy, label


def test_every_label_in_the_documents_is_in_the_shipped_taxonomy():
    """A label of an example is one of fixtures/taxonomy.json, unless the same document shows
    the hub refusing it."""
    taxonomy = json.loads((ROOT / "fixtures" / "taxonomy.json").read_text("utf-8"))
    slugs = {label["slug"] for label in taxonomy["labels"]}
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for listed in re.findall(r'"labels":\s*\[([^\]]*)\]', text):
            for slug in re.findall(r'"([^"…]+)"', listed):
                refused = f"no active label '{slug}'" in text
                assert slug in slugs or refused, f"{path.name}: label {slug!r}"
