"""Access beyond the axe check: text enlarged to 200% on small phones (WCAG 1.4.4 and 1.4.10), a
phone on its side, what a screen reader hears while counting repetitions, and done days that do
not rely on colour."""

from __future__ import annotations

import copy
import datetime as dt
import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    PageProblems,
    check_a11y,
    join_in_browser,
    local_today,
    new_context,
    screenshot,
    wait_for_screen,
)
from tests.browser.test_pwa_update_and_taps import waiting_version

pytestmark = pytest.mark.browser

# Twice the app's own 112.5%, as the browser's text size setting at 200% gives it.
LARGE_TEXT = "225%"

# Interactive elements that are shown but not wholly between the left and right edges of the window.
OUTSIDE = """() => {
  const bad = [];
  for (const el of document.querySelectorAll("a[href], button, summary, input, textarea, select")) {
    if (!el.getClientRects().length || el.closest("[hidden]")) continue;
    const box = el.getBoundingClientRect();
    if (box.left < 0 || box.right > window.innerWidth + 0.5) {
      bad.push(`${el.tagName.toLowerCase()} "${(el.textContent || el.value || "").trim().slice(0, 30)}" `
        + `${Math.round(box.left)}..${Math.round(box.right)}`);
    }
  }
  return bad;
}"""

# The innermost elements that reach past the right edge of the window, or whose text runs out of
# them (what makes the page scroll sideways).
STICKING_OUT = """() => {
  // Texts only for screen readers (1 px, clipped) do not count.
  const out = [...document.body.querySelectorAll("*")].filter((el) => el.getBoundingClientRect().width > 1
    && (el.getBoundingClientRect().right > window.innerWidth + 0.5 || el.scrollWidth > el.clientWidth + 1));
  return out.filter((el) => !out.some((other) => other !== el && el.contains(other))).slice(0, 5)
    .map((el) => `${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 30)}"`);
}"""

# Height taken by what stays on screen while the page scrolls (sticky or fixed parts).
STUCK_HEIGHT = """() => {
  let height = 0;
  for (const el of document.body.querySelectorAll("*")) {
    const position = getComputedStyle(el).position;
    if ((position === "fixed" || position === "sticky") && el.getClientRects().length) {
      height += el.getBoundingClientRect().height;
    }
  }
  return height;
}"""


def visit(page: Page, hash_: str, screen: str) -> None:
    page.evaluate("h => { location.hash = h; }", hash_)
    wait_for_screen(page, screen)


def reachable_problems(page: Page, where: str, stuck_share: float = 0.25) -> list[str]:
    """Nothing scrolls sideways, every control is inside the window, the parts that stay on screen
    take at most ``stuck_share`` of it, and every tab of the bottom bar and every done circle can be
    tapped (nothing covers it once it is scrolled to)."""
    problems = []
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        problems.append(f"{where}: the page is {overflow}px wider than the screen: {page.evaluate(STICKING_OUT)}")
    outside = page.evaluate(OUTSIDE)
    if outside:
        problems.append(f"{where}: controls cut off at the sides: {outside}")
    stuck = page.evaluate(STUCK_HEIGHT)
    height = page.evaluate("window.innerHeight")
    if stuck > height * stuck_share:
        problems.append(f"{where}: the header and bottom bar keep {stuck:.0f}px of {height}px on screen")
    targets = page.locator("#nav a, button.check")
    for i in range(targets.count()):
        target = targets.nth(i)
        try:
            # Scrolls to it, and fails when it stays off screen or something else would get the tap.
            target.click(trial=True, timeout=2_000)
        except PlaywrightError:
            problems.append(f"{where}: cannot tap {target.evaluate('e => e.outerHTML.slice(0, 80)')}")
    return problems


