"""``switchback rebuild``, ``switchback checksum`` and ``switchback analyst-role``: the
analytics commands, registered on ``api.cli.app`` (imported at the end of ``api.cli``).

The work happens in ``projections.rebuild_sqlite`` (embedded), ``projections.pg_rebuild``
(distributed: PostgreSQL rebuilt from Kafka) and ``projections.analyst_role``; here are
the options, progress lines on stderr and the table-by-table report.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from api.cli import DATA_DIR, app, console, err, fail, require_kafka

# -- analytics: rebuild, checksum, analyst role ----------------------------------------------
analyst_app = typer.Typer(help="The read-only PostgreSQL role for analysts.", no_args_is_help=True)
app.add_typer(analyst_app, name="analyst-role")
MODE = typer.Option("embedded", "--mode", envvar="SWITCHBACK_MODE", help="embedded (SQLite) | distributed (PostgreSQL)")
PROJECTION = typer.Option(None, "--projection", help="one table group: contacts, events, messages, journeys,"
                          " orders, offers, segments (or one of its tables)")
PG = typer.Option(None, "--pg", envvar="SWITCHBACK_PG", help="PostgreSQL DSN of the read model (distributed)")
KAFKA = typer.Option(None, "--kafka", envvar="SWITCHBACK_KAFKA", help="Kafka bootstrap host:port (distributed)")
NAMESPACE = typer.Option("switchback", "--namespace", envvar="SWITCHBACK_NAMESPACE", help="topic prefix")
PG_SCHEMA = typer.Option("switchback", "--schema", envvar="SWITCHBACK_PG_SCHEMA", help="PostgreSQL schema")
PARTIAL = typer.Option(False, "--allow-partial", help="distributed: rebuild from what Kafka retention has left")


def _progress():
    """A callback printing ``phase position/total`` at most about once a second (and at the end)."""
    import time

    last = {"at": 0.0}

    def show(phase: str, position: int, total: int) -> None:
        now = time.monotonic()
        if phase == "replay" and total and position < total and now - last["at"] < 1.0:
            return
        last["at"] = now
        share = f" ({100 * position // total}%)" if total else ""
        err.print(f"{phase}: {position}/{total or '?'}{share}" if phase != "swapped" else "swapped in")
    return show


def _print_diffs(diffs) -> bool:
    """Print one line per table (and sample rows of differing ones); True when all are equal."""
    for diff in diffs:
        if diff.same:
            console.print(f"[green]same[/]    {diff.table} ({diff.live_rows} rows)")
            continue
        console.print(f"[red]differs[/] {diff.table}: {diff.live_rows} rows live, {diff.other_rows} rebuilt;"
                      f" {diff.only_live} only live, {diff.only_other} only rebuilt")
        for label, rows in (("only live", diff.samples_live), ("only rebuilt", diff.samples_other)):
            for row in rows:
                console.print(f"  {label}: {escape(str(row))}")
    same = all(d.same for d in diffs)
    console.print("the tables are equal" if same else "[bold red]the tables differ[/]")
    return same


def _pg_error() -> type[Exception]:
    import psycopg

    return psycopg.Error


def _distributed(pg: Optional[str], kafka: Optional[str], namespace: str, schema: str, allow_partial: bool):
    """The Kafka batch source for projections.pg_rebuild, after checking the settings."""
    from projections import pg_rebuild

    if not pg or not kafka:
        fail("distributed mode needs SWITCHBACK_PG (or --pg) and SWITCHBACK_KAFKA (or --kafka)", 2)
    require_kafka(kafka)
    progress = _progress()
    return lambda targets: pg_rebuild.kafka_batches(kafka, namespace, targets, allow_partial=allow_partial,
                                                    progress=progress)


@app.command()
def rebuild(projection: Optional[str] = PROJECTION,
            check: bool = typer.Option(False, "--check", help="only compare a fresh build with the live tables"),
            mode: str = MODE, data_dir: Path = DATA_DIR, pg: Optional[str] = PG, kafka: Optional[str] = KAFKA,
            namespace: str = NAMESPACE, schema: str = PG_SCHEMA, allow_partial: bool = PARTIAL):
    """Rebuild the analytics tables from the event log into fresh tables and swap them in."""
    from projections import schema as read_schema

    if check:
        return checksum(projection=projection, against=None, mode=mode, data_dir=data_dir, pg=pg, kafka=kafka,
                        namespace=namespace, schema=schema, allow_partial=allow_partial)
    try:
        tables = read_schema.group_tables(projection)
    except ValueError as exc:
        fail(str(exc), 2)
    if mode == "distributed":
        from projections import pg_rebuild

        source = _distributed(pg, kafka, namespace, schema, allow_partial)
        try:
            pg_rebuild.rebuild(pg, schema, source, projection, _progress())
        except (pg_rebuild.RebuildError, ValueError, _pg_error()) as exc:
            fail(str(exc))
        console.print(f"rebuilt {', '.join(tables)} in schema {schema}")
        return
    if mode != "embedded":
        fail(f"unknown mode {mode!r}; use embedded or distributed", 2)
    from projections.rebuild_sqlite import rebuild as rebuild_sqlite

    log_path, read_path = data_dir / "events.db", data_dir / "read.db"
    if not log_path.exists():
        fail(f"{log_path}: no event log here (wrong --data-dir?)")
    result = rebuild_sqlite(log_path, read_path, projection, progress=_progress())
    console.print(f"rebuilt {', '.join(result.tables)} up to log position {result.position}")


@app.command()
def checksum(projection: Optional[str] = PROJECTION,
             against: Optional[Path] = typer.Option(None, "--against", help="embedded: another read.db to compare"
                                                    " with, instead of a fresh build of the log"),
             mode: str = MODE, data_dir: Path = DATA_DIR, pg: Optional[str] = PG, kafka: Optional[str] = KAFKA,
             namespace: str = NAMESPACE, schema: str = PG_SCHEMA, allow_partial: bool = PARTIAL):
    """Compare the analytics tables with a fresh build from the log, table by table (exit 1 if they differ)."""
    from projections import schema as read_schema

    try:
        read_schema.group_tables(projection)
    except ValueError as exc:
        fail(str(exc), 2)
    if mode == "distributed":
        from projections import pg_rebuild

        source = _distributed(pg, kafka, namespace, schema, allow_partial)
        try:
            diffs = pg_rebuild.compare(pg, schema, source, projection, _progress())
        except (pg_rebuild.RebuildError, ValueError, _pg_error()) as exc:
            fail(str(exc))
    elif mode == "embedded":
        from projections.rebuild_sqlite import compare

        read_path = data_dir / "read.db"
        if not read_path.exists():
            fail(f"{read_path}: no read model here (wrong --data-dir?)")
        try:
            diffs = compare(read_path, None if against else data_dir / "events.db", against, projection,
                            progress=_progress())
        except (FileNotFoundError, RuntimeError) as exc:
            fail(str(exc))
    else:
        fail(f"unknown mode {mode!r}; use embedded or distributed", 2)
    if not _print_diffs(diffs):
        raise typer.Exit(1)


@analyst_app.command("create")
def analyst_role_create(name: str = typer.Option("analyst", "--name", help="the role's name"),
                        password_env: Optional[str] = typer.Option(None, "--password-env", help="the environment"
                                                                   " variable holding the role's password"),
                        pg: Optional[str] = PG, schema: str = PG_SCHEMA):
    """Create (or update) a read-only PostgreSQL role: SELECT on the analytics tables, nothing else."""
    from projections.analyst_role import create_analyst_role
    from projections.postgres import PgReadModel

    if not pg:
        fail("the analyst role is for PostgreSQL: set SWITCHBACK_PG (or --pg)", 2)
    password = None
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            fail(f"the environment variable {password_env} (--password-env) is not set or empty", 2)
    try:
        PgReadModel(pg, schema).close()  # the tables exist before they are granted
        result = create_analyst_role(pg, schema, name, password)
    except (ValueError, _pg_error()) as exc:
        fail(str(exc), 2)
    verb = "created" if result["created"] else "updated"
    console.print(f"{verb} role {name}: SELECT on {len(result['granted'])} tables of schema {schema}"
                  + (", with a password" if password else ", without a password")
                  + (f"; no access to {', '.join(result['revoked'])}" if result["revoked"] else ""))


@analyst_app.command("drop")
def analyst_role_drop(name: str = typer.Option("analyst", "--name"), pg: Optional[str] = PG):
    """Drop the analyst role (and its grants in this database)."""
    from projections.analyst_role import drop_analyst_role

    if not pg:
        fail("the analyst role is for PostgreSQL: set SWITCHBACK_PG (or --pg)", 2)
    try:
        dropped = drop_analyst_role(pg, name)
    except (ValueError, _pg_error()) as exc:
        fail(str(exc), 2)
    console.print(f"dropped role {name}" if dropped else f"no role {name}")
