"""The patient app on a slow or stalled network: what the patient sees while a request is still
on its way, and a request that never ends (a network that is up but passes nothing) given up on
after 30 s, so that nothing waits on it for ever."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    PageProblems,
    Patient,
    join_in_browser,
    new_context,
    serve,
    wait_for_screen,
    wait_outbox,
)
from tests.browser.shell import shell_files
from tests.browser.test_pwa_failures import completions_of
from tests.browser.test_pwa_join_retry import pause_clock

pytestmark = pytest.mark.browser

SYNC = "**/api/v1/patient/sync"


class Stall:
    """A route that holds the requests it gets unanswered (a stalled network) until let go; the
    requests after that go through."""

    def __init__(self) -> None:
        self.held: list[Route] = []
        self.on = True

    def __call__(self, route: Route) -> None:
        if self.on:
            self.held.append(route)
        else:
            route.continue_()


def wait_held(page: Page, held: list[Route], count: int = 1, timeout: float = 20) -> None:
    """Wait until ``count`` requests are held by a route that does not answer them."""
    deadline = time.monotonic() + timeout
    while len(held) < count and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(held) >= count, f"{len(held)} of {count} requests were asked"


def type_a_code_and_hold_the_join(page: Page, clinic: Clinic, patient: Patient) -> list[Route]:
    """On the join screen, type the patient's new code and tap Start; the join request is held
    unanswered (in the list returned) until the test lets it go."""
    held: list[Route] = []
    page.context.route("**/api/v1/patient/join", lambda route: held.append(route))
    page.goto("/")
    wait_for_screen(page, "join")
    page.get_by_label("Your code").fill(clinic.invite(patient)["code"])
    page.get_by_role("button", name="Start").click()
    wait_held(page, held)
    return held


def test_a_typed_code_says_it_is_connecting_while_the_join_is_on_its_way(page: Page, clinic: Clinic) -> None:
    held = type_a_code_and_hold_the_join(page, clinic, clinic.patient(name="Pilar"))
    # A greyed-out button alone tells nothing on a slow network: it says what is happening, and
    # cannot be tapped again.
    button = page.locator("form.join-form button[type=submit]")
    expect(button).to_have_text("Connecting to your clinic…")
    expect(button).to_be_disabled()
    held[0].continue_()
    page.context.unroute("**/api/v1/patient/join")
    wait_for_screen(page, "today")
    expect(page.locator("main h1")).to_have_text("Hello Pilar")


def test_a_failed_typed_join_gives_the_button_its_words_back(page: Page, clinic: Clinic) -> None:
    pause_clock(page)
    held = type_a_code_and_hold_the_join(page, clinic, clinic.patient(name="Quim"))
    # Tried again by itself after each failure on the way (test_pwa_join_retry.py), the button
    # saying so; once the last try fails, it is Start again.
    for n, wait in enumerate([2_000, 4_000, 8_000, 0], start=1):
        wait_held(page, held, n)
        held[n - 1].abort("internetdisconnected")
        if wait:
            expect(page.locator("form.join-form button[type=submit]")).to_have_text("Connecting to your clinic…")
            page.clock.run_for(wait + 100)
    expect(page.get_by_role("alert")).to_have_text(
        "We could not reach your clinic. Check your internet connection and try again."
    )
    expect(page.get_by_role("button", name="Start")).to_be_enabled()


def test_a_plan_that_never_comes_after_joining_is_given_up_on_and_asked_for_again(page: Page, clinic: Clinic) -> None:
    patient = clinic.patient(name="Rita")
    stall = Stall()
    page.context.route("**/api/v1/patient/plan*", stall)
    page.clock.install()
    page.goto(clinic.invite(patient)["link"])
    wait_held(page, stall.held)
    expect(page.locator("main h1")).to_have_text("Connecting to your clinic…")
    # It said so for ever: nothing else was ever asked for, and nothing could be tapped.
    page.clock.run_for(31_000)
    wait_for_screen(page, "waiting")
    expect(page.locator("main h1")).to_have_text("We could not load your program")
    expect(page.locator("main")).to_contain_text("Check your connection and try again.")
    # The network passes again: the app asks again by itself (after 2 s; 4 s had a second
    # request failed meanwhile).
    stall.on = False
    page.clock.run_for(5_000)
    wait_for_screen(page, "today")
    expect(page.locator("main h1")).to_have_text("Hello Rita")


def test_a_send_that_never_ends_is_given_up_on_and_the_records_go_with_the_next(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Sara")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    stall = Stall()
    page.route(SYNC, stall)
    page.locator("button.check").first.click()
    wait_outbox(page, 1)
    # The seconds to take a tap back pass; the send goes out and gets no answer.
    page.clock.run_for(9_000)
    wait_held(page, stall.held)
    stall.on = False
    # It held the outbox for as long as it stayed open: nothing else went, however long the wait.
    page.clock.run_for(31_000)
    page.clock.run_for(3_000)
    wait_outbox(page, 0)
    assert len(stall.held) == 1
    assert len(completions_of(live_server, patient.id)) == 1


@pytest.fixture(scope="module")
def logged_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that logs every request (method, path, status)."""
    with serve(tmp_path_factory.mktemp("logged"), access_log="1", log_level="info") as server:
        yield server


def test_a_first_visit_downloads_the_app_once_not_again_for_the_service_worker(
    browser: Browser, logged_server: LiveServer, page_problems: PageProblems
) -> None:
    clinic = Clinic(logged_server)
    patient = clinic.patient(name="Tere")
    context = new_context(browser, logged_server)
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        join_in_browser(page, clinic.invite(patient))
        # The worker's install asked for every file of the shell; those the page had loaded
        # already were answered 304 and taken from the browser's cache.
        sent: dict[str, list[str]] = {}
        for line in logged_server.log_path.read_text().splitlines():
            found = re.search(r"\bGET (\S+) (\d{3})$", line)
            if found:
                sent.setdefault(found[1], []).append(found[2])
        shell = shell_files()
        twice = {url: codes for url, codes in sent.items() if url in shell and codes.count("200") > 1}
        assert not twice, f"downloaded whole more than once: {twice}"
        assert sum(codes.count("304") for url, codes in sent.items() if url in shell) >= len(shell) // 2, sent
    finally:
        context.close()
        clinic.close()
    assert not page_problems.errors, page_problems.errors


def test_an_invite_link_opened_again_while_it_joins_is_one_join_not_already_used(page: Page, clinic: Clinic) -> None:
    # Nothing seemed to happen on a slow network, so the patient tapped the link again: the second
    # open used to send the code again, and the server's "already used" showed on a joined phone.
    patient = clinic.patient(name="Rocío")
    invite = clinic.invite(patient)
    asked = Stall()
    page.context.route("**/api/v1/patient/join", asked)
    page.goto(invite["link"])
    wait_held(page, asked.held)
    page.evaluate("link => { location.hash = new URL(link).hash; }", invite["link"])
    page.wait_for_timeout(500)
    assert len(asked.held) == 1  # the second open asked for nothing
    asked.on = False
    asked.held[0].continue_()
    wait_for_screen(page, "today")
    expect(page.locator("main h1")).to_have_text("Hello Rocío")
    # Opened once more, joined: Today, and nothing said of a used code.
    page.evaluate("link => { location.hash = new URL(link).hash; }", invite["link"])
    wait_for_screen(page, "today")
    page.wait_for_timeout(500)
    expect(page.locator("#toast")).to_be_empty()
    expect(page.locator("main h1")).to_have_text("Hello Rocío")
    assert len(clinic.devices(patient)) == 1
