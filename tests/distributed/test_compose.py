"""The production-like stack (docker-compose.yml, Dockerfile) checked by reading it:
Docker cannot run here, so this asserts the services, images, KRaft settings, env,
commands, healthchecks and start order, and that the worker can be scaled."""

from __future__ import annotations

import re

import pytest

from tests.support import ROOT

yaml = pytest.importorskip("yaml", reason="PyYAML parses docker-compose.yml")

APPS = ("api", "worker", "projector")
COMMANDS = {"api": ["api"], "worker": ["worker"], "projector": ["project"]}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def default(value: str) -> str:
    """``${VAR:-fallback}`` -> ``fallback`` (what compose uses when VAR is unset)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))


def test_services_and_images(services):
    assert set(services) == {"kafka", "postgres", *APPS}
    assert re.fullmatch(r"apache/kafka:3\.\d+\.\d+", services["kafka"]["image"])
    assert services["postgres"]["image"] == "postgres:16"
    for name in APPS:
        assert services[name]["build"] == "."
        assert services[name]["image"] == "switchback:latest"


def test_kafka_runs_in_kraft_mode(services):
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert str(env["KAFKA_NODE_ID"]) == "1"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    listeners = env["KAFKA_LISTENERS"].split(",")
    assert "PLAINTEXT://:9092" in listeners and "CONTROLLER://:9093" in listeners
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert {name.split("://")[0] for name in listeners} <= set(protocols)
    assert str(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == "1"  # one broker
    assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"  # Switchback creates its topics
    assert not any(key.startswith("KAFKA_ZOOKEEPER") for key in env)


def test_healthchecks(services):
    assert "kafka-broker-api-versions.sh" in " ".join(services["kafka"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "/healthz" in " ".join(services["api"]["healthcheck"]["test"])
    for name in ("kafka", "postgres", "api"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL") and check["retries"] >= 3


def test_app_services_are_configured_by_environment(services):
    pg_env = services["postgres"]["environment"]
    for name in APPS:
        env = services[name]["environment"]
        assert env["SWITCHBACK_MODE"] == "distributed"
        assert env["SWITCHBACK_KAFKA"] == "kafka:9092"
        assert default(env["SWITCHBACK_NAMESPACE"]) == "switchback"
        assert default(env["SWITCHBACK_PARTITIONS"]) == "12"
        dsn = default(env["SWITCHBACK_PG"])
        assert dsn == (f"postgresql://{pg_env['POSTGRES_USER']}:{default(pg_env['POSTGRES_PASSWORD'])}"
                       f"@postgres:5432/{pg_env['POSTGRES_DB']}")
    assert services["api"]["environment"]["SWITCHBACK_HOST"] == "0.0.0.0"
    assert "SWITCHBACK_ADMIN_KEY" in services["api"]["environment"]


def test_commands_and_start_order(services):
    for name in APPS:
        assert services[name]["command"] == COMMANDS[name]
        depends = services[name]["depends_on"]
        assert depends["kafka"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
    assert "8000:8000" in services["api"]["ports"]


def test_worker_can_be_scaled(services):
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert "container_name" not in services["projector"]


def test_settings_read_the_compose_environment(services, monkeypatch):
    from api.settings import Settings

    for key, value in services["worker"]["environment"].items():
        monkeypatch.setenv(key, default(value))
    settings = Settings()
    assert (settings.mode, settings.kafka, settings.namespace, settings.partitions) == (
        "distributed", "kafka:9092", "switchback", 12)
    assert settings.pg.startswith("postgresql://switchback:")


def test_dockerfile_installs_the_package_with_the_switchback_entrypoint():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert re.search(r"^RUN pip install .*\.\[distributed\]", dockerfile, re.M)
    assert re.search(r'^ENTRYPOINT \["switchback"\]', dockerfile, re.M)
    for package in ("journeys", "engine", "projections", "api"):
        assert f"COPY {package} " in dockerfile
    # the UI is built in a Node stage and only its output reaches the Python image
    assert re.search(r"^FROM node:20\S* AS ui$", dockerfile, re.M) and "RUN npm ci" in dockerfile
    assert "COPY --from=ui /src/api/static/ui ./api/static/ui" in dockerfile
