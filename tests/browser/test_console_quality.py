"""Quality of the therapist console in Chromium: accessibility of every screen, a tablet held
either way, the body map from the keyboard and by pointer, the searchable muscle list, and the
patient's page actions (rename, archive, revoke a device); screenshots for the README."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.bench.harness import signed_in
from tests.browser.conftest import LiveServer, PageProblems, check_a11y, local_today, screenshot
from tests.browser.console_helpers import (
    PASSWORD,
    TABLET,
    ConsoleAccount,
    console_session,
    goto_view,
    open_console,
    program_ready,
    region,
    wait_view,
)

pytestmark = pytest.mark.browser

PORTRAIT = {"width": 820, "height": 1180}
ZOOMED = {"width": 640, "height": 400}  # 1280x800 at 200%
TREATED = [{"muscle": "upper-trapezius", "side": "left"}, {"muscle": "levator-scapulae", "side": "right"}]


@pytest.fixture(scope="module")
def account(live_server: LiveServer) -> Iterator[ConsoleAccount]:
    created = ConsoleAccount.create(live_server, "Quality Therapist")
    yield created
    created.close()


def no_sideways_scroll(page: Page, where: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{where}: the page is {overflow}px wider than the screen"


def test_every_console_screen_is_accessible_on_a_tablet_held_either_way(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Ana Accesible", treated=TREATED)
    phone = account.joined_phone(patient["id"])
    today = local_today().isoformat()
    now = dt.datetime.now(dt.UTC).isoformat()
    item = patient["plan"]["program"]["items"][0]
    logged = {
        "completions": [
            {
                "id": str(uuid.uuid4()),
                "exercise_id": item["exercise_id"],
                "on_date": today,
                "slot": item["slots"][0],
                "done_at": now,
                "pain": 3,
            }
        ],
        "checkins": [
            {
                "id": str(uuid.uuid4()),
                "on_date": today,
                "soreness": 7,
                "red_flags": ["soreness-too-much"],
                "note": "sore",
                "done_at": now,
            }
        ],
    }
    assert phone.post("/api/v1/patient/sync", json=logged).status_code == 200
    phone.close()
    account.patient("Bruno Sin Plan")
    with console_session(browser, live_server, account, page_problems) as (_, page):
        # Sign-in screen: signed out in a second page of the same browser profile.
        page.locator("#signout").click()
        wait_view(page, "signin")
        check_a11y(page, "sign-in")
        page.get_by_label("Email").fill(account.email)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        wait_view(page, "patients")

        page.wait_for_selector(".view-patients[data-loaded]")
        expect(page.locator(f"tr[data-patient='{patient['id']}'] .badge")).to_have_count(2)
        check_a11y(page, "patient list")
        screenshot(page, "console-patient-list")

        screens = [
            (f"#/patients/{patient['id']}", "patient"),
            (f"#/patients/{patient['id']}/plan", "plan"),
            (f"#/patients/{patient['id']}/handover", "handover"),
            ("#/help", "help"),
            ("#/account", "account"),
            (f"#/patients/{patient['id']}/treat", "treat"),
        ]
        for hash_, name in screens:
            goto_view(page, hash_, name)
            check_a11y(page, name)
            no_sideways_scroll(page, name)

        # The treatment screen with a selection and an open exercise: the body map screenshot.
        region(page, "upper-trapezius", "left").click()
        page.get_by_label("Find a muscle").fill("levator")
        page.get_by_role("button", name="Levator scapulae (side of the neck to the shoulder blade), right").last.click()
        expect(program_ready(page).locator(".item").first).to_be_visible()
        page.locator("#program-editor .item-title").first.click()
        region(page, "deltoid", "left").hover()
        check_a11y(page, "treatment with a selection")
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "console-body-map")
        # Leaving the treatment half recorded asks first.
        page.evaluate("() => { location.hash = '#/'; }")
        page.get_by_role("dialog").get_by_role("button", name="Leave without saving").click()
        wait_view(page, "patients")

        page.set_viewport_size(PORTRAIT)
        for hash_, name in [("#/", "patients"), *screens]:
            goto_view(page, hash_, name)
            no_sideways_scroll(page, f"{name} (portrait)")

        # 200% zoom on a 1280x800 screen: a long name without a space wraps, and the header scrolls
        # away instead of staying over a short screen with the action bar.
        long_name = "Anastasiamaximilianaaccesiblefernandezdelatorreyvillaverde"
        account.ok(account.api.patch(f"/api/v1/patients/{patient['id']}", json={"display_name": long_name}))
        page.set_viewport_size(ZOOMED)
        for hash_, name in [("#/", "patients"), *screens[:3], screens[-1]]:
            goto_view(page, hash_, name)
            no_sideways_scroll(page, f"{name} (200%)")
        expect(page.locator(".bar")).to_have_css("position", "static")
        page.set_viewport_size(TABLET)


def test_body_map_works_from_the_keyboard_and_every_region_is_clickable(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Keyboard Kai")
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        expect(page.get_by_label("Find a muscle")).to_be_focused()

        # Every region can be hit at its centre (no other region covers it), and has a name.
        covered = page.evaluate(
            """() => [...document.querySelectorAll('.figure .region')].filter((el) => {
                 el.scrollIntoView({block: 'center'});
                 const r = el.getBoundingClientRect();
                 return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) !== el;
               }).map((el) => el.getAttribute('aria-label'))"""
        )
        assert not covered, f"regions covered at their centre: {covered}"
        muscles = {m["id"] for r in account.api.get("/api/v1/catalog/muscles").json() for m in r["muscles"]}
        drawn = page.evaluate(
            "() => [...document.querySelectorAll('.figure .region')].map(e => e.dataset.muscle + ':' + e.dataset.side)"
        )
        assert sorted(drawn) == sorted(f"{m}:{s}" for m in muscles for s in ("left", "right"))

        # The back figure is one tab stop: arrows walk it, Space toggles, Left/Right change side.
        back = page.locator(".figure[data-view='back'] .region[tabindex='0']")
        back.focus()
        first = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
        page.keyboard.press("ArrowDown")
        second = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
        assert second != first
        page.keyboard.press("Space")
        focused = page.locator(":focus")
        expect(focused).to_have_attribute("aria-checked", "true")
        muscle, side = focused.get_attribute("data-muscle"), focused.get_attribute("data-side")
        page.keyboard.press("ArrowRight" if side == "left" else "ArrowLeft")
        other = page.locator(":focus")
        expect(other).to_have_attribute("data-muscle", muscle or "")
        assert other.get_attribute("data-side") != side
        page.keyboard.press("Enter")
        expect(page.locator(".chip")).to_have_count(2)
        expect(page.locator("#map-caption")).to_contain_text("selected")
        # Tab leaves the figure in one press.
        page.keyboard.press("Tab")
        assert page.evaluate("() => !document.activeElement.closest('.figure[data-view=back]')")

        # The searchable list: type, Enter to the first match, Space; the map shows the same choice.
        search = page.get_by_label("Find a muscle")
        search.fill("glute med")
        expect(page.locator("#muscle-list li:not([hidden])")).to_have_count(0)
        search.fill("medius")
        search.press("Enter")
        expect(page.locator(":focus")).to_have_attribute("aria-label", "Gluteus medius (side of the hip), left")
        page.keyboard.press("Space")
        expect(region(page, "gluteus-medius", "left")).to_have_attribute("aria-checked", "true")
        expect(page.locator(".chip")).to_have_count(3)
        # Clicking the map toggles the list's button too, and a chip's ✕ removes the choice.
        region(page, "gluteus-medius", "left").click()
        expect(page.get_by_role("button", name="Gluteus medius (side of the hip), left")).to_have_attribute(
            "aria-pressed", "false"
        )
        page.locator(".chip-remove").first.click()
        expect(page.locator(".chip")).to_have_count(1)
        # The program: move the first item down, remove the next one, add one; all by keyboard.
        recovery = program_ready(page).locator("details[data-phase='aftercare'] .item")
        expect(recovery.first).to_be_visible()
        before = recovery.evaluate_all("els => els.map(e => e.dataset.exercise)")
        recovery.first.get_by_role("button", name="down").focus()
        page.keyboard.press("Enter")
        expect(page.locator(":focus")).to_have_attribute("aria-label", re.compile(r"^Move .* down$"))
        after = recovery.evaluate_all("els => els.map(e => e.dataset.exercise)")
        assert after == [before[1], before[0], *before[2:]]
        recovery.nth(2).get_by_role("button", name="Remove").focus()
        page.keyboard.press("Enter")
        expect(recovery).to_have_count(len(before) - 1)
        adding = page.get_by_label("Add to Recovery")
        # One done with both sides together (shoulder rolls, neck turns): added without a side.
        sided = {e["id"]: e["sided"] for e in account.ok(account.api.get("/api/v1/catalog/exercises"))}
        offered = adding.evaluate("s => [...s.options].filter(o => o.value && !o.disabled).map(o => o.value)")
        choice = next(o for o in offered if not sided[o])
        adding.select_option(choice)
        page.locator("#program-editor details[data-phase='aftercare']").get_by_role("button", name="Add").click()
        expect(page.locator(":focus")).to_have_class(re.compile("item-title"))
        expected = [before[1], before[0], *before[3:], choice]
        assert recovery.evaluate_all("els => els.map(e => e.dataset.exercise)") == expected
        # Ctrl+Enter assigns from anywhere on the screen; the plan is the edited one.
        search.press("Control+Enter")
        wait_view(page, "handover")
        expect(page.locator("#invite-code")).to_be_visible()
        items = account.active_plan(patient["id"])["program"]["items"]
        assert [i["exercise_id"] for i in items if i["phase"] == "aftercare"] == expected
        assert [i for i in items if i["phase"] == "aftercare"][-1].get("side") is None


def test_rename_archive_restore_and_revoke_a_device_from_the_patients_page(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Renata Renombre", treated=TREATED)
    invite = account.ok(account.api.post(f"/api/v1/patients/{patient['id']}/invites"))
    account.join(invite["code"], label="Renata's phone").close()
    tablet = account.join(account.ok(account.api.post(f"/api/v1/patients/{patient['id']}/invites"))["code"], "Tablet")
    printed = account.ok(account.api.post(f"/api/v1/patients/{patient['id']}/invites"))["code"]
    assert tablet.patch("/api/v1/patient/me", json={"timezone": "Europe/Lisbon"}).status_code == 200
    with console_session(browser, live_server, account, page_problems) as (_, page):
        search = page.get_by_label("Search patients")
        search.fill("renata")
        search.press("Enter")
        wait_view(page, "patient")

        page.get_by_role("button", name="Edit details").click()
        name = page.get_by_label("Name", exact=True)
        expect(name).to_be_focused()
        name.fill("Renata Nueva")
        # The time zone the tablet set, and the language, are changed from the same form.
        expect(page.get_by_label("Time zone")).to_have_value("Europe/Lisbon")
        page.get_by_label("Time zone").select_option("America/Mexico_City")
        page.get_by_label("Language").select_option("es")
        name.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text("Renata Nueva")
        expect(page.locator(".meta")).to_contain_text("America/Mexico_City · Español")
        saved = account.ok(account.api.get(f"/api/v1/patients/{patient['id']}"))
        assert (saved["timezone"], saved["locale"]) == ("America/Mexico_City", "es")

        # A code handed out and never used is withdrawn on request; the page says how many.
        page.get_by_role("button", name="Withdraw unused codes").click()
        expect(page.locator("#toast")).to_have_text("1 unused code withdrawn: it no longer connects a phone.")
        account.server.allow_joins()
        assert httpx.post(f"{account.server.url}/api/v1/patient/join", json={"code": printed}).status_code == 404
        page.get_by_role("button", name="Withdraw unused codes").click()
        expect(page.locator("#toast")).to_have_text("There was no unused code to withdraw.")

        page.get_by_role("button", name="Remove Renata's phone").click()
        page.get_by_role("dialog").get_by_role("button", name="Remove device").click()
        expect(page.locator("#toast")).to_contain_text("removed")
        assert account.ok(account.api.get(f"/api/v1/patients/{patient['id']}/devices"))[1]["revoked_at"]

        page.get_by_role("button", name="Archive").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Their phones are disconnected and unused codes stop working")
        expect(dialog).to_contain_text("to restore, hand over a new code")
        dialog.get_by_role("button", name="Archive").click()
        wait_view(page, "patients")
        expect(page.locator(f"tr[data-patient='{patient['id']}']")).to_have_count(0)
        page.get_by_role("link", name="Archived patients").click()
        expect(page.locator(f"tr[data-patient='{patient['id']}']")).to_contain_text("archived")
        page.get_by_role("link", name="Renata Nueva").click()
        wait_view(page, "patient")
        expect(page.locator("#record-treatment")).to_have_count(0)
        page.get_by_role("button", name="Restore").click()
        expect(page.locator("#record-treatment")).to_be_visible()
        # Archiving disconnected the tablet too: after the restore it is listed as removed, as it is.
        devices = page.get_by_role("table", name="Devices joined to this patient")
        expect(devices.get_by_role("row", name=re.compile("^Tablet"))).to_contain_text("removed")
        expect(devices).not_to_contain_text("active")
        assert tablet.get("/api/v1/patient/me").status_code == 401
        # The history says in words what was done and by whom (the time zone was the patient's doing).
        page.get_by_text("What was done to this patient's records").click()
        trail = page.get_by_role("table", name="Audit trail, newest first")
        expect(trail.locator("tr[data-action='patient.settings']")).to_contain_text("The patient")
        expect(trail.locator("tr[data-action='patient.settings'] th")).to_have_text(
            "Time zone or language changed on their phone"
        )
        renamed = trail.locator("tr[data-action='patient.update']").last
        expect(renamed).to_contain_text("Details changed")
        expect(renamed).to_contain_text("You")
        expect(renamed.locator("td").last).to_have_text("name, language, time zone")
        expect(trail.locator("tr[data-action='device.revoke']").first).to_contain_text("Device removed")
        # Muscles and devices by their names, not the ids the trail keeps.
        detail = "td:last-child"
        expect(trail.locator(f"tr[data-action='device.revoke'] {detail}")).to_have_text(
            ["Tablet (the patient was archived)", "Renata's phone"]
        )
        expect(trail.locator(f"tr[data-action='invite.withdraw'] {detail}")).to_have_text(["1 unused code"])
        expect(trail.locator(f"tr[data-action='plan.assign'] {detail}")).to_have_text(
            re.compile(r"^Levator scapulae \(.*\), right; Upper trapezius \(top of the shoulder\), left$")
        )
        tablet.close()
        # Signing out ends the session: the API refuses the old cookie, the page asks to sign in.
        page.locator("#signout").click()
        wait_view(page, "signin")
        assert page.request.get("/api/v1/auth/me").status == 401


def test_a_phone_unused_too_long_is_listed_as_expired_in_words_and_its_history_says_so(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Elsa Expirada", treated=TREATED)
    invite = f"/api/v1/patients/{patient['id']}/invites"
    old = account.join(account.ok(account.api.post(invite))["code"], label="Old phone")
    account.join(account.ok(account.api.post(invite))["code"], label="New phone").close()
    # The old phone was last seen longer ago than the server's limit (UNKNOT_DEVICE_IDLE_DAYS, 180):
    # its next request finds it so.
    first = min(d["id"] for d in account.ok(account.api.get(f"/api/v1/patients/{patient['id']}/devices")))
    live_server.execute("UPDATE patient_device SET last_seen_at = '2020-01-01T00:00:00Z' WHERE id = ?", (first,))
    assert old.get("/api/v1/patient/me").status_code == 401
    old.close()
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}", "patient")
        devices = page.get_by_role("table", name="Devices joined to this patient")
        expect(devices.get_by_role("row", name=re.compile("^New phone"))).to_contain_text("active")
        # Why the old one is not, in text; there is nothing to remove.
        expired = devices.get_by_role("row", name=re.compile("^Old phone"))
        expect(expired).to_contain_text(re.compile(r"expired .+: unused too long"))
        expect(expired.get_by_role("button")).to_have_count(0)
        page.get_by_text("What was done to this patient's records").click()
        entry = page.get_by_role("table", name="Audit trail, newest first").locator("tr[data-action='device.expire']")
        expect(entry.locator("th")).to_have_text("Device expired, unused too long")
        expect(entry.locator("td")).to_have_text([re.compile("."), "Automatic", "Old phone"])


def test_escape_in_the_details_form_cancels_it_and_a_dialog_keeps_its_own_escape(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    # Escape did nothing in the inline "Edit details" form: only its Cancel button closed it.
    patient = account.patient("Esteban Escape", treated=TREATED)
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}", "patient")
        edit = page.get_by_role("button", name="Edit details")
        form = page.get_by_role("form", name="Patient details")
        for where in ("Name", "Time zone"):
            edit.click()
            expect(form).to_be_visible()
            page.get_by_label("Name", exact=True).fill("Esteban Nunca")
            page.get_by_label(where, exact=True).press("Escape")
            # As Cancel: the form is closed and the button that opened it has the focus again.
            expect(form).to_be_hidden()
            expect(edit).to_be_focused()
            expect(edit).to_have_attribute("aria-expanded", "false")
        expect(page.get_by_role("heading", level=1)).to_have_text("Esteban Escape")
        assert account.ok(account.api.get(f"/api/v1/patients/{patient['id']}"))["display_name"] == "Esteban Escape"
        # What was typed went with the form: reopened, it shows the patient's details, and saving
        # them changes nothing.
        edit.click()
        expect(page.get_by_label("Name", exact=True)).to_have_value("Esteban Escape")
        page.get_by_label("Language", exact=True).select_option("es")
        page.get_by_role("button", name="Cancel").click()
        edit.click()
        expect(page.get_by_label("Language", exact=True)).to_have_value("en")
        page.get_by_role("button", name="Save details").click()
        expect(page.locator("#toast, [role=status]").filter(has_text="Nothing was changed.")).to_have_count(1)
        page.get_by_role("button", name="Edit details").click()

        # A dialog asked meanwhile takes Escape for itself: it closes, the form stays open.
        edit.click()
        page.get_by_role("button", name="Archive").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        expect(form).to_be_visible()
        expect(page.get_by_role("button", name="Archive")).to_be_focused()
        assert not account.ok(account.api.get(f"/api/v1/patients/{patient['id']}"))["archived_at"]


def test_an_archived_patient_is_erased_after_typing_their_name(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Eloísa Erase", treated=TREATED)
    account.joined_phone(patient["id"]).close()
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}", "patient")
        expect(page.get_by_role("button", name="Erase all data")).to_have_count(0)  # archive first
        page.get_by_role("button", name="Archive").click()
        page.get_by_role("dialog").get_by_role("button", name="Archive").click()
        wait_view(page, "patients")
        goto_view(page, f"#/patients/{patient['id']}", "patient")

        page.get_by_role("button", name="Erase all data").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("cannot be undone")
        expect(dialog).to_contain_text("Backups made before now still hold the data until they age out")
        typed = dialog.get_by_label("Type Eloísa Erase to confirm")
        expect(typed).to_be_focused()
        erase = dialog.get_by_role("button", name="Erase all data")
        expect(erase).to_be_disabled()
        typed.fill("Eloisa Erase")  # close is not enough
        expect(erase).to_be_disabled()
        typed.press("Enter")
        expect(dialog).to_be_visible()
        check_a11y(page, "erase dialog")
        dialog.get_by_role("button", name="Cancel").click()
        expect(page.get_by_role("dialog")).to_have_count(0)
        assert account.api.get(f"/api/v1/patients/{patient['id']}").status_code == 200

        page.get_by_role("button", name="Erase all data").click()
        page.get_by_role("dialog").get_by_label("Type Eloísa Erase to confirm").fill("Eloísa Erase")
        expect(page.get_by_role("dialog").get_by_role("button", name="Erase all data")).to_be_enabled()
        page.get_by_role("dialog").get_by_role("button", name="Erase all data").click()
        wait_view(page, "patients")
        expect(page.locator("#toast")).to_contain_text("All data of Eloísa Erase is erased")
        expect(page.locator("#toast")).to_contain_text("Backups still hold it until they age out")
        assert account.api.get(f"/api/v1/patients/{patient['id']}").status_code == 404
        archived = account.ok(account.api.get("/api/v1/patients", params={"archived": True}))
        assert patient["id"] not in [p["id"] for p in archived]


def test_a_therapist_changes_the_password_and_the_other_browser_must_sign_in_again(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "Changing Password")  # of its own: its password changes
    new_password = "correct horse battery staple 2026"
    context, page = open_console(browser, live_server, mine, page_problems)
    other_context, other = open_console(browser, live_server, mine, page_problems)
    try:
        page.get_by_role("link", name="Changing Password").click()
        wait_view(page, "account")
        expect(page.locator("#who")).to_have_attribute("aria-current", "page")
        current = page.get_by_label("Current password")
        new, again = page.get_by_label("New password", exact=True), page.get_by_label("New password again")
        expect(current).to_be_focused()
        change = page.get_by_role("button", name="Change password")
        alert = page.get_by_role("alert")

        # Checked on the page before anything is sent.
        current.fill(PASSWORD)
        new.fill("too short")
        change.click()
        expect(alert).to_have_text("The new password needs at least 10 characters.")
        expect(new).to_be_focused()
        # Counted as the server counts: five emoji are five characters (ten UTF-16 units).
        new.fill("\U0001f600" * 5)
        change.click()
        expect(alert).to_have_text("The new password needs at least 10 characters.")
        expect(new).to_be_focused()
        new.fill(new_password)
        again.fill(new_password + "!")
        again.press("Enter")
        expect(alert).to_have_text("The two new passwords are not the same.")
        expect(again).to_be_focused()

        # Refused by the server: nothing changes.
        current.fill("not my password")
        again.fill(new_password)
        change.click()
        expect(alert).to_have_text("The current password is not right.")
        expect(current).to_be_focused()

        current.fill(PASSWORD)
        change.click()
        # The other browser and the test's API client were signed in too.
        expect(page.get_by_role("status").filter(has_text="Password changed")).to_have_text(
            "Password changed. 2 other sessions were signed out."
        )
        expect(alert).to_be_hidden()
        for field in (current, new, again):
            expect(field).to_have_value("")
        check_a11y(page, "account after a change")

        # This browser goes on; the other one is asked to sign in, and the new password works there.
        goto_view(page, "#/", "patients")
        other.reload()
        wait_view(other, "signin")
        other.get_by_label("Email").fill(mine.email)
        other.get_by_label("Password").fill(PASSWORD)
        other.get_by_label("Password").press("Enter")
        expect(other.get_by_role("alert")).to_contain_text("Wrong email or password")
        other.get_by_label("Password").fill(new_password)
        other.get_by_label("Password").press("Enter")
        wait_view(other, "patients")
    finally:
        other_context.close()
        context.close()
        mine.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)


def end_sessions(server: LiveServer, email: str) -> None:
    """Let every session of the account run out, as twelve hours would."""
    server.execute(
        "UPDATE therapist_session SET expires_at = '2000-01-01T00:00:00+00:00' "
        "WHERE therapist_id = (SELECT id FROM therapist WHERE email = ?)",
        (email,),
    )


# What another tab does on "Sign out", then signing in again: the browser gets a new session cookie.
OTHER_TAB_SIGNS_OUT_AND_IN = """async ({ email, password }) => {
  const me = await (await fetch("/api/v1/auth/me")).json();
  await fetch("/api/v1/auth/logout", { method: "POST", headers: { "X-CSRF-Token": me.csrf_token } });
  const body = JSON.stringify({ email, password });
  const headers = { "Content-Type": "application/json" };
  const r = await fetch("/api/v1/auth/login", { method: "POST", headers, body });
  if (!r.ok) throw new Error(await r.text());
}"""


def test_a_session_that_ends_mid_treatment_asks_for_the_password_over_the_page_and_loses_nothing(
    browser: Browser, live_server: LiveServer, page_problems: PageProblems
) -> None:
    mine = ConsoleAccount.create(live_server, "Long Day")  # of its own: its sessions are ended
    patient = mine.patient("Paula Pausa")
    context, page = open_console(browser, live_server, mine, page_problems)
    try:
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        region(page, "upper-trapezius", "left").click()
        region(page, "levator-scapulae", "right").click()
        expect(program_ready(page).locator(".item").first).to_be_visible()

        end_sessions(live_server, mine.email)
        page.get_by_role("button", name="Assign and hand over").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Your session has ended")
        expect(page.locator(".view-treat [role=alert]")).to_contain_text("Sign in again, then repeat it")
        expect(dialog.get_by_label("Email")).to_have_value(mine.email)
        password = dialog.get_by_label("Password")
        expect(password).to_be_focused()
        check_a11y(page, "sign in again")
        password.press("Escape")  # not a way out that loses the page
        expect(dialog).to_be_visible()
        password.fill("not my password")
        password.press("Enter")
        expect(dialog.get_by_role("alert")).to_have_text("Wrong email or password.")
        password.fill(PASSWORD)
        password.press("Enter")
        expect(page.locator("dialog")).to_have_count(0)
        expect(page.get_by_role("button", name="Assign and hand over")).to_be_focused()  # where it was
        # The page is as it was: the same muscles, the same program; the step is repeated and works.
        for muscle, side in (("upper-trapezius", "left"), ("levator-scapulae", "right")):
            expect(region(page, muscle, side)).to_have_attribute("aria-checked", "true")
        page.get_by_role("button", name="Assign and hand over").click()
        wait_view(page, "handover")
        api = signed_in(live_server.url, mine.email, PASSWORD)
        plan = api.get(f"/api/v1/patients/{patient['id']}/plan").json()
        api.close()
        assert sorted((t["muscle"], t["side"]) for t in plan["program"]["treated"]) == [
            ("levator-scapulae", "right"),
            ("upper-trapezius", "left"),
        ]

        # A screen that could not load for the ended session loads once signed in again.
        end_sessions(live_server, mine.email)
        page.evaluate("() => { location.hash = '#/'; }")
        page.get_by_role("dialog").get_by_label("Password").fill(PASSWORD)
        page.get_by_role("dialog").get_by_label("Password").press("Enter")
        wait_view(page, "patients")
        expect(page.get_by_role("link", name="Paula Pausa", exact=True)).to_be_visible()

        # Another tab signs out and in again: the cookie is a new session's, this tab still holds the
        # old session's token; a change still goes through, with no question and nothing lost.
        page.evaluate(OTHER_TAB_SIGNS_OUT_AND_IN, {"email": mine.email, "password": PASSWORD})
        page.get_by_label("Name").fill("Otto Other")
        # Enter again while the new patient's screen is still loading adds no second patient.
        held: list[Route] = []
        loading = re.compile(r".*/api/v1/patients/\d+$")
        page.route(loading, lambda route: held.append(route))
        with page.expect_request(loading):
            page.get_by_label("Name").press("Enter")
        page.get_by_label("Name").press("Enter")
        expect(page.get_by_role("button", name="Add and record treatment")).to_be_disabled()
        for route in held:
            route.continue_()
        page.unroute(loading)
        wait_view(page, "treat")
        names = page.evaluate("() => fetch('/api/v1/patients').then((r) => r.json())")
        assert [p["display_name"] for p in names].count("Otto Other") == 1
        expect(page.get_by_role("heading", level=1)).to_contain_text("Otto Other")
        goto_view(page, "#/", "patients")

        # Or the therapist leaves: the dialog's Sign out goes to the sign-in screen. (Exporting the
        # records asks to sign in again too: a plain link saved nothing, without a word.)
        page.get_by_role("link", name="Paula Pausa", exact=True).click()
        wait_view(page, "patient")
        end_sessions(live_server, mine.email)
        page.locator("#export-csv").click()
        expect(page.get_by_role("dialog")).to_contain_text("Your session has ended")
        page.get_by_role("dialog").get_by_role("button", name="Sign out").click()
        wait_view(page, "signin")
        expect(page.locator("dialog")).to_have_count(0)
    finally:
        context.close()
        mine.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)


# Stay on this screen, then the help key, with nothing in between but what the click itself set in motion
# (its promise callbacks): as a key pressed before the next frame is handled.
STAY_THEN_HELP_KEY = """async () => {
  document.activeElement.click();
  for (let i = 0; i < 10; i += 1) await null;
  document.activeElement.dispatchEvent(new KeyboardEvent("keydown", { key: "?", bubbles: true, cancelable: true }));
}"""


def test_unsaved_changes_are_not_thrown_away_by_a_link_a_shortcut_or_the_browsers_back(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Ulla Unsaved", treated=TREATED)
    plan_hash = f"#/patients/{patient['id']}/plan"
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}", "patient")
        goto_view(page, plan_hash, "plan")
        first = page.locator("#program-editor .item").first
        first.locator("button.slot[aria-pressed='false']").first.click()
        expect(page.locator(".actionbar-summary")).to_contain_text("1 change not saved yet")

        dialog = page.get_by_role("dialog", name="Leave without saving?")
        stay = dialog.get_by_role("button", name="Stay on this screen")
        leaving = (
            lambda: page.get_by_role("link", name="← Ulla Unsaved").click(),
            lambda: page.keyboard.press("?"),  # the global help shortcut
            page.go_back,
        )
        for leave in leaving:
            leave()
            expect(dialog).to_be_visible()
            expect(stay).to_be_focused()  # the safe answer first
            check_a11y(page, "leave without saving")
            stay.click()
            expect(dialog).to_have_count(0)
            # After Back the router moves the browser back to this entry (history.go, which lands a moment later).
            page.wait_for_function("h => location.hash === h", arg=plan_hash)
            assert page.evaluate("() => document.body.dataset.view") == "plan"
            expect(page.locator(".actionbar-summary")).to_contain_text("1 change not saved yet")

        # A shortcut pressed straight after Stay, before the browser draws its next frame (Chromium fires the
        # dialog's "close" event only then), is a new request and asks again: it is not taken for a move asked
        # for while the question was still open, and dropped with that question's Stay.
        page.keyboard.press("?")
        expect(stay).to_be_focused()
        page.evaluate(STAY_THEN_HELP_KEY)
        expect(dialog).to_be_visible()
        stay.click()
        expect(dialog).to_have_count(0)

        # Escape is "stay" too; focus goes back where it was.
        focused = first.locator("button.slot[aria-pressed='true']").last
        focused.focus()
        page.keyboard.press("?")
        expect(dialog).to_be_visible()
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        expect(focused).to_be_focused()

        # Closing or reloading the tab asks the browser's way.
        asked: list[str] = []
        page.once("dialog", lambda d: (asked.append(d.type), d.dismiss()))
        page.evaluate("() => { location.reload(); }")
        page.wait_for_timeout(500)
        assert asked == ["beforeunload"]
        expect(page.locator(".actionbar-summary")).to_contain_text("1 change not saved yet")

        # Leaving on purpose leaves, and the plan is as it was.
        page.get_by_role("link", name="← Ulla Unsaved").click()
        dialog.get_by_role("button", name="Leave without saving").click()
        wait_view(page, "patient")
        assert account.active_plan(patient["id"])["version"] == 1

        # A half-recorded treatment: one muscle picked, then Back.
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        region(page, "upper-trapezius", "left").click()
        page.go_back()
        expect(dialog).to_be_visible()
        stay.click()
        expect(dialog).to_have_count(0)  # closed before the next key (shortcuts wait while a dialog is open)
        assert page.evaluate("() => document.body.dataset.view") == "treat"
        expect(region(page, "upper-trapezius", "left")).to_have_attribute("aria-checked", "true")
        # Focus is back on the region the therapist picked, and the help shortcut works from there.
        expect(region(page, "upper-trapezius", "left")).to_be_focused()
        page.keyboard.press("?")
        dialog.get_by_role("button", name="Leave without saving").click()
        wait_view(page, "help")
        # Nothing unsaved: no question.
        page.go_back()
        wait_view(page, "treat")
        goto_view(page, "#/help", "help")


def test_staying_after_the_browsers_back_or_forward_leaves_the_history_as_it_was(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Hanna History", treated=TREATED)
    patient_hash = f"#/patients/{patient['id']}"
    plan_hash = f"{patient_hash}/plan"
    with console_session(browser, live_server, account, page_problems) as (_, page):
        dialog = page.get_by_role("dialog", name="Leave without saving?")

        def history() -> tuple[int, str]:
            return page.evaluate("() => [history.length, location.hash]")

        def change_a_slot() -> None:
            page.locator("#program-editor .item").first.locator("button.slot[aria-pressed='false']").first.click()
            expect(page.locator(".actionbar-summary")).to_contain_text("1 change not saved yet")

        def stay_after(move: Callable[[], object]) -> None:
            before = history()
            move()
            expect(dialog).to_be_visible()
            dialog.get_by_role("button", name="Stay on this screen").click()
            expect(dialog).to_have_count(0)
            page.wait_for_function("h => location.hash === h", arg=plan_hash)
            assert history() == before
            assert page.evaluate("() => document.body.dataset.view") == "plan"
            expect(page.locator(".actionbar-summary")).to_contain_text("1 change not saved yet")

        goto_view(page, "#/", "patients")
        goto_view(page, patient_hash, "patient")
        goto_view(page, plan_hash, "plan")
        change_a_slot()
        # Asked twice over: a Stay that shifted the history would show by the second time at the latest.
        stay_after(page.go_back)
        stay_after(page.go_back)
        # Back, then Leave, goes where Back goes: the patient's page, then the list before it.
        page.go_back()
        dialog.get_by_role("button", name="Leave without saving").click()
        wait_view(page, "patient")
        assert page.evaluate("() => location.hash") == patient_hash
        page.go_back()
        wait_view(page, "patients")
        assert page.evaluate("() => location.hash") == "#/"

        # Forward the same way: Stay keeps this entry and the one ahead; Leave goes ahead.
        page.go_forward()
        wait_view(page, "patient")
        page.go_forward()
        wait_view(page, "plan")
        goto_view(page, "#/help", "help")
        page.go_back()
        wait_view(page, "plan")
        change_a_slot()
        stay_after(page.go_forward)
        page.go_forward()
        dialog.get_by_role("button", name="Leave without saving").click()
        wait_view(page, "help")
        page.go_back()
        wait_view(page, "plan")
        page.go_back()
        wait_view(page, "patient")


def test_leave_makes_one_move_when_back_is_pressed_while_a_links_question_is_open(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Lina Link", treated=TREATED)
    plan_hash = f"#/patients/{patient['id']}/plan"
    with console_session(browser, live_server, account, page_problems) as (_, page):
        dialog = page.get_by_role("dialog", name="Leave without saving?")
        goto_view(page, "#/", "patients")
        goto_view(page, "#/help", "help")
        goto_view(page, plan_hash, "plan")
        page.locator("#program-editor .item").first.locator("button.slot[aria-pressed='false']").first.click()
        expect(page.locator(".actionbar-summary")).to_contain_text("1 change not saved yet")
        length = page.evaluate("() => history.length")

        # The link back to the patient asks; while it asks, the browser's Back asks the same question.
        page.get_by_role("link", name="← Lina Link").click()
        expect(dialog).to_be_visible()
        page.go_back()
        expect(dialog).to_have_count(1)
        dialog.get_by_role("button", name="Leave without saving").click()
        # Leave goes where the last request was going (Back: help), once: no entry is added.
        wait_view(page, "help")
        page.wait_for_timeout(500)
        assert page.evaluate("() => [history.length, location.hash]") == [length, "#/help"]
        assert page.evaluate("() => document.body.dataset.view") == "help"
        page.go_forward()
        wait_view(page, "plan")
        page.go_back()
        wait_view(page, "help")
        page.go_back()
        wait_view(page, "patients")


def test_the_same_exercise_twice_in_a_phase_edits_and_removes_the_row_it_is_done_on(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Dora Doble", treated=TREATED)
    plan = patient["plan"]
    items = plan["program"]["items"]
    at = next(i for i, item in enumerate(items) if item["phase"] == "mobility")
    twice = items[at]
    items = [*items[: at + 1], dict(twice), *items[at + 1 :]]
    body = {"plan_id": plan["id"], "version": 1, "items": items}
    account.ok(account.api.put(f"/api/v1/patients/{patient['id']}/plan", json=body))

    def saved_sets() -> list[int]:
        program = account.active_plan(patient["id"])["program"]
        same = ("exercise_id", "phase", "from_day")
        return [i["dosage"]["sets"] for i in program["items"] if all(i[k] == twice[k] for k in same)]

    sets = twice["dosage"]["sets"]
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/plan", "plan")
        rows = page.locator(
            f"#program-editor details[data-phase='mobility'] .item[data-exercise='{twice['exercise_id']}']"
        )
        expect(rows).to_have_count(2)
        keys = [rows.nth(i).get_attribute("data-key") for i in range(2)]
        assert len(set(keys)) == 2, keys

        second = rows.nth(1)
        second.locator("button[data-action=edit]").click()
        expect(second.locator("fieldset.item-edit")).to_be_visible()
        expect(rows.nth(0).locator("fieldset.item-edit")).to_be_hidden()
        second.locator("input[data-field=sets]").fill(str(sets + 2))
        expect(rows.nth(0).locator(".item-dose")).not_to_have_text(second.locator(".item-dose").inner_text())
        page.locator("#save-plan").click()
        wait_view(page, "patient")
        assert saved_sets() == [sets, sets + 2]

        goto_view(page, f"#/patients/{patient['id']}/plan", "plan")
        expect(rows).to_have_count(2)
        rows.nth(0).locator("button[data-action=remove]").click()
        expect(rows).to_have_count(1)
        page.locator("#save-plan").click()
        wait_view(page, "patient")
        assert saved_sets() == [sets + 2]


def test_refusals_name_the_field_as_the_form_labels_it_and_focus_the_message(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Rita Rechazo", treated=TREATED)
    with console_session(browser, live_server, account, page_problems) as (_, page):
        # A date the server refuses: the date field is marked, says why in its own words, gets focus.
        goto_view(page, f"#/patients/{patient['id']}/treat", "treat")
        region(page, "upper-trapezius", "left").click()
        program_ready(page)
        date = page.get_by_label("Treated on")
        date.fill("2001-01-01")
        date.dispatch_event("change")
        expect(page.locator("#program-editor")).to_have_attribute("data-state", "error")
        page.get_by_role("button", name="Assign and hand over").click()
        expect(date).to_be_focused()
        expect(date).to_have_attribute("aria-invalid", "true")
        note = page.locator(".field-error")
        expect(note).to_contain_text("Treated on: must be between")
        assert note.get_attribute("id") in (date.get_attribute("aria-describedby") or "").split()
        expect(page.locator(".view-treat")).not_to_contain_text("treated_on")
        check_a11y(page, "a refused date")
        date.fill(local_today().isoformat())
        date.dispatch_event("change")
        expect(date).not_to_have_attribute("aria-invalid", "true")
        expect(note).to_have_count(0)
        program_ready(page)

        # Archived meanwhile (another tab): a plain sentence, in focus.
        account.ok(account.api.patch(f"/api/v1/patients/{patient['id']}", json={"archived": True}))
        page.get_by_role("button", name="Assign and hand over").click()
        problem = page.locator(".view-treat > [role=alert]")
        expect(problem).to_be_focused()
        expect(problem).to_have_text(
            "This patient is archived, so nothing was changed. Restore them on their page first."
        )
        account.ok(account.api.patch(f"/api/v1/patients/{patient['id']}", json={"archived": False}))
        page.evaluate("() => { location.hash = '#/'; }")
        page.get_by_role("dialog").get_by_role("button", name="Leave without saving").click()
        wait_view(page, "patients")

        # A save refused with a 409: focus goes to the message, not to <body>.
        goto_view(page, f"#/patients/{patient['id']}/plan", "plan")
        # A newer treatment is assigned in another tab.
        body = {"treated": [{"muscle": "gastrocnemius", "side": "right"}], "treated_on": local_today().isoformat()}
        account.ok(account.api.post(f"/api/v1/patients/{patient['id']}/plans", json=body))
        page.locator("#program-editor .item").first.locator("button.slot[aria-pressed='false']").first.click()
        page.locator("#save-plan").click()
        problem = page.locator(".view-plan > [role=alert]")
        expect(problem).to_be_focused()
        expect(problem).to_contain_text("A newer treatment's plan replaced this plan")
        assert account.active_plan(patient["id"])["program"]["treated"] == [body["treated"][0]]


def test_an_archived_patients_hand_over_offers_no_code_and_says_why(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Aurelio Archivado", treated=TREATED)
    account.ok(account.api.patch(f"/api/v1/patients/{patient['id']}", json={"archived": True}))
    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{patient['id']}/handover", "handover")
        expect(page.locator(".qr-card")).to_contain_text("This patient is archived, so no code can be made")
        expect(page.get_by_role("button", name=re.compile("code", re.I))).to_have_count(0)
        expect(page.get_by_role("button", name="Print plan")).to_be_enabled()
        check_a11y(page, "archived hand-over")


def test_adding_a_second_patient_of_the_same_name_is_asked_first_and_the_two_rows_are_told_apart(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    account.patient("Gemma Gemela")
    gone = account.patient("Gemma Gemela")
    account.ok(account.api.patch(f"/api/v1/patients/{gone['id']}", json={"archived": True}))

    def named() -> list[dict[str, object]]:
        every = account.ok(account.api.get("/api/v1/patients")) + account.ok(
            account.api.get("/api/v1/patients", params={"archived": "true"})
        )
        return [p for p in every if p["display_name"].casefold() == "gemma gemela"]

    with console_session(browser, live_server, account, page_problems) as (_, page):
        name = page.get_by_label("Name", exact=True)
        name.fill("gemma gemela")
        name.press("Enter")
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_role("heading")).to_have_text("You already have a patient named gemma gemela")
        # Both were added today, as the browser's clock counts the day.
        when = page.evaluate("() => new Intl.DateTimeFormat('en', {dateStyle: 'long'}).format(new Date())")
        expect(dialog).to_contain_text(f"You have one added {when} and an archived one (added {when}).")
        expect(dialog).to_contain_text("restore an archived patient first")
        dialog.get_by_role("button", name="Go back").click()
        expect(name).to_be_focused()
        assert len(named()) == 2

        name.press("Enter")
        page.get_by_role("dialog").get_by_role("button", name="Add another patient").click()
        wait_view(page, "treat")
        assert len(named()) == 3
        goto_view(page, "#/", "patients")
        rows = page.locator("#patient-table tbody th", has_text="Gemma Gemela")
        expect(rows).to_have_count(2)
        expect(rows.locator(".namesake")).to_have_text([f"added {when}"] * 2)
        # A name used once carries no date.
        account.patient("Ulla Unica")
        page.reload()
        wait_view(page, "patients")
        expect(page.locator("#patient-table tbody th", has_text="Ulla Unica").locator(".namesake")).to_have_count(0)
