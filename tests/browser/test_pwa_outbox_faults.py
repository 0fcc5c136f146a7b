"""The outbox's promise under faults: what the patient logs is synced later, never lost, never
counted twice. Each test reproduces one fault seen in real Chromium: an answer lost after the
server saved the batch, a refusal, a slow send of other records, a storage write that fails."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any
from urllib.parse import urljoin

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    join_in_browser,
    local_today,
    stored_records,
    wait_for_screen,
    wait_outbox,
)

pytestmark = pytest.mark.browser

MARK_DONE = re.compile(r"^(I did it without the timer|Mark as done)$")
SYNC = "**/api/v1/patient/sync"


def server_completions(server: LiveServer, patient_id: int) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in server.rows(
            "SELECT id, exercise_id, slot, on_date, pain FROM completion WHERE patient_id = ?", (patient_id,)
        )
    ]


def lose_first_answer(context: BrowserContext, page: Page) -> dict[str, int]:
    """The first sync reaches the server, which stores the batch; its answer is lost (the phone
    goes offline as it comes). Later syncs go through."""
    calls = {"n": 0}

    def handle(route: Route) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            route.fetch()
            context.set_offline(True)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(SYNC, handle)
    return calls


def wait_until(page: Page, check: Any, what: str, tries: int = 100) -> None:
    for _ in range(tries):
        if check():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"never happened: {what}")


def test_a_mark_whose_answer_was_lost_is_taken_back_through_the_outbox_and_never_counted(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Lost Answer")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    calls = lose_first_answer(context, page)

    mark = page.locator("li.entry button.check").first
    key = mark.get_attribute("data-focus")
    check = page.locator(f"button.check[data-focus='{key}']")
    mark.click()
    expect(check).to_have_attribute("aria-pressed", "true")
    page.clock.fast_forward(9_000)  # the seconds to take it back are over: it goes out
    wait_until(page, lambda: calls["n"] >= 1 and server_completions(live_server, patient.id), "the batch stored")
    expect(page.locator("#offline")).to_be_visible()
    page.wait_for_timeout(300)  # the failed send is over
    [record] = stored_records(page)
    assert record["state"] == "pending"

    # Offline, the patient taps the mark: the clinic may have it, so it is not deleted but taken
    # back through the outbox (its take-back follows it), and the mark clears at once.
    page.clock.fast_forward(1_000)
    check.click()
    expect(page.locator("#toast")).to_contain_text("Your clinic's record is updated once it is sent.")
    expect(check).to_have_attribute("aria-pressed", "false")
    assert sorted(r["id"] for r in stored_records(page)) == [record["id"], "undo:" + record["id"]]

    # Back online, both go: one row at the clinic, taken back; settled on the phone, still not done
    # after a reload.
    context.set_offline(False)
    wait_outbox(page, 0)
    wait_until(page, lambda: [r["state"] for r in stored_records(page)] == ["sent"], "the records settled")
    assert [r["id"] for r in server_completions(live_server, patient.id)] == [record["id"]]
    withdrawn = live_server.rows("SELECT withdrawn_at FROM completion WHERE id = ?", (record["id"],))
    assert withdrawn[0]["withdrawn_at"] is not None
    page.reload()
    wait_for_screen(page, "today")
    expect(check).to_have_attribute("aria-pressed", "false")
    assert [(r["id"], r["state"]) for r in stored_records(page)] == [(record["id"], "sent")]


def test_a_pain_change_after_a_lost_answer_goes_out_and_the_phone_shows_what_the_clinic_keeps(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Lost Pain")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    lose_first_answer(context, page)

    page.locator("a.entry-main").first.click()
    wait_for_screen(page, "ex")
    page.get_by_role("button", name=MARK_DONE).click()
    done = page.locator(".done-panel")
    done.get_by_role("radio", name="7", exact=True).check()
    page.wait_for_timeout(300)
    page.clock.fast_forward(11_000)  # the answer settled: the record goes out, its answer is lost
    wait_until(page, lambda: server_completions(live_server, patient.id), "the batch stored")
    expect(page.locator("#offline")).to_be_visible()
    page.wait_for_timeout(300)  # the failed send is over

    # A change of mind: the record may be at the clinic as it went, so the new answer follows it.
    done.get_by_role("radio", name="3", exact=True).check()
    expect(done.locator(".pain-note")).to_contain_text("will be added")
    records = {r["id"]: r for r in stored_records(page)}
    [completion] = [r for r in records.values() if r["type"] == "completion"]
    assert completion["body"]["pain"] == 7  # stays as it went
    assert records[f"fill:{completion['id']}"]["body"]["pain"] == 3

    # Back online: the clinic keeps its 7 and says so; the phone shows 7, and tells the patient.
    context.set_offline(False)
    page.wait_for_timeout(300)
    page.clock.fast_forward(11_000)
    expect(done.locator(".pain-note")).to_contain_text("Your clinic already has your answer 7", timeout=10_000)
    expect(page.locator("input[name=pain]:checked")).to_have_value("7")
    wait_outbox(page, 0)
    assert [(r["state"], r["body"]["pain"]) for r in stored_records(page)] == [("sent", 7)]
    assert [r["pain"] for r in server_completions(live_server, patient.id)] == [7]
    page.reload()
    wait_for_screen(page, "ex")
    assert [(r["state"], r["body"]["pain"]) for r in stored_records(page)] == [("sent", 7)]


def refuse_sync(page: Page, times: int) -> dict[str, int]:
    """The first `times` syncs are refused as the server refuses a record from a phone whose clock
    runs fast; later ones go through."""
    calls = {"n": 0}

    def handle(route: Route) -> None:
        calls["n"] += 1
        if calls["n"] <= times:
            body = {
                "status": 422,
                "detail": "Invalid input",
                "errors": [{"field": "completions[0].done_at", "message": "is in the future"}],
            }
            route.fulfill(status=422, content_type="application/json", body=json.dumps(body))
        else:
            route.continue_()

    page.route(SYNC, handle)
    return calls


def test_a_refused_record_can_be_tried_again_and_stays_refused_with_its_reason_if_refused_again(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Refused Again")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    calls = refuse_sync(page, times=2)
    page.locator("button.check").first.click()
    page.clock.fast_forward(9_000)
    status = page.locator("#sync")
    expect(status).to_have_attribute("data-rejected", "1")
    [record] = stored_records(page)
    assert (record["state"], record["error"]) == ("rejected", "is in the future")
    # The server stores nothing of a batch it refuses: tried again, the record can be taken back.
    assert not record.get("tried")

    status.click()
    wait_for_screen(page, "more")
    expect(page.locator(".outbox-refused")).to_contain_text("date and time on this phone")
    # The clinic's reason, for the patient to pass on.
    expect(page.locator(".outbox-refused li")).to_contain_text("The clinic's system said: “is in the future”")
    retry = page.locator(".outbox-refused").get_by_role("button", name="Try again")
    retry.click()
    wait_until(page, lambda: calls["n"] >= 2, "sent again")
    expect(status).to_have_attribute("data-rejected", "1")
    [record] = stored_records(page)
    assert (record["state"], record["error"]) == ("rejected", "is in the future")
    assert not server_completions(live_server, patient.id)

    page.locator(".outbox-refused").get_by_role("button", name="Try again").click()
    expect(status).to_have_attribute("data-rejected", "0")
    wait_outbox(page, 0)
    assert [r["state"] for r in stored_records(page)] == ["sent"]
    assert [r["id"] for r in server_completions(live_server, patient.id)] == [record["id"]]
    expect(page.locator(".outbox-refused")).to_have_count(0)


def test_a_refused_record_is_tried_again_once_when_the_app_starts_again(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Clock Fixed")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    refuse_sync(page, times=1)
    page.locator("button.check").first.click()
    page.clock.fast_forward(9_000)
    expect(page.locator("#sync")).to_have_attribute("data-rejected", "1")
    [record] = stored_records(page)

    # The patient set the phone's clock right and opens the app again.
    page.reload()
    wait_for_screen(page, "today")
    expect(page.locator("#sync")).to_have_attribute("data-rejected", "0")
    wait_outbox(page, 0)
    assert [r["state"] for r in stored_records(page)] == ["sent"]
    assert [r["id"] for r in server_completions(live_server, patient.id)] == [record["id"]]


def said_nothing_new(page: Page) -> None:
    """No message about refused records shows for a second (one would stay for four)."""
    for _ in range(10):
        assert "could not save" not in page.inner_text("#toast")
        page.wait_for_timeout(100)


def test_a_refusal_is_told_once_not_again_at_every_start(page: Page, clinic: Clinic, live_server: LiveServer) -> None:
    patient = clinic.patient(name="Told Once")
    page.clock.install()
    join_in_browser(page, clinic.invite(patient))
    calls = refuse_sync(page, times=100)
    marks = page.locator("li.entry button.check")
    marks.nth(0).click()
    page.clock.fast_forward(9_000)
    status, toast = page.locator("#sync"), page.locator("#toast")
    expect(status).to_have_attribute("data-rejected", "1")
    expect(toast).to_contain_text("Your clinic's system could not save 1 record.")

    # Opened again: tried once more and refused again. Nothing new: the header says it, no toast.
    page.reload()
    wait_for_screen(page, "today")
    wait_until(page, lambda: calls["n"] >= 2, "tried again at the start")
    expect(status).to_have_attribute("data-rejected", "1")
    expect(status).to_contain_text("1 not saved")
    said_nothing_new(page)

    # Another record refused: told, with both.
    marks.nth(1).click()
    page.clock.fast_forward(9_000)
    expect(status).to_have_attribute("data-rejected", "2")
    expect(toast).to_contain_text("Your clinic's system could not save 2 records.")
    page.reload()
    wait_for_screen(page, "today")
    wait_until(page, lambda: calls["n"] >= 5, "both tried again at the start")
    expect(status).to_have_attribute("data-rejected", "2")
    said_nothing_new(page)
    assert not server_completions(live_server, patient.id)


def test_a_held_mark_is_taken_back_at_once_while_a_send_of_others_is_slow(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Slow Send")
    join_in_browser(page, clinic.invite(patient))
    # Sends hang until the test lets them go (a slow network), holding the outbox lock.
    page.evaluate(
        """() => {
          const send = window.fetch.bind(window);
          let release;
          const gate = new Promise((resolve) => { release = resolve; });
          window.__release = release;
          window.__sends = 0;
          window.fetch = (url, options) => {
            if (!String(url).includes('/patient/sync')) return send(url, options);
            window.__sends += 1;
            return gate.then(() => send(url, options));
          };
        }"""
    )
    marks = page.locator("li.entry button.check")
    key_a = marks.nth(0).get_attribute("data-focus")
    key_b = marks.nth(1).get_attribute("data-focus")
    exercise_a = page.locator("li.entry").nth(0).get_attribute("data-exercise")
    page.locator(f"button.check[data-focus='{key_a}']").click()
    # A's seconds to take it back run out: A is on its (slow) way.
    page.wait_for_function("() => window.__sends >= 1", timeout=15_000)

    check_b = page.locator(f"button.check[data-focus='{key_b}']")
    check_b.click()
    expect(check_b).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(800)
    check_b.click()
    # Taken back at once: no waiting for A's send, no "on its way".
    expect(page.locator("#toast")).to_contain_text("Taken back", timeout=1_000)
    expect(page.locator("#toast")).not_to_contain_text("on its way")
    expect(check_b).to_have_attribute("aria-pressed", "false")
    assert [r["body"]["exercise_id"] for r in stored_records(page)] == [exercise_a]

    page.evaluate("() => window.__release()")
    wait_outbox(page, 0)
    assert [r["exercise_id"] for r in server_completions(live_server, patient.id)] == [exercise_a]


def test_a_mark_that_cannot_be_stored_on_the_phone_goes_at_once_or_is_said_not_saved(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """Nothing logged lives only in the page's memory as if it were kept: online it goes at once,
    offline it is said not saved and not shown done (and the record stays out of storage)."""
    patient = clinic.patient(name="Full Phone")
    join_in_browser(page, clinic.invite(patient))
    page.evaluate(
        """() => {
          const put = IDBObjectStore.prototype.put;
          IDBObjectStore.prototype.put = function (value, key) {
            if (this.name === 'records') throw new DOMException('quota', 'QuotaExceededError');
            return put.call(this, value, key);
          };
        }"""
    )
    marks = page.locator("li.entry button.check")
    key = marks.first.get_attribute("data-focus")
    marks.first.click()
    expect(page.locator("#toast")).to_contain_text("This phone could not save your program for offline use.")
    wait_until(page, lambda: len(server_completions(live_server, patient.id)) == 1, "the mark at the clinic")
    expect(page.locator(f"button.check[data-focus='{key}']")).to_have_attribute("aria-pressed", "true")

    context.set_offline(True)
    key = marks.nth(1).get_attribute("data-focus")
    marks.nth(1).click()
    not_saved = "Not saved: it could not be sent, and this phone cannot keep it until it can."
    expect(page.locator("#toast")).to_contain_text(not_saved)
    expect(page.locator(f"button.check[data-focus='{key}']")).to_have_attribute("aria-pressed", "false")

    # The exercise screen: no "Well done", the button stays to try again.
    page.locator("a.entry-main").nth(1).click()
    wait_for_screen(page, "ex")
    page.locator("#toast").evaluate("(box) => box.replaceChildren()")
    button = page.get_by_role("button", name=MARK_DONE)
    button.click()
    expect(page.locator("#toast")).to_contain_text(not_saved)
    expect(page.locator(".done-panel")).to_be_hidden()
    expect(button).to_be_visible()

    # The check-in: the form stays as filled in, to be saved again; nothing says it was saved.
    page.locator("#nav").get_by_role("link", name="Check-in").click()
    wait_for_screen(page, "checkin")
    page.locator("#toast").evaluate("(box) => box.replaceChildren()")
    page.get_by_role("radio", name="4", exact=True).check()
    page.get_by_role("button", name="Save check-in").click()
    expect(page.locator("#toast")).to_contain_text(not_saved)
    expect(page.locator("#toast")).not_to_contain_text("Check-in saved")
    wait_for_screen(page, "checkin")
    expect(page.get_by_role("radio", name="4", exact=True)).to_be_checked()
    wait_outbox(page, 0)
    assert stored_records(page) == []
    assert len(server_completions(live_server, patient.id)) == 1


# Records put straight into the outbox (as the app stores them), then sent by the app's own start.
# A learned byte bound (core.js, LIMIT_KEY) may go along, learned `ago` ms before now.
SEED = """([records, limit]) => new Promise((resolve, reject) => {
  const r = indexedDB.open("unknot");
  r.onsuccess = () => {
    const t = r.result.transaction(["records", "kv"], "readwrite");
    for (const body of records) {
      const type = body.exercise_id ? "completion" : "checkin";
      t.objectStore("records").put({ id: body.id, type, state: "pending", ready_at: 0, body });
    }
    if (limit) t.objectStore("kv").put({ bytes: limit.bytes, at: Date.now() - limit.ago }, "batch_limit");
    t.oncomplete = () => { r.result.close(); resolve(); };
    t.onerror = () => reject(t.error);
  };
  r.onerror = () => reject(r.error);
})"""


def seed_outbox(page: Page, records: list[dict[str, Any]], limit: dict[str, int] | None = None) -> None:
    """Store records in the outbox as an app that went away before sending them, then open the app."""
    # Written from a page of the same origin that is not the app: a send the app had started
    # (the join's) could otherwise take them and be cut off by the reload halfway, out of the
    # test's control (a 413 learned in a page that is then gone).
    app_url = page.url
    page.goto(urljoin(app_url, "/api/v1/health"))
    page.evaluate(SEED, [records, limit])
    page.goto(app_url)
    wait_for_screen(page, "today")


def watch_syncs(page: Page) -> list[tuple[int, int]]:
    """(body bytes, status) of every sync request the page sends."""
    seen: list[tuple[int, int]] = []

    def done(response: Any) -> None:
        if response.url.endswith("/patient/sync") and response.request.method == "POST":
            seen.append((len(response.request.post_data_buffer or b""), response.status))

    page.on("response", done)
    return seen


def test_a_big_outbox_goes_in_batches_the_server_takes(page: Page, clinic: Clinic, live_server: LiveServer) -> None:
    # Weeks of marks logged offline, each with the longest note a record may carry: together far
    # more than the server's body limit (256 KiB), which would refuse one batch of them all.
    patient = clinic.patient(name="Big Outbox")
    join_in_browser(page, clinic.invite(patient))
    exercise = page.locator("li.entry").first.get_attribute("data-exercise")
    now, today = dt.datetime.now(dt.UTC).isoformat(), local_today()
    records = [
        {
            "id": str(uuid.uuid4()),
            "exercise_id": exercise,
            "on_date": (today - dt.timedelta(days=i)).isoformat(),
            "slot": "morning",
            "done_at": now,
            "note": "€" * 500,
        }
        for i in range(200)
    ]
    assert len(json.dumps({"completions": records}, ensure_ascii=False).encode()) > 262_144
    syncs = watch_syncs(page)
    seed_outbox(page, records)
    wait_outbox(page, 0, timeout=30_000)
    assert len(server_completions(live_server, patient.id)) == 200
    assert syncs
    assert all(status == 200 for _, status in syncs), syncs
    assert max(size for size, _ in syncs) <= 56 * 1024


def noted_checkins(n: int) -> list[dict[str, Any]]:
    """``n`` of today's check-ins, each with a long note (about 1 KB sent)."""
    now, today = dt.datetime.now(dt.UTC).isoformat(), local_today().isoformat()
    return [
        {"id": str(uuid.uuid4()), "on_date": today, "soreness": 3, "done_at": now, "note": "é" * 500} for _ in range(n)
    ]


