"""End-to-end fixtures: a real `voxpop serve` process and Debian's Chromium via Playwright.

Screenshots of failing tests go to artifacts/e2e/. axe-core comes from tests/e2e/node_modules
(`npm ci` in scripts/setup).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN = "e2e-admin-token-0123456789"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, tmp: Path, **env: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"server-{self.port}.log"
        environ = {
            **os.environ,
            "VOXPOP_DATABASE_URL": f"sqlite:///{tmp}/e2e-{self.port}.db",
            "VOXPOP_ENV": "dev",
            "VOXPOP_RATE_LIMITS": "off",
            # Scripted traffic looks like a bot's, which the tests are not about: a browser
            # driven by a script posts within a second of loading, the tests post the same
            # seed texts again and again from one address (held as a campaign from the
            # third copy at the default VOXPOP_SPAM_HOLD), and sign in dozens of times.
            # tests/test_moderation.py and tests/test_accounts.py cover those checks.
            "VOXPOP_MIN_SUBMIT_SECONDS": "0",
            "VOXPOP_SPAM_HOLD": "1",
            "VOXPOP_LOGIN_RATE": "1000/900",
            "VOXPOP_ADMIN_TOKEN": ADMIN,
            "VOXPOP_PUBLIC_URL": self.url,
            **env,
        }
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voxpop.cli", "serve", "--port", str(self.port)],
            env=environ,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"voxpop did not start: {self.log.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._log_file.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("e2e"))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Chromium is missing: scripts/setup --test installs it (apt-get install chromium)"
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    options: dict[str, Any] = getattr(request, "param", {}) or {}
    ctx = browser.new_context(**options)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.on("dialog", lambda d: d.accept())
    yield p
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


def axe_violations(page: Page, context: str | None = None) -> list[dict[str, Any]]:
    """Run axe-core in the page; return its violations (empty is the goal)."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: run scripts/setup --test (npm ci in tests/e2e)")
    # Evaluated through the DevTools protocol, so the page's own strict CSP stays in force.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;true")
    result: dict[str, Any] = page.evaluate(
        "async (ctx) => await axe.run(ctx || document, {resultTypes: ['violations']})", context
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]
