"""SQLite SQL in, PostgreSQL SQL out: what lets the read model's handlers and queries run
unchanged on PostgreSQL (see ``projections.postgres``).

``translate(sql)`` rewrites one statement, token by token (quoted text, quoted names and
comments are never rewritten, so a ``?`` inside ``'...'`` stays a question mark):

- ``?`` becomes ``%s``, and every ``%`` becomes ``%%`` (psycopg's placeholder syntax);
- ``INSERT OR IGNORE INTO ...`` becomes ``INSERT INTO ... ON CONFLICT DO NOTHING``;
- ``LIKE`` becomes ``ILIKE``: SQLite's LIKE ignores ASCII case; with the read model's
  ``"C"`` columns, PostgreSQL's ILIKE does the same;
- ``IFNULL`` becomes ``COALESCE``; ``BEGIN IMMEDIATE|DEFERRED|EXCLUSIVE`` becomes ``BEGIN``;
- ``ORDER BY`` keys get SQLite's NULL placement (NULLs sort first, so ``NULLS FIRST``
  ascending, ``NULLS LAST`` descending), except plain columns that are NOT NULL in the
  one table queried, so that primary keys keep serving ``ORDER BY ... LIMIT``.

SQLite-only forms with no clean equivalent (``INSERT OR REPLACE``, ``REPLACE INTO``,
``GLOB``, numbered or named parameters) raise ``NotImplementedError``.

``ddl()`` derives the PostgreSQL tables from ``projections.schema.DDL``: ``INTEGER`` ->
``BIGINT``, ``REAL`` -> ``DOUBLE PRECISION``, ``TEXT`` -> ``TEXT COLLATE "C"`` (byte
order, as SQLite's BINARY), no ``WITHOUT ROWID``, and nullable index keys ``NULLS FIRST``.
Two helpers live in the schema next to the tables: the collation ``nocase`` (for
``COLLATE NOCASE``; ICU, case-insensitive beyond ASCII too) and ``round(double precision,
integer)`` (rounds half away from zero through ``numeric``, as SQLite's ROUND does for the
amounts the read model stores). ``projection_positions`` is replaced by ``OFFSETS_DDL``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from projections import schema

__all__ = ["NOT_NULL", "OFFSETS_DDL", "PRELUDE", "ddl", "tokenize", "translate"]

_TOKEN = re.compile(r"""
      (?P<literal>'(?:[^']|'')*')
    | (?P<quoted>"(?:[^"]|"")*")
    | (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<space>\s+)
    | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)
    | (?P<mark>.)
