"""Access as people use the apps, beyond the axe check: a contrast theme (Windows' forced colours)
that must still show what was chosen and where one is; keyboard focus that comes back to the list
entry left, stays put when a screen is drawn anew and is never hidden under a message; live
regions, field descriptions and button names a screen reader hears; the console's one-key
shortcuts turned off for speech input, and its patient page at 400% zoom."""

from __future__ import annotations

import re
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    PageProblems,
    join_in_browser,
    new_context,
    screenshot,
    wait_for_screen,
    wait_outbox,
)
from tests.browser.console_helpers import ConsoleAccount, console_session, goto_view, wait_view

pytestmark = pytest.mark.browser

# The colours the browser paints an element with (forced colours are applied in these values; a
# see-through background, which forced colours keep so, shows the nearest one behind it).
PAINT = """(el) => {
  const style = getComputedStyle(el);
  let background = "rgb(255, 255, 255)";
  for (let e = el; e; e = e.parentElement) {
    const colour = getComputedStyle(e).backgroundColor;
    if (!/^rgba\\(.*, 0\\)$/.test(colour)) { background = colour; break; }
  }
  return {background, color: style.color, top: style.borderTopColor, left: style.borderLeftColor};
}"""


@pytest.fixture(scope="module")
def account(live_server: LiveServer) -> Iterator[ConsoleAccount]:
    created = ConsoleAccount.create(live_server, "Access Walk Therapist")
    yield created
    created.close()


def visit(page: Page, hash_: str, screen: str) -> None:
    page.evaluate("h => { location.hash = h; }", hash_)
    wait_for_screen(page, screen)


def paint(locator: Locator) -> dict[str, str]:
    return locator.evaluate(PAINT)


def chosen_stands_out(chosen: Locator, other: Locator, where: str) -> None:
    """A chosen option is painted unlike one not chosen, and its text unlike its own background."""
    mine, theirs = paint(chosen), paint(other)
    assert mine["background"] != theirs["background"], f"{where}: the choice looks like the others ({mine})"
    assert mine["color"] != mine["background"], f"{where}: the choice's text does not show ({mine})"


def test_a_contrast_theme_still_shows_the_choice_and_the_current_tab(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems
) -> None:
    """In forced colours every background is painted alike: a soreness number, a reminder day or
    a language picked only by its fill looked unpicked, and every tab showed the current one's bar."""
    patient = clinic.patient(name="Fran")
    context = new_context(browser, live_server, forced_colors="active", color_scheme="dark")
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        join_in_browser(page, clinic.invite(patient))

        visit(page, "#/checkin", "checkin")
        page.get_by_role("radio", name="4", exact=True).check()
        page.locator("h1").focus()  # the focus ring is not what shows the choice
        options = page.locator(".scale-option label")
        chosen_stands_out(options.nth(4), options.nth(5), "the soreness chosen")

        # The current tab: its bar shows, the others' bars are the tab bar's own colour.
        tabs = page.locator("#nav a")
        nav = paint(page.locator("#nav"))
        current = paint(page.locator("#nav a[aria-current='page']"))
        assert page.locator("#nav a[aria-current='page']").text_content() == "Check-in"
        for i in range(tabs.count()):
            if tabs.nth(i).get_attribute("aria-current"):
                continue
            other = paint(tabs.nth(i))
            assert other["top"] == nav["background"], f"tab {i} shows a bar as if it were current: {other}"
            assert current["top"] != other["top"]

        visit(page, "#/reminders", "reminders")
        days = page.locator(".weekday-option")
        days.nth(1).locator("input").uncheck()
        page.locator("h1").focus()
        chosen_stands_out(days.nth(0).locator("label"), days.nth(1).locator("label"), "a reminder day")

        visit(page, "#/more", "more")
        chosen_stands_out(
            page.get_by_role("button", name="English"), page.get_by_role("button", name="Español"), "the language"
        )

        # The timer's cue (a shadow that flashes, which these themes drop) shows as an outline,
        # for the flash's time only, so that the next cue shows again.
        visit(page, "#/today", "today")
        page.locator("li.entry a.entry-main", has_text=re.compile(r"Hold|minutes")).first.click()
        wait_for_screen(page, "ex")
        timer = page.locator("section.timer")
        outline = "el => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth"
        # Read as the cue comes (however slow the machine, the flash is 0.6 s).
        timer.evaluate(
            "el => { window.cueOutlines = []; new MutationObserver(() => { if (el.classList.contains('cue')) "
            "window.cueOutlines.push((" + outline + ")(el)); }).observe(el, { attributes: true }); }"
        )
        timer.get_by_role("button", name="Start").click()
        expect(timer).to_have_class(re.compile(r"\bcue\b"))
        assert page.evaluate("window.cueOutlines[0]") == "solid 6px"
        expect(timer).not_to_have_class(re.compile(r"\bcue\b"))
        assert timer.evaluate(outline).startswith("none")
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors


