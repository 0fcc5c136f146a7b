"""A join whose answer was lost on the way (a poor network): the server used the code and made the
device, the phone heard nothing. Asked again, it is the same join (the same join id), not "this
code was already used" with the patient sent back to a clinic they have left. The app asks again by
itself a few times while the join screen is open, and keeps the join id (and the code in it) only
as long as the server would answer it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, Route, expect

from tests.browser.conftest import Clinic, LiveServer, wait_for_screen, wait_for_worker
from tests.browser.test_pwa_forget import DUMP_IDB
from tests.browser.test_pwa_outbox_faults import wait_until

pytestmark = pytest.mark.browser

JOIN = "**/api/v1/patient/join"


class LoseAnswers:
    """Lets every join reach the server and drops the answers of the first ``lost`` on their way back."""

    def __init__(self, lost: int = 1) -> None:
        self.lost = lost
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, route: Route) -> None:
        self.bodies.append(json.loads(route.request.post_data or "{}"))
        answer = route.fetch()
        if len(self.bodies) <= self.lost:
            assert answer.status in (200, 201), answer.text()
            route.abort("connectionreset")
        else:
            route.fulfill(response=answer)


def start(page: Page, code: str) -> None:
    page.get_by_label("Your code").fill(code)
    page.get_by_role("button", name="Start").click()


def pause_clock(page: Page) -> None:
    """Installs the page's clock and stops it (it runs on from here only as the test moves it)."""
    page.clock.install()
    page.clock.pause_at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))


def progress(page: Page) -> Locator:
    """The join screen's word on its tries by itself ("Still connecting…")."""
    return page.locator(".join-form [role='status']")


def tries_by_itself(page: Page, lose: LoseAnswers, waits: list[int]) -> None:
    """Moves the page's clock through the join screen's waits (ms), each try reaching the server."""
    for n, wait in enumerate(waits, start=2):
        expect(progress(page)).to_have_text(f"Still connecting\u2026 trying again ({n} of 4).")
        expect(page.get_by_role("button", name="Connecting to your clinic\u2026")).to_be_disabled()
        expect(page.locator(".join-form [role='alert']")).to_have_text("")
        page.clock.run_for(wait + 100)
        wait_until(page, lambda n=n: len(lose.bodies) >= n, f"try {n}")


def test_a_join_whose_answer_was_lost_is_tried_again_by_itself(page: Page, clinic: Clinic) -> None:
    """The patient had to tap Start again after a join whose answer was lost: the app now tries
    again by itself, and says so, with the same join id (the server's answer is then the same join)."""
    patient = clinic.patient(name="Rosa")
    code = clinic.invite(patient)["code"]
    lose = LoseAnswers(1)
    page.context.route(JOIN, lose)
    pause_clock(page)
    page.goto("/")
    wait_for_screen(page, "join")
    start(page, code)
    tries_by_itself(page, lose, [2_000])
    wait_for_screen(page, "today")
    expect(page.locator("main h1")).to_have_text("Hello Rosa")
    # The same join both times: one device at the clinic, open, with the token that arrived.
    assert len(lose.bodies) == 2
    assert lose.bodies[0]["join_id"] == lose.bodies[1]["join_id"]
    devices = clinic.devices(patient)
    assert [d["revoked_at"] for d in devices] == [None]


def test_a_link_whose_tries_all_lost_their_answer_joins_after_the_app_was_opened_again(
    page: Page, clinic: Clinic
) -> None:
    patient = clinic.patient(name="Sara")
    invite = clinic.invite(patient)
    lose = LoseAnswers(4)
    page.context.route(JOIN, lose)
    pause_clock(page)
    # The invite link: its join and the three tries after it fail as the network drops (each
    # reaching the server), the patient is told, and closes the app.
    page.goto(invite["link"])
    wait_for_screen(page, "join")
    page.clock.run_for(200)
    tries_by_itself(page, lose, [2_000, 4_000, 8_000])
    expect(page.get_by_role("alert")).to_have_text(
        "We could not reach your clinic. Check your internet connection and try again."
    )
    expect(progress(page)).to_have_text("")
    page.reload()
    wait_for_screen(page, "join")
    start(page, invite["code"])
    wait_for_screen(page, "today")
    expect(page.locator("main h1")).to_have_text("Hello Sara")
    assert len(lose.bodies) == 5
    assert len({body["join_id"] for body in lose.bodies}) == 1
    assert [d["revoked_at"] for d in clinic.devices(patient)] == [None]
    # Joined: the join id is not kept on the phone any more.
    kept = page.evaluate(DUMP_IDB)["kv"]
    assert "token" in kept
    assert "join_attempt" not in kept


def test_a_refused_code_is_not_tried_again_and_leaving_the_screen_stops_the_tries(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Lena")
    used = clinic.invite(patient)["code"]
    assert httpx.post(f"{live_server.url}/api/v1/patient/join", json={"code": used}).status_code == 201
    asked: list[str] = []

    def count(route: Route) -> None:
        asked.append(route.request.url)
        route.continue_()

    page.context.route(JOIN, count)
    pause_clock(page)
    page.goto("/")
    wait_for_screen(page, "join")
    start(page, used)
    expect(page.get_by_role("alert")).to_have_text(
        "This code was already used or has expired. Ask your clinic for a new one."
    )
    page.clock.run_for(30_000)
    page.wait_for_timeout(300)
    assert len(asked) == 1
    expect(progress(page)).to_have_text("")

    # No network on the way: tried again by itself, until the patient opens another screen.
    page.context.unroute(JOIN)
    page.context.route(JOIN, lambda route: (asked.append(route.request.url), route.abort("connectionreset")))
    start(page, clinic.invite(patient)["code"])
    expect(progress(page)).to_have_text("Still connecting\u2026 trying again (2 of 4).")
    page.get_by_role("link", name="Warning signs").click()
    wait_for_screen(page, "help")
    page.clock.run_for(30_000)
    page.wait_for_timeout(300)
    assert len(asked) == 2


def test_a_join_id_is_kept_on_the_phone_only_within_the_servers_retry_window(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    """The invite code stayed in IndexedDB (join_attempt) after a failed join until the next join,
    however long after: the server answers a join id again only for 10 minutes after its join."""
    patient = clinic.patient(name="Ines")
    code = clinic.invite(patient)["code"]
    page.clock.install()
    page.goto("/")
    wait_for_screen(page, "join")
    wait_for_worker(page)

    def failed_offline() -> None:
        context.set_offline(True)
        start(page, code)
        expect(page.get_by_role("alert")).to_contain_text("We could not reach your clinic.")
        context.set_offline(False)
        assert stored_attempt(page)["code"] == code

    def join_screen_again() -> None:
        page.evaluate("location.hash = '#/help'")
        wait_for_screen(page, "help")
        page.evaluate("location.hash = '#/today'")
        wait_for_screen(page, "join")

    failed_offline()
    page.clock.fast_forward("09:00")
    join_screen_again()
    page.wait_for_timeout(300)
    assert stored_attempt(page)["code"] == code
    # Over 10 minutes after the last try: gone when the join screen opens...
    page.clock.fast_forward("01:30")
    join_screen_again()
    wait_until(page, lambda: stored_attempt(page) is None, "the old join attempt removed")
    # ...and when the app starts.
    failed_offline()
    page.clock.fast_forward("10:30")
    page.reload()
    wait_for_screen(page, "join")
    wait_until(page, lambda: stored_attempt(page) is None, "the old join attempt removed at start")


def stored_attempt(page: Page) -> dict[str, Any] | None:
    return page.evaluate(DUMP_IDB)["kv"].get("join_attempt")
