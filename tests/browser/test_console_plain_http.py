"""A production server opened over plain http: the console says why signing in does not hold.

With UNKNOT_ENV=production the session cookie is Secure, and a browser does not keep a Secure
cookie from an http:// page on a real host name. A clinic that runs it without TLS (the README's
service file sets production; `unknot serve` warns the operator, not the therapist) had a console
that took the password and came straight back with "Your session has ended".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, THERAPIST_EMAIL, THERAPIST_PASSWORD, LiveServer, serve
from tests.browser.console_helpers import TABLET, wait_view

pytestmark = pytest.mark.browser

HOST = "clinic.example"


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve(tmp_path_factory.mktemp("plain-http"), env="production", public_url=f"https://{HOST}") as server:
        yield server


@pytest.fixture(scope="module")
def chromium_at_the_clinic(production: LiveServer) -> Iterator[Browser]:
    """Chromium resolving the clinic's name to the test server (a host name, not loopback: a
    browser keeps Secure cookies from http://127.0.0.1 and http://localhost)."""
    port = production.url.rsplit(":", 1)[1]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {HOST} 127.0.0.1:{port}"]
        )
        yield browser
        browser.close()


def test_signing_in_over_plain_http_to_a_production_server_says_to_use_https(
    chromium_at_the_clinic: Browser,
) -> None:
    context = chromium_at_the_clinic.new_context(viewport=TABLET)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"http://{HOST}/console/")
        wait_view(page, "signin")
        page.get_by_label("Email").fill(THERAPIST_EMAIL)
        page.get_by_label("Password").fill(THERAPIST_PASSWORD)
        page.get_by_label("Password").press("Enter")
        alert = page.locator(".view-signin [role=alert]")
        alert.wait_for(state="visible", timeout=10_000)
        assert "did not keep the sign-in" in alert.inner_text()
        assert "https://" in alert.inner_text()
        # The form stays, and no "session ended" dialog is put over it.
        assert page.locator("#reauth").count() == 0
        assert page.evaluate("document.body.dataset.view") == "signin"
    finally:
        context.close()
    assert not errors, errors


def test_over_loopback_the_same_server_signs_in(production: LiveServer, chromium_at_the_clinic: Browser) -> None:
    # The check costs a working sign-in nothing: 127.0.0.1 is a secure context, so the cookie holds.
    context = chromium_at_the_clinic.new_context(viewport=TABLET)
    try:
        page = context.new_page()
        page.goto(f"{production.url}/console/")
        wait_view(page, "signin")
        page.get_by_label("Email").fill(THERAPIST_EMAIL)
        page.get_by_label("Password").fill(THERAPIST_PASSWORD)
        page.get_by_label("Password").press("Enter")
        wait_view(page, "patients")
    finally:
        context.close()
