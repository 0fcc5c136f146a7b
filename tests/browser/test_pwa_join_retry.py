"""A join whose answer was lost on the way (a poor network): the server used the code and made the
device, the phone heard nothing. Asked again, it is the same join (the same join id), not "this
code was already used" with the patient sent back to a clinic they have left."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import Clinic, wait_for_screen
from tests.browser.test_pwa_forget import DUMP_IDB

pytestmark = pytest.mark.browser

JOIN = "**/api/v1/patient/join"


class LoseFirstAnswer:
    """Lets every join reach the server and drops the first one's answer on its way back."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, route: Route) -> None:
        self.bodies.append(json.loads(route.request.post_data or "{}"))
        answer = route.fetch()
        if len(self.bodies) == 1:
            assert answer.status == 201, answer.text()
            route.abort("connectionreset")
        else:
            route.fulfill(response=answer)


def start(page: Page, code: str) -> None:
    page.get_by_label("Your code").fill(code)
    page.get_by_role("button", name="Start").click()


def test_a_join_whose_answer_was_lost_joins_when_start_is_tapped_again(page: Page, clinic: Clinic) -> None:
    patient = clinic.patient(name="Rosa")
    code = clinic.invite(patient)["code"]
    lose = LoseFirstAnswer()
    page.context.route(JOIN, lose)
    page.goto("/")
    wait_for_screen(page, "join")
    start(page, code)
    expect(page.get_by_role("alert")).to_have_text(
        "We could not reach your clinic. Check your internet connection and try again."
    )
    start(page, code)
    wait_for_screen(page, "today")
    expect(page.locator("main h1")).to_have_text("Hello Rosa")
    # The same join both times: one device at the clinic, open, with the token that arrived.
    assert len(lose.bodies) == 2
    assert lose.bodies[0]["join_id"] == lose.bodies[1]["join_id"]
    devices = clinic.devices(patient)
    assert [d["revoked_at"] for d in devices] == [None]


def test_a_join_whose_answer_was_lost_joins_after_the_app_was_opened_again(page: Page, clinic: Clinic) -> None:
    patient = clinic.patient(name="Sara")
    invite = clinic.invite(patient)
    lose = LoseFirstAnswer()
    page.context.route(JOIN, lose)
    # The invite link: its join fails as the network drops, and the patient closes the app.
    page.goto(invite["link"])
    wait_for_screen(page, "join")
    expect(page.get_by_role("alert")).to_have_text(
        "We could not reach your clinic. Check your internet connection and try again."
    )
    page.reload()
    wait_for_screen(page, "join")
    start(page, invite["code"])
    wait_for_screen(page, "today")
    expect(page.locator("main h1")).to_have_text("Hello Sara")
    assert len(lose.bodies) == 2
    assert lose.bodies[0]["join_id"] == lose.bodies[1]["join_id"]
    assert [d["revoked_at"] for d in clinic.devices(patient)] == [None]
    # Joined: the join id is not kept on the phone any more.
    kept = page.evaluate(DUMP_IDB)["kv"]
    assert "token" in kept
    assert "join_attempt" not in kept
