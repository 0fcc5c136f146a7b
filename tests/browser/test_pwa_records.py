"""What the patient logs is what the clinic gets: a changed pain answer, double taps, an app closed
right after an exercise, taking back a record on its way, records the server refuses, midnight,
an outdated plan in the other language, a timer stopped by a locked screen, open sections."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.browser.conftest import (
    TIMEZONE,
    Clinic,
    LiveServer,
    Patient,
    join_in_browser,
    local_today,
    stored_records,
    wait_for_screen,
    wait_outbox,
)
from tests.browser.test_pwa_flow import short_hold_items

pytestmark = pytest.mark.browser

MARK_DONE = re.compile(r"^(I did it without the timer|Mark as done)$")


def completions(page: Page) -> list[dict]:
    return [r for r in stored_records(page) if r["type"] == "completion"]


def server_rows(server: LiveServer, table: str, patient_id: int) -> list[dict]:
    return [dict(r) for r in server.rows(f"SELECT * FROM {table} WHERE patient_id = ?", (patient_id,))]


def wait_rows(page: Page, server: LiveServer, table: str, patient_id: int, n: int, timeout_ms: int = 10_000) -> list:
    for _ in range(timeout_ms // 100):
        rows = server_rows(server, table, patient_id)
        if len(rows) >= n:
            return rows
        page.wait_for_timeout(100)
    return server_rows(server, table, patient_id)


def open_exercise(page: Page, n: int = 0) -> None:
    page.locator("a.entry-main").nth(n).click()
    wait_for_screen(page, "ex")


def mark_first_done(page: Page, clinic: Clinic, name: str) -> tuple[Patient, Locator, dict]:
    """A new patient, joined on ``page``, marks today's first exercise done; returns the patient,
    the done panel (with its pain question) and the record, held on the phone for that question."""
    patient = clinic.patient(name=name)
    join_in_browser(page, clinic.invite(patient))
    open_exercise(page, 0)
    page.get_by_role("button", name=MARK_DONE).click()
    done = page.locator(".done-panel")
    expect(done).to_be_visible()
    page.wait_for_timeout(300)
    [record] = completions(page)
    return patient, done, record


def test_the_last_pain_answer_is_the_one_the_clinic_gets(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Irene")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))

    # Offline, a change of mind: 2, then 7. The phone keeps 7 and says nothing about "already sent".
    open_exercise(page, 0)
    context.set_offline(True)
    page.get_by_role("button", name=MARK_DONE).click()
    done = page.locator(".done-panel")
    done.get_by_role("radio", name="2", exact=True).check()
    done.get_by_role("radio", name="7", exact=True).check()
    expect(done.locator(".pain-advice")).to_contain_text("too much")
    page.wait_for_timeout(300)
    assert [r["body"]["pain"] for r in completions(page)] == [7]
    expect(page.locator("#toast")).to_have_text("")
    expect(done.locator(".pain-note")).to_have_text("")
    # Leaving the screen settles the answer; back online it goes out as 7.
    context.set_offline(False)
    done.get_by_role("link", name="Back to today").click()
    wait_for_screen(page, "today")
    wait_outbox(page, 0)
    assert [r["pain"] for r in server_rows(live_server, "completion", patient.id)] == [7]

    # The keyboard: arrowing through the numbers stores only where the patient stops.
    open_exercise(page, 1)
    page.get_by_role("button", name=MARK_DONE).click()
    page.locator("input[name=pain]").first.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(page.locator("input[name=pain]:checked")).to_have_value("5")
    page.wait_for_timeout(300)
    assert sorted(r["body"].get("pain") for r in completions(page)) == [5, 7]
    wait_outbox(page, 1)  # still held: another change may come
    page.clock.run_for(11_000)  # settled: it goes out
    wait_outbox(page, 0)
    assert sorted(r["pain"] for r in server_rows(live_server, "completion", patient.id)) == [5, 7]

    # Once sent, a change cannot follow it: the screen shows what the clinic has, and says why.
    page.keyboard.press("ArrowRight")
    note = done.locator(".pain-note")
    expect(note).to_contain_text("Your clinic already has your answer 5")
    expect(page.locator("input[name=pain]:checked")).to_have_value("5")
    assert sorted(r["pain"] for r in server_rows(live_server, "completion", patient.id)) == [5, 7]


def test_a_double_tap_logs_once(page: Page, clinic: Clinic, live_server: LiveServer) -> None:
    patient = clinic.patient(name="Teo")
    join_in_browser(page, clinic.invite(patient))

    mark = page.locator("button.check").first
    key = mark.get_attribute("data-focus")
    mark.dblclick()
    expect(page.locator(f"button.check[data-focus='{key}']")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#toast")).to_contain_text("Done:")
    page.wait_for_timeout(500)
    assert len(completions(page)) == 1

    page.locator("#nav").get_by_role("link", name="Check-in").click()
    wait_for_screen(page, "checkin")
    page.get_by_role("radio", name="3", exact=True).check()
    page.get_by_role("button", name="Save check-in").dblclick()
    wait_for_screen(page, "today")
    page.wait_for_timeout(500)
    assert len([r for r in stored_records(page) if r["type"] == "checkin"]) == 1

    open_exercise(page, 1)
    page.get_by_role("button", name=MARK_DONE).dblclick()
    expect(page.locator(".done-panel")).to_be_visible()
    page.wait_for_timeout(500)
    assert len(completions(page)) == 2
    page.get_by_role("link", name="Back to today").click()
    wait_outbox(page, 0)
    assert len(server_rows(live_server, "completion", patient.id)) == 2
    assert len(server_rows(live_server, "checkin", patient.id)) == 1


def test_an_exercise_finished_just_before_the_app_is_closed_still_reaches_the_clinic(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient, _, record = mark_first_done(page, clinic, "Uma")
    assert record["state"] == "pending"
    assert record["ready_at"] > 0  # held for the pain question

    # The patient closes the app: no other page of it is open, nobody opens it again.
    watcher = context.new_page()  # only to wait on; not the app
    page.close()
    rows = wait_rows(watcher, live_server, "completion", patient.id, 1)
    assert [(r["id"], r["pain"]) for r in rows] == [(record["id"], None)]


def test_taking_back_a_record_on_its_way_takes_it_back_at_the_clinic_once_it_arrived(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Vera")
    join_in_browser(page, clinic.invite(patient))
    # A slow network: the server stores the batch at once, its answer takes 4 s to come back.
    page.evaluate(
        """() => { const f = window.fetch.bind(window);
          window.fetch = (u, o) => String(u).includes('/patient/sync')
            ? f(u, o).then(r => new Promise(res => setTimeout(() => res(r), 4000))) : f(u, o); }"""
    )
    mark = page.locator("button.check").first
    key = mark.get_attribute("data-focus")
    mark.click()
    wait_rows(page, live_server, "completion", patient.id, 1)
    page.locator(f"button.check[data-focus='{key}']").click()  # "take it back" while the answer is on its way
    # It cannot be deleted (the clinic has it): its take-back follows it, and the mark clears at once.
    expect(page.locator("#toast")).to_contain_text("Your clinic's record is updated once it is sent.", timeout=5_000)
    expect(page.locator(f"button.check[data-focus='{key}']")).to_have_attribute("aria-pressed", "false")
    wait_outbox(page, 0)
    for _ in range(100):
        if completions(page)[0]["body"].get("withdrawn_at"):
            break
        page.wait_for_timeout(100)
    assert [(r["state"], bool(r["body"].get("withdrawn_at"))) for r in completions(page)] == [("sent", True)]
    [row] = server_rows(live_server, "completion", patient.id)
    assert row["withdrawn_at"] is not None
    page.reload()
    wait_for_screen(page, "today")
    expect(page.locator(f"button.check[data-focus='{key}']")).to_have_attribute("aria-pressed", "false")


def test_records_the_server_refuses_are_never_called_saved(page: Page, clinic: Clinic) -> None:
    patient = clinic.patient(name="Wen", treated_on=local_today() - dt.timedelta(days=1))
    # This phone's clock runs two days fast: the server refuses records from the future.
    page.clock.install(time=dt.datetime.now(dt.UTC) + dt.timedelta(days=2, hours=1))
    join_in_browser(page, clinic.invite(patient))
    page.locator("button.check").first.click()
    expect(page.locator("#sync")).to_have_attribute("data-rejected", "1", timeout=15_000)
    expect(page.locator("#sync")).to_have_text("1 not saved")
    expect(page.locator("#toast")).to_contain_text("could not save 1 record")
    page.locator("#sync").click()
    wait_for_screen(page, "more")
    expect(page.locator(".outbox-refused .error")).to_have_text("1 record could not be saved by the clinic's system.")
    expect(page.locator(".outbox-refused")).to_contain_text("date and time on this phone")
    expect(page.locator(".outbox-detail")).to_have_text("Everything else you logged has reached your clinic.")
    expect(page.get_by_text("Everything you logged has reached your clinic.")).to_have_count(0)


def test_today_turns_into_tomorrow_at_midnight_while_open(page: Page, clinic: Clinic) -> None:
    today = local_today()
    patient = clinic.patient(name="Xavi", treated_on=today - dt.timedelta(days=1))
    page.clock.install(time=dt.datetime.combine(today, dt.time(23, 58, 30), zoneinfo.ZoneInfo(TIMEZONE)))
    join_in_browser(page, clinic.invite(patient))
    expect(page.locator(".phase")).to_have_text(re.compile(r"^Day 2:"))
    # Opened from a reminder for today: the screen must still move on with the day.
    page.evaluate(
        "(d) => { location.hash = `#today?slot=${document.querySelector('section.slot h2').id.slice(5)}&date=${d}`; }",
        today.isoformat(),
    )
    expect(page.locator("section.slot.due")).to_have_count(1)
    page.clock.fast_forward("03:00")
    expect(page.locator(".phase")).to_have_text(re.compile(r"^Day 3:"))
    tomorrow = today + dt.timedelta(days=1)
    expect(page.locator(".eyebrow").first).to_contain_text(re.compile(rf"\b{tomorrow.day}\b"))
    expect(page.locator("section.slot.due")).to_have_count(0)
    page.locator("button.check").first.click()
    # Stored (it waits UNDO_MS before it is sent): waiting for 0 here passed only when it came
    # before the record, and otherwise took 8 s.
    wait_outbox(page, 1)
    assert [r["body"]["on_date"] for r in completions(page)] == [tomorrow.isoformat()]


def test_switching_language_offline_keeps_the_current_plan(context: BrowserContext, page: Page, clinic: Clinic) -> None:
    today = local_today()
    patient = clinic.patient(name="Yago", treated_on=today)
    join_in_browser(page, clinic.invite(patient))
    page.locator("#nav").get_by_role("link", name="More").click()
    page.get_by_role("button", name="Español").click()
    expect(page.locator("h1")).to_have_text("Más")
    page.get_by_role("button", name="English").click()
    expect(page.locator("h1")).to_have_text("More")
    # A new plan (needled again 8 days ago), seen online in English only.
    clinic._ok(
        clinic.http.post(
            f"/api/v1/patients/{patient.id}/plans",
            json={
                "treated": [{"muscle": "upper-trapezius", "side": "left"}],
                "treated_on": (today - dt.timedelta(days=8)).isoformat(),
            },
        )
    )
    page.goto("/#/today")
    page.reload()
    wait_for_screen(page, "today")
    expect(page.locator(".phase")).to_have_text(re.compile(r"^Day 9:"))
    context.set_offline(True)
    page.locator("#nav").get_by_role("link", name="More").click()
    page.get_by_role("button", name="Español").click()
    expect(page.locator("h1")).to_have_text("Más")
    page.locator("#nav").get_by_role("link", name="Hoy").click()
    wait_for_screen(page, "today")
    expect(page.locator(".phase")).to_have_text(re.compile(r"^Día 9:"))


def timed_patient(clinic: Clinic, name: str) -> tuple[Patient, dict[str, Any]]:
    """A patient whose plan has a timed item of three 5 s holds; the item is returned too."""
    treated = [{"muscle": "upper-trapezius", "side": "left"}]
    items, timed = short_hold_items(clinic, treated)
    timed["dosage"].update(hold_seconds=5, reps=3)
    return clinic.patient(treated, items=items, name=name), timed


def open_timer(page: Page, clinic: Clinic, patient: Patient, timed: dict[str, Any]) -> Locator:
    """Join on ``page`` and open the timed item's screen; its timer panel."""
    join_in_browser(page, clinic.invite(patient))
    page.locator(f"li.entry[data-exercise='{timed['exercise_id']}'] a.entry-main").first.click()
    wait_for_screen(page, "ex")
    return page.locator("section.timer")