@pytest.mark.parametrize("locale", ["en-US", "es-ES"])
def test_text_at_200_percent_fits_small_phones_and_everything_can_be_tapped(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems, locale: str
) -> None:
    patient = clinic.patient([{"muscle": "upper-trapezius", "side": "left"}], name="Ana")
    context = new_context(browser, live_server, locale=locale, viewport={"width": 320, "height": 640})
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        join_in_browser(page, clinic.invite(patient))
        exercises = page.eval_on_selector_all("li.entry a.entry-main", "links => links.map((a) => a.hash)")
        assert exercises
        page.evaluate("size => { document.documentElement.style.fontSize = size; }", LARGE_TEXT)
        problems: list[str] = []
        for width in (320, 360):
            page.set_viewport_size({"width": width, "height": 640})
            screens = [
                ("#/today", "today"),
                *((hash_, "ex") for hash_ in exercises),
                ("#/checkin", "checkin"),
                ("#/progress", "progress"),
                ("#/help", "help"),
                ("#/more", "more"),
                ("#/reminders", "reminders"),
            ]
            for hash_, screen in screens:
                visit(page, hash_, screen)
                problems += reachable_problems(page, f"{hash_} at {width}px")
                if screen == "today" and width == 320:
                    page.evaluate("window.scrollTo(0, 0)")
                    screenshot(page, f"today-large-text-{locale}")
    finally:
        context.close()
    assert not problems, f"text at 200% ({locale}):\n" + "\n".join(problems)
    assert not page_problems.errors, page_problems.errors


def test_counting_repetitions_is_heard_after_each_tap(context: BrowserContext, page: Page, clinic: Clinic) -> None:
    items = copy.deepcopy(clinic.preview([{"muscle": "upper-trapezius", "side": "left"}], local_today()))
    counted = next(i for i in items if i["from_day"] == 0)
    # Three repetitions without a hold: the patient taps after each one.
    counted["dosage"].update(hold_seconds=0, minutes=0, reps=3, sets=1)
    patient = clinic.patient([{"muscle": "upper-trapezius", "side": "left"}], items=items, name="Lia")
    join_in_browser(page, clinic.invite(patient))
    page.locator(f"li.entry[data-exercise='{counted['exercise_id']}'] a.entry-main").first.click()
    wait_for_screen(page, "ex")
    timer = page.locator("section.timer")
    live = timer.locator("[aria-live]")
    timer.get_by_role("button", name="Start").click()
    expect(live).to_have_text("Tap after each one")
    timer.get_by_role("button", name="Done one").click()
    expect(live).to_have_text("1 of 3 done")
    timer.get_by_role("button", name="Done one").click()
    expect(live).to_have_text("2 of 3 done")
    timer.get_by_role("button", name="Done one").click()
    expect(live).to_have_text("All done")


