"""Helpers for the therapist console's browser tests (the fixtures live in tests/browser/conftest.py).

- ``ConsoleAccount``: a therapist of its own per test module, so the patient app's tests and the
  console's tests never see each other's patients; ``.api`` is that therapist's API client.
- ``open_console``: a tablet-sized browser context, signed in through the page (``sign_in``).
- ``seen``, ``api_calls``: what a page shows, and the calls it makes.
- ``count_inputs`` / ``counted``: the clicks and key presses a person makes on the page.
- ``read_qr``, ``pdf_pages``, ``region``: reading back what the console shows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import httpx
import numpy as np
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.bench.harness import create_therapist, signed_in
from tests.browser.conftest import LiveServer, PageProblems, new_context

TABLET = {"width": 1180, "height": 820}
PASSWORD = "console tests password"


@dataclass
class ConsoleAccount:
    """A therapist account on the live server, with a signed-in API client."""

    server: LiveServer
    email: str
    name: str
    api: httpx.Client

    @classmethod
    def create(cls, server: LiveServer, name: str = "Console Tests") -> ConsoleAccount:
        email = f"console-{secrets.token_hex(4)}@clinic.example"
        create_therapist(server.env, email, name, PASSWORD)
        return cls(server, email, name, signed_in(server.url, email, PASSWORD))

    def ok(self, response: httpx.Response) -> Any:
        assert response.is_success, f"{response.request.method} {response.request.url}: {response.text}"
        return response.json() if response.content else None

    def patient(
        self,
        name: str,
        *,
        locale: str = "en",
        treated: list[dict[str, str]] | None = None,
        treated_on: dt.date | None = None,
    ) -> dict[str, Any]:
        """A patient, with a plan for ``treated`` when given, treated on ``treated_on`` (today by default)."""
        body = {"display_name": name, "timezone": "Europe/Madrid", "locale": locale}
        created = self.ok(self.api.post("/api/v1/patients", json=body))
        if treated:
            body = {"treated": treated, "treated_on": treated_on.isoformat() if treated_on else _today()}
            created["plan"] = self.ok(self.api.post(f"/api/v1/patients/{created['id']}/plans", json=body))
        return created

    def active_plan(self, patient_id: int) -> dict[str, Any]:
        return self.ok(self.api.get(f"/api/v1/patients/{patient_id}/plan"))

    def join(self, code: str, label: str = "Test phone") -> httpx.Client:
        """Join with an invite code as the patient's phone would; returns the phone's API client."""
        self.server.allow_joins()
        r = httpx.post(f"{self.server.url}/api/v1/patient/join", json={"code": code, "label": label}, timeout=30)
        token = self.ok(r)["token"]
        return httpx.Client(base_url=self.server.url, headers={"authorization": f"Bearer {token}"}, timeout=30)

    def joined_phone(self, patient_id: int) -> httpx.Client:
        """A new invite for the patient, joined with: the phone's API client."""
        return self.join(self.ok(self.api.post(f"/api/v1/patients/{patient_id}/invites"))["code"])

    def close(self) -> None:
        self.api.close()


def _today() -> str:
    from tests.browser.conftest import local_today

    return local_today().isoformat()


def open_console(
    browser: Browser, server: LiveServer, account: ConsoleAccount, problems: PageProblems, **options: Any
) -> tuple[BrowserContext, Page]:
    """A fresh tablet-sized context on /console/, signed in through the sign-in form."""
    settings: dict[str, Any] = {"viewport": TABLET, "service_workers": "block"}
    settings.update(options)
    context = new_context(browser, server, **settings)
    context.on("page", problems.watch)
    page = context.new_page()
    page.goto("/console/")
    sign_in(page, account)
    return context, page


def sign_in(page: Page, account: ConsoleAccount) -> None:
    """Sign in through the console's sign-in screen (shown now) and wait for the patient list."""
    wait_view(page, "signin")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    wait_view(page, "patients")


