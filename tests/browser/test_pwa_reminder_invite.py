"""Reminders a patient does not have to find: Today's invitation to set them, a re-joined phone
(whose reminders the removal turned off), and the notification's status-bar badge. Real Chromium
against the real server; a subscription goes through the local push service (tests/pushservice.py).

Found walking push reminders: the only way to them was More > Set reminders, and a phone the clinic
removed and the patient joined again had them off without a word.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.badge import BADGE, SIZE, draw, read_png
from tests.browser.conftest import (
    TIMEZONE,
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
from tests.browser.shell import shell_urls
from tests.browser.test_pwa_push import (
    app_worker,
    open_reminders,
    push,
    subscriptions_in_db,
    wait_until,
    watch_registrations,
)
from tests.browser.test_pwa_push_walk import subscribed
from tests.browser.test_pwa_quality import check_layout
from tests.pushservice import PushService

pytestmark = pytest.mark.browser

MADRID = zoneinfo.ZoneInfo(TIMEZONE)

WORDS = {
    "en-US": {
        "locale": "en",
        "title": "Reminders on this phone",
        "text": "Get a reminder on this phone when it is time for your exercises.",
        "open": "Set reminders",
        "later": "Not now",
        "closed": "You can set reminders at any time under More.",
        "today": "Today",
    },
    "es-ES": {
        "locale": "es",
        "title": "Recordatorios en este teléfono",
        "text": "Reciba un aviso en este teléfono cuando toque hacer los ejercicios.",
        "open": "Configurar recordatorios",
        "later": "Ahora no",
        "closed": "Puede configurar los recordatorios cuando quiera en «Más».",
        "today": "Hoy",
    },
}

# The last control of the screen that can take focus (the invitation gone: what came before it).
LAST_CONTROL = """() => {
  const all = [...document.querySelectorAll("main a[href], main button:not([disabled]), main summary")]
    .filter((el) => el.getClientRects().length);
  return all[all.length - 1] === document.activeElement;
}"""


def checked(page: Page, state: str) -> None:
    """Wait until the app has found whether reminders are on for this phone (body[data-push])."""
    expect(page.locator("body")).to_have_attribute("data-push", state, timeout=15_000)


def go_today(page: Page, words: dict[str, str]) -> None:
    page.locator("#nav").get_by_role("link", name=words["today"]).click()
    wait_for_screen(page, "today")


@pytest.mark.parametrize("locale", ["en-US", "es-ES"])
def test_today_invites_a_patient_to_set_reminders_and_not_now_is_kept_on_the_phone(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems, locale: str
) -> None:
    words = WORDS[locale]
    context = new_context(browser, live_server, locale=locale, viewport={"width": 320, "height": 640})
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        patient = clinic.patient(name="Noa", locale=words["locale"])
        join_in_browser(page, clinic.invite(patient))
        # Never asked for notifications, no subscription: reminders are off here.
        checked(page, "off")
        card = page.get_by_role("complementary", name=words["title"])
        expect(card).to_be_visible()
        expect(card).to_contain_text(words["text"])
        # After the routine: nothing the patient came for moves down.
        assert page.evaluate("document.querySelector('main .screen').lastElementChild.matches('.reminder-invite')")
        assert page.locator("section.slot").count() > 0
        # Measured in the page at once: Today may be drawn again meanwhile (a log read), and a
        # card measured as it is replaced has no box.
        box = card.evaluate("el => { const r = el.getBoundingClientRect(); return { x: r.x, width: r.width }; }")
        assert box["x"] >= 0, box
        assert box["x"] + box["width"] <= 320, box
        check_layout(page, f"today with the invitation ({locale})")
        check_a11y(page, f"today with the invitation ({locale})")
        card.scroll_into_view_if_needed()
        screenshot(page, f"today-reminder-invite-{locale}")

        # On today only: another day of the plan does not invite.
        page.evaluate("d => { location.hash = '#/day/' + d; }", (local_today() + dt.timedelta(days=1)).isoformat())
        wait_for_screen(page, "day")
        expect(page.locator(".reminder-invite")).to_have_count(0)
        go_today(page, words)

        # "Set reminders" goes to the Reminders screen, which says they are off here.
        card.get_by_role("link", name=words["open"]).click()
        wait_for_screen(page, "reminders")
        expect(page.locator(".push-status")).to_have_attribute("data-push-state", "off")
        # Looking is not saying no: the invitation is still there.
        go_today(page, words)
        expect(card).to_be_visible()

        # "Not now": gone, focus stays where the patient was (on what came before the card), and
        # the live region says where reminders are.
        card.get_by_role("button", name=words["later"]).click()
        expect(page.locator(".reminder-invite")).to_have_count(0)
        assert page.evaluate(LAST_CONTROL), page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
        expect(page.locator("#toast")).to_contain_text(words["closed"])
        # Kept on this phone.
        page.reload()
        wait_for_screen(page, "today")
        checked(page, "off")
        expect(page.locator(".reminder-invite")).to_have_count(0)
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors


def test_not_now_hides_the_invitation_for_a_week_then_it_asks_once_more_and_a_second_not_now_is_for_good(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems
) -> None:
    """A "Not now" on a sore first evening was kept for good: the patient was never asked again."""
    words = WORDS["en-US"]
    context = new_context(browser, live_server)
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        start = dt.datetime.now(MADRID)
        page.clock.install(time=start)
        join_in_browser(page, clinic.invite(clinic.patient(name="Week")))
        checked(page, "off")
        card = page.get_by_role("complementary", name=words["title"])

        def days_on(days: float) -> None:
            page.clock.set_system_time(start + dt.timedelta(days=days))
            page.reload()
            wait_for_screen(page, "today")
            checked(page, "off")

        card.get_by_role("button", name=words["later"]).click()
        expect(page.locator(".reminder-invite")).to_have_count(0)
        expect(page.locator("#toast")).to_contain_text(words["closed"])
        # Not for the next week, by the phone's clock...
        days_on(6.9)
        expect(page.locator(".reminder-invite")).to_have_count(0)
        # ...then once more.
        days_on(7.1)
        expect(card).to_be_visible()
        card.get_by_role("button", name=words["later"]).click()
        expect(page.locator(".reminder-invite")).to_have_count(0)
        expect(page.locator("#toast")).to_contain_text(words["closed"])
        # The second "Not now" is for good (the program is still on: 5 weeks after the visit).
        days_on(15)
        expect(page.locator(".reminder-invite")).to_have_count(0)
        days_on(35)
        expect(page.locator("main")).not_to_contain_text("Your program is complete.")
        expect(page.locator(".reminder-invite")).to_have_count(0)
        # The More screen still offers them.
        page.locator("#nav").get_by_role("link", name="More").click()
        wait_for_screen(page, "more")
        expect(page.locator("main a[href='#/reminders']")).to_be_visible()
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors


def test_no_invitation_where_reminders_cannot_work_or_the_program_is_over_until_they_can(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems
) -> None:
    words = WORDS["en-US"]
    # An empty grant list makes Chromium answer "denied": notifications are blocked for the site.
    context = new_context(browser, live_server, permissions=[])
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        patient = clinic.patient(name="Berta")
        join_in_browser(page, clinic.invite(patient))
        checked(page, "blocked")
        expect(page.locator(".reminder-invite")).to_have_count(0)
        # Allowed in the browser's settings later: now reminders can come, and Today says so.
        context.grant_permissions(["notifications"], origin=live_server.url)
        page.reload()
        wait_for_screen(page, "today")
        checked(page, "off")
        expect(page.get_by_role("complementary", name=words["title"])).to_be_visible()

        # Someone whose program is complete gets no more reminders: no invitation...
        over = clinic.patient(name="Olga", treated_on=local_today() - dt.timedelta(days=90))
        page.goto(clinic.invite(over)["link"])
        wait_for_screen(page, "today")
        expect(page.locator("main")).to_contain_text("Your program is complete.")
        checked(page, "off")
        expect(page.locator(".reminder-invite")).to_have_count(0)
        # ...until the clinic gives a new one.
        r = clinic.http.post(
            f"/api/v1/patients/{over.id}/plans",
            json={"treated": [{"muscle": "upper-trapezius", "side": "left"}], "treated_on": local_today().isoformat()},
        )
        assert r.is_success, r.text
        page.reload()
        wait_for_screen(page, "today")
        expect(page.locator("main")).to_contain_text("Day 1:")
        expect(page.get_by_role("complementary", name=words["title"])).to_be_visible()
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors


def test_a_phone_joined_again_after_the_clinic_removed_it_is_invited_to_turn_reminders_back_on(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems, service: PushService
) -> None:
    """The removal turns push off on the phone (and the server drops its subscription); joined
    again with a new code, reminders stayed off and nothing said so."""
    words = WORDS["en-US"]
    key = httpx.get(f"{live_server.url}/api/v1/push/public-key").json()["public_key"]
    again = service.subscribe("Julia again", application_server_key=key)
    with subscribed(browser, live_server, clinic, page_problems, service, "Julia", again) as (page, _, patient):
        status = page.locator(".push-status")
        go_today(page, words)
        checked(page, "on")
        # Reminders on: nothing to invite to.
        expect(page.locator(".reminder-invite")).to_have_count(0)

        # Turned off on purpose: Today does not ask to turn them back on.
        open_reminders(page)
        status.get_by_role("button", name="Turn off reminders on this phone").click()
        expect(status).to_have_attribute("data-push-state", "off")
        go_today(page, words)
        expect(page.locator(".reminder-invite")).to_have_count(0)
        # And on again.
        open_reminders(page)
        page.get_by_role("button", name="Remind me at these times").click()
        expect(status).to_have_attribute("data-push-state", "on")
        assert set(subscriptions_in_db(live_server, patient.id)) == {again.endpoint}

        clinic.revoke_all_devices(patient)
        assert subscriptions_in_db(live_server, patient.id) == {}
        # The patient opens the app: the clinic removed this phone, and push goes off on it.
        page.reload()
        wait_for_screen(page, "join")
        expect(page.locator("main h1")).to_have_text("This phone was disconnected")
        wait_until(lambda: page.evaluate("window.unsubscribed") is True, "push not turned off", page)

        # A new code from the clinic. The answer to the invitation went with the rest of the
        # patient's data: reminders are off on this phone now, and Today says so.
        page.get_by_label("Your code").fill(clinic.invite(patient)["code"])
        page.get_by_role("button", name="Start").click()
        wait_for_screen(page, "today")
        checked(page, "off")
        card = page.get_by_role("complementary", name=words["title"])
        expect(card).to_be_visible()

        # The Reminders screen agrees: off, with the way to turn them on.
        card.get_by_role("link", name=words["open"]).click()
        wait_for_screen(page, "reminders")
        expect(status).to_have_attribute("data-push-state", "off")
        expect(status).to_contain_text("Reminders are off on this phone.")
        expect(status).not_to_contain_text("Reminders are on")
        expect(page.get_by_role("button", name="Remind me at these times")).to_be_visible()
        expect(status.get_by_role("button", name="Send me a test reminder")).to_be_hidden()
        assert subscriptions_in_db(live_server, patient.id) == {}


GET_BADGES = """async () => {
  const reg = await navigator.serviceWorker.getRegistration("/");
  return (await reg.getNotifications()).map((n) => ({ title: n.title, icon: n.icon, badge: n.badge }));
}"""


def test_a_reminder_notification_has_the_apps_monochrome_badge_for_the_status_bar(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems, service: PushService
) -> None:
    """Without a badge, Android shows the browser's own icon in the status bar."""
    with subscribed(browser, live_server, clinic, page_problems, service, "Marta") as (page, sub, _):
        context = page.context
        cdp, registrations = watch_registrations(context, page, live_server)
        worker = app_worker(context, live_server)
        # What the server sends through the push service, delivered to the worker as the browser would.
        status = page.locator(".push-status")
        status.get_by_role("button", name="Send me a test reminder").click()
        expect(status.locator("[role=status]")).to_have_text(
            "A test reminder is on its way to this phone. It should appear in a few seconds."
        )
        [message] = service.messages(sub)
        wait_until(lambda: bool(registrations), "no service worker registration", page)
        push(cdp, worker, live_server, registrations[-1], json.dumps(message))
        [shown] = page.evaluate(GET_BADGES)
        assert shown["title"] == message["title"]
        assert shown["badge"] == f"{live_server.url}/icons/badge-96.png"
        assert shown["icon"] == f"{live_server.url}/icons/icon-192.png"

    # Served, as a PNG: white only, its shape in the alpha channel, on a transparent square.
    r = httpx.get(f"{live_server.url}/icons/badge-96.png")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.content == BADGE.read_bytes()
    width, height, rows = read_png(r.content)
    assert (width, height) == (SIZE, SIZE)
    assert rows == draw(), "badge-96.png is not what tests/browser/badge.py draws: run it with --write"
    pixels = [row[i : i + 4] for row in rows for i in range(0, len(row), 4)]
    assert {bytes(p[:3]) for p in pixels} == {b"\xff\xff\xff"}
    alpha = [p[3] for p in pixels]
    assert alpha[0] == alpha[SIZE - 1] == alpha[-SIZE] == alpha[-1] == 0
    assert 0.2 < sum(a == 255 for a in alpha) / len(alpha) < 0.6
    # Like the notification's icon, fetched when a notification shows (online: a push just came),
    # so neither is precached with the app shell.
    urls = shell_urls()
    assert ("/icons/badge-96.png" in urls) == ("/icons/icon-192.png" in urls)
