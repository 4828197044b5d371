"""The engine: runs journeys.

``interpreter`` (pure ``step``) and ``plan`` are the functional core; ``processing``
interprets batches without storage; ``runtime`` drives it from the SQLite event log in
one process (embedded) and ``distributed`` from Kafka with state in PostgreSQL (Faust
workers); ``sender`` turns send commands into rendered messages through a channel
``provider`` (``outbox`` by default); ``definitions`` stores journeys, templates and API
keys with ``eventsourcing`` (SQLite or PostgreSQL) and ``relay`` publishes their changes.
"""

from engine.interpreter import STEP_CAP, Emit, Send, message_id, resume, step
from engine.plan import Plan, compile_plan

__all__ = ["STEP_CAP", "Emit", "Plan", "Send", "compile_plan", "message_id", "resume", "step"]