def test_a_timer_stopped_by_a_locked_screen_waits_for_the_patient(page: Page, clinic: Clinic) -> None:
    patient, timed = timed_patient(clinic, "Zoe")
    # A stand-in for the screen wake lock (headless Chromium has none): counts requests, and the
    # browser's release when the app goes to the background.
    page.add_init_script(
        """(() => {
          window.__wake = { requests: 0, sentinel: null };
          Object.defineProperty(navigator, "wakeLock", { configurable: true, value: {
            request: async () => {
              window.__wake.requests += 1;
              const s = new EventTarget();
              s.release = async () => { s.dispatchEvent(new Event("release")); };
              window.__wake.sentinel = s;
              return s;
            } } });
          window.__cues = 0;
          navigator.vibrate = () => { window.__cues += 1; return true; };
        })()"""
    )
    page.clock.install()
    timer = open_timer(page, clinic, patient, timed)
    timer.get_by_role("button", name="Start").click()
    page.clock.run_for(2_000)
    page.wait_for_function("window.__wake.requests === 1")
    cues = page.evaluate("window.__cues")

    # The page stops for five minutes (a locked screen): nothing is replayed, nothing is logged.
    page.clock.fast_forward("05:00")
    page.clock.run_for(400)
    expect(timer).to_have_attribute("data-phase", "hold")
    expect(timer.locator(".timer-phase")).to_contain_text("paused")
    expect(timer.locator("[aria-live]")).to_contain_text("Paused while the app was in the background")
    assert page.evaluate("window.__cues") == cues
    assert completions(page) == []

    # Going on asks for the wake lock again (the browser let go of it in the background).
    page.evaluate("window.__wake.sentinel.release()")
    timer.get_by_role("button", name="Go on").click()
    page.wait_for_function("window.__wake.requests === 2")
    page.clock.run_for(30_000)
    expect(timer).to_have_attribute("data-phase", "done")
    assert [r["body"]["reps_done"] for r in completions(page)] == [3]


