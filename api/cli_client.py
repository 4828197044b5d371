"""The CLI's HTTP side: finds the API key, sends JSONL events and CSV chunks with
progress bars, and maps server errors back to line numbers of the user's file."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any, Callable

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table


def connect(url: str, key: str | None, data_dir: Path, fail: Callable[[str], None]) -> httpx.Client:
    if not key:
        path = data_dir / "admin-key"
        if path.exists():
            key = path.read_text().strip()
        else:
            fail(f"no API key: pass --key, set SWITCHBACK_API_KEY, or run in the folder with {path}")
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    try:
        client.get("/healthz").raise_for_status()
    except httpx.HTTPError as exc:
        fail(f"cannot reach Switchback at {url} ({exc}); start it with 'switchback up'")
    return client


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=not console.is_terminal)


def emit_file(client: httpx.Client, file: Path, batch: int, console: Console) -> dict[str, Any]:
    lines = file.read_bytes().splitlines()
    result = {"accepted": 0, "duplicates": 0, "rejected": 0, "errors": []}
    pending: list[tuple[int, Any]] = []

    def flush() -> None:
        if not pending:
            return
        response = client.post("/v1/events", json={"batch": [item for _, item in pending]})
        data = response.json()
        if response.status_code not in (202, 422) or "accepted" not in data:
            raise SystemExit(f"the server refused the batch: {response.status_code} {data}")
        result["accepted"] += len(data["accepted"])
        result["duplicates"] += len(data["duplicates"])
        bad = {}
        for problem in (data.get("error") or {}).get("details", []):
            line = pending[problem["index"]][0]
            bad[line] = True
            loc = problem["loc"].split("]", 1)[-1].lstrip(".") or "event"
            result["errors"].append({"line": line, "loc": loc, "message": problem["message"]})
        result["rejected"] += len(bad)
        pending.clear()

    with _progress(console) as progress:
        task = progress.add_task(f"sending {file.name}", total=len(lines))
        for number, raw in enumerate(lines, start=1):
            progress.advance(task)
            if not raw.strip():
                continue
            try:
                pending.append((number, orjson.loads(raw)))
            except orjson.JSONDecodeError as exc:
                result["errors"].append({"line": number, "loc": "line", "message": f"not valid JSON: {exc}"})
                result["rejected"] += 1
                continue
            if len(pending) >= batch:
                flush()
        flush()
    result["errors"].sort(key=lambda e: e["line"])
    return result


def import_file(client: httpx.Client, file: Path, chunk: int, console: Console) -> dict[str, Any]:
    raw = file.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        return {"created": 0, "updated": 0, "failed": 0,
                "errors": [{"line": line, "error": f"the file is not UTF-8 (byte {exc.start}); save the CSV as UTF-8"}]}
    lines = text.splitlines(keepends=True)
    if not lines:
        return {"created": 0, "updated": 0, "failed": 0, "errors": [{"line": 1, "error": "the file is empty"}]}
    header, rows = lines[0], lines[1:]
    result = {"created": 0, "updated": 0, "failed": 0, "errors": []}
    with _progress(console) as progress:
        task = progress.add_task(f"importing {file.name}", total=len(rows))
        start = 0
        while start < len(rows) or start == 0:
            part = rows[start:start + chunk]
            # never split a quoted field across chunks: extend while quotes are unbalanced
            end = start + len(part)
            while end < len(rows) and "".join(part).count('"') % 2:
                part.append(rows[end])
                end += 1
            first_line = start + 1  # the header's line number for this chunk, so rows keep their numbers
            response = client.post("/v1/contacts/import", files={"file": (file.name, header + "".join(part), "text/csv")},
                                   data={"first_line": str(first_line)})
            data = response.json()
            if response.status_code not in (200, 422) or "created" not in data:
                raise SystemExit(f"the server refused the import: {response.status_code} {data}")
            for key in ("created", "updated", "failed"):
                result[key] += data[key]
            details = (data.get("error") or {}).get("details", [])
            result["errors"].extend(details)
            progress.advance(task, len(part))
            start = end
            # a problem at the header's line: every chunk shares that header, so report it once
            if not rows or any(e.get("line") == first_line for e in details):
                break
    return result


def print_simulation(console: Console, result) -> None:
    table = Table(title="Simulated journey", show_lines=True)
    table.add_column("contact")
    table.add_column("path")
    table.add_column("messages")
    table.add_column("exit")
    for contact_id, contact in sorted(result.contacts.items()):
        messages = "\n".join(f"{m['channel']} {m['template']} @ {m['at']}" for m in contact.messages) or "-"
        exits = ", ".join(f"{e['reason']} at {e['node_id']}" for e in contact.exits) or "(still in journey)"
        table.add_row(contact_id, " -> ".join(contact.path), messages, exits)
    console.print(table)
