"""The definitions store: drafts, immutable published versions, templates, API keys."""

from __future__ import annotations

import threading
from copy import deepcopy

import pytest
from pydantic import ValidationError

from engine.definitions import DefinitionError, Definitions

WS = "acme"
WELCOME = {"id": "welcome", "name": "Welcome", "channel": "email",
           "subject": "Hi {{ contact.first_name }}", "html": "<p>Welcome!</p>", "text": "Welcome!"}


def graph(subject_template: str = "welcome", name: str = "Welcome series") -> dict:
    return {
        "id": "welcome-series",
        "name": name,
        "nodes": [
            {"id": "start", "type": "entry", "position": {"x": 0, "y": 0},
             "data": {"trigger": {"event": "contact.created"}}, "selected": True},
            {"id": "hello", "type": "send", "data": {"channel": "email", "template": subject_template}},
            {"id": "done", "type": "end"},
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "hello"},
            {"id": "e2", "source": "hello", "target": "done"},
        ],
    }


@pytest.fixture
def db(tmp_path):
    return tmp_path / "definitions.sqlite"


@pytest.fixture
def defs(db):
    store = Definitions(sqlite_path=db)
    yield store
    store.close()


@pytest.fixture
def ready(defs):
    """A workspace with the template the journey needs and a saved draft."""
    defs.save_template(WS, WELCOME)
    defs.save_draft(WS, graph())
    return defs


# -- journeys -------------------------------------------------------------------------

def test_draft_is_kept_even_with_problems(defs):
    result = defs.save_draft(WS, graph())
    codes = {p["code"] for p in result["problems"]}
    assert codes == {"SB-010"}  # the template does not exist yet
    assert result["problems"][0]["node"] == "hello"
    journey = defs.get_journey(WS, "welcome-series")
    assert journey["status"] == "draft"
    assert journey["current_version"] is None and journey["versions"] == []
    assert journey["draft"]["nodes"][0]["selected"] is True  # editor fields round-trip
    assert journey["draft"]["status"] == "draft"
    assert defs.validate(WS, "welcome-series") == result["problems"]


def test_problems_use_the_workspace_templates(defs):
    defs.save_template(WS, WELCOME)
    assert defs.save_draft(WS, graph())["problems"] == []
    assert defs.validate(WS, "welcome-series") == []
    # another workspace does not see acme's template
    assert {p["code"] for p in defs.save_draft("other", graph())["problems"]} == {"SB-010"}


def test_unparsable_graph_raises_validation_error(defs):
    with pytest.raises(ValidationError):
        defs.save_draft(WS, {"id": "bad id with spaces", "nodes": []})
    with pytest.raises(ValidationError):
        defs.save_draft(WS, {"name": "no id"})


def test_bad_workspace_name_is_refused(defs):
    with pytest.raises(DefinitionError) as err:
        defs.save_draft("acme:evil", graph())
    assert err.value.code == "invalid"


def test_publish_is_refused_while_problems_remain(defs):
    defs.save_draft(WS, graph())
    with pytest.raises(DefinitionError) as err:
        defs.publish(WS, "welcome-series")
    assert err.value.code == "invalid"
    assert "SB-010" in err.value.message
    assert [p["code"] for p in err.value.problems] == ["SB-010"]
    assert defs.get_journey(WS, "welcome-series")["status"] == "draft"
    assert defs.published() == []


def test_publish_records_immutable_versions(ready):
    v1 = ready.publish(WS, "welcome-series")
    assert v1["version"] == 1 and v1["status"] == "published"
    frozen_v1 = ready.get_version(WS, "welcome-series", 1)
    assert frozen_v1 == v1
    v1["nodes"].clear()  # a caller mutating what it got back changes nothing stored
    assert ready.get_version(WS, "welcome-series", 1) == frozen_v1

    ready.save_draft(WS, graph(name="Welcome series, take two"))
    assert ready.get_version(WS, "welcome-series", 1) == frozen_v1  # the draft is not the version
    v2 = ready.publish(WS, "welcome-series")
    assert v2["version"] == 2 and v2["name"] == "Welcome series, take two"
    assert ready.get_version(WS, "welcome-series", 1) == frozen_v1
    assert ready.get_version(WS, "welcome-series", 1)["name"] == "Welcome series"

    journey = ready.get_journey(WS, "welcome-series")
    assert journey["current_version"] == 2 and journey["status"] == "published"
    assert [v["version"] for v in journey["versions"]] == [1, 2]
    assert all(v["published_at"].endswith("Z") for v in journey["versions"])
    assert journey["versions"][0]["published_at"] <= journey["versions"][1]["published_at"]
    assert [(ws, g["version"]) for ws, g in ready.all_versions()] == [(WS, 1), (WS, 2)]
    assert [(ws, g["version"], s) for ws, g, s in ready.published()] == [(WS, 2, "published")]
    with pytest.raises(DefinitionError) as err:
        ready.get_version(WS, "welcome-series", 3)
    assert err.value.code == "not_found" and "1, 2" in err.value.message


