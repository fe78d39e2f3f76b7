"""The examples of docs/transparency-log.md, docs/log-formats.md, docs/transparency.md
(researchers' statistics) and docs/interop.md against the code that makes what they show.

Every fenced block of these documents is accounted for here: a signed text is made again by
the code with the example hub's key (docs/client.md) and must be the same text, byte for byte;
a format written with `<placeholders>` must have the lines the code writes (a placeholder
standing for any text); a JSON example must have exactly the fields the hub answers, at every
level (values are the example's own; `…` as in the HTTP examples); a command runs. A block
that is none of these (another program's commands, an installation line, code that runs
elsewhere) says where it is run, or that it is illustrative. A new block with no check here
fails the count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shlex
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.audit import AuditContext
from accounts.models import Organisation
from accounts.services import signing_key_register
from hashbank.api.transparency import CosignatureApi
from hashbank.services.transparency import checkpoints_issue
from hashfed_wire import ed25519, key_transition, note, receipt
from tests.test_docs_client import documented_json, same_fields
from tests.test_docs_examples import (
    DOCS,
    EXAMPLE_KEY_VALID_FROM,
    EXAMPLE_LIST,
    EXAMPLE_PUBLIC_KEY,
    ROOT,
    example_hub_key,
    example_hub_key_install,
)

_FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_PLACEHOLDER = re.compile(r"<[^<>]+>")
HOST = "hub.example.org"


def blocks(document: str) -> list[tuple[str, str, str]]:
    """(language, text, the paragraph before) of each fenced block."""
    text = (DOCS / document).read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip().rsplit("\n\n", 1)[-1]
        found.append((match.group(1), match.group(2), before))
    return found


def fits_template(template: str, text: str) -> bool:
    """Each line of the template is the line of the text, `<…>` standing for any text."""
    lines, actual = template.rstrip("\n").split("\n"), text.rstrip("\n").split("\n")
    if len(lines) != len(actual):
        return False
    for line, real in zip(lines, actual, strict=True):
        pattern = ".+".join(re.escape(part) for part in _PLACEHOLDER.split(line))
        if not re.fullmatch(pattern, real):
            return False
    return True


def client_of(cast, label: str) -> APIClient:
    return cast[label].client()


@pytest.fixture
def example_log(cast, settings, tmp_path) -> dict[str, Any]:
    """The example hub (docs/api.md) signing with the example key: Lakeside's example list
    submitted and approved on arrival, the banks' checkpoints issued."""
    settings.HUB_ORIGIN = HOST
    example_hub_key_install(settings)
    signing_key_register(
        organisation=Organisation.objects.get(slug="lakeside"),
        public_key=EXAMPLE_PUBLIC_KEY,
        name="example key",
        valid_from=EXAMPLE_KEY_VALID_FROM,
        context=AuditContext.system(),
    )
    answer = client_of(cast, "lakeside/admin").post(
        "/api/v1/submissions/", EXAMPLE_LIST.read_bytes(), content_type="application/json"
    )
    assert answer.status_code == 200, answer.content
    checkpoints_issue()
    return answer.json()


# docs/transparency-log.md


def test_the_checkpoint_and_receipt_of_the_transparency_log_are_signed_by_the_example_hub_key():
    key = example_hub_key()
    fenced = blocks("transparency-log.md")
    checkpoint = next(text for _, text, _ in fenced if text.startswith(f"{HOST}/banks/TVEC\n"))
    opened = note.parse_checkpoint(note.split_text(checkpoint).encode())
    assert note.sign_checkpoint(opened, name=HOST, private_key=key) == checkpoint
    shown = next(text for _, text, _ in fenced if text.startswith(receipt.FORMAT_LINE))
    opened_receipt = receipt.parse_receipt(note.split_text(shown).encode())
    assert receipt.sign_receipt(opened_receipt, name=HOST, private_key=key) == shown
    assert opened_receipt.payload_digest == hashlib.sha256(b"example").hexdigest()
    vkey = note.Verifier(HOST, ed25519.public_key_raw(key)).vkey
    assert f"(verifier key of this example: `{vkey}`" in (DOCS / "transparency-log.md").read_text()


def test_the_key_transition_is_the_text_the_hub_signs():
    template = next(
        text for _, text, _ in blocks("transparency-log.md") if "/key-transition\n" in text
    )
    old, new = example_hub_key(), ed25519.Ed25519PrivateKey.generate()
    signed = key_transition.sign_transition(name=HOST, old=old, new=new, time=1780300800)
    assert fits_template(template, note.split_text(signed))
    assert not fits_template(template, note.split_text(signed) + "extra\n")


