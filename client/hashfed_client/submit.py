"""Rows of a member's file (CSV or NDJSON) to signed version-1 envelopes, with every
problem reported per line before anything is sent (``docs/signing.md``)."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hashfed_client.errors import InputError
from hashfed_wire import ed25519, envelope

ROW_FIELDS = ("signal_type", "value", "labels", "note", "incident")
REQUIRED_ROW_FIELDS = ("signal_type", "value", "labels")


@dataclass(frozen=True)
class Row:
    """One signal to submit, as read from line ``line`` of the input file."""

    line: int
    signal_type: str
    value: str
    labels: tuple[str, ...]
    note: str | None = None
    incident: str | None = None

    def content(self, bank: str) -> dict[str, Any]:
        """What the row states, in payload field names; empty optional fields are
        left out (absent and ``null`` are different signed bytes)."""
        content: dict[str, Any] = {
            "bank": bank,
            "signal_type": self.signal_type,
            "value": self.value,
            "labels": list(self.labels),
        }
        if self.note is not None:
            content["note"] = self.note
        if self.incident is not None:
            content["incident"] = self.incident
        return content


@dataclass(frozen=True)
class RowError:
    """Why a row cannot be submitted; ``field`` names the column or payload path."""

    line: int
    code: str
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f" {self.field}" if self.field else ""
        return f"line {self.line}: {self.code}{where}: {self.message}"


def _optional_text(value: str | None) -> str | None:
    return value if value else None


def _labels_from_cell(cell: str) -> tuple[str, ...]:
    return tuple(label.strip() for label in cell.split(";") if label.strip())


def _row_from_cells(line: int, cells: Mapping[str, str]) -> Row | RowError:
    for name in ("signal_type", "value"):
        if not cells.get(name):
            return RowError(line, "missing_field", name, f"{name} is empty")
    labels = _labels_from_cell(cells.get("labels", ""))
    if not labels:
        return RowError(line, "missing_field", "labels", "at least one label is needed")
    return Row(
        line=line,
        signal_type=cells["signal_type"],
        value=cells["value"],
        labels=labels,
        note=_optional_text(cells.get("note")),
        incident=_optional_text(cells.get("incident")),
    )


def _header_problem(columns: Sequence[str]) -> str | None:
    unknown = [name for name in columns if name not in ROW_FIELDS]
    if unknown:
        return f"unknown column {unknown[0]!r}; columns are {', '.join(ROW_FIELDS)}"
    missing = [name for name in REQUIRED_ROW_FIELDS if name not in columns]
    if missing:
        return f"missing column {missing[0]!r}"
    if len(set(columns)) != len(columns):
        return "a column is named twice"
    return None


def parse_csv(lines: Iterable[str]) -> tuple[list[Row], list[RowError]]:
    """Read ``signal_type,value,labels[,note][,incident]`` rows.

    Labels are separated by ``;``. Every cell is stripped of surrounding spaces; an
    empty note or incident is left out. A first row starting with ``signal_type`` is
    a header naming the columns, in any order. Blank rows are skipped. Returns the
    good rows and one RowError per bad row (line numbers count from 1); after a
    header error or broken quoting nothing more is read.
    """
    rows: list[Row] = []
    errors: list[RowError] = []
    reader = csv.reader(lines)
    header: list[str] | None = None
    seen_content = False
    end_of_previous = 0
    try:
        for record in reader:
            # A quoted cell may span lines: report the line where the row starts.
            line, end_of_previous = end_of_previous + 1, reader.line_num
            cells = [cell.strip() for cell in record]
            if not any(cells):
                continue
            if not seen_content and cells[0] == "signal_type":
                seen_content = True
                problem = _header_problem(cells)
                if problem:
                    return [], [RowError(line, "invalid_header", None, problem)]
                header = cells
                continue
            seen_content = True
            columns = header or ROW_FIELDS
            # Trailing optional cells may be left out, as hand-written files do.
            if len(cells) > len(columns) or (header is None and len(cells) < 3):
                expected = f"at most {len(header)}" if header else "3 to 5"
                message = f"expected {expected} columns, got {len(cells)}"
                errors.append(RowError(line, "invalid_row", None, message))
                continue
            result = _row_from_cells(line, dict(zip(columns, cells, strict=False)))
            if isinstance(result, RowError):
                errors.append(result)
            else:
                rows.append(result)
    except csv.Error as exc:
        errors.append(RowError(end_of_previous + 1, "malformed_csv", None, str(exc)))
    return rows, errors


def _ndjson_row(line: int, obj: object) -> Row | RowError:
    if not isinstance(obj, dict):
        return RowError(line, "invalid_row", None, "each line must be a JSON object")
    unknown = sorted(set(obj) - set(ROW_FIELDS))
    if unknown:
        return RowError(line, "unknown_field", unknown[0], f"unknown field {unknown[0]!r}")
    for name in REQUIRED_ROW_FIELDS:
        if name not in obj:
            return RowError(line, "missing_field", name, f"missing field {name!r}")
    for name in ("signal_type", "value"):
        if not isinstance(obj[name], str) or not obj[name]:
            return RowError(line, "invalid_field", name, "must be a non-empty string")
    labels = obj["labels"]
    if not isinstance(labels, list) or not labels:
        return RowError(line, "invalid_field", "labels", "must be a non-empty list of strings")
    for index, label in enumerate(labels):
        if not isinstance(label, str):
            return RowError(line, "invalid_field", f"labels[{index}]", "must be a string")
    for name in ("note", "incident"):
        if obj.get(name) is not None and not isinstance(obj[name], str):
            return RowError(line, "invalid_field", name, "must be a string or null")
    return Row(
        line=line,
        signal_type=obj["signal_type"],
        value=obj["value"],
        labels=tuple(labels),
        note=_optional_text(obj.get("note")),
        incident=_optional_text(obj.get("incident")),
    )


def parse_ndjson(lines: Iterable[str]) -> tuple[list[Row], list[RowError]]:
    """Read one JSON object per line: ``{"signal_type", "value", "labels": [...],
    "note"?, "incident"?}``. Values are kept byte for byte; a null or empty note or
    incident is left out; blank lines are skipped. The JSON is parsed as strictly as
    the hub parses envelopes (no duplicate keys, NaN or overflowing numbers).
    Returns the good rows and one RowError per bad line."""
    rows: list[Row] = []
    errors: list[RowError] = []
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            obj = envelope.parse_json_strict(text)
        except envelope.EnvelopeError as exc:
            errors.append(RowError(line, exc.code, exc.field, exc.message))
            continue
        result = _ndjson_row(line, obj)
        if isinstance(result, RowError):
            errors.append(result)
        else:
            rows.append(result)
    return rows, errors


def utc_now_rfc3339() -> str:
    """Now, in the form ``docs/signing.md`` requires: ``2026-11-25T12:00:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_created_at(text: str) -> str:
    """A user-given time as an RFC 3339 UTC string ending in ``Z``. Raises InputError
    for a time without an offset (it would be ambiguous)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InputError(f"not a time: {text!r} (example: 2026-11-25T12:00:00Z)") from exc
    if moment.tzinfo is None:
        raise InputError(f"give the time in UTC with a Z, e.g. {text.strip()}Z")
    moment = moment.astimezone(UTC)
    fraction = f".{moment.microsecond:06d}" if moment.microsecond else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def row_submission_id(row: Row, *, bank: str, namespace: uuid.UUID) -> str:
    """The row's deterministic submission id: UUID version 5 of ``namespace`` and the
    JCS canonical JSON of ``row.content(bank)``. The same statement in the same bank
    gets the same id whatever the file's format, order or spacing."""
    name = envelope.canonical_bytes(row.content(bank)).decode("utf-8")
    return str(uuid.uuid5(namespace, name))


