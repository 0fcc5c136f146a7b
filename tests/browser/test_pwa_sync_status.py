"""What the header's outbox status (#sync) says while a record waits on the phone, in real
Chromium against the real server.

Found walking the patient app: a tick on Today showed "1 to send" for 8 s while the phone was
online, only because the app holds it back for a tap to take it back (and a done exercise for its
pain answer): nothing was wrong with the network, but the header looked as if something were.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    Patient,
    join_in_browser,
    local_today,
    wait_for_screen,
    wait_outbox,
)
from tests.browser.test_pwa_join_retry import pause_clock
from tests.browser.test_pwa_outbox_faults import server_completions, wait_until
from tests.browser.test_pwa_records import MARK_DONE, open_exercise

pytestmark = pytest.mark.browser


def tick_on_another_phone(clinic: Clinic, live_server: LiveServer, patient: Patient, focus: str) -> None:
    """The patient's other phone (joined now) logs the done mark ``focus`` names ("...:slot:exercise") today."""
    _, slot, exercise = focus.split(":")
    token = clinic.join(patient, "Other phone")
    done = {"id": str(uuid.uuid4()), "exercise_id": exercise, "on_date": local_today().isoformat(), "slot": slot}
    done["done_at"] = dt.datetime.now(dt.UTC).isoformat()
    r = httpx.post(
        f"{live_server.url}/api/v1/patient/sync",
        json={"completions": [done]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text


def failing_first(reads: list[str]) -> Callable[[Route], None]:
    """A route that notes each request in ``reads`` and fails the first at the network."""

    def route(route: Route) -> None:
        reads.append(route.request.url)
        if len(reads) == 1:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    return route


def test_a_record_held_for_the_patient_online_is_not_to_send_and_offline_it_is(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Calm")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    status = page.locator("#sync")
    checks = page.locator("li.entry button.check")

    # Online, a tick waits 8 s for a tap to take it back: on the phone (data-count), not "to send".
    checks.nth(0).click()
    expect(status).to_have_attribute("data-count", "1")
    expect(status).to_have_text("All saved")
    expect(status).not_to_have_class(re.compile(r"\bwaiting\b"))
    page.clock.run_for(9_000)
    wait_outbox(page, 0)
    assert len(server_completions(live_server, patient.id)) == 1

    # Gone offline while one is held: now it waits for the network, and the header says so.
    checks.nth(1).click()
    expect(status).to_have_attribute("data-count", "1")
    expect(status).to_have_text("All saved")
    context.set_offline(True)
    expect(status).to_have_text("1 to send")
    expect(status).to_have_class(re.compile(r"\bwaiting\b"))
    # Offline from the start: said at once, and still after the 8 s.
    checks.nth(2).click()
    expect(status).to_have_text("2 to send")
    page.clock.run_for(9_000)
    expect(status).to_have_text("2 to send")
    page.locator("#nav").get_by_role("link", name="More").click()
    wait_for_screen(page, "more")
    expect(page.locator(".outbox-detail")).to_have_text(
        "2 records are kept on this phone and wait to be sent to your clinic."
    )
    context.set_offline(False)
    wait_outbox(page, 0)
    expect(status).to_have_text("All saved")
    assert len(server_completions(live_server, patient.id)) == 3

    # A done exercise waits for its pain answer: not "to send" either, here or on More.
    page.locator("#nav").get_by_role("link", name="Today").click()
    wait_for_screen(page, "today")
    open_exercise(page, 3)
    page.get_by_role("button", name=MARK_DONE).click()
    expect(page.locator(".done-panel")).to_be_visible()
    expect(status).to_have_attribute("data-count", "1")
    expect(status).to_have_text("All saved")
    page.locator("#nav").get_by_role("link", name="More").click()
    wait_for_screen(page, "more")
    wait_outbox(page, 0)
    assert len(server_completions(live_server, patient.id)) == 4


def test_back_online_the_log_is_read_again_after_the_first_send_when_the_first_read_failed(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """Back online, the log was read once: when that read failed at the network, the worker
    answered with its stored copy, and what the patient did on another phone showed nowhere until
    the app next came to the front after 5 minutes."""
    patient = clinic.patient(name="Two Phones")
    join_in_browser(page, clinic.invite(patient))
    status = page.locator("#sync")
    marks = page.locator("li.entry button.check")
    here, there = (marks.nth(i).get_attribute("data-focus") or "" for i in (0, 1))
    context.set_offline(True)
    page.locator(f"button.check[data-focus='{here}']").click()
    expect(status).to_have_text("1 to send")

    # Meanwhile the patient ticks another exercise on their other phone.
    tick_on_another_phone(clinic, live_server, patient, there)

    # Back online on a shaky network: the first read of the log fails (the worker answers with its
    # stored copy); the outbox's send goes through after it.
    failed: list[str] = []
    sends: list[Route] = []

    def fail_log(route: Route) -> None:
        failed.append(route.request.url)
        route.abort("internetdisconnected")

    context.route("**/api/v1/patient/log*", fail_log)
    context.route("**/api/v1/patient/sync", lambda route: sends.append(route))
    context.set_offline(False)
    wait_until(page, lambda: bool(failed) and bool(sends), "a failed read of the log and a send")
    context.unroute("**/api/v1/patient/log*")
    for route in sends:
        route.continue_()
    context.unroute("**/api/v1/patient/sync")
    wait_outbox(page, 0)
    # The log is read again: what was done on the other phone shows here without a restart.
    expect(page.locator(f"button.check[data-focus='{there}']")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(f"button.check[data-focus='{here}']")).to_have_attribute("aria-pressed", "true")


def test_send_now_on_more_sends_a_tick_still_held_for_a_take_back(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """More said "1 record is kept on this phone and waits to be sent" with "Send now", and the
    tap did nothing: the tick waited out its seconds for a take-back first."""
    patient = clinic.patient(name="Now")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    page.locator("li.entry button.check").first.click()
    expect(page.locator("#sync")).to_have_attribute("data-count", "1")
    page.clock.pause_at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))  # the 8 s never pass
    page.locator("#nav").get_by_role("link", name="More").click()
    wait_for_screen(page, "more")
    expect(page.locator(".outbox-detail")).to_have_text(
        "1 record is kept on this phone and waits to be sent to your clinic."
    )
    page.get_by_role("button", name="Send now").click()
    wait_outbox(page, 0)
    expect(page.locator(".outbox-detail")).to_have_text("Everything you logged has reached your clinic.")
    assert len(server_completions(live_server, patient.id)) == 1


# How many answers of GET /api/v1/patient/log the worker keeps (sw.js networkFirst).
STORED_LOGS = """async () => {
  let n = 0;
  for (const name of await caches.keys()) {
    if (!name.startsWith("unknot-api-")) continue;
    const keys = await (await caches.open(name)).keys();
    n += keys.filter((r) => new URL(r.url).pathname === "/api/v1/patient/log").length;
  }
  return n;
}"""


def test_back_online_with_nothing_to_send_the_log_is_read_again_when_the_first_read_got_the_stored_copy(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """Back online with an empty outbox, the log was read once: when that read failed at the
    network, the worker answered with its stored copy, and nothing read it again for 5 minutes, so
    what the patient did on another phone did not show."""
    patient = clinic.patient(name="Empty Outbox")
    join_in_browser(page, clinic.invite(patient))
    # Opened again with the worker in control: it keeps a copy of the log it read.
    page.reload()
    wait_for_screen(page, "today")
    wait_until(page, lambda: page.evaluate(STORED_LOGS) == 1, "the worker's copy of the log")
    there = page.locator("li.entry button.check").first.get_attribute("data-focus") or ""
    context.set_offline(True)

    # Meanwhile the patient ticks an exercise on their other phone.
    tick_on_another_phone(clinic, live_server, patient, there)

    # Back online on a shaky network: the first read of the log fails (the worker answers with its
    # stored copy), later ones go through.
    reads: list[str] = []
    first_fails = failing_first(reads)
    context.route("**/api/v1/patient/log*", first_fails)
    context.set_offline(False)
    wait_until(page, lambda: bool(reads), "the log read back online")
    # Read again by itself (2 s later), without a reload: the other phone's tick shows here.
    expect(page.locator(f"button.check[data-focus='{there}']")).to_have_attribute("aria-pressed", "true")
    assert len(reads) == 2
    wait_outbox(page, 0)
    # And not again once the server answered.
    page.wait_for_timeout(4_500)
    assert len(reads) == 2
    context.unroute("**/api/v1/patient/log*")


STORED_PLANS = STORED_LOGS.replace("/api/v1/patient/log", "/api/v1/patient/plan")


def test_back_online_a_plan_read_that_got_the_stored_copy_is_read_again(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    """The plan read back online that failed at the network got the worker's stored copy, and with
    a plan on screen nothing read it again until the app's next start: a plan the therapist
    changed while the phone was offline stayed hidden."""
    patient = clinic.patient(name="New Plan")
    join_in_browser(page, clinic.invite(patient))
    page.reload()  # opened again with the worker in control: it keeps a copy of the plan it read
    wait_for_screen(page, "today")
    wait_until(page, lambda: page.evaluate(STORED_PLANS) >= 1, "the worker's copy of the plan")
    marks = page.locator("li.entry button.check")
    before = set(marks.evaluate_all("els => els.map((el) => el.dataset.focus)"))
    context.set_offline(True)

    # Meanwhile the therapist treats the calf instead, and assigns its plan.
    body = {"treated": [{"muscle": "gastrocnemius", "side": "left"}], "treated_on": patient.treated_on.isoformat()}
    r = clinic.http.post(f"/api/v1/patients/{patient.id}/plans", json=body)
    assert r.status_code == 201, r.text

    # Back online on a shaky network: the first read of the plan fails (the worker answers with its
    # stored copy), later ones go through.
    reads: list[str] = []
    first_fails = failing_first(reads)
    context.route("**/api/v1/patient/plan*", first_fails)
    context.set_offline(False)
    # Read again by itself (2 s later), without a reload: the calf's exercises show.
    wait_until(
        page,
        lambda: set(marks.evaluate_all("els => els.map((el) => el.dataset.focus)")) - before != set(),
        "the new plan on Today",
    )
    assert len(reads) == 2
    page.wait_for_timeout(4_500)  # and not again once the server answered
    assert len(reads) == 2
    context.unroute("**/api/v1/patient/plan*")


def count_log_reads(context: BrowserContext, *, fail: bool) -> list[str]:
    """Notes each read of the log (in the list returned); with ``fail``, fails each at the network."""
    reads: list[str] = []

    def route(route: Route) -> None:
        reads.append(route.request.url)
        if fail:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    context.route("**/api/v1/patient/log*", route)
    return reads


def back_online(context: BrowserContext) -> None:
    context.set_offline(True)
    context.set_offline(False)


def test_a_log_this_phone_could_not_store_is_not_read_again_and_again(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """A read of the log that failed after the server answered (this phone's storage refused it)
    was taken for one that found no network and asked again after 2 s, 4 s, ... for good."""
    patient = clinic.patient(name="Full Storage")
    pause_clock(page)
    join_in_browser(page, clinic.invite(patient))
    there = page.locator("li.entry button.check").first.get_attribute("data-focus") or ""
    tick_on_another_phone(clinic, live_server, patient, there)
    page.evaluate(
        """() => {
          IDBObjectStore.prototype.put = function () {
            throw new DOMException('quota', 'QuotaExceededError');
          };
        }"""
    )
    reads = count_log_reads(context, fail=False)
    back_online(context)
    wait_until(page, lambda: len(reads) == 1, "the log read back online")
    page.clock.run_for(20_000)
    page.wait_for_timeout(500)
    assert len(reads) == 1
    context.unroute("**/api/v1/patient/log*")


def test_back_online_the_wait_before_the_log_is_read_again_starts_over(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    """Back online, the log is read at once; when that read failed too, the next one waited as long
    as the waits had grown to while the server was out of reach (up to 5 minutes), not 2 s."""
    pause_clock(page)
    join_in_browser(page, clinic.invite(clinic.patient(name="Patchy")))
    reads = count_log_reads(context, fail=True)
    back_online(context)
    wait_until(page, lambda: len(reads) == 1, "the log read back online")
    # The server out of reach: asked again after 2 s, 4 s, 8 s.
    for n, wait in enumerate([2_000, 4_000, 8_000], start=2):
        page.clock.run_for(wait + 100)
        wait_until(page, lambda n=n: len(reads) == n, f"read {n}")
    # The network drops and comes back: read at once, and again 2 s after that one fails.
    back_online(context)
    wait_until(page, lambda: len(reads) == 5, "the log read back online again")
    page.clock.run_for(2_100)
    wait_until(page, lambda: len(reads) == 6, "the read 2 s later")
    context.unroute("**/api/v1/patient/log*")


# Counts from now on each time the app draws a screen into #main (its performance marks are out
# of reach under the test's clock).
COUNT_DRAWS = """() => {
  window.drawn = 0;
  new MutationObserver(() => { window.drawn += 1; }).observe(document.getElementById("main"), { childList: true });
}"""


def test_a_log_read_with_nothing_new_leaves_the_screen_as_it_is_and_one_with_news_draws_it(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """Every read of the log drew the screen again, though nothing in it had changed: on an old
    phone that costs time, and a screen reader may lose its place."""
    patient = clinic.patient(name="Still Screen")
    pause_clock(page)
    join_in_browser(page, clinic.invite(patient))
    there = page.locator("li.entry button.check").first.get_attribute("data-focus") or ""
    reads: list[str] = []

    # Every other read fails at the network, so the next comes 2 s later by itself, alone: no send
    # or plan read beside it draws the screen.
    def every_other(route: Route) -> None:
        reads.append(route.request.url)
        if len(reads) % 2:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    context.route("**/api/v1/patient/log*", every_other)
    back_online(context)
    wait_until(page, lambda: len(reads) == 1, "the log read back online")
    page.wait_for_timeout(500)
    page.evaluate(COUNT_DRAWS)
    page.clock.run_for(2_100)
    wait_until(page, lambda: len(reads) == 2, "the read 2 s later")
    page.wait_for_timeout(500)
    assert page.evaluate("window.drawn") == 0

    # A tick on the patient's other phone: the next read draws it here.
    tick_on_another_phone(clinic, live_server, patient, there)
    back_online(context)
    wait_until(page, lambda: len(reads) == 3, "the log read back online again")
    page.clock.run_for(2_100)
    wait_until(page, lambda: len(reads) == 4, "the read 2 s later")
    expect(page.locator(f"button.check[data-focus='{there}']")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("window.drawn") > 0
    context.unroute("**/api/v1/patient/log*")


def test_a_send_with_nothing_to_send_leaves_the_screen_as_it_is_and_one_that_sent_draws_it(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """Every send run drew the screen again, so each `online` event did, with nothing waiting."""
    patient = clinic.patient(name="Quiet Send")
    # A browser without BroadcastChannel (Safari before 15.4): the page does not hear its own
    # sends' news (core.announce), so the run's own drawing is all that shows what it changed.
    page.add_init_script("delete window.BroadcastChannel;")
    pause_clock(page)
    join_in_browser(page, clinic.invite(patient))
    reads: list[str] = []
    context.route("**/api/v1/patient/log*", lambda route: (reads.append(route.request.url), route.continue_()))
    page.wait_for_timeout(500)
    page.evaluate(COUNT_DRAWS)
    back_online(context)
    wait_until(page, lambda: len(reads) == 1, "the log read back online")
    page.wait_for_timeout(500)
    assert page.evaluate("window.drawn") == 0

    # A tick goes once its 8 s for a tap to take it back are over: that send draws the screen.
    page.locator("li.entry button.check").first.click()
    page.wait_for_timeout(500)
    page.evaluate(COUNT_DRAWS)
    page.clock.run_for(9_000)
    wait_outbox(page, 0)
    wait_until(page, lambda: page.evaluate("window.drawn") > 0, "the screen drawn after the send")
    assert len(server_completions(live_server, patient.id)) == 1
    context.unroute("**/api/v1/patient/log*")

    # One the clinic refuses, sending nothing: drawn too, More lists it.
    refusal = {"field": "completions[0].done_at", "message": "is in the future", "code": "in_the_future"}
    body = {"status": 422, "detail": "completions[0].done_at: is in the future", "errors": [refusal]}
    page.route("**/api/v1/patient/sync", lambda route: route.fulfill(status=422, json=body))
    page.locator("li.entry button.check:not([aria-pressed='true'])").first.click()
    page.locator("#nav").get_by_role("link", name="More").click()
    wait_for_screen(page, "more")
    page.clock.run_for(9_000)
    expect(page.locator("#sync")).to_have_attribute("data-rejected", "1")
    expect(page.locator(".outbox-refused li")).to_have_count(1)
