"""Browser-test fixtures: the real server in a child process, a signed-in clinic, Chromium.

Reusable by every browser test (the patient app's and the therapist console's):

- ``live_server``: ``unknot serve`` on a free port with its own SQLite file, data folder and a
  copy of ``pwa/`` (so a test may change a served file, e.g. to publish a new service worker).
  ``live_server.rows(sql)`` reads the database with sqlite3. ``serve(tmp, **settings)`` starts
  one of a test's own (other content with ``plans_dir=...``, say).
- ``clinic``: the therapist API as a signed-in therapist (patients, plans, invites, devices).
- ``browser`` (session), ``context`` and ``page`` (per test): Debian's Chromium at phone size.
  A page error or a Content-Security-Policy violation fails the test.
- helpers: ``join_in_browser``, ``outbox_count``, ``wait_outbox``, ``check_a11y``, ``screenshot``.

Chromium missing is a failure, never a skip: run ``make system-deps``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.bench.harness import BIN, ROOT, answers, create_therapist, free_port, signed_in

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
TIMEZONE = "Europe/Madrid"
SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
THERAPIST_EMAIL = "browser-tests@clinic.example"
THERAPIST_PASSWORD = "browser tests password"


def local_today(timezone: str = TIMEZONE) -> dt.date:
    """Today where the test patients live (the browser context uses the same zone)."""
    return dt.datetime.now(zoneinfo.ZoneInfo(timezone)).date()


@dataclass
class LiveServer:
    """A running ``unknot serve`` process."""

    url: str
    db_path: Path
    pwa_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path

    def rows(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Run a query on the server's database file."""
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=10)) as db:
            db.row_factory = sqlite3.Row
            return db.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> None:
        """Change the server's database (test set-up only)."""
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=10)) as db, db:
            db.execute(sql, params)

    def allow_joins(self) -> None:
        """Forget join attempts so the per-address limit (10 in 15 minutes) never trips a test."""
        self.execute("DELETE FROM attempt WHERE key LIKE 'join-%'")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real server (Granian, as in production) on a free port, stopped at the end."""
    with serve(tmp_path_factory.mktemp("live")) as server:
        yield server


@contextlib.contextmanager
def serve(tmp: Path, **settings: str) -> Iterator[LiveServer]:
    """``unknot serve`` with its files under ``tmp`` and ``settings`` as UNKNOT_* variables
    (``plans_dir=...`` for content of a test's own, say); the browser tests' therapist exists."""
    pwa_dir = tmp / "pwa"
    shutil.copytree(ROOT / "pwa", pwa_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "UNKNOT_DATABASE_URL": str(tmp / "unknot.db"),
        "UNKNOT_PORT": str(port),
        "UNKNOT_PUBLIC_URL": url,
        "UNKNOT_SCHEDULER": "0",
        "UNKNOT_DATA_DIR": str(tmp / "data"),
        "UNKNOT_PWA_DIR": str(pwa_dir),
        "UNKNOT_LOG_LEVEL": "warning",
        # The session-scoped clinic signs in once, and a whole run takes longer than the idle limit
        # (tests/test_session_idle.py tests it).
        "UNKNOT_SESSION_IDLE_MINUTES": "720",
        **{f"UNKNOT_{name.upper()}": value for name, value in settings.items()},
    }
    subprocess.run([str(BIN / "unknot"), "init"], env=env, check=True, capture_output=True)
    create_therapist(env, THERAPIST_EMAIL, "Browser Tests", THERAPIST_PASSWORD)
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(BIN / "unknot"), "serve"], env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        if not answers(url, process, "/api/v1/health"):
            pytest.fail(f"the server did not start:\n{log_path.read_text()[-3000:]}")
        yield LiveServer(url, tmp / "unknot.db", pwa_dir, env, process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@dataclass
class Patient:
    """A patient made through the therapist API."""

    id: int
    display_name: str
    treated_on: dt.date
    plan: dict[str, Any] | None = None
    invites: list[dict[str, Any]] = field(default_factory=list)


class Clinic:
    """The therapist API, signed in (cookie + CSRF header)."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.http = signed_in(server.url, THERAPIST_EMAIL, THERAPIST_PASSWORD)

    def close(self) -> None:
        self.http.close()

    def _ok(self, response: httpx.Response) -> Any:
        assert response.is_success, f"{response.request.method} {response.request.url}: {response.text}"
        return response.json() if response.content else None

    def preview(self, treated: list[dict[str, str]], treated_on: dt.date) -> list[dict[str, Any]]:
        """The generated program's items for these muscles (to edit before assigning)."""
        body = {"treated": treated, "treated_on": treated_on.isoformat()}
        return self._ok(self.http.post("/api/v1/programs/preview", json=body))["items"]

    def patient(
        self,
        treated: list[dict[str, str]] | None = None,
        treated_on: dt.date | None = None,
        *,
        name: str = "Maria",
        locale: str = "en",
        timezone: str = TIMEZONE,
        items: list[dict[str, Any]] | None = None,
        plan: bool = True,
    ) -> Patient:
        """A patient with an assigned plan (the generated one unless ``items`` are given)."""
        created = self._ok(
            self.http.post("/api/v1/patients", json={"display_name": name, "timezone": timezone, "locale": locale})
        )
        treated = treated or [{"muscle": "upper-trapezius", "side": "left"}]
        treated_on = treated_on or local_today(timezone)
        patient = Patient(created["id"], name, treated_on)
        if plan:
            body: dict[str, Any] = {"treated": treated, "treated_on": treated_on.isoformat()}
            if items is not None:
                body["items"] = items
            patient.plan = self._ok(self.http.post(f"/api/v1/patients/{patient.id}/plans", json=body))
        return patient

    def invite(self, patient: Patient) -> dict[str, Any]:
        """A fresh single-use invite ({code, link, ...}); join limits are reset for the test."""
        invite = self._ok(self.http.post(f"/api/v1/patients/{patient.id}/invites"))
        patient.invites.append(invite)
        self.server.allow_joins()
        return invite

    def join(self, patient: Patient, label: str = "Test phone") -> str:
        """Join as the patient through the API (no browser); returns the device token."""
        code = self.invite(patient)["code"]
        r = httpx.post(f"{self.server.url}/api/v1/patient/join", json={"code": code, "label": label})
        return self._ok(r)["token"]

    def devices(self, patient: Patient) -> list[dict[str, Any]]:
        return self._ok(self.http.get(f"/api/v1/patients/{patient.id}/devices"))

    def expire_all_devices(self, patient: Patient) -> None:
        """The patient's phones last used longer ago than UNKNOT_DEVICE_IDLE_DAYS: the next request
        of each finds it expired."""
        self.server.execute(
            "UPDATE patient_device SET last_seen_at = '2020-01-01T00:00:00Z' WHERE patient_id = ?", (patient.id,)
        )

    def revoke_all_devices(self, patient: Patient) -> None:
        for device in self.devices(patient):
            if not device.get("revoked_at"):
                r = self.http.delete(f"/api/v1/patients/{patient.id}/devices/{device['id']}")
                assert r.status_code in (200, 204), r.text


@pytest.fixture(scope="session")
def clinic(live_server: LiveServer) -> Iterator[Clinic]:
    """A signed-in therapist on the live server."""
    client = Clinic(live_server)
    yield client
    client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; missing Chromium fails the run.

    One per test module, not per session: while Playwright's sync API is started it marks an
    asyncio loop as running in this thread, which breaks pytest-asyncio tests that run later.
    """
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run `make system-deps` (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class PageProblems:
    """Uncaught errors and CSP violations seen in a context's pages."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console: {msg.text}")
                if msg.type == "error" and "Content Security Policy" in msg.text
                else None
            ),
        )
        return page


