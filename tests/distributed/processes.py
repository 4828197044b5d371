"""Start and stop real ``switchback`` processes (worker, projector, api) for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, stop_process


TEST_SECRET = {"SWITCHBACK_SECRET_KEY": "test-secret-for-tracking-links-0123456789"}


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.args, self.env, self.log_path = args, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Process:
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "api.cli", *self.args], cwd=ROOT,
                                     env={**os.environ, **TEST_SECRET, **self.env}, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        stop_process(self.proc)
        if not self.log.closed:
            self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")