def build_envelopes(
    rows: Sequence[Row],
    *,
    private_key: Ed25519PrivateKey,
    bank: str,
    organisation: str,
    audience: str,
    created_at: str | None = None,
    id_namespace: uuid.UUID | None = None,
) -> tuple[list[tuple[Row, dict[str, Any]]], list[RowError]]:
    """Build and sign one version-1 envelope per row.

    ``id`` is a random UUID4, or ``row_submission_id`` when ``id_namespace`` is given;
    ``created_at`` defaults to now. Each envelope is checked with the hub's own
    structural rules (``hashfed_wire.envelope.envelope_from_obj``), so a row the hub would refuse
    for its shape (a label that is not a slug, a note over 500 characters...) is
    reported here, with the payload path as ``field``, instead of being sent.
    """
    key_id = ed25519.key_id_for(ed25519.public_key_raw(private_key))
    created_at = created_at or utc_now_rfc3339()
    built: list[tuple[Row, dict[str, Any]]] = []
    errors: list[RowError] = []
    for row in rows:
        if id_namespace is None:
            submission_id = str(uuid.uuid4())
        else:
            submission_id = row_submission_id(row, bank=bank, namespace=id_namespace)
        payload = {
            "version": envelope.ENVELOPE_VERSION,
            "audience": audience,
            "id": submission_id,
            "created_at": created_at,
            "organisation": organisation,
            "key_id": key_id,
            **row.content(bank),
        }
        try:
            signed = envelope.sign_payload(private_key, payload)
            envelope.envelope_from_obj(signed)
        except envelope.EnvelopeError as exc:
            errors.append(RowError(row.line, exc.code, exc.field, exc.message))
            continue
        built.append((row, signed))
    return built, errors
