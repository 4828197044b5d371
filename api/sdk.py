"""The Python SDK: emit events from your shop or CRM code.

    from api.sdk import Emitter

    with Emitter(bootstrap="kafka:9092", namespace="switchback") as emitter:
        emitter.emit("order.placed", "c_123", {"order_id": "o_9", "amount": "59.90", "currency": "EUR"})

With ``bootstrap`` the event goes straight onto the ``<namespace>.events`` Kafka topic
(key = contact id); without it, to ``POST {http_url}/v1/events`` with the API key
(an ``ingest`` key is enough). Every envelope is validated here first, so a typo fails
in your code rather than in the dead-letter topic. ``Emitter.from_env()`` reads
``SWITCHBACK_KAFKA``, ``SWITCHBACK_NAMESPACE``, ``SWITCHBACK_URL`` and
``SWITCHBACK_API_KEY``. Framework snippets (Django, Flask) are in docs/kafka.md.

Over Kafka, ``emit`` only queues the event (the producer batches); ``flush()`` waits
until Kafka acknowledged everything emitted so far and raises :class:`EmitError` if
something was lost. ``close()`` flushes. Over HTTP each ``emit`` is one request and
raises at once. Emitting the same ``id`` twice is safe: the event is kept once.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from typing import Any

from journeys.events import Event

MAX_PENDING = 10_000  # queued Kafka sends before emit() waits for acknowledgements


class EmitError(RuntimeError):
    """The event could not be delivered (Switchback or Kafka refused it or did not answer)."""


class Emitter:
    """Sends events to Switchback over Kafka (``bootstrap``) or HTTP (``http_url``)."""

    def __init__(self, bootstrap: str | None = None, namespace: str = "switchback", http_url: str | None = None,
                 api_key: str | None = None, *, workspace: str | None = None, timeout: float = 10):
        if not bootstrap and not http_url:
            raise ValueError("give bootstrap (Kafka host:port) or http_url (the Switchback API) to send events")
        self.workspace = workspace
        self.timeout = timeout
        self._lock = threading.Lock()
        self._pending: list = []
        self._producer = None
        self._http = None
        if bootstrap:
            from engine.kafka import EventProducer, TopicNames  # kafka-python only when Kafka is used

            self.transport = "kafka"
            self.topics = TopicNames(namespace)
            self._producer = EventProducer(bootstrap, self.topics, client_id="switchback-sdk", timeout=timeout)
        else:
            import httpx

            self.transport = "http"
            headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
            self._http = httpx.Client(base_url=http_url.rstrip("/"), headers=headers, timeout=timeout)

    @classmethod
    def from_env(cls, **overrides: Any) -> Emitter:
        """An emitter configured by ``SWITCHBACK_KAFKA`` / ``SWITCHBACK_NAMESPACE`` or
        ``SWITCHBACK_URL`` / ``SWITCHBACK_API_KEY``."""
        env = {
            "bootstrap": os.environ.get("SWITCHBACK_KAFKA") or None,
            "namespace": os.environ.get("SWITCHBACK_NAMESPACE") or "switchback",
            "http_url": os.environ.get("SWITCHBACK_URL") or None,
            "api_key": os.environ.get("SWITCHBACK_API_KEY") or None,
        }
        return cls(**{**env, **overrides})

    def emit(self, type: str, contact_id: str | None, data: dict[str, Any] | None = None, *,  # noqa: A002
             id: str | None = None, occurred_at: datetime | str | None = None) -> str:  # noqa: A002
        """Validate and send one event; returns its id (generated if not given).

        Raises ``pydantic.ValidationError`` (a ``ValueError``) for an invalid envelope.
        """
        envelope: dict[str, Any] = {"type": type, "contact_id": contact_id, "data": data or {}}
        if id is not None:
            envelope["id"] = id
        if occurred_at is not None:
            envelope["occurred_at"] = occurred_at
        if self.workspace:
            envelope["workspace"] = self.workspace
        if self._producer is None and self._http is None:
            raise EmitError("this emitter is closed")
        if self.transport == "kafka":
            envelope["source"] = "kafka"
        event = Event.model_validate(envelope)
        if self.transport == "kafka":
            self._send_kafka(event.to_record())
        else:
            self._send_http(event)
        return event.id

    def _send_kafka(self, record: dict[str, Any]) -> None:
        future = self._producer.send(record)
        with self._lock:
            self._pending.append(future)
            full = len(self._pending) >= MAX_PENDING
        if full:
            self.flush()

    def _send_http(self, event: Event) -> None:
        import httpx

        body = event.model_dump(mode="json", exclude_none=True, exclude={"received_at"})
        if not self.workspace:
            body.pop("workspace", None)  # the API key decides the workspace
        try:
            response = self._http.post("/v1/events", json=body)
        except httpx.HTTPError as exc:
            raise EmitError(f"Switchback at {self._http.base_url} is unreachable: {exc}") from None
        if response.status_code >= 300:
            try:
                error = response.json()["error"]
                details = "; ".join(f"{d.get('loc')}: {d.get('message')}" for d in error.get("details") or [])
                message = error["message"] + (f" ({details})" if details else "")
            except Exception:  # noqa: BLE001 - not our error body (a proxy, a wrong URL)
                message = response.text[:300]
            raise EmitError(f"Switchback refused the event ({response.status_code}): {message}")

    def flush(self) -> None:
        """Wait until every event emitted so far is acknowledged (Kafka); no-op over HTTP."""
        if self._producer is None:
            return
        from engine.kafka import DeliveryFailed, wait_all

        with self._lock:
            pending, self._pending = self._pending, []
        try:
            wait_all(pending, self.timeout, f"Kafka at {self._producer.bootstrap} ({self.topics.events})")
        except DeliveryFailed as exc:
            raise EmitError(str(exc)) from None

    def close(self) -> None:
        """Flush, then release connections."""
        try:
            self.flush()
        finally:
            if self._producer is not None:
                self._producer.close()
                self._producer = None
            if self._http is not None:
                self._http.close()
                self._http = None

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
