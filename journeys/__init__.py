"""The domain language of Switchback: pure, dependency-light, no I/O.

What lives here: the event envelope and its catalogue (``events``), ISO-8601
durations (``durations``), the journey graph in React Flow shape and its
validator (``graph``, ``validation``), the segment rule model with its in-memory
evaluator (``rules``), the per-contact state folded from events (``contact``) and
the CSV-to-event mapping for contact imports (``contacts_csv``). Everything here
is plain data in, plain data out; runtimes and stores live in ``engine``.
"""

from journeys.contact import apply_event, new_contact
from journeys.durations import DurationError, parse_duration
from journeys.events import CATALOGUE, Event, new_event_id
from journeys.graph import Edge, Journey, JourneySettings, Node
from journeys.rules import RuleError, evaluate, parse_rule
from journeys.validation import Problem, validate_journey

__all__ = [
    "CATALOGUE",
    "DurationError",
    "Edge",
    "Event",
    "Journey",
    "JourneySettings",
    "Node",
    "Problem",
    "RuleError",
    "apply_event",
    "evaluate",
    "new_contact",
    "new_event_id",
    "parse_duration",
    "parse_rule",
    "validate_journey",
]
