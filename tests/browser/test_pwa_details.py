"""Small things a review of the patient app found: an address with a date no calendar has, done
circles of a day still to come, tab labels on the narrowest phones, repeated items a screen
reader must tell apart, and the Sound button's state seen without colour."""

from __future__ import annotations

import collections
import datetime as dt
import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    PageProblems,
    join_in_browser,
    local_today,
    new_context,
    wait_for_screen,
)
from tests.browser.test_pwa_flow import short_hold_items

pytestmark = pytest.mark.browser

TRAPEZIUS = [{"muscle": "upper-trapezius", "side": "left"}]


def visit(page: Page, hash_: str, screen: str) -> None:
    page.evaluate("h => { location.hash = h; }", hash_)
    wait_for_screen(page, screen)


def test_an_address_with_a_date_no_calendar_has_shows_today(page: Page, clinic: Clinic) -> None:
    """A mangled or impossible date shows Today (an exercise: "not found"), never a page error (the
    page fixture fails on one) and never another day."""
    join_in_browser(page, clinic.invite(clinic.patient(TRAPEZIUS, name="Rosa")))
    exercise = page.locator("li.entry[data-slot='morning']").first.get_attribute("data-exercise")
    today_heading = "Hello Rosa"
    for address in ("#/day/garbage", "#/day/2026-02-30", "#/day/2026-13-01", "#/day/0000-01-01"):
        # From another screen, so a screen left as it was would show.
        visit(page, "#/progress", "progress")
        page.evaluate("h => { location.hash = h; }", address)
        expect(page.locator("h1")).to_have_text(today_heading)
        assert page.evaluate("location.hash") == "#/today", address
        expect(page.locator("#nav a[href='#/today']")).to_have_attribute("aria-current", "page")

    visit(page, "#/progress", "progress")
    page.evaluate("h => { location.hash = h; }", "#/checkin/2026-02-30")
    wait_for_screen(page, "checkin")
    assert page.evaluate("location.hash") == "#/checkin"

    # A reminder for a day that does not exist opens Today.
    visit(page, "#/progress", "progress")
    page.evaluate("h => { location.hash = h; }", "#today?slot=morning&date=2026-02-30")
    expect(page.locator("h1")).to_have_text(today_heading)
    assert page.evaluate("location.hash") == "#/today"

    # A date no calendar has, and a time of day the app does not have (marking it done would send
    # a slot the server refuses).
    today = page.evaluate("() => new Date().toLocaleDateString('sv')")
    for address in (f"garbage/morning/{exercise}", f"2026-02-30/morning/{exercise}", f"{today}/garbage/{exercise}"):
        visit(page, "#/progress", "progress")
        page.evaluate("h => { location.hash = h; }", f"#/ex/{address}")
        expect(page.locator("h1")).to_have_text("We could not find this.")
        expect(page.get_by_role("link", name="Back to today")).to_be_visible()


def test_done_circles_of_a_day_to_come_look_disabled_and_say_it_is_not_due(page: Page, clinic: Clinic) -> None:
    join_in_browser(page, clinic.invite(clinic.patient(TRAPEZIUS, name="Sara")))
    # The done circle's border style and opacity (asked through expect, which waits: Today may be
    # drawn again right after the join, and a style read from the circle it replaced is empty).
    today = page.locator("li.entry[data-slot='morning'] button.check").first
    expect(today).to_be_enabled()
    title = page.locator("li.entry[data-slot='morning'] .entry-title").first.inner_text()
    expect(today.locator(".check-mark")).to_have_css("border-top-style", "solid")
    expect(today.locator(".check-mark")).to_have_css("opacity", "1")

    visit(page, f"#/day/{local_today() + dt.timedelta(days=1)}", "day")
    checks = page.locator("li.entry button.check")
    assert checks.count() > 0
    for i in range(checks.count()):
        expect(checks.nth(i)).to_be_disabled()
        expect(checks.nth(i)).to_have_accessible_name(re.compile(r"^“.+” \((morning|midday|evening)\) is not due yet$"))
    future = page.locator("li.entry[data-slot='morning'] button.check").first
    expect(future).to_have_accessible_name(f"“{title}” (morning) is not due yet")
    expect(future.locator(".check-mark")).to_have_css("border-top-style", "dashed")
    assert float(future.locator(".check-mark").evaluate("m => getComputedStyle(m).opacity")) < 1
    assert future.evaluate("b => getComputedStyle(b).cursor") == "not-allowed"

    page.get_by_role("link", name="More").click()
    page.get_by_role("button", name="Español").click()
    expect(page.locator("h1")).to_have_text("Más")
    visit(page, f"#/day/{local_today() + dt.timedelta(days=1)}", "day")
    expect(page.locator("li.entry[data-slot='morning'] button.check").first).to_have_accessible_name(
        re.compile(r"^«.+» \(mañana\) todavía no corresponde$")
    )


