"""The engine: runs journeys.

``interpreter`` (pure ``step``) and ``plan`` are the functional core; ``embedded``
drives them from the SQLite event log in one process; ``sender`` turns send commands
into rendered messages through a channel ``provider`` (``outbox`` by default);
``definitions`` stores journeys, templates and API keys with ``eventsourcing``.
"""

from engine.interpreter import STEP_CAP, Emit, Send, message_id, resume, step
from engine.plan import Plan, compile_plan

__all__ = ["STEP_CAP", "Emit", "Plan", "Send", "compile_plan", "message_id", "resume", "step"]