def test_a_batch_refused_as_too_large_is_halved_until_it_goes(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    # A proxy in front of the server takes bodies up to 10 000 bytes: it answers 413 to more.
    patient = clinic.patient(name="Small Proxy")
    join_in_browser(page, clinic.invite(patient))
    records = noted_checkins(40)
    refused = {"n": 0}

    def proxy(route: Route) -> None:
        if len(route.request.post_data_buffer or b"") > 10_000:
            refused["n"] += 1
            route.fulfill(status=413, content_type="text/html", body="<h1>413 Request Entity Too Large</h1>")
        else:
            route.continue_()

    page.route(SYNC, proxy)
    seed_outbox(page, records)
    wait_outbox(page, 0, timeout=30_000)
    assert refused["n"] >= 1
    held = live_server.rows("SELECT id FROM checkin WHERE patient_id = ?", (patient.id,))
    assert sorted(r["id"] for r in held) == sorted(r["id"] for r in records)
    assert [r["state"] for r in stored_records(page)] == ["sent"] * 40

    # More logged, and the app opened again: it keeps to what it learned, with no refused send.
    learned = refused["n"]
    seed_outbox(page, noted_checkins(40))
    wait_outbox(page, 0, timeout=30_000)
    assert refused["n"] == learned
    held = live_server.rows("SELECT id FROM checkin WHERE patient_id = ?", (patient.id,))
    assert len(held) == 80


def test_a_lower_limit_learned_from_a_413_is_kept_for_a_day(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    # Learned by this page, another or the worker: the first send of a page keeps to it for a day;
    # after that, full batches are tried again (the proxy may have been changed, or left behind).
    patient = clinic.patient(name="Limit Kept")
    join_in_browser(page, clinic.invite(patient))
    syncs = watch_syncs(page)
    hour = 3600 * 1000
    seed_outbox(page, noted_checkins(10), limit={"bytes": 4000, "ago": hour})
    wait_outbox(page, 0)
    assert len(syncs) >= 3
    assert all(size <= 4000 and status == 200 for size, status in syncs), syncs

    syncs.clear()
    seed_outbox(page, noted_checkins(10), limit={"bytes": 4000, "ago": 25 * hour})
    wait_outbox(page, 0)
    assert [status for _, status in syncs] == [200], syncs  # all ten in one send
    assert syncs[0][0] > 10_000
    assert len(live_server.rows("SELECT id FROM checkin WHERE patient_id = ?", (patient.id,))) == 20


def test_a_record_too_large_on_its_own_is_set_aside_and_the_rest_go(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    # A proxy with a limit below what one record can be (a long note): that record alone is
    # refused, like a record the server refuses, and does not hold up the others.
    patient = clinic.patient(name="Tiny Proxy")
    join_in_browser(page, clinic.invite(patient))
    exercise = page.locator("li.entry").first.get_attribute("data-exercise")
    now, today = dt.datetime.now(dt.UTC).isoformat(), local_today().isoformat()
    big = {"id": str(uuid.uuid4()), "exercise_id": exercise, "on_date": today, "slot": "morning", "done_at": now}
    big["note"] = "€" * 500
    small = [{"id": str(uuid.uuid4()), "on_date": today, "soreness": 2, "done_at": now} for _ in range(3)]

    def proxy(route: Route) -> None:
        if len(route.request.post_data_buffer or b"") > 1_500:
            route.fulfill(status=413, content_type="text/html", body="<h1>413 Request Entity Too Large</h1>")
        else:
            route.continue_()

    page.route(SYNC, proxy)
    seed_outbox(page, [big, *small])
    expect(page.locator("#sync")).to_have_attribute("data-rejected", "1", timeout=15_000)
    wait_outbox(page, 0)
    held = live_server.rows("SELECT id FROM checkin WHERE patient_id = ?", (patient.id,))
    assert sorted(r["id"] for r in held) == sorted(r["id"] for r in small)
    assert not server_completions(live_server, patient.id)
    states = {r["id"]: r["state"] for r in stored_records(page)}
    assert states.pop(big["id"]) == "rejected"
    assert set(states.values()) == {"sent"}
    # The proxy stored nothing of it: tried again on request, it can still be taken back.
    assert [r for r in stored_records(page) if r["id"] == big["id"] and r.get("tried")] == []
    page.locator("#sync").click()
    wait_for_screen(page, "more")
    said = re.compile("The clinic's system said: “too large to send”$")
    expect(page.locator(".outbox-refused li")).to_have_text(said)


def test_records_of_a_batch_refused_as_too_large_can_still_be_taken_back(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    # A proxy answers 413 to the first send (nothing reaches the server), then the server fails
    # (503: what went may be stored). Only the records of that second request may be at the clinic.
    patient = clinic.patient(name="Too Large Once")
    join_in_browser(page, clinic.invite(patient))
    entries = page.locator("li.entry")
    now, today = dt.datetime.now(dt.UTC).isoformat(), local_today().isoformat()
    records = [
        {
            "id": str(uuid.uuid4()),
            "exercise_id": entries.nth(i).get_attribute("data-exercise"),
            "on_date": today,
            "slot": entries.nth(i).get_attribute("data-slot"),
            "done_at": now,
        }
        for i in range(2)
    ]
    carried: list[tuple[int, list[str]]] = []

    def proxy(route: Route) -> None:
        ids = [r["id"] for r in json.loads(route.request.post_data or "{}")["completions"]]
        status = 413 if not carried else 503
        carried.append((status, ids))
        route.fulfill(status=status, content_type="text/html", body=f"<h1>{status}</h1>")

    page.route(SYNC, proxy)
    seed_outbox(page, records)
    wait_until(page, lambda: len(carried) >= 2, "sent again after the 413")
    assert carried[0] == (413, sorted(r["id"] for r in records))
    maybe = {i for status, ids in carried if status != 413 for i in ids}
    assert len(maybe) == 1, carried
    tried = {r["id"]: bool(r.get("tried")) for r in stored_records(page)}
    assert tried == {r["id"]: r["id"] in maybe for r in records}

    # The one that only went in the refused batch is taken back from Today like any mark.
    never = next(r for r in records if r["id"] not in maybe)
    check = page.locator(f"li.entry[data-exercise='{never['exercise_id']}'][data-slot='{never['slot']}'] button.check")
    expect(check).to_have_attribute("aria-pressed", "true")
    check.click()
    expect(check).to_have_attribute("aria-pressed", "false")
    assert [r["id"] for r in stored_records(page)] == sorted(maybe)
    assert not server_completions(live_server, patient.id)
