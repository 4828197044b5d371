"""Segment membership history: ``segment_membership`` from ``segment.entered``/``segment.exited``.

One row per stay: ``(workspace, segment_id, contact_id, entered_at, exited_at)``. A
contact is a current member while its row has ``exited_at IS NULL``; leaving closes that
row with the exit's time, entering again opens a new row. An entry while a row is open
(a repeated report under a new event id) and an exit without an open row change
nothing (an entry at the very time a closed stay began reopens that stay), so there is
at most one open row per contact and segment. Log order decides, as everywhere in the
read model: a rebuild replays the same reports in the same order.
Rows hold ids and times only and stay when a contact is erased.
"""

from __future__ import annotations

import sqlite3
from typing import Any


def _segment(event: dict[str, Any]) -> str | None:
    segment_id = (event.get("data") or {}).get("segment_id")
    return None if segment_id in (None, "") else str(segment_id)


def segment_entered(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    """segment.entered: open a stay unless one is open."""
    segment_id, at = _segment(event), event.get("occurred_at")
    if segment_id is None or not at:
        return
    key = (event["workspace"], segment_id, event["contact_id"])
    open_row = conn.execute("SELECT 1 FROM segment_membership WHERE workspace = ? AND segment_id = ?"
                            " AND contact_id = ? AND exited_at IS NULL", key).fetchone()
    if open_row is None:
        conn.execute("INSERT INTO segment_membership(workspace, segment_id, contact_id, entered_at, exited_at)"
                     " VALUES (?,?,?,?,NULL) ON CONFLICT(workspace, segment_id, contact_id, entered_at)"
                     " DO UPDATE SET exited_at = NULL",
                     (*key, at))


def segment_exited(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    """segment.exited: close the open stay (if any) at the exit's time."""
    segment_id, at = _segment(event), event.get("occurred_at")
    if segment_id is None or not at:
        return
    conn.execute("UPDATE segment_membership SET exited_at = ? WHERE workspace = ? AND segment_id = ?"
                 " AND contact_id = ? AND exited_at IS NULL", (at, event["workspace"], segment_id, event["contact_id"]))
