"""docs/client.md's commands, run as written against the example hub (docs/api.md, "Examples
in these documents"), in the order of the document, by the real ``hashfed`` command line in a
process of its own.

A line ``$ <command>`` of a ```sh block is run by bash in one working folder, with ``hashfed``
the installed client; ``.venv/bin/hashfed`` and ``python -m hashfed_client`` are the same
command. The lines under it, up to the next ``$``, are what it prints (standard error, then
standard output), each in order: a line with ``…`` stands for any text there; a hex or base64
token of 16 characters or more for any token of its length and alphabet (keys, hashes); a JSON
object for any JSON value the command prints with the same fields and values (``…`` as in the
HTTP examples). ``$ echo $?`` shows the exit status of the command before; every other command
must exit 0. Lines of a block without any ``$`` are commands too. ``export`` sets the
environment of what follows (``hf_…`` standing for Northwind's admin's API key); ``pip
install`` and ``python -m venv`` are left out (the client is installed already), and so is
``hashfed hash --local``, which needs the ``video`` extra the hub's suite does not require
(tests/hashbank/test_video_hashing.py checks it against the hub's own hashing).

The example hub signs with its fixed key (the seed of RFC 8032 section 7.1, test 2), so the
verifier key the document exports is the example hub's. Two steps a member would not take
happen between the commands, as the hub's people would do them: before ``hashfed inclusion``,
a moderator approves the pending submissions and the hub signs its checkpoints; before the
first ``hashfed submit`` and before ``hashfed verify``, the bank's latest checkpoint is saved
to the notes ``verify`` compares (alice.note, then bob.note), as two members would have kept
them.
The document's ``--signal 17`` is the signal its lookup found. Then the files the document
shows: its CSV and NDJSON rows parse, and its list record and state file have exactly the
fields of the ones ``sync`` wrote.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hashfed_client.submit import parse_csv, parse_ndjson

from hashbank.models import Signal
from hashbank.services.transparency import checkpoints_issue
from tests.conftest import approve_all
from tests.test_docs_examples import (  # noqa: F401 (the fixture)
    ANY,
    DOCS,
    ROOT,
    ExampleHub,
    example_hub,
    example_hub_key_install,
    matches,
)

CLIENT_DOC = DOCS / "client.md"
_SH_FENCE = re.compile(r"^```(?:sh|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_TOKEN = re.compile(r"[A-Za-z0-9+/=]{16,}")
_NOT_RUN = ("pip install", "python -m venv")
_VIDEO_EXTRA = "hashfed hash --local"


@dataclass
class Command:
    line: int
    text: str
    output: list[str] = field(default_factory=list)


def commands_of(text: str) -> list[Command]:
    commands: list[Command] = []
    for match in _SH_FENCE.finditer(text):
        first = text.count("\n", 0, match.start()) + 2
        lines = match.group(1).splitlines()
        prompted = any(line.startswith("$ ") for line in lines)
        pending = ""
        for offset, line in enumerate(lines):
            if prompted and not line.startswith("$ ") and not pending:
                if commands:
                    commands[-1].output.append(line)
                continue
            line = line.removeprefix("$ ") if not pending else line
            if line.endswith("\\"):
                pending += line[:-1]
                continue
            full = (pending + line).split("  # ", 1)[0].strip()
            pending = ""
            if full:
                commands.append(Command(first + offset, full))
    return commands


def token_pattern(token: str) -> str:
    if re.fullmatch(r"[0-9a-f]+", token):
        return f"[0-9a-f]{{{len(token)}}}"
    return f"[A-Za-z0-9+/=]{{{len(token)}}}"


def line_pattern(documented: str) -> re.Pattern[str]:
    parts = []
    for index, piece in enumerate(documented.split(ANY)):
        if index:
            parts.append(".*")
        position = 0
        for token in _TOKEN.finditer(piece):
            parts.append(re.escape(piece[position : token.start()]))
            parts.append(token_pattern(token.group()))
            position = token.end()
        parts.append(re.escape(piece[position:]))
    return re.compile("".join(parts))


def documented_json(text: str) -> Any:
    """A JSON value as the document writes it, a bare `…` standing for any value, any further
    items of a list, or any further fields of an object."""
    out, stack, in_string, escaped = [], [], False, False
    for char in text:
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
            out.append(char)
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]":
            stack.pop()
        elif char == ANY:
            before = "".join(out).rstrip()
            char = f'"{ANY}"' if before.endswith(":") or stack[-1] == "[" else f'"{ANY}": "{ANY}"'
        out.append(char)
    return json.loads("".join(out))


def same_fields(documented: Any, actual: Any, path: str = "") -> str | None:
    """None when every object of the example has exactly the fields of the hub's answer at
    that place (list items compared with the answer's items, its last for any further)."""
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return f"{path or 'the body'} is not an object in the answer"
        shown = set(documented) - {ANY}
        if set(actual) != shown and not (ANY in documented and shown <= set(actual)):
            where = path or "the body"
            return f"{where}: the code gives {sorted(actual)}, the example {sorted(shown)}"
        for key in sorted(shown):
            if (problem := same_fields(documented[key], actual[key], f"{path}.{key}")) is not None:
                return problem
    elif isinstance(documented, list) and isinstance(actual, list) and actual:
        for index, item in enumerate(x for x in documented if x != ANY):
            answer = actual[min(index, len(actual) - 1)]
            if (problem := same_fields(item, answer, f"{path}[{index}]")) is not None:
                return problem
    return None


def printed(text: str) -> list[Any]:
    """What a command printed: each JSON object (one line or indented), else each line."""
    items: list[Any] = []
    decoder, position = json.JSONDecoder(), 0
    while position < len(text):
        if text[position] in " \n":
            position += 1
            continue
        if text[position] == "{":
            try:
                value, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                pass
            else:
                items.append(value)
                continue
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        items.append(text[position:end])
        position = end
    return items


def check_output(command: Command, stdout: str, stderr: str) -> None:
    remaining = printed(stderr) + printed(stdout)
    for documented in command.output:
        if documented.strip() in ("", ANY):
            continue
        expected = documented_json(documented) if documented.startswith("{") else None
        for index, item in enumerate(remaining):
            if expected is not None:
                found = matches(expected, item) is None
            else:
                found = isinstance(item, str) and bool(line_pattern(documented).fullmatch(item))
            if found:
                remaining = remaining[index + 1 :]
                break
        else:
            pytest.fail(
                f"client.md:{command.line}: `{command.text}` did not print {documented!r}; "
                f"it printed:\n{stderr}{stdout}"
            )


def save_checkpoint(hub: ExampleHub, path: Path) -> None:
    checkpoints_issue()
    answer = httpx.get(
        f"{hub.url}/api/v1/banks/TVEC/checkpoint",
        headers={"Authorization": f"Bearer {hub.api_keys['northwind/admin']}"},
        trust_env=False,
    )
    assert answer.status_code == 200, answer.text
    path.write_text(answer.text, encoding="utf-8")


def test_the_verifier_key_of_the_example_hub_is_the_one_the_documents_show(settings):
    example_key = example_hub_key_install(settings)
    for document in ("api.md", "client.md", "transparency-log.md"):
        text = (DOCS / document).read_text(encoding="utf-8")
        shown = set(re.findall(r"hub\.example\.org\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+", text))
        assert shown and all(example_key.startswith(key) for key in shown), document


def test_every_command_of_client_md_runs_against_a_live_hub(
    example_hub,  # noqa: F811 (the fixture of test_docs_examples)
    tmp_path,
):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "fixtures" / "docs" / "removed.csv", work)
    shutil.copy(ROOT / "fixtures" / "docs" / "example.png", work / "frame.png")
    bin_dir = tmp_path / "bin"
    (bin_dir / ".venv" / "bin").mkdir(parents=True)
    for place in (bin_dir / "hashfed", bin_dir / ".venv" / "bin" / "hashfed"):
        place.write_text(f'#!/bin/sh\nexec {sys.executable} -m hashfed_client "$@"\n')
        place.chmod(place.stat().st_mode | stat.S_IXUSR)
    shutil.copytree(bin_dir / ".venv", work / ".venv")
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HASHFED_URL": example_hub.url,
        "NO_PROXY": "localhost,127.0.0.1",
        "no_proxy": "localhost,127.0.0.1",
    }
    environment.pop("HASHFED_API_KEY", None)
    environment.pop("HASHFED_HUB_KEY", None)
    commands = commands_of(CLIENT_DOC.read_text(encoding="utf-8"))
    verifies = [c for c in commands if c.text.startswith("hashfed verify")]
    assert [c.text.split()[1] for c in commands if c.text.startswith("hashfed ")] and verifies
    last_status, ran = 0, set()
    for command in commands:
        text = command.text
        if text.startswith(_NOT_RUN) or text.startswith(_VIDEO_EXTRA):
            continue
        if text == "echo $?":
            assert [str(last_status)] == [line for line in command.output if line], command.line
            continue
        if text.startswith("export "):
            text = text.replace("hf_" + ANY, example_hub.api_keys["northwind/admin"])
            done = subprocess.run(
                ["bash", "-c", f"{text} && env -0"],
                cwd=work,
                env=environment,
                capture_output=True,
                text=True,
                check=True,
            )
            environment = dict(v.split("=", 1) for v in done.stdout.split("\0") if "=" in v)
            continue
        words = text.split()
        subcommand = words[1] if len(words) > 1 else ""
        if subcommand == "submit" and "alice.note" not in ran:
            save_checkpoint(example_hub, work / "alice.note")
            ran.add("alice.note")
        if subcommand == "inclusion":
            approve_all("northwind")
            checkpoints_issue()
        if subcommand == "verify":
            save_checkpoint(example_hub, work / "bob.note")
        if "--signal 17" in text:
            listed = Signal.objects.get(value="d41d8cd98f00b204e9800998ecf8427e")
            text = text.replace("--signal 17", f"--signal {listed.pk}")
        done = subprocess.run(
            ["bash", "-c", text],
            cwd=work,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        last_status = done.returncode
        following = commands[commands.index(command) + 1 :]
        status_shown = bool(following) and following[0].text == "echo $?"
        assert status_shown or done.returncode == 0, (
            f"client.md:{command.line}: `{text}` exited {done.returncode}\n{done.stderr}"
        )
        check_output(command, done.stdout, done.stderr)
        ran.add(subcommand)
    assert {"keygen", "register-key", "submit", "inclusion", "sync", "lookup", "hash"} <= ran
    assert {"dispute", "opinion", "verify", "--help"} <= ran
    check_files(work)


def check_files(work: Path) -> None:
    """The files the document shows: the input it reads, the list and state sync writes."""
    fenced = re.findall(r"^```(csv|json)\n(.*?)^```", CLIENT_DOC.read_text("utf-8"), re.M | re.S)
    csv_rows, ndjson_rows, record, state, evidence = (text for _, text in fenced)
    rows, errors = parse_csv(io.StringIO(csv_rows))
    assert len(rows) == 2 and not errors
    rows, errors = parse_ndjson(io.StringIO(ndjson_rows))
    assert len(rows) == 2 and not errors
    listed = [json.loads(line) for line in (work / "tvec-list.ndjson").read_text().splitlines()]
    assert (problem := same_fields(documented_json(record), listed[-1])) is None, problem
    saved = json.loads((work / "tvec-list.state.json").read_text())
    assert (problem := same_fields(documented_json(state), saved)) is None, problem
    assert documented_json(evidence)["type"] == "hashfed-misbehaviour"


def test_the_output_checks_refuse_what_the_document_does_not_show():
    command = Command(1, "hashfed lookup", ['{"index": 0, "matches": [], …}', "accepted 41"])
    check_output(command, '{"index": 0, "matches": [], "error": null}\naccepted 41\n', "")
    with pytest.raises(pytest.fail.Exception):
        check_output(command, '{"index": 1, "matches": []}\naccepted 41\n', "")
    with pytest.raises(pytest.fail.Exception):
        check_output(command, '{"index": 0, "matches": []}\naccepted 40\n', "")
    key = Command(1, "hashfed keygen", ["key_id: " + "ab" * 32])
    check_output(key, "key_id: " + "0f" * 32 + "\n", "")
    with pytest.raises(pytest.fail.Exception):
        check_output(key, "key_id: " + "0f" * 31 + "\n", "")
    assert documented_json('{"a": …, "b": [1, …], …}') == {"a": ANY, "b": [1, ANY], ANY: ANY}
