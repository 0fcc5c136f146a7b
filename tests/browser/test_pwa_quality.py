"""Quality of the page in Chromium: accessibility on every screen, 320 px phones, big tap targets,
dark mode and reduced motion, both languages, installability, and a clean update to a new version."""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
import time

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    PageProblems,
    check_a11y,
    join_in_browser,
    new_context,
    wait_for_screen,
    wait_for_worker,
)

pytestmark = pytest.mark.browser

# Interactive elements smaller than 44 x 44 CSS pixels (a radio or checkbox counts by its label).
SMALL_TARGETS = """() => {
  const bad = [];
  for (const el of document.querySelectorAll("a[href], button, summary, input, textarea, select")) {
    if (!el.getClientRects().length || el.closest("[hidden]")) continue;
    let box = el.getBoundingClientRect();
    if (el.matches("input[type=radio], input[type=checkbox]")) {
      const label = el.closest("label") || (el.id && document.querySelector(`label[for="${el.id}"]`));
      if (label) box = label.getBoundingClientRect();
    }
    if (box.width < 44 || box.height < 44) {
      bad.push(`${el.tagName.toLowerCase()} "${(el.textContent || el.value || "").trim().slice(0, 30)}" `
        + `${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return bad;
}"""


def check_layout(page: Page, where: str) -> None:
    """No sideways scrolling and no small tap targets."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{where}: the page is {overflow}px wider than the screen"
    small = page.evaluate(SMALL_TARGETS)
    assert not small, f"{where}: tap targets under 44px: {small}"


def visit(page: Page, hash_: str, screen: str) -> None:
    page.evaluate("h => { location.hash = h; }", hash_)
    wait_for_screen(page, screen)


def test_every_screen_is_accessible_fits_320px_and_has_big_targets(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems
) -> None:
    patient = clinic.patient([{"muscle": "upper-trapezius", "side": "left"}], name="Ana")
    invite = clinic.invite(patient)
    context = new_context(browser, live_server, viewport={"width": 320, "height": 640})
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        page.goto("/")
        wait_for_screen(page, "join")
        check_a11y(page, "join")
        check_layout(page, "join")
        join_in_browser(page, invite)
        screens = [
            ("#/today", "today"),
            (f"#/day/{patient.treated_on + dt.timedelta(days=1)}", "day"),
            ("#/checkin", "checkin"),
            ("#/progress", "progress"),
            ("#/help", "help"),
            ("#/more", "more"),
            ("#/reminders", "reminders"),
        ]
        for hash_, screen in screens:
            visit(page, hash_, screen)
            check_a11y(page, screen)
            check_layout(page, screen)

        # The check-in with red-flag advice showing.
        visit(page, "#/checkin", "checkin")
        page.get_by_role("radio", name="8", exact=True).check()
        page.locator(".flag-option").first.click()
        expect(page.locator(".flag-advice [role=alert]")).to_have_count(1)
        check_a11y(page, "check-in with advice")

        # An exercise with its timer running, in dark mode and with reduced motion.
        visit(page, "#/today", "today")
        page.emulate_media(color_scheme="dark", reduced_motion="reduce")
        check_a11y(page, "today (dark)")
        page.locator("li.entry a.entry-main", has_text=re.compile(r"Hold|minutes")).first.click()
        wait_for_screen(page, "ex")
        page.locator("section.timer").get_by_role("button", name="Start").click()
        expect(page.locator("section.timer")).to_have_class(re.compile(r"\bcue\b"))
        # The flash at each cue does not move with reduced motion (a still outline instead).
        assert page.evaluate("getComputedStyle(document.querySelector('section.timer')).animationName") == "none"
        check_a11y(page, "exercise (dark)")
        check_layout(page, "exercise")
        page.emulate_media(color_scheme="light", reduced_motion="no-preference")
        check_a11y(page, "exercise")
        for name in ("Today", "Check-in", "Progress", "More"):
            page.locator("#nav").get_by_role("link", name=name).focus()
            assert page.evaluate("document.activeElement.textContent") == name  # keyboard reachable
        # The warning signs are one tap away on every screen.
        expect(page.get_by_role("link", name="Warning signs")).to_be_visible()
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors


def test_language_follows_the_browser_and_can_be_changed(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems
) -> None:
    patient = clinic.patient([{"muscle": "masseter", "side": "left"}], name="Marta", locale="en")
    context = new_context(browser, live_server, locale="es-ES")
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        join_in_browser(page, clinic.invite(patient))
        assert page.evaluate("document.documentElement.lang") == "es"
        expect(page.locator("h1")).to_have_text("Hola, Marta")
        expect(page.locator(".phase")).to_have_text("Día 1: Recuperación")
        expect(page.locator("#nav")).to_contain_text("Hoy")
        spanish_title = page.locator(".entry-title").first.inner_text()

        page.locator("#nav").get_by_role("link", name="Más").click()
        wait_for_screen(page, "more")
        with page.expect_response(re.compile(r"/api/v1/patient/plan\?lang=en")):
            page.get_by_role("button", name="English").click()
        expect(page.locator("h1")).to_have_text("More")
        page.locator("#nav").get_by_role("link", name="Today").click()
        wait_for_screen(page, "today")
        expect(page.locator("h1")).to_have_text("Hello Marta")
        expect(page.locator(".entry-title").first).not_to_have_text(spanish_title)
        # The choice is remembered.
        page.reload()
        wait_for_screen(page, "today")
        expect(page.locator("h1")).to_have_text("Hello Marta")
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors


def test_both_languages_have_the_same_texts(page: Page) -> None:
    page.goto("/")
    wait_for_screen(page, "join")
    result = page.evaluate(
        """async () => {
          const en = (await import("/i18n/en.js")).default;
          const es = (await import("/i18n/es.js")).default;
          const shape = (d) => Object.keys(d).sort().map((k) => typeof d[k] === "object"
            ? `${k}{${Object.keys(d[k]).sort().join(",")}}` : k);
          const blank = (d) => Object.entries(d).filter(([, v]) => (typeof v === "object" ? Object.values(v) : [v])
            .some((s) => typeof s !== "string" || !s.trim())).map(([k]) => k);
          return { en: shape(en), es: shape(es), blank: blank(en).concat(blank(es)) };
        }"""
    )
    assert set(result["en"]) - set(result["es"]) == set(), "missing in es.js"
    assert set(result["es"]) - set(result["en"]) == set(), "missing in en.js"
    assert result["blank"] == []


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_installable_and_served_with_the_right_headers(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as http:
        index = http.get("/")
        assert "script-src 'self'" in index.headers["content-security-policy"]
        assert "unsafe-inline" not in index.headers["content-security-policy"]
        app_js = http.get("/js/app.js")
        assert app_js.headers["content-type"].startswith("text/javascript")
        # Shell files are checked with the server each time (ETag), never kept unasked.
        assert app_js.headers["cache-control"] == "no-cache"
        sw = http.get("/sw.js")
        assert sw.headers["content-type"].startswith("text/javascript")
        assert sw.headers["cache-control"] == "no-cache"
        manifest_response = http.get("/manifest.webmanifest")
        assert manifest_response.headers["content-type"].startswith("application/manifest+json")
        manifest = manifest_response.json()
        assert manifest["display"] == "standalone"
        assert manifest["start_url"].startswith("/")
        assert manifest["scope"] == "/"
        for key in ("name", "short_name", "theme_color", "background_color"):
            assert manifest[key], key
        sizes = set()
        for icon in manifest["icons"]:
            r = http.get(icon["src"])
            assert r.status_code == 200, icon["src"]
            if icon["type"] == "image/png":
                width, height = _png_size(r.content)
                assert icon["sizes"] == f"{width}x{height}"
                sizes.add((width, icon.get("purpose", "any")))
            else:
                assert icon["type"] == "image/svg+xml"
                assert r.text.lstrip().startswith("<svg")
        assert {(192, "any"), (512, "any"), (512, "maskable")} <= sizes
        touch = http.get("/icons/apple-touch-icon.png")
        assert _png_size(touch.content) == (180, 180)


def test_a_new_version_waits_until_the_patient_reloads(
    context: BrowserContext, page: Page, live_server: LiveServer
) -> None:
    sw = live_server.pwa_dir / "sw.js"
    core = live_server.pwa_dir / "js" / "core.js"
    original, original_core = sw.read_text(), core.read_text()
    # An old Last-Modified lets the browser keep a file without asking: the worker's importScripts
    # must still get the new core.js.
    month_ago = time.time() - 30 * 86400
    os.utime(core, (month_ago, month_ago))
    page.goto("/")
    wait_for_screen(page, "join")
    wait_for_worker(page)
    # A second tab of the app: it must move to the new version too, whichever tab asked for it.
    other = context.new_page()
    other.goto("/#/help")
    wait_for_screen(other, "help")
    wait_for_worker(other)
    caches_before = page.evaluate("caches.keys()")
    try:
        core.write_text(original_core.replace("SYNC_URL: SYNC_URL,", 'SYNC_URL: SYNC_URL, MARK: "next-core",'))
        sw.write_text(re.sub(r'const VERSION = "[^"]*";', 'const VERSION = "next-version";', original, count=1))
        page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
        banner = page.locator("#update")
        expect(banner).to_contain_text("A new version of Unknot is ready.", timeout=10_000)
        expect(other.locator("#update")).to_be_visible()
        # Nothing changes until the patient asks: the old worker still controls the page.
        assert page.evaluate("navigator.serviceWorker.controller.scriptURL").endswith("/sw.js")
        with page.expect_navigation(), other.expect_navigation():
            banner.get_by_role("button", name="Reload").click()
        wait_for_screen(page, "join")
        wait_for_worker(page)
        version = page.evaluate(
            """() => new Promise((resolve) => {
              const channel = new MessageChannel();
              channel.port1.onmessage = (e) => resolve(e.data.version);
              navigator.serviceWorker.controller.postMessage({ type: "VERSION" }, [channel.port2]);
            })"""
        )
        assert version == "next-version"
        expect(banner).to_be_hidden()
        wait_for_screen(other, "help")
        expect(other.locator("#update")).to_be_hidden()
        shells = [c for c in page.evaluate("caches.keys()") if c.startswith("unknot-shell-")]
        assert shells == ["unknot-shell-next-version"], (caches_before, shells)
        workers = [w for w in context.service_workers if w.evaluate("VERSION") == "next-version"]
        assert [w.evaluate("self.unknotCore.MARK") for w in workers] == ["next-core"]
    finally:
        sw.write_text(original)
        core.write_text(original_core)


def test_ios_shows_how_to_add_the_app_to_the_home_screen(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems
) -> None:
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    )
    context = new_context(browser, live_server, user_agent=iphone)
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        patient = clinic.patient(name="Iris")
        join_in_browser(page, clinic.invite(patient))
        hint = page.locator("aside.hint")
        expect(hint).to_contain_text("Add to Home Screen")
        hint.get_by_role("button", name="Close").click()
        expect(hint).to_have_count(0)
        # The clinic sees which kind of phone joined.
        assert [d["label"] for d in clinic.devices(patient)] == ["iPhone"]
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors


HEADER_ROWS = """() => new Set([...document.querySelectorAll('.bar > *')]
     .filter((e) => e.checkVisibility())
     .map((e) => Math.round(e.getBoundingClientRect().top))).size"""

# Pills cut off or pushed past the screen's edge.
HEADER_CUT = """() => [...document.querySelectorAll('.bar > *')].filter((e) => e.checkVisibility())
     .filter((e) => e.getBoundingClientRect().right > innerWidth || e.scrollWidth > e.clientWidth
       || e.scrollHeight > e.clientHeight).map((e) => e.textContent)"""


@pytest.mark.parametrize("width", [360, 320])
@pytest.mark.parametrize("locale", ["en", "es"])
def test_on_a_narrow_phone_the_header_takes_one_row(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems, locale: str, width: int
) -> None:
    patient = clinic.patient([{"muscle": "upper-trapezius", "side": "left"}], name="Uma", locale=locale)
    context = new_context(browser, live_server, viewport={"width": width, "height": 640}, locale=locale)
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        join_in_browser(page, clinic.invite(patient))
        expect(page.locator("#sync")).to_be_visible()
        assert page.evaluate(HEADER_ROWS) == 1, page.locator(".bar").inner_text()
        assert page.evaluate(HEADER_CUT) == []
        # The logo goes on a phone this narrow; Today is the first tab.
        expect(page.locator(".bar .brand")).to_be_hidden()
        # With something waiting to be sent the status says more ("1 por enviar"): still one row.
        context.set_offline(True)
        page.locator("button.check").first.click()
        expect(page.locator("#sync")).to_have_attribute("data-count", "1")
        assert page.evaluate(HEADER_ROWS) == 1, page.locator(".bar").inner_text()
        assert page.evaluate(HEADER_CUT) == []
        context.set_offline(False)
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors


@pytest.mark.parametrize("width", [360, 320])
def test_the_whole_join_code_shows_on_a_narrow_phone(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems, width: int
) -> None:
    context = new_context(browser, live_server, viewport={"width": width, "height": 640})
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        page.goto("/")
        wait_for_screen(page, "join")
        code = page.get_by_label("Your code")
        # The example the screen gives, and a code as the clinic's handout prints one.
        for typed in ("ABCD-EFGH-JKMN-PQRS", "0FPH-BHCJ-TG8P-K1G3"):
            code.fill(typed)
            cut = code.evaluate("(input) => input.scrollWidth - input.clientWidth")
            assert cut <= 0, f"{typed}: {cut}px of the code is out of sight"
            # Never smaller than the text around it.
            assert code.evaluate("(input) => parseFloat(getComputedStyle(input).fontSize)") >= 18
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors
