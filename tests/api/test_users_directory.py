"""The user directory (api/users.py) on its own: users are created once per email whatever
its case, passwords follow the rules and are kept only as argon2 hashes, a wrong
password, an unknown email and a disabled account look the same, repeated failures lock
the email out for 15 minutes, and the store survives a restart. On PostgreSQL, two
directories (two API processes) share users, sessions generations and the failure count."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from argon2 import PasswordHasher

from api.users import FAILURE_LIMIT, FAILURE_WINDOW, TooManyAttempts, UserDirectory, UserError
from tests.support import PG

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"
NOW = 1_800_000_000.0


@pytest.fixture
def directory(tmp_path):
    users = UserDirectory(tmp_path / "users.db", hasher=FAST)
    yield users
    users.close()


def test_create_get_and_list(directory):
    ann = directory.create("Ann@Example.COM", PASSWORD, "marketer", now=NOW)
    assert ann == {"email": "ann@example.com", "role": "marketer", "workspace": "default", "disabled": False,
                   "created_at": "2027-01-15T08:00:00Z", "updated_at": "2027-01-15T08:00:00Z"}
    directory.create("bob@example.com", PASSWORD, "analyst", workspace="acme", now=NOW)
    assert directory.get(" ANN@example.com ") == ann
    assert [u["email"] for u in directory.list()] == ["ann@example.com", "bob@example.com"]
    assert [u["email"] for u in directory.list("acme")] == ["bob@example.com"]
    assert directory.list("nobody") == []


def test_the_same_email_in_another_case_is_refused(directory):
    directory.create("ann@example.com", PASSWORD, "analyst")
    with pytest.raises(UserError) as caught:
        directory.create("ANN@EXAMPLE.com", PASSWORD + "!", "admin", workspace="other")
    assert caught.value.code == "exists" and caught.value.field == "email"
    assert [u["role"] for u in directory.list()] == ["analyst"]


def test_only_a_hash_is_stored(directory, tmp_path):
    directory.create("ann@example.com", PASSWORD, "analyst")
    user = directory._user("ann@example.com")
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert "password" not in str(directory.get("ann@example.com"))
    with sqlite3.connect(tmp_path / "users.db") as conn:
        stored = b"".join(row[0] for row in conn.execute("SELECT state FROM stored_events"))
    assert b"ann@example.com" in stored and PASSWORD.encode() not in stored


@pytest.mark.parametrize("password, says", [
    ("short", "at least 10 characters long (this one has 5)"),
    ("nine char", "at least 10 characters"),
    (" " * 12, "must not be only spaces"),
    ("Ann@Example.com", "must not be the email address"),
    ("x" * 1001, "at most 1000 characters"),
    (1234567890123, "must be text"),
])
def test_password_rules(directory, password, says):
    with pytest.raises(UserError) as caught:
        directory.create("ann@example.com", password, "analyst")
    assert caught.value.code == "invalid" and caught.value.field == "password" and says in caught.value.message
    assert directory.list() == []


@pytest.mark.parametrize("field, value, says", [
    ("email", "not-an-email", "not an email address"),
    ("email", "ann@localhost", "not an email address"),
    ("email", "a b@example.com", "not an email address"),
    ("role", "ingest", "unknown role 'ingest'"),
    ("role", "owner", "admin, marketer, analyst, redeemer"),
    ("workspace", "no spaces", "workspace 'no spaces' is not valid"),
])
def test_bad_input_names_its_field(directory, field, value, says):
    args = {"email": "ann@example.com", "password": PASSWORD, "role": "analyst", "workspace": "default", field: value}
    with pytest.raises(UserError) as caught:
        directory.create(**args)
    assert (caught.value.code, caught.value.field) == ("invalid", field) and says in caught.value.message


def test_sign_in_tells_nothing_about_who_exists(directory):
    directory.create("ann@example.com", PASSWORD, "analyst")
    directory.create("dis@example.com", PASSWORD, "analyst")
    directory.update("dis@example.com", disabled=True)
    user = directory.sign_in("ANN@example.com", PASSWORD, NOW)
    assert {k: user[k] for k in ("email", "role", "workspace", "generation")} == \
        {"email": "ann@example.com", "role": "analyst", "workspace": "default", "generation": 0}
    assert directory.sign_in("ann@example.com", PASSWORD + "x", NOW) is None
    assert directory.sign_in("nobody@example.com", PASSWORD, NOW) is None
    assert directory.sign_in("dis@example.com", PASSWORD, NOW) is None
    assert directory.sign_in("not an email", PASSWORD, NOW) is None
    assert directory.sign_in("ann@example.com", None, NOW) is None


def test_lock_out_after_repeated_failures_for_known_and_unknown_emails(directory):
    directory.create("ann@example.com", PASSWORD, "analyst")
    for email in ("ann@example.com", "nobody@example.com"):
        for i in range(FAILURE_LIMIT):
            assert directory.sign_in(email.upper() if i % 2 else email, "wrong password", NOW + i) is None
        with pytest.raises(TooManyAttempts) as caught:
            directory.sign_in(email, PASSWORD, NOW + 60)
        assert caught.value.retry_after == FAILURE_WINDOW - 60 + 1
        assert "try again in 15 minutes" in str(caught.value)
    # another email is not affected; the window passes and the right password works again
    assert directory.sign_in("other@example.com", "x", NOW + 60) is None
    assert directory.sign_in("ann@example.com", PASSWORD, NOW + FAILURE_WINDOW + 10) is not None


def test_a_success_clears_the_failures(directory):
    directory.create("ann@example.com", PASSWORD, "analyst")
    for _ in range(FAILURE_LIMIT - 1):
        directory.sign_in("ann@example.com", "wrong password", NOW)
    assert directory.sign_in("ann@example.com", PASSWORD, NOW) is not None
    for _ in range(FAILURE_LIMIT - 1):
        directory.sign_in("ann@example.com", "wrong password", NOW)
    assert directory.sign_in("ann@example.com", PASSWORD, NOW) is not None


def test_old_failures_are_forgotten(directory, tmp_path):
    for i in range(5):
        directory.sign_in(f"u{i}@example.com", "wrong password", NOW)
    directory.sign_in("late@example.com", "wrong password", NOW + FAILURE_WINDOW + 1)
    with sqlite3.connect(tmp_path / "users.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM sign_in_failures").fetchone()[0] == 1


def test_changes_and_session_generations(directory):
    directory.create("ann@example.com", PASSWORD, "analyst", now=NOW)
    session = directory.sign_in("ann@example.com", PASSWORD, NOW)
    assert directory.session_user(session["id"], 0)["role"] == "analyst"
    changed = directory.update("ann@example.com", role="marketer", now=NOW + 5)
    assert changed["role"] == "marketer" and changed["updated_at"] == "2027-01-15T08:00:05Z"
    assert directory.session_user(session["id"], 0)["role"] == "marketer"  # a new role keeps the session
    directory.update("ann@example.com", password="a new password here")
    assert directory.session_user(session["id"], 0) is None  # a new password ends it
    assert directory.sign_in("ann@example.com", PASSWORD, NOW) is None
    again = directory.sign_in("ann@example.com", "a new password here", NOW)
    assert again["generation"] == 1 and directory.session_user(again["id"], 1) is not None
    directory.sign_out_everywhere("ann@example.com")
    assert directory.session_user(again["id"], 1) is None
    directory.update("ann@example.com", disabled=True)
    assert directory.get("ann@example.com")["disabled"] is True
    assert directory.session_user(again["id"], 3) is None and directory.session_user("not-a-uuid", 0) is None
    directory.update("ann@example.com", disabled=False)
    assert directory.session_user(again["id"], 3) is not None


def test_changing_an_unknown_or_foreign_user_is_not_found(directory):
    directory.create("bob@example.com", PASSWORD, "analyst", workspace="acme")
    for email, workspace in (("nobody@example.com", None), ("bob@example.com", "default")):
        with pytest.raises(UserError) as caught:
            directory.update(email, role="admin", workspace=workspace)
        assert caught.value.code == "not_found"
    assert directory.get("bob@example.com")["role"] == "analyst"


def test_old_hashes_are_upgraded_at_sign_in(tmp_path):
    old = UserDirectory(tmp_path / "users.db", hasher=PasswordHasher(time_cost=1, memory_cost=512, parallelism=1))
    old.create("ann@example.com", PASSWORD, "analyst")
    old.close()
    new = UserDirectory(tmp_path / "users.db", hasher=FAST)
    try:
        assert new.sign_in("ann@example.com", PASSWORD, NOW) is not None
        assert "m=1024" in new._user("ann@example.com").password_hash
        assert new.sign_in("ann@example.com", PASSWORD, NOW) is not None
    finally:
        new.close()


def test_users_survive_a_restart_and_one_email_wins_a_race(tmp_path):
    directories = [UserDirectory(tmp_path / "users.db", hasher=FAST) for _ in range(4)]
    outcomes: list[str] = []

    def create(users: UserDirectory, role: str) -> None:
        try:
            users.create("ann@example.com", PASSWORD, role)
            outcomes.append("created")
        except UserError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=create, args=(d, r))
               for d, r in zip(directories, ("admin", "marketer", "analyst", "redeemer"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for d in directories:
        d.close()
    assert sorted(outcomes) == ["created", "exists", "exists", "exists"]
    reopened = UserDirectory(tmp_path / "users.db", hasher=FAST)
    try:
        assert [u["email"] for u in reopened.list()] == ["ann@example.com"]
        assert reopened.sign_in("ann@example.com", PASSWORD, NOW) is not None
    finally:
        reopened.close()


def test_postgres_directories_share_users_sessions_and_failures(pg_schema):
    first = UserDirectory.from_postgres(PG, pg_schema, hasher=FAST)
    second = UserDirectory.from_postgres(PG, pg_schema, hasher=FAST)
    try:
        first.create("Ann@Example.com", PASSWORD, "marketer", workspace="acme")
        with pytest.raises(UserError):
            second.create("ann@example.com", PASSWORD, "admin")
        assert [u["email"] for u in second.list("acme")] == ["ann@example.com"]
        session = second.sign_in("ann@example.com", PASSWORD, NOW)
        assert first.session_user(session["id"], session["generation"])["workspace"] == "acme"
        first.sign_out_everywhere("ann@example.com")
        assert second.session_user(session["id"], session["generation"]) is None
        for i in range(FAILURE_LIMIT):
            assert (first if i % 2 else second).sign_in("ann@example.com", "wrong password", NOW) is None
        for users in (first, second):
            with pytest.raises(TooManyAttempts):
                users.sign_in("ann@example.com", PASSWORD, NOW + 1)
        assert second.sign_in("ann@example.com", PASSWORD, NOW + FAILURE_WINDOW + 1) is not None
    finally:
        first.close()
        second.close()
