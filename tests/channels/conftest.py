"""Fixtures for the channel tests: a moto server for SES (real boto3 over HTTP), and a
small recording HTTP server that answers like an API (Twilio, or an SES that throttles).
Every server listens on 127.0.0.1 on a free port and is stopped afterwards.

Other fixtures may be added at the end of this file.
"""

from __future__ import annotations

import collections
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support import free_port

MOTO_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class MotoSes:
    url: str
    region: str = "eu-west-1"

    def client(self):
        import boto3

        return boto3.client("sesv2", region_name=self.region, endpoint_url=self.url, **MOTO_CREDENTIALS)

    def sent(self) -> list[dict[str, Any]]:
        """Every email moto's SES has accepted (all tests of this process: filter by recipient)."""
        import httpx

        data = httpx.get(f"{self.url}/moto-api/data.json", timeout=10).json()
        return data.get("ses", {}).get("Message", []) + data.get("ses", {}).get("RawMessage", [])


@pytest.fixture(scope="session")
def moto_ses():
    """moto in server mode (one per test process), reached through real boto3."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield MotoSes(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class StubHttp:
    """A recording HTTP server: answers each request with the next queued reply, or with
    ``default`` (a Twilio-like 201 "message created") when none is queued."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    replies: collections.deque = field(default_factory=collections.deque)
    counter: int = 0

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.replies.append((status, body, headers or {}))

    def default(self) -> tuple[int, Any, dict[str, str]]:
        self.counter += 1
        sid = f"SM{self.counter:032x}"
        return 201, {"sid": sid, "status": "queued", "account_sid": "AC" + "0" * 32, "body": ""}, {}


@pytest.fixture
def stub_http():
    stub = StubHttp()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            with lock:
                stub.requests.append(Recorded(self.command, parts.path, parse_qs(parts.query),
                                              dict(self.headers.items()), body))
                status, payload, headers = stub.replies.popleft() if stub.replies else stub.default()
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- fixtures of other channel test modules below ---------------------------------------