def test_stop_asks_before_the_timer_starts_over_and_go_on_keeps_the_time(page: Page, clinic: Clinic) -> None:
    patient, timed = timed_patient(clinic, "Stella")
    page.clock.install()
    timer = open_timer(page, clinic, patient, timed)
    timer.get_by_role("button", name="Start").click()
    page.clock.run_for(2_000)
    left = timer.locator(".timer-count").text_content()

    # A stray tap on Stop pauses the clock and asks; "Go on" carries on from the same second.
    timer.get_by_role("button", name="Stop").click()
    expect(timer.locator(".timer-ask")).to_have_text(
        "Start this exercise over? What you did of it so far is not logged."
    )
    expect(timer.get_by_role("button", name="Go on")).to_be_focused()
    page.clock.run_for(10_000)
    expect(timer).to_have_attribute("data-phase", "hold")
    expect(timer.locator(".timer-count")).to_have_text(left)
    timer.get_by_role("button", name="Go on").click()
    expect(timer.locator(".timer-ask")).to_have_count(0)
    expect(timer.get_by_role("button", name="Pause")).to_be_visible()

    # Asked again and confirmed: back to the start, nothing logged.
    timer.get_by_role("button", name="Stop").click()
    timer.get_by_role("button", name="Start over").click()
    expect(timer).to_have_attribute("data-phase", "ready")
    expect(timer.get_by_role("button", name="Start")).to_be_visible()
    page.clock.run_for(30_000)
    assert completions(page) == []