def test_the_json_of_the_transparency_log_is_what_the_hub_answers(example_log, cast):
    fenced = [text for language, text, _ in blocks("transparency-log.md") if language == "json"]
    assert len(fenced) == 4
    cosignature, well_known, inclusion = (documented_json(fenced[i]) for i in (0, 1, 3))
    sync_fragment = documented_json("{" + fenced[2] + "}")["checkpoints"]
    # The witness's request, and the answer the prose lists, are the view's own fields.
    assert set(cosignature) == set(CosignatureApi.InputSerializer().fields)
    prose = (DOCS / "transparency-log.md").read_text(encoding="utf-8")
    answer_fields = ", ".join(f'"{name}"' for name in CosignatureApi.OutputSerializer().fields)
    assert f"`{{{answer_fields}}}`" in prose

    call_command("rotate_hub_key", "--begin", stdout=StringIO())
    identity = APIClient().get("/.well-known/hashfed").json()
    assert [k["status"] for k in identity["keys"]] == ["current", "next"]
    assert (problem := same_fields(well_known, identity)) is None, problem

    reader = client_of(cast, "lakeside/admin")
    checkpoints = reader.get("/api/v1/sync/?cursor=0&limit=1000").json()["checkpoints"]
    assert set(sync_fragment) <= set(checkpoints)
    for bank, documented in sync_fragment.items():
        assert (problem := same_fields(documented, checkpoints[bank])) is None, problem

    submitted = example_log["results"][0]
    answer = reader.get(f"/api/v1/submissions/{submitted['id']}/inclusion").json()
    assert answer["state"] == "included"
    assert (problem := same_fields(inclusion, answer)) is None, problem


def test_the_audit_commands_of_the_transparency_log_run(example_log):
    commands = [
        line.split("  #", 1)[0].split()
        for language, text, _ in blocks("transparency-log.md")
        if language == "sh"
        for line in text.splitlines()
    ]
    assert commands and all(c[:3] == ["python", "manage.py", "verify_log"] for c in commands)
    for command in commands:
        out = StringIO()
        call_command(*command[2:], stdout=out, stderr=StringIO())
        assert "OK: the log passed its audit" in out.getvalue(), shlex.join(command)


def test_every_block_of_the_transparency_log_is_checked():
    languages = [language for language, _, _ in blocks("transparency-log.md")]
    # checkpoint, cosignature, key transition, well-known, sync, receipt, inclusion, audit,
    # and the verifier, which tests/hashbank/test_doc_verifier.py runs.
    assert languages == ["", "json", "", "json", "json", "", "json", "sh", "python"]
    assert "tests/hashbank/test_doc_verifier.py" in blocks("transparency-log.md")[-1][2]


# docs/log-formats.md


def test_the_formats_of_log_formats_md_are_what_the_code_writes():
    fenced = blocks("log-formats.md")
    assert [language for language, _, _ in fenced] == ["", ""]
    checkpoint_template, signature_template = (text for _, text, _ in fenced)
    body = note.checkpoint_body(note.Checkpoint(f"{HOST}/banks/TVEC", 57, b"\1" * 32, 1795860000))
    assert fits_template(checkpoint_template, body.decode())
    line = note.signature_line(body, name=HOST, private_key=example_hub_key())
    assert fits_template(signature_template, line)
    assert not fits_template(checkpoint_template, body.decode() + "extra\n")


# docs/transparency.md


def test_the_statistics_example_has_the_fields_the_hub_answers(example_log, cast):
    fenced = blocks("transparency.md")
    assert [language for language, _, _ in fenced] == ["json"]
    documented = documented_json(fenced[0][1])
    month = dt.datetime.now(dt.UTC).replace(day=1)
    following = (month + dt.timedelta(days=32)).replace(day=1)
    answer = client_of(cast, "open-harms-lab/researcher").get(
        f"/api/v1/statistics/?period_start={month:%Y-%m}&period_end={following:%Y-%m}"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["cells"]
    assert (problem := same_fields(documented, answer.json())) is None, problem
    cell = documented["cells"][0]
    assert set(cell["suppressed"]) == {k for k, v in cell["counts"].items() if v is None}


# docs/interop.md


def test_the_taxii_error_example_is_what_the_hub_answers(example_log, cast):
    fenced = [text for language, text, _ in blocks("interop.md") if language == "json"]
    assert len(fenced) == 1
    documented = json.loads(fenced[0])
    answer = client_of(cast, "northwind/admin").get(
        "/taxii2/hashfed/collections/00000000-0000-4000-8000-000000000000/",
        HTTP_ACCEPT="application/taxii+json;version=2.1",
    )
    assert answer.status_code == int(documented["http_status"]) == 404
    assert same_fields(documented, json.loads(answer.content)) is None
    assert json.loads(answer.content)["error_code"] == documented["error_code"]


def test_the_other_blocks_of_interop_md_say_where_they_run():
    fenced = blocks("interop.md")
    assert [language for language, _, _ in fenced] == [
        "", "", "python", "python", "", "json", "python",
    ]  # fmt: skip
    cli_test = (ROOT / "tests" / "client" / "test_threatexchange_cli.py").read_text("utf-8")
    for language, _, before in fenced:
        if language == "json":
            continue
        assert "illustrative" in before or re.search(r"`tests/\S+\.py`", before), before
    # The threatexchange commands shown are the ones the suite runs.
    shown = {
        line.split()[1]
        for line in fenced[1][1].splitlines()
        if line.startswith("threatexchange ") and not line.split()[1].startswith("-")
    }
    assert shown == {"config", "fetch", "dataset", "match", "label"}
    for command in shown:
        assert f'"{command}"' in cli_test, command
    taxii_test = (ROOT / "tests" / "taxii" / "test_taxii.py").read_text("utf-8")
    assert "as_pages(collection.get_objects" in taxii_test