def test_a_contrast_theme_shows_the_consoles_current_page(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    with console_session(browser, live_server, account, page_problems, forced_colors="active") as (_, page):
        nav = page.get_by_role("navigation", name="Console")
        patients, help_ = nav.get_by_role("link", name="Patients"), nav.get_by_role("link", name="Help")
        expect(patients).to_have_attribute("aria-current", "page")
        page.locator("h1").focus()
        chosen_stands_out(patients, help_, "the console's current page")


def wait_in_view(page: Page, selector: str) -> None:
    """Wait until the element is focused and wholly between the sticky header and the bottom tab
    bar (a record sent meanwhile redraws the list, keeping both)."""
    page.wait_for_function(
        """selector => {
          const el = document.querySelector(selector);
          if (!el || document.activeElement !== el) return false;
          const box = el.getBoundingClientRect();
          const bar = document.querySelector(".bar").getBoundingClientRect();
          const nav = document.querySelector("#nav").getBoundingClientRect();
          return box.height > 0 && box.top >= bar.bottom && box.bottom <= nav.top;
        }""",
        arg=selector,
        timeout=5_000,
    )


def test_back_from_an_exercise_lands_on_its_entry_not_the_top_of_the_list(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """After an evening exercise, the keyboard (and screen reader) user went back to the heading
    at the top of Today and tabbed through every morning and midday entry to reach the next one."""
    patient = clinic.patient(name="Teo")
    join_in_browser(page, clinic.invite(patient))
    evening = page.locator("section.slot:has(#slot-evening) a.entry-main")
    assert evening.count() >= 3
    entry = evening.nth(2)
    key = entry.get_attribute("data-focus")
    entry.focus()
    page.keyboard.press("Enter")
    wait_for_screen(page, "ex")
    expect(page.get_by_role("heading", level=1)).to_be_focused()

    # The screen's own Back link, from the keyboard: on the entry, in view, with its focus ring.
    page.get_by_role("link", name="Back", exact=True).focus()
    page.keyboard.press("Enter")
    wait_for_screen(page, "today")
    selector = f"a[data-focus='{key}']"
    back = page.locator(selector)
    wait_in_view(page, selector)
    assert back.evaluate("el => el.matches(':focus-visible')")
    # Tab goes on to its done mark.
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("data-focus", (key or "").replace("open:", "check:"))

    # The browser's back button (or the phone's) does the same, and the marked exercise's
    # "Back to today" too.
    back.click()
    wait_for_screen(page, "ex")
    page.go_back()
    wait_for_screen(page, "today")
    wait_in_view(page, selector)
    back.click()
    wait_for_screen(page, "ex")
    page.get_by_role("button", name=re.compile(r"^(Mark as done|I did it without the timer)$")).click()
    page.locator(".done-panel").get_by_role("link", name="Back to today").click()
    wait_for_screen(page, "today")
    wait_in_view(page, selector)

    # Any other way to Today starts at its heading, as every new screen does.
    visit(page, "#/progress", "progress")
    page.locator("#nav").get_by_role("link", name="Today").click()
    wait_for_screen(page, "today")
    expect(page.get_by_role("heading", level=1)).to_be_focused()


# The focused control and the message at the bottom of the screen do not overlap (or none shows).
CLEAR_OF_TOAST = """() => {
  const toast = document.getElementById("toast");
  if (!toast.childElementCount) return true;
  const box = toast.getBoundingClientRect();
  const it = document.activeElement.getBoundingClientRect();
  return it.bottom <= box.top || it.top >= box.bottom;
}"""


def test_marking_one_done_after_another_from_the_keyboard_never_hides_the_focus_under_the_message(
    page: Page, clinic: Clinic
) -> None:
    """Tab, Space, Tab...: the "Done: ..." message at the bottom of the screen covered the next
    entry reached, whole, for the four seconds it shows (WCAG 2.4.11)."""
    patient = clinic.patient(name="Ines")
    join_in_browser(page, clinic.invite(patient))
    page.locator("h1").focus()
    marked = 0
    hidden: list[str] = []
    while marked < 5:
        page.keyboard.press("Tab")
        focused = page.locator(":focus")
        if focused.evaluate("el => el.matches('button.check:not(.on)')"):
            page.keyboard.press("Space")
            marked += 1
            expect(page.locator("#toast p").last).to_have_text(re.compile(r"^Done: "))
        try:
            page.wait_for_function(CLEAR_OF_TOAST, timeout=1_000)
        except PlaywrightError:
            hidden.append(page.evaluate("document.activeElement.getAttribute('data-focus')"))
    assert not hidden, f"focused controls left under the message: {hidden}"


def test_going_offline_is_said_by_a_live_region_that_was_already_in_the_page(
    page: Page, context: BrowserContext, clinic: Clinic
) -> None:
    """The offline notice (and the new version's) was a live region hidden until shown with its
    text at once, which screen readers may not read out: a blind patient was not told that what
    they log waits."""
    patient = clinic.patient(name="Olga")
    join_in_browser(page, clinic.invite(patient))
    # Spanish used once online, so this phone keeps it for offline use (sw.js precaches only the
    # language in use; test_pwa_lang_shell).
    visit(page, "#/more", "more")
    page.get_by_role("button", name="Español").click()
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    visit(page, "#/today", "today")
    # The notice of a new version of the app is such a live region too.
    expect(page.locator("#update").and_(page.get_by_role("status"))).to_have_text("")
    notice = page.locator("#offline").and_(page.get_by_role("status"))
    expect(notice).to_have_count(1)  # in the accessibility tree while online...
    expect(notice).to_have_text("")  # ...with nothing to say and nothing shown
    assert page.locator("#offline").evaluate("el => el.getBoundingClientRect().height") == 0
    context.set_offline(True)
    expect(notice).to_have_text("Offline: what you log is kept and sent later.")
    expect(notice).to_be_visible()
    visit(page, "#/more", "more")
    page.get_by_role("button", name="Español").click()
    expect(notice).to_have_text("Sin conexión: lo que anote se guarda y se enviará después.")
    context.set_offline(False)
    expect(notice).to_have_text("")


def test_a_screen_drawn_anew_keeps_the_keyboard_focus_where_it_was(
    page: Page, context: BrowserContext, clinic: Clinic
) -> None:
    """A screen is drawn again when the records are sent, another tab logs something or the
    language changes: focus on a control without a data-focus key (a day link, a language button,
    the heading a new screen gives it) fell to the page's body, and the next Tab started over from
    the top of the page."""
    patient = clinic.patient(name="Pia")
    join_in_browser(page, clinic.invite(patient))

    # A check-in saved: Today's heading has focus, and keeps it once the check-in is sent.
    visit(page, "#/checkin", "checkin")
    page.get_by_role("radio", name="2", exact=True).check()
    page.get_by_role("button", name="Save check-in").click()
    wait_for_screen(page, "today")
    wait_outbox(page, 0)
    expect(page.get_by_role("heading", level=1)).to_be_focused()

    # Another tab marks an exercise done: this one redraws, focus stays on "Next day".
    next_day = page.get_by_role("link", name=re.compile(r"^Next day"))
    next_day.focus()
    other = context.new_page()
    other.goto("/#/today")
    wait_for_screen(other, "today")
    other.locator("button.check:not(.on)").first.click()
    expect(page.locator("button.check.on")).to_have_count(1)
    expect(next_day).to_be_focused()
    other.close()

    # The language changed from the keyboard: the button pressed keeps the focus.
    visit(page, "#/more", "more")
    spanish = page.get_by_role("button", name="Español")
    spanish.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Más")
    expect(spanish).to_be_focused()
    expect(spanish).to_have_attribute("aria-pressed", "true")


def test_what_went_wrong_is_heard_with_the_field_that_gets_the_focus(page: Page, clinic: Clinic) -> None:
    """A wrong code, a check-in saved without a number: the alert came as focus moved to the
    field, and a screen reader reading the field may cut the alert short; the field did not say it."""
    page.goto("/")
    wait_for_screen(page, "join")
    code = page.get_by_label("Your code")
    expect(code).not_to_have_attribute("aria-invalid", "true")
    code.fill("ABCD-EFGH-JKMN-PQRS")
    code.press("Enter")
    unknown = "We could not find this code. Check it, or ask your clinic for a new one."
    expect(page.get_by_role("alert")).to_have_text(unknown)
    expect(code).to_be_focused()
    expect(code).to_have_accessible_description(re.compile(f"^{re.escape(unknown)} For example ABCD-"))
    expect(code).to_have_attribute("aria-invalid", "true")

    join_in_browser(page, clinic.invite(clinic.patient(name="Nico")))
    expect(code).to_have_count(0)
    visit(page, "#/checkin", "checkin")
    numbers = page.get_by_role("group", name="How sore are you today?")
    expect(numbers).to_have_accessible_description(re.compile(r"^0 = not sore at all"))
    page.get_by_role("button", name="Save check-in").click()
    expect(page.get_by_role("radio", name="0", exact=True)).to_be_focused()
    choose = "Please choose how sore you are (0 to 10)."
    expect(page.get_by_role("alert")).to_have_text(choose)
    expect(numbers).to_have_accessible_description(re.compile(f"^{re.escape(choose)} 0 = not sore"))


# Records which advice cards go in and out of the check-in's advice from now on.
WATCH_ADVICE = """() => {
  window.adviceChanges = [];
  const names = (nodes) => [...nodes].map((n) => n.dataset.flag || n.className);
  new MutationObserver((records) => records.forEach((r) => window.adviceChanges.push(
    { added: names(r.addedNodes), removed: names(r.removedNodes) }))
  ).observe(document.querySelector(".flag-advice"), { childList: true, subtree: true, characterData: true });
}"""


def test_ticking_a_warning_sign_announces_its_advice_and_not_the_others_again(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """Each tick drew every advice card again, each an alert: a screen reader read all of them
    out once more for every sign ticked or unticked."""
    patient = clinic.patient(name="Alba")
    join_in_browser(page, clinic.invite(patient))
    visit(page, "#/checkin", "checkin")
    page.get_by_role("radio", name="5", exact=True).check()
    boxes = page.locator(".flag-option input")
    first, second = boxes.nth(0).get_attribute("value"), boxes.nth(1).get_attribute("value")
    boxes.nth(1).check()
    alerts = page.locator(".flag-advice [role=alert]")
    expect(alerts).to_have_count(1)

    page.evaluate(WATCH_ADVICE)
    boxes.nth(0).check()  # the more urgent sign goes first, its advice too
    expect(alerts).to_have_count(2)
    assert [a.get_attribute("data-flag") for a in alerts.all()] == [first, second]
    # Only the new card went in (and is announced); the one shown before was left alone.
    assert page.evaluate("window.adviceChanges") == [{"added": [first], "removed": []}]

    page.evaluate("window.adviceChanges = []")
    boxes.nth(0).uncheck()
    expect(alerts).to_have_count(1)
    assert page.evaluate("window.adviceChanges") == [{"added": [], "removed": [first]}]

    # What is saved is what is ticked now.
    page.get_by_role("button", name="Save check-in").click()
    expect(page.locator(".checkin-saved [data-flag]")).to_have_count(1)
    expect(page.locator(".checkin-saved [data-flag]")).to_have_attribute("data-flag", second)
    wait_outbox(page, 0)
    rows = live_server.rows("SELECT red_flags FROM checkin WHERE patient_id = ?", (patient.id,))
    assert [r["red_flags"] for r in rows] == [second]


def test_the_consoles_one_key_shortcuts_can_be_turned_off(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    """n, t, p, / and ? acted anywhere outside a field (WCAG 2.1.4): a word said to speech input
    with focus outside a field printed or changed the screen. Help turns them off, in this browser."""
    with console_session(browser, live_server, account, page_problems) as (_, page):
        name = page.get_by_label("Name", exact=True)
        search = page.get_by_label("Search patients")
        outside = "document.activeElement.blur()"  # focus on no field
        page.evaluate(outside)
        page.keyboard.press("n")
        expect(name).to_be_focused()

        goto_view(page, "#/help", "help")
        single = page.get_by_role("checkbox", name="One-key shortcuts")
        expect(single).to_be_checked()
        single.uncheck()
        goto_view(page, "#/", "patients")
        for key in ("n", "/", "?"):
            page.evaluate(outside)
            page.keyboard.press(key)
            expect(name).not_to_be_focused()
            expect(search).not_to_be_focused()
            expect(page.locator("body")).to_have_attribute("data-view", "patients")
        # Kept in this browser.
        page.reload()
        wait_view(page, "patients")
        page.evaluate(outside)
        page.keyboard.press("n")
        expect(name).not_to_be_focused()

        goto_view(page, "#/help", "help")
        page.get_by_role("checkbox", name="One-key shortcuts").check()
        goto_view(page, "#/", "patients")
        page.evaluate(outside)
        page.keyboard.press("n")
        expect(name).to_be_focused()


def test_the_patients_page_reflows_at_400_percent_zoom(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    """A 1280x1024 screen at 400% (320 CSS px wide): a wide table scrolls in its own box, but the
    devices table's "Actions" heading, a text only for screen readers, was placed against the page
    and made every line of it scroll sideways (WCAG 1.4.10)."""
    patient = account.patient("Zoe Zoom", treated=[{"muscle": "upper-trapezius", "side": "left"}])
    account.joined_phone(patient["id"]).close()
    zoomed = {"width": 320, "height": 256}
    with console_session(browser, live_server, account, page_problems, viewport=zoomed) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}", "patient")
        devices = page.get_by_role("table", name="Devices joined to this patient")
        expect(devices.get_by_role("button", name=re.compile("^Remove "))).to_have_count(1)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the patient's page is {overflow}px wider than the screen"


def ring_pixels(page: Page, target: Locator) -> int:
    """Pixels of the focus ring's colour (the light theme's #1a56c9) in a screenshot of the
    element's entry card."""
    card = target.locator("xpath=ancestor::li[1]")
    image = cv2.imdecode(np.frombuffer(card.screenshot(), dtype=np.uint8), cv2.IMREAD_COLOR)
    ring = np.array([201, 86, 26])  # BGR
    return int((np.abs(image.astype(int) - ring).sum(axis=2) < 60).sum())


def test_the_focus_ring_of_an_entry_and_its_done_circle_shows_all_round(page: Page, clinic: Clinic) -> None:
    """The entry card clips what lies outside it: the ring around its link and its done circle
    showed only as a sliver between the two, so a keyboard user could hardly tell where focus
    was on Today (WCAG 2.4.7)."""
    join_in_browser(page, clinic.invite(clinic.patient(name="Rui")))
    page.locator("h1").focus()
    link = page.locator("li.entry a.entry-main").first
    check = page.locator("li.entry button.check").first
    for target in (link, check):
        for _ in range(20):
            if target.evaluate("el => el === document.activeElement"):
                break
            page.keyboard.press("Tab")
        expect(target).to_be_focused()
        page.mouse.move(0, 0)
        box = target.bounding_box()
        assert box
        # A 3 px ring round the element, less its corners: at least half of it is seen.
        seen, whole = ring_pixels(page, target), 3 * 2 * (box["width"] + box["height"])
        assert seen >= whole / 2, f"{target}: {seen} of about {whole:.0f} ring pixels show"


def test_two_devices_of_the_same_kind_have_removal_buttons_told_apart(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    """An old and a new iPhone: both buttons were "Remove iPhone", and so was the question, so a
    keyboard or screen reader user could not tell which phone they were cutting off."""
    patient = account.patient("Irene Iphone", treated=[{"muscle": "upper-trapezius", "side": "left"}])
    invite = f"/api/v1/patients/{patient['id']}/invites"
    for _ in range(2):
        account.join(account.ok(account.api.post(invite))["code"], label="iPhone").close()
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}", "patient")
        table = page.get_by_role("table", name="Devices joined to this patient")
        buttons = table.get_by_role("button", name=re.compile("^Remove iPhone joined "))
        expect(buttons).to_have_count(2)
        names = [b.get_attribute("aria-label") or "" for b in buttons.all()]
        assert len(set(names)) == 2, names
        buttons.first.click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_role("heading")).to_have_text(f"{names[0]}?")
        dialog.get_by_role("button", name="Remove device").click()
        expect(page.locator("#toast")).to_have_text(f"{names[0].removeprefix('Remove ')} removed.")
        # The one left has no twin any more: its plain name.
        expect(table.get_by_role("button", name="Remove iPhone", exact=True)).to_have_count(1)


def _luminance(colour: str) -> float:
    """WCAG's relative luminance of a computed ``rgb(...)`` colour."""
    channels = [int(x) / 255 for x in re.findall(r"\d+", colour)[:3]]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_language_chosen_is_told_from_the_other_by_more_than_a_tint(page: Page, clinic: Clinic) -> None:
    # The pressed language button differed from the other only by a pale fill (about 1.2:1): a
    # state shown by colour alone needs 3:1 against what is around it (WCAG 1.4.11).
    join_in_browser(page, clinic.invite(clinic.patient(name="Tinted Choice")))
    page.get_by_role("link", name="More").click()
    wait_for_screen(page, "more")
    chosen = page.get_by_role("button", name="English")
    expect(chosen).to_have_attribute("aria-pressed", "true")
    fill = chosen.evaluate("el => getComputedStyle(el).backgroundColor")
    around = chosen.evaluate(
        """el => {
          for (let node = el.parentElement; node; node = node.parentElement) {
            const colour = getComputedStyle(node).backgroundColor;
            if (colour !== "rgba(0, 0, 0, 0)" && colour !== "transparent") return colour;
          }
          return "rgb(255, 255, 255)";
        }"""
    )
    assert _contrast(fill, around) >= 3, (fill, around)
    other = page.get_by_role("button", name="Español")
    assert other.evaluate("el => getComputedStyle(el).backgroundColor") == "rgba(0, 0, 0, 0)"
    screenshot(page, "more-language-chosen")