def test_the_same_exercise_at_different_times_of_day_has_different_names(page: Page, clinic: Clinic) -> None:
    join_in_browser(page, clinic.invite(clinic.patient(TRAPEZIUS, name="Tere")))
    entries = page.locator("li.entry")
    by_exercise = collections.Counter(entries.evaluate_all("lis => lis.map((li) => li.dataset.exercise)"))
    repeated = next(e for e, n in by_exercise.items() if n > 1)  # the plan has one at several times
    checks = page.locator("li.entry button.check")
    names = checks.evaluate_all("bs => bs.map((b) => b.getAttribute('aria-label'))")
    assert len(set(names)) == len(names), names
    items = page.locator(f"li.entry[data-exercise='{repeated}']")
    title = items.first.locator(".entry-title").inner_text()
    slots = items.evaluate_all("lis => lis.map((li) => li.dataset.slot)")
    for slot in slots:
        button = page.locator(f"li.entry[data-exercise='{repeated}'][data-slot='{slot}'] button.check")
        expect(button).to_have_accessible_name(f"Mark “{title}” ({slot}) as done")

    # Once done, the name still says which one.
    first = items.first.locator("button.check")
    slot = slots[0]
    first.click()
    expect(first).to_have_attribute("aria-pressed", "true")
    expect(first).to_have_accessible_name(re.compile(rf"^“{re.escape(title)}” \({slot}\) is done"))

    page.get_by_role("link", name="More").click()
    page.get_by_role("button", name="Español").click()
    expect(page.locator("h1")).to_have_text("Más")
    visit(page, "#/today", "today")
    names = checks.evaluate_all("bs => bs.map((b) => b.getAttribute('aria-label'))")
    assert len(set(names)) == len(names), names
    assert any(re.fullmatch(r"Marcar «.+» \((mañana|mediodía|tarde y noche)\) como hecho", n) for n in names), names


def test_the_sound_button_shows_in_words_whether_it_is_on(page: Page, clinic: Clinic) -> None:
    items, held = short_hold_items(clinic, TRAPEZIUS)
    join_in_browser(page, clinic.invite(clinic.patient(TRAPEZIUS, items=items, name="Uma")))
    timed = f"#/ex/{local_today()}/{held['slots'][0]}/{held['exercise_id']}"
    visit(page, timed, "ex")
    sound = page.get_by_role("button", name="Sound", exact=True)
    expect(sound).to_have_attribute("aria-pressed", "true")
    expect(sound).to_have_text("Sound: on")
    sound.click()
    expect(sound).to_have_attribute("aria-pressed", "false")
    expect(sound).to_have_text("Sound: off")
    # Kept, and drawn so, the next time.
    page.reload()
    wait_for_screen(page, "ex")
    expect(sound).to_have_attribute("aria-pressed", "false")
    expect(sound).to_have_text("Sound: off")

    page.get_by_role("link", name="More").click()
    page.get_by_role("button", name="Español").click()
    expect(page.locator("h1")).to_have_text("Más")
    visit(page, timed, "ex")
    sound = page.get_by_role("button", name="Sonido", exact=True)
    expect(sound).to_have_text("Sonido: desactivado")
    sound.click()
    expect(sound).to_have_attribute("aria-pressed", "true")
    expect(sound).to_have_text("Sonido: activado")


# Words of the bottom bar's labels that do not sit on one line, or stick out of their tab.
BROKEN_WORDS = """() => {
  const bad = [];
  for (const tab of document.querySelectorAll("#nav a")) {
    const box = tab.getBoundingClientRect();
    const walker = document.createTreeWalker(tab, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const word of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const rects = [...range.getClientRects()].filter((r) => r.width > 0);
        const lines = new Set(rects.map((r) => Math.round(r.top)));
        const out = rects.some((r) => r.left < box.left - 0.5 || r.right > box.right + 0.5);
        if (lines.size !== 1 || out) bad.push(`${word[0]} (${lines.size} lines${out ? ", outside its tab" : ""})`);
      }
    }
  }
  return bad;
}"""


@pytest.mark.parametrize("locale", ["en-US", "es-ES"])
def test_tab_labels_never_break_inside_a_word_on_a_320_px_phone(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems, locale: str
) -> None:
    context = new_context(browser, live_server, locale=locale, viewport={"width": 320, "height": 568})
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        join_in_browser(page, clinic.invite(clinic.patient(TRAPEZIUS, name="Vera")))
        labels = page.locator("#nav a").all_inner_texts()
        assert labels[2] == ("Progress" if locale == "en-US" else "Progreso"), labels
        assert page.evaluate(BROKEN_WORDS) == []
        # The bar stays one row of four at this width.
        tops = {round(a.bounding_box()["y"]) for a in page.locator("#nav a").all()}  # type: ignore[index]
        assert len(tops) == 1
    finally:
        context.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)


def test_progress_without_a_run_of_full_days_counts_what_was_done_not_a_big_zero(page: Page, clinic: Clinic) -> None:
    join_in_browser(page, clinic.invite(clinic.patient(TRAPEZIUS, name="Pia")))
    visit(page, "#/progress", "progress")
    # Nothing done yet: no number, where progress will show.
    expect(page.locator(".streak-number")).to_have_count(0)
    expect(page.locator(".streak-text")).to_have_text("Each exercise you tick as done shows here.")

    visit(page, "#/today", "today")
    checks = page.locator("li.entry button.check")
    assert checks.count() > 2  # two ticks leave today (and so the run) not fully done
    for i in range(2):
        checks.nth(i).click()
        expect(checks.nth(i)).to_have_attribute("aria-pressed", "true")
    visit(page, "#/progress", "progress")
    expect(page.locator(".streak-number")).to_have_text("2")
    expect(page.locator(".streak-text")).to_have_text("exercises done in the last 7 days")


def test_a_walk_paused_says_paused_not_keep_going(page: Page, clinic: Clinic) -> None:
    join_in_browser(page, clinic.invite(clinic.patient(TRAPEZIUS, name="Wanda")))
    page.locator("li.entry[data-exercise='aftercare-gentle-walk'] a.entry-main").first.click()
    wait_for_screen(page, "ex")
    timer = page.locator("section.timer")
    timer.get_by_role("button", name="Start").click()
    expect(timer.locator(".timer-phase")).to_have_text("Keep going")
    timer.get_by_role("button", name="Pause").click()
    expect(timer.locator(".timer-phase")).to_have_text("Paused")