def test_pause_resume_archive(ready):
    with pytest.raises(DefinitionError) as err:
        ready.pause(WS, "welcome-series")  # still a draft
    assert err.value.code == "conflict" and "publish it first" in err.value.message
    with pytest.raises(DefinitionError):
        ready.resume(WS, "welcome-series")
    ready.publish(WS, "welcome-series")
    with pytest.raises(DefinitionError) as err:
        ready.resume(WS, "welcome-series")  # not paused
    assert err.value.code == "conflict"
    assert ready.pause(WS, "welcome-series")["status"] == "paused"
    assert [s for _, _, s in ready.published()] == ["paused"]
    with pytest.raises(DefinitionError):
        ready.pause(WS, "welcome-series")  # already paused
    assert ready.resume(WS, "welcome-series")["status"] == "published"
    assert ready.archive(WS, "welcome-series")["status"] == "archived"
    assert ready.archive(WS, "welcome-series")["status"] == "archived"  # idempotent
    assert ready.published() == []
    assert len(ready.all_versions()) == 1  # instances on archived versions can still finish


def test_unknown_journey_is_not_found(defs):
    for call in (defs.get_journey, defs.publish, defs.pause, defs.validate):
        with pytest.raises(DefinitionError) as err:
            call(WS, "nope")
        assert err.value.code == "not_found"


def test_listing_journeys(ready):
    ready.save_draft(WS, graph() | {"id": "second", "name": "Second"})
    listed = ready.list_journeys(WS)
    assert [j["id"] for j in listed] == ["welcome-series", "second"]
    assert listed[0]["name"] == "Welcome series" and "draft" not in listed[0]
    assert ready.list_journeys("empty") == []


def test_changes_grow_with_every_save(defs):
    start = defs.changes()
    defs.save_template(WS, WELCOME)
    after_template = defs.changes()
    assert after_template > start
    defs.save_draft(WS, graph())
    after_draft = defs.changes()
    assert after_draft > after_template
    defs.save_draft(WS, graph())  # unchanged draft: nothing new is recorded
    assert defs.changes() == after_draft


def test_everything_survives_a_restart(db, ready):
    ready.publish(WS, "welcome-series")
    ready.pause(WS, "welcome-series")
    secret, info = ready.create_key(WS, "marketer", "Mia")
    ready.close()
    reopened = Definitions(sqlite_path=db)
    try:
        journey = reopened.get_journey(WS, "welcome-series")
        assert journey["status"] == "paused" and journey["current_version"] == 1
        assert reopened.get_version(WS, "welcome-series", 1)["version"] == 1
        assert reopened.get_template(WS, "welcome")["subject"] == WELCOME["subject"]
        assert reopened.check_key(secret) == info
        assert [(ws, s) for ws, _, s in reopened.published()] == [(WS, "paused")]
        assert reopened.changes() > 0
    finally:
        reopened.close()


def test_concurrent_writers_in_one_process(defs):
    defs.save_template(WS, WELCOME)
    failures = []

    def save(i):
        try:
            defs.save_draft(WS, graph(name=f"draft {i}"))
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert defs.get_journey(WS, "welcome-series")["name"].startswith("draft ")


def test_write_from_another_process_is_a_conflict(db, ready):
    other = Definitions(sqlite_path=db)
    try:
        stale = ready._journey(WS, "welcome-series")  # read before the other writer
        other.publish(WS, "welcome-series")
        stale.publish()
        with pytest.raises(DefinitionError) as err:
            ready._save(stale)
        assert err.value.code == "conflict"
    finally:
        other.close()


# -- templates ------------------------------------------------------------------------

def test_template_crud(defs):
    saved = defs.save_template(WS, WELCOME)
    assert {k: saved[k] for k in WELCOME} == WELCOME
    assert saved["created_at"].endswith("Z")
    sms = defs.save_template(WS, {"id": "sms-hi", "channel": "sms", "text": "Hi {{ contact.first_name }}"})
    assert sms["name"] == "sms-hi" and "subject" not in sms
    assert [t["id"] for t in defs.list_templates(WS)] == ["welcome", "sms-hi"]

    edited = defs.save_template(WS, WELCOME | {"subject": "Hello"})
    assert defs.get_template(WS, "welcome")["subject"] == "Hello" == edited["subject"]

    defs.delete_template(WS, "welcome")
    assert [t["id"] for t in defs.list_templates(WS)] == ["sms-hi"]
    with pytest.raises(DefinitionError) as err:
        defs.get_template(WS, "welcome")
    assert err.value.code == "not_found"
    with pytest.raises(DefinitionError):
        defs.delete_template(WS, "welcome")
    # a deleted template breaks journeys that use it, and can be created again
    assert {p["code"] for p in defs.save_draft(WS, graph())["problems"]} == {"SB-010"}
    defs.save_template(WS, WELCOME)
    assert defs.validate(WS, "welcome-series") == []