@contextlib.contextmanager
def console_session(
    browser: Browser, server: LiveServer, account: ConsoleAccount, problems: PageProblems, **options: Any
) -> Iterator[tuple[BrowserContext, Page]]:
    """:func:`open_console` for the block; then the context is closed and the pages must have logged
    no problem (console errors, failed requests)."""
    context, page = open_console(browser, server, account, problems, **options)
    try:
        yield context, page
    finally:
        context.close()
    assert not problems.errors, "\n".join(problems.errors)


def wait_view(page: Page, name: str, timeout: float = 10_000) -> None:
    """Wait until the console shows a view (body[data-view=<name>])."""
    page.wait_for_selector(f"body[data-view='{name}']", timeout=timeout)


def goto_view(page: Page, hash_: str, name: str) -> None:
    """Navigate inside the console without reloading, then wait for the view."""
    page.evaluate("h => { location.hash = h; }", hash_)
    wait_view(page, name)


def seen(page: Page) -> str:
    """What the page shows: its title and the text on screen (innerText leaves hidden parts out)."""
    return page.title() + "\n" + page.locator("body").inner_text()


def api_calls(page: Page) -> list[str]:
    """The page's calls to the server from now on (a list that grows)."""
    calls: list[str] = []
    page.on("request", lambda request: calls.append(request.url) if "/api/" in request.url else None)
    return calls


def program_ready(page: Page) -> Locator:
    """Wait until the program on the treatment screen is the one for the muscles selected now."""
    editor = page.locator("#program-editor")
    expect(editor).to_have_attribute("data-state", "ready")
    return editor


def region(page: Page, muscle: str, side: str) -> Locator:
    """A muscle's region on the body map."""
    return page.locator(f".figure .region[data-muscle='{muscle}'][data-side='{side}']")


COUNTER = """() => {
  window.__inputs = {clicks: 0, keys: 0, typed: 0, log: []};
  document.addEventListener("pointerdown", (e) => {
    window.__inputs.clicks += 1;
    const t = e.target;
    window.__inputs.log.push("click " + (t.getAttribute("aria-label") || t.id || t.textContent.trim().slice(0, 30)));
  }, true);
  document.addEventListener("keydown", (e) => {
    if (e.key.length === 1 && !e.ctrlKey && !e.metaKey) { window.__inputs.typed += 1; return; }
    if (["Shift", "Control", "Alt", "Meta"].includes(e.key)) return;
    window.__inputs.keys += 1;
    window.__inputs.log.push("key " + e.key);
  }, true);
}"""


def count_inputs(page: Page) -> None:
    """Start counting clicks (pointer presses), key presses and typed characters on this document."""
    page.evaluate(COUNTER)


def counted(page: Page) -> dict[str, Any]:
    """What count_inputs has seen since it started."""
    return page.evaluate("() => window.__inputs")


def budget(page: Page) -> dict[str, int]:
    """The common path's documented length, read from the console's help text."""
    goto_view(page, "#/help", "help")
    element = page.locator("#path-budget")
    expect(element).to_contain_text("clicks")
    return {name: int(element.get_attribute(f"data-{name}") or 0) for name in ("clicks", "keys")}


def read_qr(image: Locator) -> str:
    """The text of the QR code an <img> shows ('' when none is found).

    The image is decoded first, so the screenshot never catches a data: URL still loading.
    """
    image.evaluate("img => img.decode()")
    return decode_qr(image.screenshot())


def decode_qr(png: bytes) -> str:
    """The text of the QR code in a PNG image ('' when none is found).

    The image gets a white margin (a quiet zone as a camera would see around paper) and is
    tried at a few sizes. OpenCV's ArUco-based detector comes first: the classic one missed
    about 1 in 30 of our invite codes at the console's size (measured on 400 random links),
    which made CI fail now and then.
    """
    image = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    for detector in (cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()):
        for scale in (1, 2, 3):
            big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            pad = 16 * scale
            framed = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
            text, _points, _ = detector.detectAndDecode(framed)
            if text:
                return text
    return ""


def pdf_pages(pdf: bytes) -> int:
    """Pages in a PDF Chromium printed (its page objects, not the page tree's root)."""
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))
