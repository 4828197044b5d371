"""``switchback users`` (typer's CliRunner): create with the password from an environment
variable or typed twice at a terminal, clear errors when there is neither or it breaks a
rule, list, disable and enable; the running server sees users created by the CLI; the
distributed mode keeps them in PostgreSQL."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from api import cli
from api.users import UserDirectory
from tests.support import PG, free_port

PASSWORD = "correct horse battery"


@pytest.fixture
def run(monkeypatch):
    """``run(*args, input=None)`` -> click Result; rich prints wide so messages are not wrapped."""
    monkeypatch.setattr(cli.console, "_width", 300)
    monkeypatch.setattr(cli.err, "_width", 300)
    monkeypatch.delenv("SWITCHBACK_MODE", raising=False)
    monkeypatch.delenv("SWITCHBACK_PG", raising=False)
    monkeypatch.delenv("SWITCHBACK_PG_SCHEMA", raising=False)
    monkeypatch.setenv("SB_TEST_PASSWORD", PASSWORD)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(cli.app, [str(a) for a in args], input=input)

    return invoke


def stored(data_dir):
    directory = UserDirectory(data_dir / "users.db")
    try:
        return directory.list()
    finally:
        directory.close()


def test_create_with_password_from_the_environment_then_list(run, tmp_path):
    result = run("users", "create", "--email", "Ann@Example.com", "--role", "marketer", "--workspace", "acme",
                 "--password-env", "SB_TEST_PASSWORD", "--data-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert "created marketer ann@example.com in workspace 'acme'" in result.stdout
    assert PASSWORD not in result.output
    [user] = stored(tmp_path)
    assert (user["email"], user["role"], user["workspace"], user["disabled"]) == \
        ("ann@example.com", "marketer", "acme", False)
    listed = run("users", "list", "--data-dir", tmp_path)
    assert listed.exit_code == 0 and "ann@example.com" in listed.stdout and "marketer" in listed.stdout
    assert "active" in listed.stdout
    assert "no users in workspace 'other'" in run("users", "list", "--workspace", "other", "--data-dir", tmp_path).stdout


def test_create_asks_twice_at_a_terminal(run, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_stdin_is_terminal", lambda: True)
    result = run("users", "create", "--email", "ann@example.com", "--role", "analyst", "--data-dir", tmp_path,
                 input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("Password") == 1 and "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output
    directory = UserDirectory(tmp_path / "users.db")
    try:
        assert directory.sign_in("ann@example.com", PASSWORD, 0)["role"] == "analyst"
    finally:
        directory.close()


def test_without_a_password_source_it_says_what_to_do(run, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_stdin_is_terminal", lambda: False)
    result = run("users", "create", "--email", "ann@example.com", "--role", "analyst", "--data-dir", tmp_path)
    assert result.exit_code == 2 and "--password-env" in result.stderr and "terminal" in result.stderr
    unset = run("users", "create", "--email", "ann@example.com", "--role", "analyst", "--password-env",
                "SB_TEST_NOT_SET", "--data-dir", tmp_path)
    assert unset.exit_code == 2 and "SB_TEST_NOT_SET" in unset.stderr and "not set" in unset.stderr
    assert not (tmp_path / "users.db").exists() or stored(tmp_path) == []


@pytest.mark.parametrize("args, says", [
    (("--email", "ann", "--role", "analyst"), "'ann' is not an email address"),
    (("--email", "ann@example.com", "--role", "ingest"), "unknown role 'ingest'"),
    (("--email", "ann@example.com", "--role", "analyst", "--workspace", "a b"), "workspace 'a b' is not valid"),
])
def test_bad_input_is_refused_before_asking_for_a_password(run, tmp_path, args, says):
    result = run("users", "create", *args, "--data-dir", tmp_path, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 2 and says in result.stderr, result.output
    assert "Password" not in result.output


def test_password_rules_and_duplicates(run, tmp_path, monkeypatch):
    monkeypatch.setenv("SB_SHORT", "short")
    short = run("users", "create", "--email", "ann@example.com", "--role", "analyst", "--password-env", "SB_SHORT",
                "--data-dir", tmp_path)
    assert short.exit_code == 2 and "at least 10 characters" in short.stderr
    first = ("users", "create", "--email", "ann@example.com", "--role", "analyst", "--password-env",
             "SB_TEST_PASSWORD", "--data-dir", tmp_path)
    assert run(*first).exit_code == 0
    again = run("users", "create", "--email", "ANN@example.com", "--role", "admin", "--password-env",
                "SB_TEST_PASSWORD", "--data-dir", tmp_path)
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert [u["role"] for u in stored(tmp_path)] == ["analyst"]


def test_disable_and_enable(run, tmp_path):
    assert run("users", "create", "--email", "ann@example.com", "--role", "analyst", "--password-env",
               "SB_TEST_PASSWORD", "--data-dir", tmp_path).exit_code == 0
    result = run("users", "disable", "--email", "Ann@example.com", "--data-dir", tmp_path)
    assert result.exit_code == 0 and "disabled ann@example.com" in result.stdout
    assert stored(tmp_path)[0]["disabled"] is True
    assert "disabled" in run("users", "list", "--data-dir", tmp_path).stdout
    assert run("users", "enable", "--email", "ann@example.com", "--data-dir", tmp_path).exit_code == 0
    assert stored(tmp_path)[0]["disabled"] is False
    missing = run("users", "disable", "--email", "nobody@example.com", "--data-dir", tmp_path)
    assert missing.exit_code == 1 and "no user 'nobody@example.com'" in missing.stderr


def test_the_running_server_sees_users_created_by_the_cli(run, app_client):
    from fastapi.testclient import TestClient

    data_dir = app_client.services.data_dir
    browser = TestClient(app_client.app)
    try:
        assert browser.post("/v1/session", json={"email": "ann@example.com", "password": PASSWORD}).status_code == 401
        assert run("users", "create", "--email", "ann@example.com", "--role", "analyst", "--password-env",
                   "SB_TEST_PASSWORD", "--data-dir", data_dir).exit_code == 0
        signed_in = browser.post("/v1/session", json={"email": "ann@example.com", "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        assert run("users", "disable", "--email", "ann@example.com", "--data-dir", data_dir).exit_code == 0
        assert browser.get("/v1/session").status_code == 401
        listed = app_client.get("/v1/users").json()["items"]
        assert [(u["email"], u["disabled"]) for u in listed] == [("ann@example.com", True)]
    finally:
        browser.close()
        app_client.services.users.close()


def test_distributed_mode_needs_postgres(run, tmp_path):
    result = run("users", "list", "--mode", "distributed", "--data-dir", tmp_path)
    assert result.exit_code == 2 and "SWITCHBACK_PG" in result.stderr
    odd = run("users", "list", "--mode", "cluster", "--data-dir", tmp_path)
    assert odd.exit_code == 2 and "unknown mode 'cluster'" in odd.stderr
    down = run("users", "list", "--mode", "distributed", "--pg", f"postgresql://sb:secret-pw@127.0.0.1:{free_port()}/x")
    assert down.exit_code == 1 and "cannot be used" in down.stderr and "SWITCHBACK_PG" in down.stderr
    assert "secret-pw" not in down.output


def test_distributed_mode_keeps_users_in_postgres(run, tmp_path, pg_schema, monkeypatch):
    monkeypatch.setenv("SWITCHBACK_MODE", "distributed")
    monkeypatch.setenv("SWITCHBACK_PG", PG)
    monkeypatch.setenv("SWITCHBACK_PG_SCHEMA", pg_schema)
    created = run("users", "create", "--email", "ann@example.com", "--role", "admin", "--password-env",
                  "SB_TEST_PASSWORD", "--data-dir", tmp_path)
    assert created.exit_code == 0, created.output
    assert not (tmp_path / "users.db").exists()
    assert run("users", "disable", "--email", "ann@example.com").exit_code == 0
    directory = UserDirectory.from_postgres(PG, pg_schema)
    try:
        [user] = directory.list()
        assert (user["email"], user["role"], user["disabled"]) == ("ann@example.com", "admin", True)
    finally:
        directory.close()
    assert "ann@example.com" in run("users", "list").stdout