""", re.S | re.X)
_QUIET = ("space", "comment")
_ORDER_END = {"LIMIT", "OFFSET", "FETCH", "UNION", "INTERSECT", "EXCEPT", "WINDOW", "FOR", "RETURNING"}
_TYPES = {"INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION", "TEXT": 'TEXT COLLATE "C"'}

PRELUDE = (
    "CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
    "CREATE OR REPLACE FUNCTION round(value double precision, digits integer) RETURNS double precision"
    " LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE"
    " AS $$ SELECT pg_catalog.round(value::numeric, digits)::double precision $$",
)

# Kafka positions: ``offset`` is the last offset of ``partition`` whose rows are committed.
OFFSETS_DDL = (
    'CREATE TABLE IF NOT EXISTS projection_offsets (name TEXT COLLATE "C" NOT NULL,'
    ' partition BIGINT NOT NULL, "offset" BIGINT NOT NULL, PRIMARY KEY (name, partition))'
)


def tokenize(sql: str) -> list[tuple[str, str]]:
    """``(kind, text)`` pairs that join back to ``sql``; ValueError on an unclosed quote."""
    tokens = [(m.lastgroup or "mark", m.group()) for m in _TOKEN.finditer(sql)]
    for kind, text in tokens:
        if kind == "mark" and text in "'\"":
            raise ValueError(f"unterminated quoted text in SQL: {sql!r}")
    return tokens


def _word(token: tuple[str, str]) -> str:
    return token[1].upper() if token[0] == "word" else ""


def _depths(tokens: list[tuple[str, str]], sig: list[int]) -> list[int]:
    """Parenthesis depth of each significant token (a bracket counts at its outer level)."""
    depths, level = [], 0
    for i in sig:
        text = tokens[i][1]
        if text == ")":
            level -= 1
        depths.append(level)
        if text == "(":
            level += 1
    return depths


def _split(tokens, sig, depths, start: int, depth: int) -> tuple[list[list[int]], int]:
    """Comma-separated items at ``depth`` from ``sig[start]``; returns them and where they end."""
    items: list[list[int]] = [[]]
    n = start
    while n < len(sig):
        text, word = tokens[sig[n]][1], _word(tokens[sig[n]])
        if depths[n] < depth or (depths[n] == depth and (text == ";" or word in _ORDER_END)):
            break
        if depths[n] == depth and text == ",":
            items.append([])
        else:
            items[-1].append(n)
        n += 1
    return [item for item in items if item], n


def _plain_not_null(tokens, sig, item: list[int], table: str | None) -> bool:
    """True when ``item`` is a bare (or table-qualified) column that is NOT NULL in ``table``."""
    if table is None:
        return False
    parts = [tokens[sig[n]] for n in item]
    if len(parts) == 3 and parts[1][1] == "." and parts[0][1].lower() == table:
        parts = parts[2:]
    return len(parts) == 1 and parts[0][0] == "word" and parts[0][1].lower() in NOT_NULL.get(table, ())


def _from_table(tokens, sig, depths, before: int) -> str | None:
    depth = depths[before]
    for n in range(before - 1, -1, -1):
        if depths[n] < depth:
            return None
        if depths[n] == depth and _word(tokens[sig[n]]) == "FROM" and n + 1 < len(sig):
            following = tokens[sig[n + 1]]
            return following[1].lower() if following[0] == "word" else None
    return None


def _null_order(tokens, sig, depths) -> dict[int, str]:
    """Token index -> text to append, giving every ORDER BY key SQLite's NULL placement."""
    appended: dict[int, str] = {}
    joined = any(_word(tokens[i]) == "JOIN" for i in sig)
    for n in range(len(sig) - 1):
        if _word(tokens[sig[n]]) != "ORDER" or _word(tokens[sig[n + 1]]) != "BY":
            continue
        table = None if joined else _from_table(tokens, sig, depths, n)
        items, _ = _split(tokens, sig, depths, n + 2, depths[n])
        for item in items:
            words = [_word(tokens[sig[k]]) for k in item]
            if "NULLS" in words:
                continue
            key = item[:-1] if words[-1] in ("ASC", "DESC") else item
            if not key or _plain_not_null(tokens, sig, key, table):
                continue
            appended[sig[item[-1]]] = " NULLS LAST" if words[-1] == "DESC" else " NULLS FIRST"
    return appended


def _refuse(sql: str, what: str, hint: str) -> NotImplementedError:
    return NotImplementedError(f"{what} has no PostgreSQL translation ({hint}): {sql!r}")


def _named(tokens: list[tuple[str, str]], i: int) -> bool:
    """A numbered or named parameter (``?1``, ``:name``, ``@name``, ``$name``), not a ``::`` cast."""
    if i + 1 >= len(tokens) or tokens[i + 1][0] not in ("word", "number"):
        return False
    return tokens[i][1] != ":" or i == 0 or tokens[i - 1][1] != ":"


