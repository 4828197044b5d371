"""The ``switchback`` CLI: validate, simulate and keys in-process (typer's CliRunner);
emit and import against a real HTTP server (uvicorn in a thread), with bad lines
reported by their line number in the user's file, also across batches and chunks."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from api import cli
from engine.definitions import Definitions
from journeys.contacts_csv import contact_id_for
from journeys.library import library_journey
from tests.api.conftest import contact_ids, log_ids
from tests.support import ADMIN, ROOT, settle

LIBRARY_CART = ROOT / "journeys" / "library" / "abandoned-cart.json"


@pytest.fixture
def run(monkeypatch):
    """``run(*args)`` -> click Result; rich prints wide so messages are not wrapped."""
    monkeypatch.setattr(cli.console, "_width", 300)
    monkeypatch.setattr(cli.err, "_width", 300)
    monkeypatch.delenv("SWITCHBACK_API_KEY", raising=False)
    monkeypatch.delenv("SWITCHBACK_URL", raising=False)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli.app, [str(a) for a in args])

    return invoke


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def reported_lines(stderr: str) -> list[int]:
    return [int(n) for n in re.findall(r"^line (\d+)", stderr, flags=re.MULTILINE)]


# -- validate ---------------------------------------------------------------------------

def test_validate_accepts_the_library_journey(run):
    result = run("validate", LIBRARY_CART)
    assert result.exit_code == 0, result.output
    assert "journey 'abandoned-cart' is valid" in result.stdout and "9 nodes, 10 edges" in result.stdout


def test_validate_names_the_broken_nodes_and_edges(run, tmp_path):
    graph = library_journey("abandoned-cart")
    graph["edges"] = [e for e in graph["edges"] if e["id"] != "e4"] + [{"id": "e99", "source": "offer", "target": "ghost"}]
    result = run("validate", write(tmp_path / "broken.json", json.dumps(graph)))
    assert result.exit_code == 1
    assert "SB-007 node 'remind'" in result.stderr
    assert "SB-005 edge 'e99'" in result.stderr and "'ghost'" in result.stderr
    assert "is valid" not in result.stdout


def test_validate_warnings_do_not_fail(run, tmp_path):
    graph = library_journey("abandoned-cart")
    graph["nodes"].append({"id": "orphan", "type": "end"})
    result = run("validate", write(tmp_path / "warn.json", json.dumps(graph)))
    assert result.exit_code == 0, result.output
    assert "warning SB-016 node 'orphan'" in result.stderr and "is valid" in result.stdout


def test_validate_prints_node_ids_literally(run, tmp_path):
    graph = library_journey("abandoned-cart")
    graph["nodes"].append({"id": "[/b]", "type": "send", "data": {"channel": "email", "template": "cart-offer"}})
    result = run("validate", write(tmp_path / "odd.json", json.dumps(graph)))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "SB-007 node '[/b]'" in result.stderr


@pytest.mark.parametrize("text, expected", [
    ('{"id": "x", "nodes": [', "not valid JSON"),
    ('{"id": "x", "nodes": "start"}', "nodes"),
    ('{"id": "bad id", "nodes": []}', "id"),
    ('[]', "cannot be read"),
])
def test_validate_refuses_unreadable_files(run, tmp_path, text, expected):
    result = run("validate", write(tmp_path / "bad.json", text))
    assert result.exit_code == 1
    assert expected in result.stderr and "error" in result.stderr
    assert "Traceback" not in result.output


def test_validate_missing_file_is_a_usage_error(run, tmp_path):
    result = run("validate", tmp_path / "nope.json")
    assert result.exit_code == 2


# -- simulate ---------------------------------------------------------------------------

EVENTS = "\n".join(json.dumps(e) for e in [
    {"type": "contact.created", "contact_id": "c1", "data": {"email": "c1@example.com", "tags": ["vip"]}},
    {"type": "cart.updated", "contact_id": "c1", "data": {"cart_id": "k1"}},
    {"type": "contact.created", "contact_id": "c2", "data": {"email": "c2@example.com"}},
    {"type": "cart.updated", "contact_id": "c2", "data": {"cart_id": "k2"}},
    {"type": "order.placed", "contact_id": "c2", "data": {"order_id": "o1", "cart_id": "k2"}},
    {"advance": "P2D"},
]) + "\n"


def test_simulate_json(run, tmp_path):
    result = run("simulate", LIBRARY_CART, write(tmp_path / "events.jsonl", EVENTS), "--json")
    assert result.exit_code == 0, result.output
    contacts = json.loads(result.stdout)
    assert contacts["c1"]["path"] == ["start", "wait_order", "remind", "wait_day", "vip", "offer", "done"]
    assert [m["template"] for m in contacts["c1"]["messages"]] == ["cart-reminder", "cart-offer"]
    assert contacts["c2"]["path"] == ["start", "wait_order", "bought"] and contacts["c2"]["messages"] == []
    assert contacts["c2"]["exits"][0]["node_id"] == "bought"


def test_simulate_table(run, tmp_path):
    result = run("simulate", LIBRARY_CART, write(tmp_path / "events.jsonl", EVENTS))
    assert result.exit_code == 0, result.output
    assert "start -> wait_order -> remind -> wait_day -> vip -> offer -> done" in result.stdout
    assert "completed at bought" in result.stdout


def test_simulate_reports_the_bad_event_line(run, tmp_path):
    lines = EVENTS.splitlines()
    lines.insert(2, '{"type": "cart.updated", "contact_id": "c1", "colour": "red"}')
    result = run("simulate", LIBRARY_CART, write(tmp_path / "events.jsonl", "\n".join(lines)))
    assert result.exit_code == 1 and "line 3" in result.stderr and "colour" in result.stderr
    result = run("simulate", LIBRARY_CART, write(tmp_path / "events.jsonl", EVENTS + "{oops\n"))
    assert result.exit_code == 1 and "line 7" in result.stderr and "JSON" in result.stderr


def test_simulate_refuses_an_invalid_journey(run, tmp_path):
    graph = library_journey("abandoned-cart")
    graph["edges"] = [e for e in graph["edges"] if e["id"] != "e4"]
    result = run("simulate", write(tmp_path / "broken.json", json.dumps(graph)), write(tmp_path / "e.jsonl", EVENTS))
    assert result.exit_code == 1
    assert "SB-007" in result.stderr and "remind" in result.stderr and "nothing was simulated" in result.stderr
    result = run("simulate", write(tmp_path / "bad.json", "{"), write(tmp_path / "e.jsonl", EVENTS))
    assert result.exit_code == 1 and "not valid JSON" in result.stderr


# -- keys -------------------------------------------------------------------------------

def test_keys_create(run, tmp_path):
    data_dir = tmp_path / "data"
    result = run("keys", "create", "--role", "analyst", "--name", "BI", "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("sb_") and "analyst" in result.stdout
    info = Definitions(data_dir / "definitions.db").check_key(secret)
    assert info["role"] == "analyst" and info["workspace"] == "default" and info["name"] == "BI"


def test_keys_create_refuses_an_unknown_role(run, tmp_path):
    data_dir = tmp_path / "data"
    run("keys", "create", "--role", "ingest", "--data-dir", data_dir)
    result = run("keys", "create", "--role", "superuser", "--data-dir", data_dir)
    assert result.exit_code == 2 and "unknown role 'superuser'" in result.stderr
    assert [k["role"] for k in Definitions(data_dir / "definitions.db").list_keys("default")] == ["ingest"]
    assert run("keys", "create", "--data-dir", data_dir).exit_code == 2  # --role is required


def test_keys_created_while_the_server_runs_work_at_once(run, live_server):
    result = run("keys", "create", "--role", "analyst", "--data-dir", live_server.data_dir)
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {secret}"}
    assert live_server.client.get("/v1/contacts", headers=headers).status_code == 200
    assert live_server.client.post("/v1/events", json={"type": "x", "contact_id": "c"}, headers=headers).status_code == 403
    roles = [k["role"] for k in live_server.client.get("/v1/keys").json()["items"]]
    assert sorted(roles) == ["admin", "analyst"]
    # the server can still write the workspace it shares with the CLI
    assert live_server.client.post("/v1/keys", json={"role": "ingest"}).status_code == 201


# -- emit -------------------------------------------------------------------------------

EMIT_LINES = [
    '{"id": "e1", "type": "contact.created", "contact_id": "c1", "data": {"email": "c1@example.com"}}',  # 1
    "",                                                                                              # 2
    '{"id": "x3", "type": "contact.created", "contact_id": ',                                      # 3 bad JSON
    '{"id": "e2", "type": "contact.created", "contact_id": "c2"}',                                  # 4
    '{"id": "x5", "type": "cart.updated", "contact_id": "c1", "colour": "red"}',                     # 5 unknown field
    '{"id": "e3", "type": "cart.updated", "contact_id": "c2", "data": {"cart_id": "k"}}',           # 6
    '{"id": "x7", "type": "order.placed", "contact_id": "c1", "data": {"amount": "5"}}',            # 7 no order_id
    "[1, 2]",                                                                                        # 8 not an object
    '{"id": "e1", "type": "contact.created", "contact_id": "c1"}',                                  # 9 duplicate
    '{"id": "e4", "type": "contact.created", "contact_id": "c3"}',                                  # 10
]


def test_emit_reports_bad_lines_by_number_and_sends_the_rest(run, live_server, tmp_path):
    path = write(tmp_path / "events.jsonl", "\n".join(EMIT_LINES) + "\n")
    result = run("emit", path, "--url", live_server.url, "--key", ADMIN, "--batch", 2)
    assert result.exit_code == 1, result.output
    assert reported_lines(result.stderr) == [3, 5, 7, 8]
    stderr = result.stderr
    assert re.search(r"^line 3: line: not valid JSON", stderr, re.MULTILINE)
    assert re.search(r"^line 5: colour: unknown field", stderr, re.MULTILINE)
    assert re.search(r"^line 7: data\.order_id: ", stderr, re.MULTILINE)
    assert re.search(r"^line 8: event: each event must be a JSON object", stderr, re.MULTILINE)
    assert "accepted 4, duplicates 1, rejected 4" in result.stdout
    settle(live_server.client)
    assert log_ids(live_server.client) == ["e1", "e2", "e3", "e4"]
    assert contact_ids(live_server.client) == ["c1", "c2", "c3"]


def test_emit_prints_user_values_literally(run, live_server, tmp_path):
    path = write(tmp_path / "events.jsonl", '{"type": "cart.updated", "contact_id": "c1", "[/b]": 1}\n')
    result = run("emit", path, "--url", live_server.url, "--key", ADMIN)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "line 1: [/b]: unknown field" in result.stderr
    assert log_ids(live_server.client) == []


def test_emit_clean_file_exits_zero(run, live_server, tmp_path):
    events = [{"id": f"ok-{i}", "type": "contact.created", "contact_id": f"c{i}"} for i in range(7)]
    path = write(tmp_path / "events.jsonl", "\n".join(json.dumps(e) for e in events) + "\n")
    result = run("emit", path, "--url", live_server.url, "--key", ADMIN, "--batch", 3)
    assert result.exit_code == 0, result.output
    assert "accepted 7, duplicates 0, rejected 0" in result.stdout
    again = run("emit", path, "--url", live_server.url, "--key", ADMIN)
    assert again.exit_code == 0 and "accepted 0, duplicates 7, rejected 0" in again.stdout
    assert len(log_ids(live_server.client)) == 7


def test_emit_with_a_wrong_key_or_server_fails_cleanly(run, live_server, tmp_path):
    path = write(tmp_path / "events.jsonl", '{"type": "contact.created", "contact_id": "c1"}\n')
    result = run("emit", path, "--url", live_server.url, "--key", "sb_not_a_real_key_000000")
    assert result.exit_code == 1 and "401" in result.output
    analyst = live_server.client.post("/v1/keys", json={"role": "analyst"}).json()["secret"]
    result = run("emit", path, "--url", live_server.url, "--key", analyst)
    assert result.exit_code == 1 and "403" in result.output
    unreachable = run("emit", path, "--url", "http://127.0.0.1:9", "--key", ADMIN)
    assert unreachable.exit_code == 1 and "cannot reach Switchback" in unreachable.stderr
    nokey = run("emit", path, "--url", live_server.url, "--data-dir", tmp_path / "empty")
    assert nokey.exit_code == 1 and "no API key" in nokey.stderr
    assert log_ids(live_server.client) == []


# -- import -----------------------------------------------------------------------------

CSV = (
    "email,first_name,tags,plan\n"                  # 1
    'ann@example.com,Ann,"VIP, Newsletter",pro\n'  # 2 ok
    "bad-email,Bad,,\n"                             # 3 bad email
    "bob@example.com,Bob,,\n"                       # 4 ok
    'dee@example.com,"Dee\n'                         # 5 ok, a quoted value over two lines,
    'Smith",gold,\n'                                 # 6   straddling a chunk boundary
    "cy@example.com,Cy,,,extra\n"                   # 7 too many values
    ",NoAddress,,\n"                                 # 8 no address
    "eve@example.com,Eve,Gold,\n"                   # 9 ok
    "fay@example.com,Fay\n"                         # 10 too few values
)


def test_import_reports_file_line_numbers_across_chunks(run, live_server, tmp_path):
    path = write(tmp_path / "contacts.csv", CSV)
    result = run("import", path, "--url", live_server.url, "--key", ADMIN, "--chunk", 2)
    assert result.exit_code == 1, result.output
    assert reported_lines(result.stderr) == [3, 7, 8, 10]
    assert re.search(r"^line 3 \(email\): 'bad-email' is not an email address", result.stderr, re.MULTILINE)
    assert "created 4, updated 0, failed 4" in result.stdout
    settle(live_server.client)
    ids = contact_ids(live_server.client)
    expected = {contact_id_for("default", f"{n}@example.com", None) for n in ("ann", "bob", "dee", "eve")}
    assert set(ids) == expected
    ann = live_server.client.get(f"/v1/contacts/{contact_id_for('default', 'ann@example.com', None)}").json()
    assert ann["tags"] == ["newsletter", "vip"] and ann["attributes"]["plan"] == "pro"
    dee = live_server.client.get(f"/v1/contacts/{contact_id_for('default', 'dee@example.com', None)}").json()
    assert dee["first_name"] == "Dee\nSmith" and dee["tags"] == ["gold"]


def test_import_same_numbers_with_one_request(run, live_server, tmp_path):
    path = write(tmp_path / "contacts.csv", CSV)
    result = run("import", path, "--url", live_server.url, "--key", ADMIN)
    assert reported_lines(result.stderr) == [3, 7, 8, 10]
    # importing again updates the same contacts
    again = run("import", path, "--url", live_server.url, "--key", ADMIN, "--chunk", 3)
    assert "created 0, updated 4, failed 4" in again.stdout
    assert len(contact_ids(live_server.client)) == 4


def test_import_header_problem_is_reported_once_at_line_1(run, live_server, tmp_path):
    path = write(tmp_path / "contacts.csv", "name,city\nAnn,Oslo\nBob,Rome\nCy,Paris\nDee,Bonn\n")
    result = run("import", path, "--url", live_server.url, "--key", ADMIN, "--chunk", 2)
    assert result.exit_code == 1
    assert reported_lines(result.stderr) == [1] and "email" in result.stderr
    assert contact_ids(live_server.client) == []


def test_import_prints_user_values_literally(run, live_server, tmp_path):
    # values in error messages are the user's data, not rich markup
    path = write(tmp_path / "contacts.csv", "email,first_name\n[/bold]oops,X\n[red]x@y,Y\nok@example.com,Ok\n")
    result = run("import", path, "--url", live_server.url, "--key", ADMIN)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert reported_lines(result.stderr) == [2, 3]
    assert "'[/bold]oops' is not an email address" in result.stderr
    assert "'[red]x@y' is not an email address" in result.stderr
    assert len(contact_ids(live_server.client)) == 1


def test_import_empty_file_and_bad_encoding(run, live_server, tmp_path):
    empty = run("import", write(tmp_path / "empty.csv", ""), "--url", live_server.url, "--key", ADMIN)
    assert empty.exit_code == 1 and reported_lines(empty.stderr) == [1]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("email,first_name\nj@example.com,J\u00fcrgen\n".encode("latin-1"))
    result = run("import", latin, "--url", live_server.url, "--key", ADMIN)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert reported_lines(result.stderr) == [2] and "not UTF-8" in result.stderr
    assert contact_ids(live_server.client) == []


def test_emit_and_import_refuse_missing_files(run, tmp_path):
    assert run("emit", tmp_path / "nope.jsonl", "--key", ADMIN).exit_code == 2
    assert run("import", tmp_path / "nope.csv", "--key", ADMIN).exit_code == 2


def test_distributed_api_names_the_unreachable_services():
    from typer.testing import CliRunner

    from api.cli import app

    result = CliRunner().invoke(app, ["api", "--port", "0"], env={
        "SWITCHBACK_KAFKA": "127.0.0.1:1", "SWITCHBACK_PG": "postgresql://postgres:secret@127.0.0.1:1/test"})
    assert result.exit_code == 1
    assert "SWITCHBACK_KAFKA" in result.output and "SWITCHBACK_PG" in result.output
    assert "secret" not in result.output  # the password is never printed
