"""The functional core stays pure, checked mechanically on the source.

``journeys/`` (the domain language) and the interpreter with its plan and local-time
helpers (``engine/interpreter.py``, ``engine/plan.py``, ``engine/localtime.py``) may not
import a runtime, a database driver, a broker client, an HTTP stack, the OS, randomness
or the wall clock, may not call the clock (``datetime.now``, ``time.time``, ...), and
may not import upward (``journeys`` imports nothing of ``engine``/``projections``/``api``;
the interpreter imports only ``journeys`` and the other pure engine modules). Replays
and the property tests rely on it: the same inputs must give the same outputs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_ENGINE = ("engine/interpreter.py", "engine/plan.py", "engine/localtime.py")
MODULES = sorted({*(p.relative_to(ROOT).as_posix() for p in (ROOT / "journeys").rglob("*.py")), *PURE_ENGINE})

FORBIDDEN_IMPORTS = frozenset({
    # I/O, networking, concurrency and runtimes
    "sqlite3", "socket", "http", "httpx", "requests", "urllib", "asyncio", "threading", "multiprocessing",
    "concurrent", "subprocess", "faust", "aiokafka", "kafka", "psycopg", "psycopg2", "boto3", "botocore",
    "fastapi", "starlette", "uvicorn", "eventsourcing", "os",
    # nondeterminism: randomness, ids from the clock, the clock itself
    "random", "secrets", "uuid", "ulid", "time",
})
CLOCK_METHODS = frozenset({"now", "utcnow", "today"})  # datetime.now(), date.today(), clock.now(), ...
TIME_FUNCTIONS = frozenset({"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"})
FORBIDDEN_CALLS = frozenset({
    "open", "input", "hash", "__import__", "import_module",  # hash() of a str changes per process
    "ULID", "uuid1", "uuid4", "urandom", "token_hex", "token_urlsafe", "token_bytes",
    "utcnow", "new_event_id",  # the ingestion edge's defaults (journeys/events.py), never for the core
})

# The only exceptions, all in journeys/events.py: the event envelope is also the
# ingestion edge's model, and an envelope arriving without ``id``/``occurred_at``/
# ``received_at`` gets a fresh ULID and the current time there, once, before the event
# is logged. The interpreter and the rule evaluator never reach these: they get the
# time as an argument and ids from the events they are given (the test below checks
# that nothing outside events.py calls ``utcnow``/``new_event_id``).
ALLOWED = frozenset({
    ("journeys/events.py", "import ulid", None),
    ("journeys/events.py", "call ULID", "new_event_id"),
    ("journeys/events.py", "call datetime.now", "utcnow"),
    ("journeys/events.py", "call utcnow", "Event.to_record"),  # received_at when the edge did not set one
})


@dataclass(frozen=True)
class Finding:
    module: str
    line: int
    what: str
    scope: str | None

    def __str__(self) -> str:
        where = f" in {self.scope}" if self.scope else ""
        return f"{self.module}:{self.line}{where}: {self.what}"


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}()"
    return "?"


class _Scanner(ast.NodeVisitor):
    def __init__(self, module: str):
        self.module = module
        self.scope: list[str] = []
        self.findings: list[Finding] = []

    def _add(self, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(self.module, node.lineno, what, ".".join(self.scope) or None))

    def _scoped(self, node) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def _check_module(self, node: ast.AST, name: str) -> None:
        top = name.split(".")[0]
        if top in FORBIDDEN_IMPORTS:
            self._add(node, f"import {top}")
        package = self.module.split("/")[0]
        if package == "journeys" and top in ("engine", "projections", "api"):
            self._add(node, f"import {name} (journeys may not import upward)")
        if package == "engine" and top in ("projections", "api"):
            self._add(node, f"import {name} (the interpreter may not import upward)")
        if package == "engine" and top == "engine" and name not in (
                "engine", *(m.removesuffix(".py").replace("/", ".") for m in PURE_ENGINE)):
            self._add(node, f"import {name} (only the pure engine modules)")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self._add(node, "relative import (write the absolute module)")
        elif node.module == "engine":
            for alias in node.names:
                self._check_module(node, f"engine.{alias.name}")
        else:
            self._check_module(node, node.module or "")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            receiver = _dotted(func.value)
            if func.attr in CLOCK_METHODS:
                self._add(node, f"call {receiver}.{func.attr}")
            elif func.attr in TIME_FUNCTIONS and receiver.split(".")[-1] == "time":
                self._add(node, f"call {receiver}.{func.attr}")
            elif func.attr in FORBIDDEN_CALLS:
                self._add(node, f"call {func.attr}")
        elif isinstance(func, ast.Name) and (func.id in FORBIDDEN_CALLS or func.id in CLOCK_METHODS
                                             or func.id in TIME_FUNCTIONS - {"time"}):
            self._add(node, f"call {func.id}")
        self.generic_visit(node)


def scan(module: str, source: str | None = None) -> list[Finding]:
    source = (ROOT / module).read_text() if source is None else source
    scanner = _Scanner(module)
    scanner.visit(ast.parse(source, filename=module))
    return scanner.findings


def test_the_scanned_modules_exist():
    assert "journeys/events.py" in MODULES and "journeys/rules.py" in MODULES and "journeys/contact.py" in MODULES
    for module in PURE_ENGINE:
        assert (ROOT / module).exists(), module


@pytest.mark.parametrize("module", MODULES)
def test_module_is_pure(module):
    findings = [f for f in scan(module) if (f.module, f.what, f.scope) not in ALLOWED]
    assert not findings, "impure code in the functional core (pass the clock/ids in, do I/O in a runtime):\n" + \
        "\n".join(map(str, findings))


def test_every_exception_is_still_needed():
    found = {(f.module, f.what, f.scope) for f in scan("journeys/events.py")}
    assert ALLOWED <= found, f"remove stale exceptions: {sorted(ALLOWED - found, key=str)}"


@pytest.mark.parametrize(("source", "expected"), [
    ("import sqlite3", "import sqlite3"),
    ("import os.path", "import os"),
    ("from time import time", "import time"),
    ("import random as r", "import random"),
    ("from asyncio import sleep", "import asyncio"),
    ("from datetime import datetime\ndef f():\n    return datetime.now()", "call datetime.now"),
    ("import datetime\nx = datetime.datetime.utcnow()", "call datetime.datetime.utcnow"),
    ("from datetime import date as d\nx = d.today()", "call d.today"),
    ("import time\nx = time.time()", "import time"),
    ("def f(clock):\n    return clock.now()", "call clock.now"),
    ("x = hash('a')", "call hash"),
    ("x = open('f').read()", "call open"),
    ("from journeys.events import utcnow\nx = utcnow()", "call utcnow"),
    ("from engine import runtime", "import engine.runtime (only the pure engine modules)"),
    ("import engine.log", "import engine.log (only the pure engine modules)"),
])
def test_the_scanner_catches(source, expected):
    assert expected in [f.what for f in scan("engine/interpreter.py", textwrap.dedent(source))]


def test_the_scanner_leaves_pure_code_alone():
    source = "from datetime import UTC, datetime\nfrom engine.plan import Plan\nx = datetime.fromtimestamp(0, UTC).time()\n"
    assert scan("engine/interpreter.py", source) == []
    assert [f.what for f in scan("journeys/x.py", "from engine.plan import Plan")] == \
        ["import engine.plan (journeys may not import upward)"]


def test_importing_the_domain_loads_no_runtime():
    code = ("import sys, journeys, journeys.contacts_csv, journeys.validation, journeys.rules, journeys.contact\n"
            "heavy = ['sqlite3', 'asyncio', 'httpx', 'requests', 'fastapi', 'faust', 'aiokafka', 'kafka',\n"
            "         'psycopg', 'boto3', 'eventsourcing']\n"
            "print(','.join(m for m in heavy if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