@lru_cache(maxsize=2048)
def translate(sql: str) -> str:
    """The PostgreSQL form of one SQLite statement written with ``?`` placeholders."""
    tokens = tokenize(sql)
    sig = [i for i, token in enumerate(tokens) if token[0] not in _QUIET]
    words = [_word(tokens[i]) for i in sig]
    dropped: set[int] = set()
    replaced: dict[int, str] = {}
    ignore_conflicts = False
    for n, word in enumerate(words):
        following = words[n + 1] if n + 1 < len(words) else ""
        if word == "INSERT" and following == "OR":
            if n + 2 >= len(words) or words[n + 2] != "IGNORE":
                raise _refuse(sql, "INSERT OR <conflict>", "write INSERT ... ON CONFLICT(...) DO UPDATE")
            dropped.update(range(sig[n] + 1, sig[n + 2] + 1))
            ignore_conflicts = True
        elif word == "REPLACE" and n == 0:
            raise _refuse(sql, "REPLACE INTO", "write INSERT ... ON CONFLICT(...) DO UPDATE")
        elif word == "LIKE":
            replaced[sig[n]] = "ILIKE"
        elif word == "IFNULL":
            replaced[sig[n]] = "COALESCE"
        elif word == "GLOB":
            raise _refuse(sql, "GLOB", "use LIKE")
        elif word == "BEGIN" and following in ("IMMEDIATE", "DEFERRED", "EXCLUSIVE"):
            dropped.update(range(sig[n] + 1, sig[n + 1] + 1))
    appended = _null_order(tokens, sig, _depths(tokens, sig))
    out = []
    for i, (kind, text) in enumerate(tokens):
        if i in dropped:
            continue
        if kind == "mark" and text in "?:@$" and _named(tokens, i):
            raise _refuse(sql, f"the parameter {text}{tokens[i + 1][1]}", "use ? placeholders")
        if kind == "mark" and text == "?":
            text = "%s"
        elif kind != "word":
            text = text.replace("%", "%%")
        out.append(replaced.get(i, text) + appended.get(i, ""))
    statement = "".join(out)
    if ignore_conflicts:
        body = statement.rstrip().rstrip(";").rstrip()
        statement = body + " ON CONFLICT DO NOTHING"
    return statement


# -- tables ----------------------------------------------------------------------------
def _statements() -> list[str]:
    return [s.strip() for s in schema.DDL.split(";") if s.strip()]


def _not_null() -> dict[str, frozenset[str]]:
    """Per read-model table, the columns that can never be NULL (NOT NULL or primary key)."""
    found: dict[str, frozenset[str]] = {}
    for statement in _statements():
        tokens = tokenize(statement)
        sig = [i for i, token in enumerate(tokens) if token[0] not in _QUIET]
        words = [_word(tokens[i]) for i in sig]
        if words[:2] != ["CREATE", "TABLE"]:
            continue
        opening = next(n for n, i in enumerate(sig) if tokens[i][1] == "(")
        table = tokens[sig[opening - 1]][1].lower()
        items, _ = _split(tokens, sig, _depths(tokens, sig), opening + 1, 1)
        columns: set[str] = set()
        for item in items:
            item_words = [words[n] for n in item]
            if item_words[:2] == ["PRIMARY", "KEY"]:
                columns.update(tokens[sig[n]][1].lower() for n in item[2:] if tokens[sig[n]][0] == "word")
            elif "PRIMARY" in item_words or ("NOT" in item_words and "NULL" in item_words):
                columns.add(tokens[sig[item[0]]][1].lower())
        found[table] = frozenset(columns)
    return found


NOT_NULL = _not_null()


def _index(statement: str, tokens: list[tuple[str, str]], sig: list[int]) -> dict[int, str]:
    """NULLS FIRST after each nullable key of a CREATE INDEX (SQLite's NULL order)."""
    depths = _depths(tokens, sig)
    opening = next(n for n, i in enumerate(sig) if tokens[i][1] == "(")
    table = tokens[sig[opening - 1]][1].lower()
    items, _ = _split(tokens, sig, depths, opening + 1, 1)
    appended = {}
    for item in items:
        first = tokens[sig[item[0]]]
        nested = any(tokens[sig[n]][1] == "(" for n in item)
        if nested or first[0] != "word" or first[1].lower() not in NOT_NULL.get(table, ()):
            appended[sig[item[-1]]] = " NULLS FIRST"
    return appended


def ddl() -> list[str]:
    """PostgreSQL statements for the read-model tables and indexes (run with the schema on
    the search_path, after ``PRELUDE``; ``OFFSETS_DDL`` holds the Kafka positions)."""
    statements = []
    for statement in _statements():
        tokens = tokenize(statement)
        sig = [i for i, token in enumerate(tokens) if token[0] not in _QUIET]
        words = [_word(tokens[i]) for i in sig]
        if "PROJECTION_POSITIONS" in words:
            continue
        appended = _index(statement, tokens, sig) if "INDEX" in words[:3] else {}
        out = []
        for i, (kind, text) in enumerate(tokens):
            word = _word((kind, text))
            if word in ("WITHOUT", "ROWID"):
                continue
            out.append(_TYPES.get(word, text) + appended.get(i, ""))
        statements.append("".join(out).strip())
    return statements