def test_opened_sections_stay_open_when_the_screen_is_drawn_again(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    patient = clinic.patient(name="Alba")
    join_in_browser(page, clinic.invite(patient))
    card = page.locator("details.aftercare")
    card.locator("summary").click()
    expect(card).to_have_attribute("open", "")
    page.locator("button.check").nth(1).click()
    wait_outbox(page, 0)
    expect(page.locator("li.entry.done")).to_have_count(1)
    expect(page.locator("details.aftercare")).to_have_attribute("open", "")

    page.locator("#nav").get_by_role("link", name="Progress").click()
    wait_for_screen(page, "progress")
    page.locator("details.phase-block:not(.current) summary").nth(1).click()
    expect(page.locator("details.phase-block[open]")).to_have_count(2)
    page.evaluate("() => { const ch = new BroadcastChannel('unknot'); ch.postMessage({type: 'records'}); ch.close(); }")
    context.set_offline(True)
    context.set_offline(False)
    page.wait_for_timeout(1000)
    expect(page.locator("details.phase-block[open]")).to_have_count(2)


# ---- a pain answer after the record left the phone: sent as a repeat that fills in the blank ----------

PAIN_ADDED = "Saved. Your answer will be added to what you already sent to your clinic."


def set_visibility(page: Page, state: str) -> None:
    """The page as hidden (the patient switched to another app, the screen locked) or visible again."""
    page.evaluate(
        """(state) => {
          if (state === "visible") delete document.visibilityState;
          else Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
          document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def hold_outbox_lock(page: Page) -> None:
    """A send holds the outbox lock for a long time (a big batch on a slow network), until
    ``window.__releaseOutbox()``."""
    page.evaluate(
        """() => new Promise((held) => navigator.locks.request("unknot-outbox", () => {
          held();
          return new Promise((resolve) => { window.__releaseOutbox = resolve; });
        }))"""
    )


def test_a_pain_answer_given_after_the_app_was_in_the_background_reaches_the_clinic(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    page.clock.install()
    patient, done, record = mark_first_done(page, clinic, "Bruno")
    # The patient looks at another app for a moment: what waits goes out at once, held or not.
    set_visibility(page, "hidden")
    wait_rows(page, live_server, "completion", patient.id, 1)
    wait_outbox(page, 0)
    set_visibility(page, "visible")
    assert [(r["id"], r["pain"]) for r in server_rows(live_server, "completion", patient.id)] == [(record["id"], None)]

    done.get_by_role("radio", name="7", exact=True).check()
    expect(done.locator(".pain-note")).to_have_text(PAIN_ADDED)
    expect(page.locator("input[name=pain]:checked")).to_have_value("7")
    wait_outbox(page, 1)  # the answer waits a little for a change of mind, as a record's does
    page.clock.run_for(11_000)
    wait_outbox(page, 0)
    rows = server_rows(live_server, "completion", patient.id)
    assert [(r["id"], r["pain"]) for r in rows] == [(record["id"], 7)]
    # The phone keeps one record, as the clinic has it.
    assert [(r["id"], r["state"], r["body"]["pain"]) for r in stored_records(page)] == [(record["id"], "sent", 7)]

    # The clinic keeps the first pain answer it gets: a change now is not sent, and the screen says so.
    # A click, not check(): check() fails when the app puts the answer back before it looks (under load).
    done.get_by_role("radio", name="3", exact=True).click()
    expect(done.locator(".pain-note")).to_contain_text("Your clinic already has your answer 7")
    expect(page.locator("input[name=pain]:checked")).to_have_value("7")
    assert [r["pain"] for r in server_rows(live_server, "completion", patient.id)] == [7]


def test_a_pain_answer_never_waits_for_a_slow_send_of_other_records(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient, done, _ = mark_first_done(page, clinic, "Carla")
    hold_outbox_lock(page)
    done.get_by_role("radio", name="6", exact=True).check()
    page.wait_for_timeout(2_500)  # longer than a change waits for the lock
    expect(done.locator(".pain-note")).to_have_text("")
    expect(page.locator("input[name=pain]:checked")).to_have_value("6")
    assert [r["body"].get("pain") for r in completions(page)] == [6]

    page.evaluate("window.__releaseOutbox()")
    done.get_by_role("link", name="Back to today").click()
    wait_outbox(page, 0)
    assert [r["pain"] for r in server_rows(live_server, "completion", patient.id)] == [6]


def test_a_pain_answer_given_offline_after_the_record_was_sent_survives_a_reload_and_goes_once(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    page.clock.install()
    patient, done, record = mark_first_done(page, clinic, "Dario")
    # Nobody answered for two minutes: the record went without a pain answer.
    page.clock.run_for(125_000)
    wait_outbox(page, 0)
    assert [r["pain"] for r in server_rows(live_server, "completion", patient.id)] == [None]

    context.set_offline(True)
    done.get_by_role("radio", name="5", exact=True).check()
    expect(done.locator(".pain-note")).to_have_text(PAIN_ADDED)
    done.get_by_role("link", name="Back to today").click()
    wait_for_screen(page, "today")
    page.reload()
    wait_for_screen(page, "today")
    wait_outbox(page, 1)
    expect(page.locator("li.entry.done")).to_have_count(1)  # one exercise done, not two
    [fill] = [r for r in stored_records(page) if r["id"] != record["id"]]
    assert (fill["state"], fill["body"]["id"], fill["body"]["pain"]) == ("pending", record["id"], 5)

    sends: list[str] = []
    # The context sees the service worker's requests too (Background Sync), the page only its own.
    context.on(
        "request",
        lambda r: (
            sends.append(r.post_data or "")
            if "/patient/sync" in r.url and record["id"] in (r.post_data or "")
            else None
        ),
    )
    context.set_offline(False)
    wait_outbox(page, 0)
    assert [(r["id"], r["pain"]) for r in server_rows(live_server, "completion", patient.id)] == [(record["id"], 5)]
    page.clock.run_for(60_000)  # nothing left to send: no more requests
    page.wait_for_timeout(500)
    assert len(sends) == 1
    assert [(r["id"], r["state"], r["body"]["pain"]) for r in stored_records(page)] == [(record["id"], "sent", 5)]
    expect(page.locator("li.entry.done")).to_have_count(1)


def test_taking_back_a_record_takes_its_late_pain_answer_back_too(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Elena")
    join_in_browser(page, clinic.invite(patient))
    open_exercise(page, 0)
    context.set_offline(True)
    page.get_by_role("button", name=MARK_DONE).click()
    done = page.locator(".done-panel")
    expect(done).to_be_visible()
    # Away for a moment while offline: the record is let go of but could not be sent.
    set_visibility(page, "hidden")
    page.wait_for_function(
        """() => new Promise((resolve) => {
          const r = indexedDB.open("unknot");
          r.onsuccess = () => {
            const q = r.result.transaction("records").objectStore("records").getAll();
            q.onsuccess = () => { resolve(q.result.length === 1 && q.result[0].ready_at === 0); r.result.close(); };
          };
        })"""
    )
    page.wait_for_timeout(300)
    set_visibility(page, "visible")
    # It may be on its way as far as the phone knows (the lock stays taken past the wait): the
    # answer is kept as a fill-in.
    hold_outbox_lock(page)
    done.get_by_role("radio", name="4", exact=True).check()
    expect(done.locator(".pain-note")).to_have_text(PAIN_ADDED, timeout=5_000)
    page.evaluate("window.__releaseOutbox()")
    wait_outbox(page, 1)  # one exercise waits, its pain answer with it (two records)
    assert len(stored_records(page)) == 2
    done.get_by_role("link", name="Back to today").click()
    wait_for_screen(page, "today")

    # Never sent, so it can be taken back: its pain answer goes with it, nothing reaches the clinic.
    page.locator("li.entry.done button.check").click()
    expect(page.locator("#toast")).to_contain_text("Taken back")
    wait_outbox(page, 0)
    assert stored_records(page) == []
    context.set_offline(False)
    page.wait_for_timeout(2_000)
    assert server_rows(live_server, "completion", patient.id) == []


def test_a_pain_answer_the_clinic_lacks_survives_the_log_coming_back_from_the_server(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    today = local_today()
    patient = clinic.patient(name="Fabio", treated_on=today - dt.timedelta(days=1))
    page.clock.install(time=dt.datetime.combine(today, dt.time(23, 58, 30), zoneinfo.ZoneInfo(TIMEZONE)))
    join_in_browser(page, clinic.invite(patient))
    open_exercise(page, 0)
    page.get_by_role("button", name=MARK_DONE).click()
    page.locator(".done-panel").get_by_role("radio", name="6", exact=True).check()
    page.wait_for_timeout(300)
    [record] = completions(page)
    assert (record["state"], record["body"]["pain"]) == ("pending", 6)
    # Another tab of this phone sent the record from its memory before the answer, and a send of
    # this tab's is slow.
    hold_outbox_lock(page)
    token = page.evaluate("() => unknotCore.get('token')")
    without_pain = {k: v for k, v in record["body"].items() if k != "pain"}
    httpx.post(
        f"{live_server.url}/api/v1/patient/sync",
        json={"completions": [without_pain]},
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()

    # At midnight the app reads the log back from the server: the record is settled as the clinic
    # holds it, and the answer it lacks waits to follow.
    page.clock.fast_forward("02:00")
    page.wait_for_function(
        """() => new Promise((resolve) => {
          const r = indexedDB.open("unknot");
          r.onsuccess = () => {
            const q = r.result.transaction("records").objectStore("records").getAll();
            q.onsuccess = () => { resolve(q.result.some((x) => x.state === "sent")); r.result.close(); };
          };
        })"""
    )
    page.evaluate("window.__releaseOutbox()")
    page.locator("#sync").click()
    wait_outbox(page, 0)
    for _ in range(50):
        if [r["pain"] for r in server_rows(live_server, "completion", patient.id)] != [None]:
            break
        page.wait_for_timeout(100)
    assert [(r["id"], r["pain"]) for r in server_rows(live_server, "completion", patient.id)] == [(record["id"], 6)]
    assert [(r["id"], r["state"], r["body"]["pain"]) for r in stored_records(page)] == [(record["id"], "sent", 6)]


def test_a_changed_plan_arriving_keeps_a_check_in_being_filled_in_and_a_running_timer(
    page: Page, clinic: Clinic
) -> None:
    patient = clinic.patient(name="Gina")
    join_in_browser(page, clinic.invite(patient))

    def new_plan_arrives(muscle: str) -> None:
        """The clinic records a treatment; the app learns of it when the network comes back (the
        browser's "online" event: Chromium's offline switch reaches the service worker late)."""
        stored = page.evaluate("async () => (await unknotCore.get('plan')).plan_id")
        treated = [{"muscle": muscle, "side": "both"}]
        body = {"treated": treated, "treated_on": local_today().isoformat()}
        clinic.http.post(f"/api/v1/patients/{patient.id}/plans", json=body).raise_for_status()
        page.evaluate("() => window.dispatchEvent(new Event('online'))")
        page.wait_for_function("async (id) => (await unknotCore.get('plan')).plan_id !== id", arg=stored)
        page.wait_for_timeout(300)

    page.locator("#nav").get_by_role("link", name="Check-in").click()
    wait_for_screen(page, "checkin")
    page.get_by_role("radio", name="6", exact=True).check()
    page.locator("textarea").fill("Stiff when I woke up")
    new_plan_arrives("masseter")
    expect(page.locator("input[name=soreness]:checked")).to_have_value("6")
    expect(page.locator("textarea")).to_have_value("Stiff when I woke up")

    # The next screen shows the new plan.
    page.locator("#nav").get_by_role("link", name="Today").click()
    wait_for_screen(page, "today")
    expect(page.locator("body")).to_contain_text("jaw", ignore_case=True)

    page.locator("a.entry-main").first.click()
    wait_for_screen(page, "ex")
    timer = page.locator("section.timer")
    timer.get_by_role("button", name="Start").click()
    expect(timer).not_to_have_attribute("data-phase", "ready")
    timer.evaluate("(panel) => { panel.dataset.seen = 'before'; }")
    new_plan_arrives("upper-trapezius")
    # The same timer, still running: not drawn again.
    expect(timer).to_have_attribute("data-seen", "before")
    expect(timer).not_to_have_attribute("data-phase", "ready")


def test_a_done_mark_tapped_by_mistake_online_can_be_taken_back_until_it_is_sent(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Hugo")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    first, second = page.locator("li.entry").nth(0), page.locator("li.entry").nth(1)
    wrong = page.locator(
        f"li.entry[data-exercise='{first.get_attribute('data-exercise')}'][data-slot='{first.get_attribute('data-slot')}']"
    )
    wrong.locator("button.check").click()
    expect(page.locator("#toast")).to_contain_text("Done:")
    wait_outbox(page, 1)
    page.clock.run_for(5_000)
    wrong.locator("button.check").click()
    expect(page.locator("#toast")).to_contain_text("Taken back")
    wait_outbox(page, 0)
    assert stored_records(page) == []

    # A mark left alone goes out once its moment to take it back has passed.
    second.locator("button.check").click()
    wait_outbox(page, 1)
    page.clock.run_for(9_000)
    wait_outbox(page, 0)
    assert len(wait_rows(page, live_server, "completion", patient.id, 1)) == 1
    assert [r["state"] for r in stored_records(page)] == ["sent"]