@pytest.mark.parametrize("template, field", [
    ({"id": "x", "channel": "fax", "text": "hi"}, "channel"),
    ({"id": "x", "channel": "email", "html": "<p>no subject</p>"}, "subject"),
    ({"id": "x", "channel": "sms"}, "text"),
    ({"id": "x", "subject": "Hi", "html": "{% if %}"}, "html"),
    ({"id": "x", "subject": "Hi", "html": 42}, "html"),
])
def test_invalid_templates_are_refused(defs, template, field):
    with pytest.raises(DefinitionError) as err:
        defs.save_template(WS, template)
    assert err.value.code == "invalid"
    assert err.value.problems[0]["field"] == field


def test_template_syntax_error_names_the_line(defs):
    with pytest.raises(DefinitionError) as err:
        defs.save_template(WS, {"id": "x", "subject": "Hi", "html": "<p>\n{{ contact.name }\n</p>"})
    assert "line 2" in err.value.problems[0]["message"]


def test_template_id_must_be_a_slug(defs):
    with pytest.raises(DefinitionError) as err:
        defs.save_template(WS, WELCOME | {"id": "no spaces please"})
    assert err.value.code == "invalid"


# -- API keys -------------------------------------------------------------------------

def test_key_secret_is_never_stored(db, defs):
    secret, info = defs.create_key(WS, "ingest", "shop backend")
    assert secret.startswith("sb_") and len(secret) > 40
    assert info["role"] == "ingest" and info["workspace"] == WS and "secret" not in info
    defs.close()
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert secret.encode() not in stored
    assert secret[3:].encode() not in stored
    assert b"shop backend" in stored  # the key itself was written


def test_check_and_revoke(defs):
    secret, info = defs.create_key(WS, "analyst", "Ana")
    other_secret, _ = defs.create_key(WS, "marketer")
    assert defs.check_key(secret) == info
    assert defs.check_key(secret + "x") is None
    assert defs.check_key("") is None
    defs.revoke_key(info["id"])
    defs.revoke_key(info["id"])  # idempotent
    assert defs.check_key(secret) is None
    assert defs.check_key(other_secret)["role"] == "marketer"
    keys = {k["name"]: k for k in defs.list_keys(WS)}
    assert keys["Ana"]["revoked"] is True and keys[""]["revoked"] is False
    with pytest.raises(DefinitionError) as err:
        defs.revoke_key("not-a-key")
    assert err.value.code == "not_found"


def test_unknown_role_is_refused(defs):
    with pytest.raises(DefinitionError) as err:
        defs.create_key(WS, "superuser")
    assert err.value.code == "invalid"


def test_ensure_admin_key_generates_once(defs):
    secret, created = defs.ensure_admin_key(WS, None)
    assert created and defs.check_key(secret)["role"] == "admin"
    assert defs.ensure_admin_key(WS, None) == (None, False)
    assert len(defs.list_keys(WS)) == 1


def test_ensure_admin_key_registers_a_configured_secret_idempotently(defs):
    configured = "sb_configured-admin-secret-0123456789"
    assert defs.ensure_admin_key(WS, configured) == (None, False)
    assert defs.ensure_admin_key(WS, configured) == (None, False)
    assert defs.check_key(configured)["role"] == "admin"
    assert len(defs.list_keys(WS)) == 1
    with pytest.raises(DefinitionError) as err:
        defs.ensure_admin_key("other", configured)  # one secret, one workspace
    assert err.value.code == "conflict"
    with pytest.raises(DefinitionError) as err:
        defs.ensure_admin_key(WS, "short")
    assert err.value.code == "invalid"


def test_revoked_configured_admin_key_stays_revoked(defs):
    configured = "sb_configured-admin-secret-0123456789"
    defs.ensure_admin_key(WS, configured)
    defs.revoke_key(defs.check_key(configured)["id"])
    secret, created = defs.ensure_admin_key(WS, configured)
    assert created and defs.check_key(configured) is None
    assert defs.check_key(secret)["role"] == "admin"


def test_in_memory_store_when_nothing_is_configured(monkeypatch):
    monkeypatch.delenv("PERSISTENCE_MODULE", raising=False)
    monkeypatch.delenv("DEFINITIONS_PERSISTENCE_MODULE", raising=False)
    store = Definitions()
    try:
        store.save_template(WS, deepcopy(WELCOME))
        assert store.get_template(WS, "welcome")["id"] == "welcome"
    finally:
        store.close()
