"""The patient app on a slow or stalled network: what the patient sees while a request is still
on its way."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import Clinic, wait_for_screen

pytestmark = pytest.mark.browser


def wait_held(page: Page, held: list[Route], count: int = 1, timeout: float = 10) -> None:
    """Wait until ``count`` requests are held by a route that does not answer them."""
    deadline = time.monotonic() + timeout
    while len(held) < count and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(held) >= count, f"{len(held)} of {count} requests were asked"


def test_a_typed_code_says_it_is_connecting_while_the_join_is_on_its_way(page: Page, clinic: Clinic) -> None:
    patient = clinic.patient(name="Pilar")
    held: list[Route] = []
    page.context.route("**/api/v1/patient/join", lambda route: held.append(route))
    page.goto("/")
    wait_for_screen(page, "join")
    page.get_by_label("Your code").fill(clinic.invite(patient)["code"])
    page.get_by_role("button", name="Start").click()
    wait_held(page, held)
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
    patient = clinic.patient(name="Quim")
    held: list[Route] = []
    page.context.route("**/api/v1/patient/join", lambda route: held.append(route))
    page.goto("/")
    wait_for_screen(page, "join")
    page.get_by_label("Your code").fill(clinic.invite(patient)["code"])
    page.get_by_role("button", name="Start").click()
    wait_held(page, held)
    held[0].abort("internetdisconnected")
    expect(page.get_by_role("alert")).to_have_text(
        "We could not reach your clinic. Check your internet connection and try again."
    )
    expect(page.get_by_role("button", name="Start")).to_be_enabled()
