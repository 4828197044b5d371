"""The ``switchback`` command line (typer + rich).

    switchback up [--host] [--port] [--data-dir] [--demo]   API + runtime in one process
    switchback keys create --role R                            a new API key (shown once)
    switchback emit FILE.jsonl                                  send events over HTTP
    switchback import contacts.csv                              import contacts (progress bar)
    switchback validate FILE.json                               check a journey graph
    switchback simulate JOURNEY.json EVENTS.jsonl               dry run with a virtual clock
    switchback rebuild [--projection NAME] [--check]            rebuild the analytics tables from the log
    switchback checksum [--against FILE]                        compare the tables with a fresh build
    switchback analyst-role create [--name] [--password-env]    a read-only PostgreSQL role for analysts
    switchback users create --email E --role R [--password-env V] a person who signs in to the web app
    switchback users list | disable --email E | enable --email E
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from api import cli_client

app = typer.Typer(help="Switchback: event-sourced journey orchestration.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console()
err = Console(stderr=True)

DATA_DIR = typer.Option(Path(".switchback"), "--data-dir", envvar="SWITCHBACK_DATA_DIR", help="where the data lives")
URL = typer.Option("http://127.0.0.1:8000", "--url", envvar="SWITCHBACK_URL", help="the Switchback API")
KEY = typer.Option(None, "--key", envvar="SWITCHBACK_API_KEY", help="API key (default: <data-dir>/admin-key)")


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def start_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def require_kafka(bootstrap: str) -> None:
    """Stop with a message naming SWITCHBACK_KAFKA when the broker cannot be reached."""
    from engine.kafka import ServiceUnavailable, check_kafka

    try:
        check_kafka(bootstrap)
    except ServiceUnavailable as exc:
        fail(str(exc))


@app.command()
def up(host: str = typer.Option("127.0.0.1", help="interface to bind"),
       port: int = typer.Option(8000, help="port (0 picks a free one)"),
       data_dir: Path = DATA_DIR,
       demo: bool = typer.Option(False, "--demo", help="load sample journeys, contacts and a live event stream")):
    """Start the API, journey runtime, sender and projector in one process."""
    import socket

    import uvicorn

    from api.app import create_app
    from api.services import Services
    from api.settings import Settings

    start_logging()
    if port == 0:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    settings = Settings(data_dir=data_dir, host=host, port=port)
    try:
        services = Services(settings)
    except ValueError as exc:  # channel providers or the link-signing secret misconfigured
        fail(str(exc))
    secret = services.ensure_admin_key()
    if secret:
        console.print(f"[bold green]Admin API key[/] (shown once, also in {data_dir / 'admin-key'}): {secret}")
    feed = None
    if demo:
        from api.demo import DemoFeed, load_library

        published = load_library(services, settings.workspace)
        console.print(f"demo: published {', '.join(published) or 'nothing new'}; sample events are flowing")
        feed = DemoFeed(services, settings.workspace)
    from api.experiments import AutoWinnerChecker
    from api.segments import SegmentSweeper

    scheduled = [AutoWinnerChecker(services), SegmentSweeper(services)]  # periodic jobs: auto-winner, segment sweep
    application = create_app(services, extras=[*([feed] if feed else []), *scheduled])
    from engine.runtime import tune_gc

    tune_gc()
    console.print(f"Switchback listening on http://{host}:{port}  (API docs at /docs, data in {data_dir})")
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def worker(kafka: str = typer.Option(..., envvar="SWITCHBACK_KAFKA", help="Kafka bootstrap, host:port"),
           pg: str = typer.Option(..., envvar="SWITCHBACK_PG", help="PostgreSQL DSN (state, outbox, definitions)"),
           namespace: str = typer.Option("switchback", envvar="SWITCHBACK_NAMESPACE", help="topic prefix"),
           schema: str = typer.Option("switchback", envvar="SWITCHBACK_PG_SCHEMA", help="PostgreSQL schema"),
           partitions: int = typer.Option(12, envvar="SWITCHBACK_PARTITIONS", help="partitions of new topics"),
           definitions: Optional[str] = typer.Option(None, envvar="SWITCHBACK_DEFINITIONS",
                                                     help="SQLite file for definitions (default: PostgreSQL)"),
           base_url: str = typer.Option("http://127.0.0.1:8000", envvar="SWITCHBACK_BASE_URL")):
    """Run a distributed journey worker (Faust): scale by starting more, up to the partition count."""
    import faust

    from engine.clock import SystemClock, clock_from_env
    from engine.definitions import Definitions
    from engine.distributed import build_worker
    from engine.kafka import TopicNames, ensure_topics
    from engine.providers.pg_outbox import PgOutboxProvider
    from engine.runtime import tune_gc
    from api.settings import Settings
    from api.signing_key import signing_key
    from engine.providers.registry import ProviderRegistry
    from engine.sender import Sender
    from engine.tracking import Tracker

    start_logging()
    settings = Settings(mode="distributed")
    try:  # the API and every worker share the secret that signs tracking links
        tracker = Tracker(signing_key(settings), base_url)
        providers = ProviderRegistry(None, PgOutboxProvider(pg, schema), base_url)
    except ValueError as exc:  # ConfigError, ProviderConfigError
        fail(str(exc))
    require_kafka(kafka)
    ensure_topics(kafka, TopicNames(namespace), partitions=partitions)
    source = Definitions(definitions) if definitions else Definitions.from_postgres(pg, schema)
    from engine.offers import OfferBook

    sender = Sender(None, source, providers, SystemClock(), base_url=base_url, tracker=tracker,
                    postal_address=settings.postal_address, offers=OfferBook.from_postgres(pg, schema, base_url=base_url))
    clock = clock_from_env(Path(".switchback-test-clock"))
    faust_app = build_worker(kafka, namespace, pg, source, schema=schema, sender=sender, clock=clock)
    tune_gc()
    faust.Worker(faust_app, loglevel="info").execute_from_commandline()


@app.command()
def project(kafka: str = typer.Option(..., envvar="SWITCHBACK_KAFKA", help="Kafka bootstrap, host:port"),
            pg: str = typer.Option(..., envvar="SWITCHBACK_PG", help="PostgreSQL DSN of the read model"),
            namespace: str = typer.Option("switchback", envvar="SWITCHBACK_NAMESPACE"),
            schema: str = typer.Option("switchback", envvar="SWITCHBACK_PG_SCHEMA")):
    """Keep the PostgreSQL analytics tables up to date from Kafka (distributed mode)."""
    import faust

    from projections.stream import build_projector

    from projections.commerce import attribution_window

    start_logging()
    try:
        attribution_window()
    except ValueError as exc:
        fail(str(exc))
    require_kafka(kafka)
    faust.Worker(build_projector(kafka, namespace, pg, schema), loglevel="info").execute_from_commandline()


@app.command("api")
def api_server(host: str = typer.Option("127.0.0.1", envvar="SWITCHBACK_HOST"),
               port: int = typer.Option(8000, envvar="SWITCHBACK_PORT"),
               kafka: str = typer.Option(..., envvar="SWITCHBACK_KAFKA"),
               pg: str = typer.Option(..., envvar="SWITCHBACK_PG"),
               namespace: str = typer.Option("switchback", envvar="SWITCHBACK_NAMESPACE"),
               schema: str = typer.Option("switchback", envvar="SWITCHBACK_PG_SCHEMA"),
               data_dir: Path = DATA_DIR):
    """Serve the HTTP API in distributed mode: events go to Kafka, reads come from PostgreSQL."""
    import uvicorn

    from api.app import create_app
    from api.distributed import DistributedServices
    from api.settings import ConfigError, Settings

    start_logging()
    settings = Settings(mode="distributed", kafka=kafka, pg=pg, namespace=namespace, host=host, port=port,
                        data_dir=data_dir, pg_schema=schema)
    from api.signing_key import signing_key

    try:
        settings.check_distributed()
        signing_key(settings)  # tracking links need the secret the workers sign with
    except ConfigError as exc:
        fail(str(exc))
    services = DistributedServices(settings, schema=schema)
    secret = services.ensure_admin_key()
    if secret:
        console.print(f"[bold green]Admin API key[/] (shown once, also in {data_dir / 'admin-key'}): {secret}")
    console.print(f"Switchback API (distributed, namespace {namespace}) on http://{host}:{port}")
    from api.experiments import AutoWinnerChecker
    from api.segments import SegmentSweeper

    # periodic jobs (auto-winner, time-based segment sweep) run in ONE API process: SWITCHBACK_SCHEDULER=1
    extras = [AutoWinnerChecker(services), SegmentSweeper(services)] if os.environ.get("SWITCHBACK_SCHEDULER") == "1" else None
    uvicorn.run(create_app(services, extras=extras), host=host, port=port, log_level="warning")


@keys_app.command("create")
def keys_create(role: str = typer.Option(..., "--role", help="admin | marketer | analyst | ingest | redeemer"),
                name: str = typer.Option("", help="a label for the key"),
                workspace: str = typer.Option("default"), data_dir: Path = DATA_DIR):
    """Create an API key in the data directory (works while the server runs)."""
    from api.auth import ROLES
    from engine.definitions import Definitions

    if role not in ROLES:
        fail(f"unknown role '{role}'; use one of: {', '.join(ROLES)}", 2)
    data_dir.mkdir(parents=True, exist_ok=True)
    secret, info = Definitions(data_dir / "definitions.db").create_key(workspace, role, name)
    console.print(f"created {info['role']} key {info['id']} for workspace '{workspace}'. The secret is shown only once:")
    print(secret)


@app.command()
def emit(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="events, one JSON envelope per line"),
         url: str = URL, key: Optional[str] = KEY, data_dir: Path = DATA_DIR,
         batch: int = typer.Option(500, min=1, max=1000)):
    """Send events from a JSONL file to the API; bad lines are reported with their number."""
    client = cli_client.connect(url, key, data_dir, fail)
    result = cli_client.emit_file(client, file, batch, console)
    for problem in result["errors"]:
        err.print(f"[red]line {problem['line']}[/]: {escape(problem['loc'])}: {escape(problem['message'])}")
    console.print(f"accepted {result['accepted']}, duplicates {result['duplicates']}, rejected {result['rejected']}")
    if result["errors"]:
        raise typer.Exit(1)


@app.command("import")
def import_contacts(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV with a header line"),
                    url: str = URL, key: Optional[str] = KEY, data_dir: Path = DATA_DIR,
                    chunk: int = typer.Option(2000, min=1, help="rows per request")):
    """Import contacts from CSV (email, phone, first_name, last_name, tags, any attribute)."""
    client = cli_client.connect(url, key, data_dir, fail)
    result = cli_client.import_file(client, file, chunk, console)
    for problem in result["errors"]:
        column = f" ({escape(problem['column'])})" if problem.get("column") else ""
        err.print(f"[red]line {problem['line']}[/]{column}: {escape(problem['error'])}")
    console.print(f"created {result['created']}, updated {result['updated']}, failed {result['failed']}")
    if result["errors"]:
        raise typer.Exit(1)


@app.command()
def validate(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="journey graph JSON")):
    """Check a journey graph; problems name their node or edge."""
    from pydantic import ValidationError

    from journeys.graph import Journey
    from journeys.validation import validate_journey

    try:
        graph = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        fail(f"{file}: not valid JSON: {exc}")
    try:
        journey = Journey.model_validate(graph)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            err.print(f"[red]{escape('.'.join(str(p) for p in e['loc']))}[/]: {escape(e['msg'])}")
        fail(f"{file}: the graph cannot be read")
    problems = validate_journey(journey)
    for p in problems:
        style = "red" if p.severity == "error" else "yellow"
        err.print(f"[{style}]{p.severity}[/] {escape(str(p))}")
    if any(p.severity == "error" for p in problems):
        raise typer.Exit(1)
    console.print(f"[green]{file}: journey '{journey.id}' is valid[/] ({len(journey.nodes)} nodes, {len(journey.edges)} edges)")


@app.command()
def simulate(journey_file: Path = typer.Argument(..., exists=True, dir_okay=False),
             events_file: Path = typer.Argument(..., exists=True, dir_okay=False),
             as_json: bool = typer.Option(False, "--json", help="print the result as JSON")):
    """Dry-run a journey against recorded events with a virtual clock (nothing is sent)."""
    from engine.simulate import load_events_jsonl, simulate as run

    try:
        graph = orjson.loads(journey_file.read_bytes())
    except orjson.JSONDecodeError as exc:
        fail(f"{journey_file}: not valid JSON: {exc}")
    try:
        events = load_events_jsonl(events_file.read_text())
    except ValueError as exc:
        fail(f"{events_file}: {exc}")
    result = run(graph, events)
    for p in result.problems:
        style = "red" if p.get("severity", "error") == "error" else "yellow"
        where = escape(str(p.get('node') or p.get('edge') or ''))
        err.print(f"[{style}]{p.get('severity', 'error')} {p.get('code', '')}[/] {where}: {escape(p['message'])}")
    if any(p.get("severity", "error") == "error" for p in result.problems):
        fail("the journey is not valid; nothing was simulated")
    if as_json:
        sys.stdout.write(orjson.dumps({cid: {"path": c.path, "messages": c.messages, "exits": c.exits}
                                       for cid, c in result.contacts.items()}, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    cli_client.print_simulation(console, result)


# -- users: people who sign in to the web app (docs/users.md) ---------------------------------
users_app = typer.Typer(help="Manage the people who sign in to the web app.", no_args_is_help=True)
app.add_typer(users_app, name="users")
USERS_MODE = typer.Option("embedded", "--mode", envvar="SWITCHBACK_MODE",
                          help="embedded (<data-dir>/users.db) | distributed (PostgreSQL at SWITCHBACK_PG)")
USERS_PG = typer.Option(None, "--pg", envvar="SWITCHBACK_PG", help="PostgreSQL DSN (distributed)")
USERS_SCHEMA = typer.Option("switchback", "--schema", envvar="SWITCHBACK_PG_SCHEMA", help="PostgreSQL schema")


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _user_directory(mode: str, data_dir: Path, pg: Optional[str], schema: str):
    """The user directory of the deployment: the data directory's, or PostgreSQL's."""
    from api.users import UserDirectory

    if mode == "distributed":
        if not pg:
            fail("distributed mode keeps users in PostgreSQL: set SWITCHBACK_PG (or --pg)", 2)
        import psycopg

        from engine.pgconfig import describe

        try:
            return UserDirectory.from_postgres(pg, schema)
        except ValueError as exc:  # a bad DSN or schema name
            fail(str(exc), 2)
        except psycopg.Error as exc:
            fail(f"PostgreSQL at {describe(pg)} cannot be used ({' '.join(str(exc).split())}); "
                 "start it or fix SWITCHBACK_PG")
    if mode != "embedded":
        fail(f"unknown mode {mode!r}; use embedded or distributed", 2)
    return UserDirectory(data_dir / "users.db")


def _user_change(email: str, mode: str, data_dir: Path, pg: Optional[str], schema: str, **change) -> dict:
    from api.users import UserError

    directory = _user_directory(mode, data_dir, pg, schema)
    try:
        return directory.update(email, **change)
    except UserError as exc:
        fail(exc.message, 2 if exc.code == "invalid" else 1)
    finally:
        directory.close()


@users_app.command("create")
def users_create(email: str = typer.Option(..., "--email", help="the address the person signs in with"),
                 role: str = typer.Option(..., "--role", help="admin | marketer | analyst | redeemer"),
                 workspace: str = typer.Option("default", "--workspace"),
                 password_env: Optional[str] = typer.Option(None, "--password-env", help="the environment variable "
                                                            "holding the password (else you are asked for it)"),
                 mode: str = USERS_MODE, data_dir: Path = DATA_DIR, pg: Optional[str] = USERS_PG,
                 schema: str = USERS_SCHEMA):
    """Create a user (works while the server runs). The password is never shown or logged."""
    from api.users import UserError, check_password, check_role, check_workspace, normalize_email

    try:  # refuse bad input before asking for a password
        address, _, _ = normalize_email(email), check_role(role), check_workspace(workspace)
    except UserError as exc:
        fail(exc.message, 2)
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            fail(f"the environment variable {password_env} (--password-env) is not set or empty", 2)
    elif _stdin_is_terminal():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        fail("no password: pass --password-env VARIABLE (the name of an environment variable holding it), "
             "or run in a terminal to be asked for it", 2)
    try:
        check_password(password, address)
    except UserError as exc:
        fail(exc.message, 2)
    directory = _user_directory(mode, data_dir, pg, schema)
    try:
        user = directory.create(address, password, role, workspace)
    except UserError as exc:
        fail(exc.message, 2 if exc.code == "invalid" else 1)
    finally:
        directory.close()
    console.print(f"created {user['role']} {escape(user['email'])} in workspace '{user['workspace']}'")


@users_app.command("list")
def users_list(workspace: Optional[str] = typer.Option(None, "--workspace", help="only this workspace"),
               mode: str = USERS_MODE, data_dir: Path = DATA_DIR, pg: Optional[str] = USERS_PG,
               schema: str = USERS_SCHEMA):
    """List users: email, role, workspace, whether disabled."""
    from rich.table import Table

    directory = _user_directory(mode, data_dir, pg, schema)
    try:
        users = directory.list(workspace)
    finally:
        directory.close()
    if not users:
        console.print("no users" + (f" in workspace '{workspace}'" if workspace else "")
                      + "; create one with 'switchback users create'")
        return
    table = Table("email", "role", "workspace", "status", "created")
    for user in users:
        table.add_row(escape(user["email"]), user["role"], user["workspace"],
                      "disabled" if user["disabled"] else "active", user["created_at"][:19].replace("T", " "))
    console.print(table)


@users_app.command("disable")
def users_disable(email: str = typer.Option(..., "--email"), mode: str = USERS_MODE, data_dir: Path = DATA_DIR,
                  pg: Optional[str] = USERS_PG, schema: str = USERS_SCHEMA):
    """Disable a user: they are signed out at once and cannot sign in."""
    user = _user_change(email, mode, data_dir, pg, schema, disabled=True)
    console.print(f"disabled {escape(user['email'])}; their sessions have ended")


@users_app.command("enable")
def users_enable(email: str = typer.Option(..., "--email"), mode: str = USERS_MODE, data_dir: Path = DATA_DIR,
                 pg: Optional[str] = USERS_PG, schema: str = USERS_SCHEMA):
    """Enable a disabled user again."""
    user = _user_change(email, mode, data_dir, pg, schema, disabled=False)
    console.print(f"enabled {escape(user['email'])}")


# The analytics commands (rebuild, checksum, analyst-role) live in api/cli_analytics.py.
from api import cli_analytics  # noqa: E402,F401  (registers its commands on ``app``)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()


if __name__ == "__main__":
    main()
