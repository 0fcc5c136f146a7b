"""Taking back a done mark after it was sent: through the outbox like any record (offline too), the
mark clear at once, the clinic's record marked withdrawn once it arrives, a new tick counted once."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.browser.conftest import Clinic, LiveServer, join_in_browser, stored_records, wait_for_screen, wait_outbox
from tests.browser.test_pwa_outbox_faults import refuse_sync, wait_until

pytestmark = pytest.mark.browser

TAKEN_BACK = "Your clinic's record is updated once it is sent."


def counted(server: LiveServer, patient_id: int) -> int:
    """How many completions of the patient the clinic counts (not taken back)."""
    return server.rows(
        "SELECT count(*) AS n FROM completion WHERE patient_id = ? AND withdrawn_at IS NULL", (patient_id,)
    )[0]["n"]


def stored(server: LiveServer, patient_id: int) -> list[tuple[str, bool]]:
    rows = server.rows("SELECT id, withdrawn_at FROM completion WHERE patient_id = ? ORDER BY done_at", (patient_id,))
    return [(r["id"], r["withdrawn_at"] is not None) for r in rows]


def tick_and_send(page: Page, server: LiveServer, patient_id: int) -> tuple[Locator, str]:
    """Tap today's first done mark and let its seconds to take it back run out: it is sent."""
    mark = page.locator("li.entry button.check").first
    key = mark.get_attribute("data-focus")
    check = page.locator(f"button.check[data-focus='{key}']")
    check.click()
    expect(check).to_have_attribute("aria-pressed", "true")
    page.clock.fast_forward(9_000)
    wait_outbox(page, 0)
    wait_until(page, lambda: counted(server, patient_id) == 1, "the completion at the clinic")
    [record] = [r for r in stored_records(page) if r["type"] == "completion"]
    assert record["state"] == "sent"
    return check, record["id"]


def test_a_sent_mark_is_taken_back_and_a_new_tick_counts_once(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Tomas Back")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    check, first = tick_and_send(page, live_server, patient.id)

    page.clock.fast_forward(2_000)
    check.click()

    expect(page.locator("#toast")).to_contain_text(TAKEN_BACK)
    expect(check).to_have_attribute("aria-pressed", "false")
    wait_outbox(page, 0)
    wait_until(page, lambda: stored(live_server, patient.id) == [(first, True)], "the clinic's record withdrawn")
    assert counted(live_server, patient.id) == 0
    wait_until(
        page,
        lambda: (
            [(r["type"], r["state"], bool(r["body"].get("withdrawn_at"))) for r in stored_records(page)]
            == [("completion", "sent", True)]
        ),
        "the take-back settled on the phone",
    )
    # From the clinic's log after a reload too: still not done.
    page.reload()
    wait_for_screen(page, "today")
    expect(check).to_have_attribute("aria-pressed", "false")

    # Done after all: a new completion, counted once beside the one taken back.
    page.clock.fast_forward(2_000)
    check.click()
    expect(check).to_have_attribute("aria-pressed", "true")
    page.clock.fast_forward(9_000)
    wait_outbox(page, 0)
    wait_until(page, lambda: len(stored(live_server, patient.id)) == 2, "the new completion at the clinic")
    assert counted(live_server, patient.id) == 1
    assert stored(live_server, patient.id)[0] == (first, True)


def test_a_sent_mark_taken_back_offline_reaches_the_clinic_once_online(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Olga Offline")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    check, first = tick_and_send(page, live_server, patient.id)

    context.set_offline(True)
    expect(page.locator("#offline")).to_be_visible()
    page.clock.fast_forward(2_000)
    check.click()

    expect(page.locator("#toast")).to_contain_text(TAKEN_BACK)
    expect(check).to_have_attribute("aria-pressed", "false")
    wait_outbox(page, 1)  # the take-back waits on the phone
    page.wait_for_timeout(300)
    assert counted(live_server, patient.id) == 1, "nothing reached the clinic yet"

    context.set_offline(False)
    wait_outbox(page, 0)
    wait_until(page, lambda: stored(live_server, patient.id) == [(first, True)], "the clinic's record withdrawn")
    assert counted(live_server, patient.id) == 0
    expect(check).to_have_attribute("aria-pressed", "false")


def test_a_take_back_the_clinic_refused_is_listed_as_one(page: Page, clinic: Clinic, live_server: LiveServer) -> None:
    patient = clinic.patient(name="Rita Refused")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    check, first = tick_and_send(page, live_server, patient.id)
    title = page.locator("li.entry .entry-title").first.inner_text()
    refuse_sync(page, times=1)

    page.clock.fast_forward(2_000)
    check.click()
    expect(page.locator("#sync")).to_have_attribute("data-rejected", "1")
    assert [r["type"] for r in stored_records(page) if r["state"] == "rejected"] == ["undo"]
    page.locator("#sync").click()
    wait_for_screen(page, "more")
    # The patient sees it was the take-back that did not reach the clinic, not the exercise itself.
    expect(page.locator(".outbox-refused li").first).to_contain_text(f"Taking back: {title}, ")
    assert stored(live_server, patient.id) == [(first, False)]
