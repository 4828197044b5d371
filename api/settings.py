"""Configuration: one settings object, read from ``SWITCHBACK_*`` environment variables
and CLI flags. Secrets (the admin key) come only from the environment.

``mode`` selects the deployment: ``embedded`` (default; SQLite files in ``data_dir``)
or ``distributed`` (Kafka at ``SWITCHBACK_KAFKA``, PostgreSQL at ``SWITCHBACK_PG``,
topics named ``<SWITCHBACK_NAMESPACE>.events`` and so on). ``check_distributed()``
tells, in one message, which of those services is missing or unreachable and which
variable to set.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from engine.kafka import TopicNames


class ConfigError(ValueError):
    """The configuration cannot work (a missing setting or an unreachable service)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHBACK_", extra="ignore")

    data_dir: Path = Field(default=Path(".switchback"), description="where the SQLite files live")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    base_url: str | None = Field(default=None, description="public URL used in links (default http://host:port)")
    admin_key: str | None = Field(default=None, repr=False, description="admin API key for the default workspace")
    workspace: str = "default"
    test_clock: bool = Field(default=False, description="virtual clock + /v1/testing routes (tests only)")
    max_batch: int = 1000
    max_body_bytes: int = 8 * 1024 * 1024

    mode: Literal["embedded", "distributed"] = Field(
        default="embedded", description="embedded: one process with SQLite; distributed: Kafka + PostgreSQL")
    kafka: str | None = Field(default=None, description="Kafka bootstrap servers, e.g. kafka:9092 (distributed)")
    namespace: str = Field(default="switchback", pattern=r"^[a-z0-9_.\-]+$", max_length=200,
                           description="topic name prefix; two deployments on one Kafka use different ones")
    partitions: int = Field(default=12, ge=1, le=10000,
                            description="partitions of new topics: the most workers that can share the load")
    pg_schema: str = Field(default="switchback", pattern=r"^[a-z_][a-z0-9_]*$", max_length=63,
                           description="PostgreSQL schema for state, read model and definitions")
    replication: int = Field(default=1, ge=1, le=16,
                             description="replication factor of new topics (3 on a production cluster)")
    pg: str | None = Field(default=None, repr=False,
                           description="PostgreSQL DSN, e.g. postgresql://switchback:secret@postgres:5432/switchback")

    # channels (docs/channels.md); provider settings live in engine/providers/registry.py
    secret_key: str | None = Field(default=None, repr=False,
                                   description="signs tracking/unsubscribe tokens; embedded: generated into "
                                               "<data-dir>/secret-key when unset; distributed: required")
    postal_address: str | None = Field(default=None, description="sender's postal address for the email footer")
    twilio_auth_token: str | None = Field(default=None, repr=False,
                                          description="validates X-Twilio-Signature on Twilio webhooks")
    sns_cert_dir: Path | None = Field(default=None, description="tests only: trusted SNS signing certificates "
                                      "(PEM files) used instead of fetching from sns.<region>.amazonaws.com")
    sns_topic_arns: list[str] = Field(default_factory=list,
                                      description="SNS topics whose messages /webhooks/ses accepts (empty: any)")

    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    def topics(self) -> TopicNames:
        """The Kafka topic names of this deployment."""
        from engine.kafka import TopicNames

        return TopicNames(self.namespace)

    def check_distributed(self, timeout: float = 3) -> None:
        """Raise :class:`ConfigError` naming every missing or unreachable service
        (Kafka, PostgreSQL) and the variable to set. Does nothing in embedded mode."""
        if self.mode != "distributed":
            return
        problems = []
        if not self.kafka:
            problems.append("Kafka is not configured: set SWITCHBACK_KAFKA to its bootstrap servers (e.g. kafka:9092)")
        else:
            try:
                from engine.kafka import ServiceUnavailable, check_kafka
            except ImportError as exc:
                problems.append(f"the Kafka client is not installed ({exc}); install switchback[distributed]")
            else:
                try:
                    check_kafka(self.kafka, timeout=timeout)
                except ServiceUnavailable as exc:
                    problems.append(str(exc))
        if not self.pg:
            problems.append("PostgreSQL is not configured: set SWITCHBACK_PG to a DSN "
                            "(e.g. postgresql://switchback:secret@postgres:5432/switchback)")
        else:
            problem = _check_pg(self.pg, timeout)
            if problem:
                problems.append(problem)
        if problems:
            raise ConfigError("distributed mode cannot start:\n- " + "\n- ".join(problems))


def _check_pg(dsn: str, timeout: float) -> str | None:
    try:
        import psycopg
    except ImportError as exc:
        return f"the PostgreSQL driver is not installed ({exc}); install switchback[distributed]"
    try:
        with psycopg.connect(dsn, connect_timeout=max(1, int(timeout))) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - psycopg.Error, or ProgrammingError for a malformed DSN
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return f"PostgreSQL at {_safe_dsn(dsn)} is unreachable: {reason}; start it or set SWITCHBACK_PG"
    return None


def _safe_dsn(dsn: str) -> str:
    """The DSN without its password, for error messages."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
        host, port, db = parts.get("host", "localhost"), parts.get("port", "5432"), parts.get("dbname", "")
        return f"{host}:{port}/{db}" if db else f"{host}:{port}"
    except Exception:  # noqa: BLE001
        return "the configured DSN"
