"""Projections: consumers that build the read model (SQL tables for analysts) from events.

``Projector`` reads the event log forward and applies ``handlers`` (event -> row
changes) in batches, committing the rows and the log position together; ``rebuild``
replays the whole log and ``checksum`` compares two builds. ``schema`` holds the DDL,
``queries`` the read helpers the API uses. Depends on ``journeys`` and ``engine`` only.

Analytics tables: ``commerce`` (orders, attributions, offers), ``membership`` (segment
membership history), ``rollups`` (daily message stats and revenue). ``rebuild_sqlite``
and ``pg_rebuild`` rebuild a read model into fresh tables and swap them in (``switchback
rebuild``/``checksum``); ``analyst_role`` creates the read-only PostgreSQL role.
"""

from projections.projector import Projector, checksum, connect, rebuild
from projections.queries import (
    contact_exists,
    find_contact_by_address,
    get_contact,
    journey_stats,
    list_contacts,
    list_messages,
)

__all__ = [
    "Projector",
    "checksum",
    "connect",
    "contact_exists",
    "find_contact_by_address",
    "get_contact",
    "journey_stats",
    "list_contacts",
    "list_messages",
    "rebuild",
]
