"""Contact import: CSV rows become ``contact.created`` / ``contact.updated`` events.

Columns: ``email``, ``phone``, ``first_name``, ``last_name``, ``tags`` (comma
separated, lower-cased), optional ``contact_id``/``id``; every other column becomes an
attribute. Each bad row yields an error with its line number (line 1 is the header)
and never stops the good rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ().\-]{6,20}$")
MAX_ROWS = 200_000


@dataclass
class ImportRow:
    line: int
    contact_id: str
    attributes: dict[str, Any]
    tags: list[str]


@dataclass
class ImportResult:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def contact_id_for(workspace: str, email: str | None, phone: str | None) -> str:
    """A stable id from the address, so importing the same file twice updates, not duplicates."""
    key = (email or "").strip().lower() or re.sub(r"[^0-9+]", "", phone or "")
    return "c_" + hashlib.blake2b(f"{workspace}:{key}".encode(), digest_size=10).hexdigest()


def parse_contacts_csv(text: str, workspace: str = "default", first_line: int = 1,
                       existing: Callable[[str, str | None, str | None], str | None] | None = None) -> ImportResult:
    """Parse a CSV document. ``first_line`` is the header's line number in the whole file
    (for chunked uploads); ``existing(workspace, email, phone)`` finds a known contact id."""
    result = ImportResult()
    try:
        reader = csv.DictReader(io.StringIO(text), strict=True)
        header = reader.fieldnames
    except csv.Error as exc:
        result.errors.append({"line": first_line, "error": f"unreadable CSV header: {exc}"})
        return result
    if not header:
        result.errors.append({"line": first_line, "error": "the file is empty; the first line must name the columns"})
        return result
    names = [h.strip().lower() for h in header]
    if "email" not in names and "phone" not in names and "contact_id" not in names and "id" not in names:
        result.errors.append({"line": first_line, "error": "the header needs an 'email', 'phone' or 'contact_id' column"})
        return result
    if len(set(names)) != len(names):
        result.errors.append({"line": first_line, "error": "the header names a column twice"})
        return result
    lines = text.splitlines(keepends=True)
    resume = (0, reader)  # (physical lines of ``text`` before the reader's first line, reader)
    while resume is not None:
        resume = _read_rows(resume[1], lines, resume[0], names, header, first_line, workspace, existing, result)
    return result


def _read_rows(reader, lines: list[str], base: int, names: list[str], header: list[str], first_line: int,
               workspace: str, existing, result: ImportResult):
    """Read rows until the end, or until a broken row (e.g. an unterminated quote): then
    report it at its first line and return ``(base, reader)`` resuming on the next line."""
    start = reader.line_num + 1  # the reader's line number where the next record starts
    try:
        for raw in reader:
            while base + start - 1 < len(lines) and not lines[base + start - 1].strip("\r\n"):
                start += 1  # the reader skipped blank lines before this record
            line = first_line + base + start - 1  # the record's first line in the whole file
            start = reader.line_num + 1
            if len(result.rows) >= MAX_ROWS:
                result.errors.append({"line": line, "error": f"more than {MAX_ROWS} rows; split the file"})
                return None
            row = _row(raw, names, header, line, workspace, existing, result.errors)
            if row:
                result.rows.append(row)
    except csv.Error as exc:
        broken = base + start  # 1-based physical line in ``text`` where the broken record starts
        result.errors.append({"line": first_line + broken - 1, "error": f"broken CSV row ({exc}); check its quotes"})
        rest = lines[broken:]
        if not rest:
            return None
        return broken, csv.DictReader(io.StringIO("".join(rest)), fieldnames=header, strict=True)
    return None


def _row(raw: dict, names: list[str], header: list[str], line: int, workspace: str,
         existing, errors: list[dict[str, Any]]) -> ImportRow | None:
    if None in raw:
        errors.append({"line": line, "error": f"{len(header) + len(raw[None])} values but the header has {len(header)} columns"})
        return None
    values = {n: (raw[h] or "").strip() for n, h in zip(names, header)}
    if any(v is None for v in raw.values()):
        errors.append({"line": line, "error": f"fewer values than the {len(header)} columns of the header"})
        return None
    if not any(values.values()):
        return None  # blank line
    email = values.pop("email", "") or None
    phone = values.pop("phone", "") or None
    given = values.pop("contact_id", "") or values.pop("id", "") or None
    values.pop("id", None)
    if email and not _EMAIL.match(email):
        errors.append({"line": line, "column": "email", "error": f"{email!r} is not an email address"})
        return None
    if phone and not _PHONE.match(phone):
        errors.append({"line": line, "column": "phone", "error": f"{phone!r} is not a phone number"})
        return None
    if not (email or phone or given):
        errors.append({"line": line, "error": "the row has no email, phone or contact_id"})
        return None
    tags = sorted({t.strip().lower() for t in values.pop("tags", "").split(",") if t.strip()})
    attributes: dict[str, Any] = {k: v for k, v in values.items() if v != ""}
    if email:
        attributes["email"] = email.lower()
    if phone:
        attributes["phone"] = phone
    contact_id = given or (existing and existing(workspace, email and email.lower(), phone)) or contact_id_for(workspace, email, phone)
    return ImportRow(line=line, contact_id=contact_id, attributes=attributes, tags=tags)


def rows_to_events(rows: Iterable[ImportRow], known: set[str], workspace: str = "default") -> list[dict[str, Any]]:
    """``contact.created`` for new ids, ``contact.updated`` for ``known`` ones (plain envelopes)."""
    events = []
    for row in rows:
        data = dict(row.attributes)
        if row.tags:
            data["tags"] = row.tags
        events.append({
            "type": "contact.updated" if row.contact_id in known else "contact.created",
            "workspace": workspace,
            "contact_id": row.contact_id,
            "source": "import",
            "data": data,
        })
    return events