def test_done_days_on_progress_are_named_and_marked_not_only_coloured(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    today = local_today()
    yesterday = today - dt.timedelta(days=1)
    patient = clinic.patient([{"muscle": "upper-trapezius", "side": "left"}], treated_on=yesterday, name="Noa")
    join_in_browser(page, clinic.invite(patient))
    # Today: everything done. Yesterday (day 1): one thing done.
    open_marks = page.locator("button.check:not(.on)")
    while open_marks.count():
        before = open_marks.count()
        open_marks.first.click()
        expect(open_marks).to_have_count(before - 1)
    visit(page, f"#/day/{yesterday}", "day")
    page.locator("button.check").first.click()
    expect(page.locator("button.check.on")).to_have_count(1)

    visit(page, "#/progress", "progress")
    chips = page.locator(".day-chips")
    partly = chips.get_by_role("link", name=re.compile(r"^Day 1, .+, partly done$"))
    full = chips.get_by_role("link", name=re.compile(r"^Day 2, .+, all done$"))
    expect(partly).to_have_count(1)
    expect(full).to_have_count(1)
    plain = page.locator(".day-chips a:not(.done):not(.partly)").first  # day 3, in the next stage
    assert re.fullmatch(r"Day 3, [^,]+", plain.get_attribute("aria-label") or "")
    # Seen without colour: a tick on the full day, a dashed border on the partly done one.
    expect(full).to_have_text("2✓")
    assert partly.evaluate("a => getComputedStyle(a).borderTopStyle") == "dashed"
    assert plain.evaluate("a => getComputedStyle(a).borderTopStyle") == "solid"
    full.scroll_into_view_if_needed()
    screenshot(page, "progress-done-days")
    check_a11y(page, "progress with done days")
    page.emulate_media(color_scheme="dark")
    check_a11y(page, "progress with done days (dark)")
    page.emulate_media(color_scheme="light")

    # The same in Spanish.
    visit(page, "#/more", "more")
    page.get_by_role("button", name="Español").click()
    expect(page.locator("h1")).to_have_text("Más")
    visit(page, "#/progress", "progress")
    expect(chips.get_by_role("link", name=re.compile(r"^Día 1, .+, hecho en parte$"))).to_have_count(1)
    expect(chips.get_by_role("link", name=re.compile(r"^Día 2, .+, todo hecho$"))).to_have_count(1)


def test_a_phone_on_its_side_keeps_most_of_the_screen_for_the_page(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems
) -> None:
    """Landscape (a phone propped up to follow a timer): the sticky header and the tab bar took a
    third of a 390 px high screen, more with larger text; the header now scrolls away."""
    patient = clinic.patient([{"muscle": "upper-trapezius", "side": "left"}], name="Lupe")
    context = new_context(browser, live_server, locale="es-ES", viewport={"width": 844, "height": 390})
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        join_in_browser(page, clinic.invite(patient))
        timed = page.locator("li.entry a.entry-main", has_text=re.compile(r"Mantenga|minutos")).first
        screens = [
            ("#/today", "today"),
            (timed.evaluate("a => a.hash"), "ex"),
            ("#/checkin", "checkin"),
            ("#/progress", "progress"),
        ]
        problems: list[str] = []
        for size in ("112.5%", "150%"):
            page.evaluate("size => { document.documentElement.style.fontSize = size; }", size)
            for hash_, screen in screens:
                visit(page, hash_, screen)
                # Every screen opens at its top, where the warning signs are.
                expect(page.locator("#warn")).to_be_in_viewport()
                problems += reachable_problems(page, f"{hash_} at {size}")
        visit(page, "#/today", "today")
        screenshot(page, "today-landscape")
    finally:
        context.close()
    assert not problems, "a phone on its side:\n" + "\n".join(problems)
    assert not page_problems.errors, page_problems.errors


def test_the_offline_and_new_version_notices_stay_in_view_while_a_long_screen_scrolls(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems
) -> None:
    """Both notices sat above the page and scrolled away with it: at the foot of Today the patient
    went on logging offline without a word of it, and a new version waited unseen."""
    patient = clinic.patient(name="Pia")
    context = new_context(browser, live_server, viewport={"width": 320, "height": 640})
    context.on("page", page_problems.watch)
    problems: list[str] = []

    def scrolled_down(page: Page, shown: list[Locator], ratio: float) -> None:
        """Every screen scrolled to its foot at both text sizes: each notice in ``shown`` is still
        in view, and the page keeps most of the screen with nothing out of reach."""
        for size in ("112.5%", LARGE_TEXT):
            page.evaluate("size => { document.documentElement.style.fontSize = size; }", size)
            for hash_, screen in (("#/today", "today"), ("#/more", "more")):
                visit(page, hash_, screen)
                page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
                assert page.evaluate("window.scrollY") > 200, f"{hash_} at {size} is not long"
                for notice in shown:
                    expect(notice).to_be_in_viewport(ratio=ratio)
                where = f"{hash_} at {size} with {len(shown)} notice(s)"
                problems.extend(reachable_problems(page, where, 0.4))
                if screen == "today":
                    screenshot(page, f"notices-{len(shown)}-{size}")

    try:
        page = context.new_page()
        join_in_browser(page, clinic.invite(patient))
        offline = page.locator("#offline")
        context.set_offline(True)
        expect(offline).to_have_text("Offline: what you log is kept and sent later.")
        scrolled_down(page, [offline], 1)
        context.set_offline(False)
        with waiting_version(live_server, page, "notices-test") as update:
            context.set_offline(True)
            # Both at once (rare): with large text they take more than the third of the screen
            # they may have, and scroll inside it.
            scrolled_down(page, [offline, update], 0.1)
            update.get_by_role("button", name="Reload").click(trial=True)
            context.set_offline(False)
    finally:
        context.close()
    assert not problems, "\n".join(problems)
    assert not page_problems.errors, page_problems.errors
