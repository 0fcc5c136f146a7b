"""The therapist console on a touch tablet and a desk screen, as found by walking a physiotherapist's
jobs between visits: the body map tapped with a finger, the invite code read off the hand-over
screen, and a red flag's "Mark as handled" on the patient's page."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, PageProblems, local_today
from tests.browser.console_helpers import ConsoleAccount, console_session, goto_view, program_ready, region, wait_view

pytestmark = pytest.mark.browser

TOUCH_LANDSCAPE = {"viewport": {"width": 1024, "height": 768}, "has_touch": True, "is_mobile": False}
DESK = {"viewport": {"width": 1366, "height": 768}}
TREATED = [{"muscle": "upper-trapezius", "side": "left"}]


@pytest.fixture(scope="module")
def account(live_server: LiveServer) -> Iterator[ConsoleAccount]:
    created = ConsoleAccount.create(live_server, "Tablet Therapist")
    yield created
    created.close()


FILL = "el => getComputedStyle(el).fill"


def test_a_region_tapped_off_on_a_tablet_no_longer_looks_picked(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Tapping Tomas")
    # No fading between colours: each colour is read the moment the tap is done.
    still = {**TOUCH_LANDSCAPE, "reduced_motion": "reduce"}
    with console_session(browser, live_server, account, page_problems, **still) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        # Nothing can be pointed at on a touch screen: the caption says to tap, and where small
        # muscles are easier to pick.
        caption = page.locator("#map-caption")
        expect(caption).to_contain_text("Tap a region")
        expect(caption).to_contain_text("Find a muscle")

        untouched = region(page, "infraspinatus", "left").evaluate(FILL)
        tapped = region(page, "rhomboids", "left")
        picked = page.evaluate("() => getComputedStyle(document.documentElement).getPropertyValue('--region-on')")

        tapped.tap()
        expect(tapped).to_have_attribute("aria-checked", "true")
        expect(page.locator(".chip")).to_have_count(1)
        # The picked colour, not the hover colour the finger left behind.
        assert tapped.evaluate(FILL) == page.evaluate(
            "c => { const el = document.createElement('i'); el.style.color = c; document.body.append(el);"
            " const v = getComputedStyle(el).color; el.remove(); return v; }",
            picked.strip(),
        )

        tapped.tap()
        expect(tapped).to_have_attribute("aria-checked", "false")
        expect(page.locator(".chip")).to_have_count(0)
        # Tapped off, it looks like every region not picked (it looked picked still).
        assert tapped.evaluate(FILL) == untouched
        expect(caption).not_to_contain_text("selected")


def test_the_invite_code_on_the_hand_over_screen_wraps_between_its_groups_only(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Coded Carmen", treated=TREATED)
    with console_session(browser, live_server, account, page_problems, **TOUCH_LANDSCAPE) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/handover", "handover")
        page.get_by_role("button", name="Make a code").click()
        code = page.locator("#invite-code")
        expect(code).to_be_visible()
        # The text of each line of the code as laid out (the screen reader's label aside).
        lines = code.evaluate(
            """el => {
                 const lines = [];
                 let top = null;
                 const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
                 for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                   if (node.parentElement.closest('.sr-only')) continue;
                   for (let i = 0; i < node.length; i++) {
                     const range = document.createRange();
                     range.setStart(node, i);
                     range.setEnd(node, i + 1);
                     const y = Math.round(range.getBoundingClientRect().top);
                     if (top === null || Math.abs(y - top) > 4) { lines.push(''); top = y; }
                     lines[lines.length - 1] += node.data[i];
                   }
                 }
                 return lines;
               }"""
        )
        text = "".join(lines)
        assert len(text.split("-")) >= 3, lines
        assert text in code.inner_text(), (lines, code.inner_text())
        # Every line but the last ends a group: no group is split ("B99H" read as "B" and "99H").
        assert all(line.endswith("-") for line in lines[:-1]), lines


def test_a_red_flags_mark_as_handled_is_in_view_on_a_desk_and_a_landscape_tablet(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Flagged Fermín", treated=TREATED)
    phone = account.joined_phone(patient["id"])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    checkin = {
        "id": str(uuid.uuid4()),
        "on_date": local_today().isoformat(),
        "soreness": 6,
        "red_flags": ["breathing-chest-pain", "infection-signs"],
        "note": "Felt dizzy in the evening and short of breath climbing the stairs",
        "done_at": now.isoformat().replace("+00:00", "Z"),
    }
    assert phone.post("/api/v1/patient/sync", json={"checkins": [checkin]}).status_code == 200
    phone.close()
    for screen in (DESK, TOUCH_LANDSCAPE):
        with console_session(browser, live_server, account, page_problems, **screen) as (_, page):
            goto_view(page, f"#/patients/{patient['id']}", "patient")
            table = page.get_by_role("table", name="Daily check-ins, newest first")
            button = table.get_by_role("button", name="Mark the red flags")
            expect(button).to_be_visible()
            # The whole button inside what the table shows, without scrolling the table sideways.
            wrap = table.locator("xpath=..")
            assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth"), f"{screen}: the check-ins scroll sideways"
            box, shown = button.bounding_box(), wrap.bounding_box()
            assert box
            assert shown
            assert box["x"] + box["width"] <= shown["x"] + shown["width"], (screen, box, shown)

            # It still works: the note, the mark, the row says so.
            button.click()
            page.get_by_label("Note (optional)").fill("Called her; sent to A&E.")
            table.get_by_role("button", name="Mark as handled", exact=True).click()
            expect(page.get_by_role("table", name="Daily check-ins, newest first")).to_contain_text("Handled")
            # For the next screen: a fresh flag to handle.
            if screen is DESK:
                phone = account.join(
                    account.ok(account.api.post(f"/api/v1/patients/{patient['id']}/invites"))["code"], "Phone 2"
                )
                again = {**checkin, "id": str(uuid.uuid4())}
                assert phone.post("/api/v1/patient/sync", json={"checkins": [again]}).status_code == 200
                phone.close()


# Every control a finger presses, but a checkbox or a radio button, whose whole label is the target.
SMALL_BUTTONS = """root => [...root.querySelectorAll(
        'button, a.button, input:not([type=checkbox]):not([type=radio]), select')]
    .filter(el => el.offsetParent !== null && !el.classList.contains('linkish'))
    .map(el => ({what: el.outerHTML.slice(0, 90), box: el.getBoundingClientRect()}))
    .filter(b => b.box.height < 44 || b.box.width < 44)
    .map(b => `${Math.round(b.box.width)}x${Math.round(b.box.height)} ${b.what}`)"""


def test_a_touch_tablet_gets_finger_sized_controls_from_muscle_list_to_plan_editor(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    """The list the caption points to, the chips, the editor's move, remove and time-of-day buttons:
    at least 44 px each way on a touch screen (a desk keeps its denser layout)."""
    patient = account.patient("Listed Lucía")
    with console_session(browser, live_server, account, page_problems, **TOUCH_LANDSCAPE) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        page.get_by_label("Find a muscle").fill("pterygoid")
        button = page.locator("#muscle-list button.side[data-muscle='lateral-pterygoid'][data-side='left']")
        button.tap()
        expect(region(page, "lateral-pterygoid", "left")).to_have_attribute("aria-checked", "true")
        editor = program_ready(page)
        row = editor.locator(".item").first
        row.get_by_role("button", name="Dosage of").click()
        assert page.locator("body").evaluate(SMALL_BUTTONS) == []
        page.get_by_role("button", name="Assign and hand over").click()
        wait_view(page, "handover")
        assert page.locator("body").evaluate(SMALL_BUTTONS) == []
        goto_view(page, f"#/patients/{patient['id']}", "patient")
        assert page.locator("body").evaluate(SMALL_BUTTONS) == []
        goto_view(page, "#/", "patients")
        page.wait_for_selector(".view-patients[data-loaded]")
        assert page.locator("body").evaluate(SMALL_BUTTONS) == []