def new_context(browser: Browser, server: LiveServer, **options: Any) -> BrowserContext:
    """A fresh profile at phone size in the test patients' time zone."""
    settings: dict[str, Any] = {
        "base_url": server.url,
        "viewport": PHONE,
        "timezone_id": TIMEZONE,
        "locale": "en-US",
        "service_workers": "allow",
    }
    settings.update(options)
    return browser.new_context(**settings)


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def context(browser: Browser, live_server: LiveServer, page_problems: PageProblems) -> Iterator[BrowserContext]:
    """A fresh browser profile (its own IndexedDB, caches and service worker)."""
    ctx = new_context(browser, live_server)
    ctx.on("page", page_problems.watch)
    yield ctx
    ctx.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


# ---- helpers for the patient app --------------------------------------------------------------


def wait_for_screen(page: Page, name: str, timeout: float = 10_000) -> None:
    """Wait until the app has drawn a screen (body[data-screen=<route name>])."""
    page.wait_for_selector(f"body[data-screen='{name}']", timeout=timeout)


def wait_for_worker(page: Page, timeout: float = 10_000) -> None:
    """Wait until the service worker controls the page (needed before going offline)."""
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=timeout)


def join_in_browser(page: Page, invite: dict[str, Any]) -> None:
    """Open the invite link as a patient would; returns on Today, with the worker in control."""
    page.goto(invite["link"])
    wait_for_screen(page, "today")
    expect(page.locator("#nav")).to_be_visible()
    wait_for_worker(page)


def outbox_count(page: Page) -> int:
    """How many records the app holds unsent (#sync[data-count]: held ones too, which the header
    does not call "to send" while online)."""
    return int(page.get_attribute("#sync", "data-count") or "0")


def wait_outbox(page: Page, count: int, timeout: float = 15_000) -> None:
    """Wait until the app shows ``count`` records waiting."""
    expect(page.locator("#sync")).to_have_attribute("data-count", str(count), timeout=timeout)


def stored_records(page: Page) -> list[dict[str, Any]]:
    """The records in the app's IndexedDB (completions and check-ins, any state)."""
    return page.evaluate(
        """() => new Promise((resolve, reject) => {
          const r = indexedDB.open("unknot");
          r.onsuccess = () => {
            const q = r.result.transaction("records").objectStore("records").getAll();
            q.onsuccess = () => { resolve(q.result); r.result.close(); };
            q.onerror = () => reject(q.error);
          };
          r.onerror = () => reject(r.error);
        })"""
    )


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot to tests/artifacts/screenshots/<name>.png (gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def check_a11y(page: Page, where: str) -> None:
    """axe-core (from the axe-playwright-python package, no network) finds nothing serious or critical."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    detail = "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}: " + "; ".join(n["target"][0] for n in v["nodes"][:5]) for v in bad
    )
    assert not bad, f"accessibility problems on {where}:\n{detail}"
