"""Browser tests of the web UI: a real ``switchback up`` on a free loopback port with a
virtual clock and a temporary data directory, users made with the CLI, and Debian's
chromium driven by Playwright (never a downloaded browser).

Screenshots of each screen are saved under ``test-artifacts/ui/`` (gitignored).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import ADMIN, ROOT, free_port, stop_process

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# the marks of every browser test module: `pytestmark = BROWSER_TEST`
BROWSER_TEST = [
    pytest.mark.services,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install -y chromium; "
                                                      "`make test` installs it)"),
]
BUILT_UI = ROOT / "api" / "static" / "ui" / "index.html"
ARTIFACTS = ROOT / "test-artifacts" / "ui"
PASSWORD = "correct horse battery staple"
PASSWORD_ENV = "SB_UI_TEST_PASSWORD"


class UiServer:
    """``switchback up`` as a subprocess; ``api`` is an httpx client with the admin key."""

    def __init__(self, data_dir: Path):
        self.data_dir, self.port = data_dir, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SWITCHBACK_TEST_CLOCK": "1", "SWITCHBACK_ADMIN_KEY": ADMIN, "PYTHONUNBUFFERED": "1",
                    "SWITCHBACK_DATA_DIR": str(data_dir), PASSWORD_ENV: PASSWORD}
        for name in ("SWITCHBACK_MODE", "SWITCHBACK_PG", "SWITCHBACK_KAFKA", "SWITCHBACK_BASE_URL"):
            self.env.pop(name, None)
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self.proc = None

    def start(self) -> UiServer:
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "api.cli", "up", "--port", str(self.port),
                                      "--data-dir", str(self.data_dir)], cwd=ROOT, env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.api = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text()
            try:
                if self.api.get("/healthz").status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"switchback up did not become healthy in 30 s:\n{self.log_path.read_text()}")

    def create_user(self, email: str, role: str) -> None:
        """``switchback users create`` (works while the server runs)."""
        done = subprocess.run([sys.executable, "-m", "api.cli", "users", "create", "--email", email, "--role", role,
                               "--password-env", PASSWORD_ENV, "--data-dir", str(self.data_dir)],
                              cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout + done.stderr

    def stop(self) -> None:
        stop_process(self.proc)
        self.api.close()
        self.log.close()


@pytest.fixture
def ui_server(tmp_path):
    assert BUILT_UI.is_file(), f"the web UI is not built ({BUILT_UI} is missing): run `make ui`"
    server = UiServer(tmp_path / "data").start()
    yield server
    server.stop()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Watched:
    """A page whose script errors and console errors are collected, with a screenshot helper."""

    # the browser logs every HTTP error answer; these the app expects and shows itself: 401
    # (not signed in yet, a wrong password) and 422 (a CSV with bad rows)
    EXPECTED = tuple(f"Failed to load resource: the server responded with a status of {status}" for status in (401, 422))

    def __init__(self, page, prefix: str):
        self.page, self.prefix, self.errors = page, prefix, []
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("console", self._console)

    def _console(self, message) -> None:
        if message.type == "error" and not message.text.startswith(self.EXPECTED):
            self.errors.append(f"console.error: {message.text}")

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.prefix}-{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path


@pytest.fixture
def watched(browser, request):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    watcher = Watched(page, request.node.name.removeprefix("test_ui_"))
    yield watcher
    context.close()
