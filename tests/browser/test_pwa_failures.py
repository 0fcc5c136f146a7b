"""What goes wrong, said plainly: used invites, a removed device, a failing server while syncing."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Dialog, Page, Route, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    Patient,
    join_in_browser,
    new_context,
    stored_records,
    wait_for_screen,
    wait_outbox,
)
from tests.browser.test_pwa_join_retry import pause_clock
from tests.browser.test_pwa_outbox_faults import wait_until

pytestmark = pytest.mark.browser


def completions_of(server: LiveServer, patient_id: int) -> list[str]:
    return [r["id"] for r in server.rows("SELECT id FROM completion WHERE patient_id = ?", (patient_id,))]


def removed_with_unsent(
    context: BrowserContext, page: Page, clinic: Clinic, name: str, records: int, *, expired: bool = False
) -> Patient:
    """A patient joined on ``page`` who logs ``records`` entries offline, then loses the device
    (the clinic removed it, or with ``expired`` it went unused too long); returns with the join
    screen shown."""
    patient = clinic.patient(name=name)
    join_in_browser(page, clinic.invite(patient))
    context.set_offline(True)
    for _ in range(records):
        page.locator("li.entry button.check:not([aria-pressed='true'])").first.click()
    wait_outbox(page, records)
    if expired:
        clinic.expire_all_devices(patient)
    else:
        clinic.revoke_all_devices(patient)
    context.set_offline(False)
    wait_for_screen(page, "join")
    return patient


def test_used_or_unknown_code_says_to_ask_the_clinic(page: Page, clinic: Clinic) -> None:
    patient = clinic.patient(name="Luis")
    used = clinic.invite(patient)
    assert httpx.post(f"{clinic.server.url}/api/v1/patient/join", json={"code": used["code"]}).status_code == 201

    page.goto(used["link"])
    wait_for_screen(page, "join")
    expect(page.get_by_role("alert")).to_have_text(
        "This code was already used or has expired. Ask your clinic for a new one."
    )
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    code = page.get_by_label("Your code")
    # A link cut short on its way: what arrived is shown to be checked, and the code leaves the address.
    page.goto("/#join=z0p9-RKBF-38")
    expect(code).to_have_value("Z0P9-RKBF-38")
    expect(page.get_by_role("alert")).to_contain_text("Check this code")
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    assert "join=" not in page.url
    code.fill("ZZZZ-ZZZZ-ZZZZ")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("alert")).to_have_text(
        "We could not find this code. Check it, or ask your clinic for a new one."
    )

    # Typing a good code (small letters, no dashes) works.
    fresh = clinic.invite(patient)["code"]
    code.fill(fresh.replace("-", "").lower())
    page.get_by_role("button", name="Start").click()
    wait_for_screen(page, "today")
    expect(page.locator("h1")).to_have_text("Hello Luis")

    # So does one copied from a message with quotes, other dashes, a no-break space and a full stop,
    # typed on a second phone (this one is still finishing its join: it goes to Today once the log
    # is read, which would take it off a join screen opened meanwhile).
    other = new_context(page.context.browser, clinic.server)
    try:
        phone = other.new_page()
        phone.goto("/")
        wait_for_screen(phone, "join")
        fresh = clinic.invite(patient)["code"]
        typed = "\u201c" + fresh[:4].lower() + "\u2013" + fresh[5:9] + "\u00a0" + fresh[10:] + ".\u201d"
        phone.get_by_label("Your code").fill(typed)
        phone.get_by_role("button", name="Start").click()
        wait_for_screen(phone, "today")
        expect(phone.locator("h1")).to_have_text("Hello Luis")
    finally:
        other.close()


def test_a_patient_without_a_plan_is_told_it_is_not_ready(page: Page, clinic: Clinic) -> None:
    patient = clinic.patient(name="Nora", plan=False)
    page.goto(clinic.invite(patient)["link"])
    wait_for_screen(page, "waiting")
    expect(page.locator("h1")).to_have_text("Your program is not ready yet")


def test_a_plan_the_server_cannot_give_is_said_plainly_and_asked_for_again(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    patient = clinic.patient(name="Olga")
    asked: list[str] = []

    def busy(route: Route) -> None:
        asked.append(route.request.url)
        route.fulfill(status=503, content_type="application/json", body='{"status_code":503,"detail":"busy"}')

    context.route("**/api/v1/patient/plan*", busy)
    page.clock.install()
    page.goto(clinic.invite(patient)["link"])
    wait_for_screen(page, "waiting")
    expect(page.locator("h1")).to_have_text("We could not load your program")
    expect(page.locator("main")).to_contain_text("Check your connection and try again.")
    # Asked again by itself, after a wait that grows.
    before = len(asked)
    page.clock.run_for(2_500)
    for _ in range(50):
        if len(asked) > before:
            break
        page.wait_for_timeout(100)
    assert len(asked) > before
    context.unroute("**/api/v1/patient/plan*")
    retry = page.get_by_role("button", name="Try again")
    retry.click()
    expect(page.locator("#toast")).to_contain_text("Trying again…")
    wait_for_screen(page, "today")
    expect(page.locator("h1")).to_have_text("Hello Olga")


def test_a_plan_this_phone_cannot_store_is_shown_said_once_and_not_asked_for_again(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    """A plan the server gave but this phone could not store (its storage full) was taken for one
    lost on the way, and asked for again after 2 s, 4 s, ... 5 minutes, for good; the waiting
    screen said "We could not load your program" though the plan was there. It shows for the
    visit, and the patient is told once that this phone could not keep it."""
    patient = clinic.patient(name="Pia Full")
    asked: list[str] = []

    def count(route: Route) -> None:
        asked.append(route.request.url)
        route.continue_()

    context.route("**/api/v1/patient/plan*", count)
    page.add_init_script(
        """(() => {
          const put = IDBObjectStore.prototype.put;
          IDBObjectStore.prototype.put = function (value, key) {
            if (this.name === "kv" && String(key).startsWith("plan")) {
              throw new DOMException("quota", "QuotaExceededError");
            }
            return put.call(this, value, key);
          };
        })()"""
    )
    pause_clock(page)
    page.goto(clinic.invite(patient)["link"])
    wait_for_screen(page, "today")
    expect(page.locator("h1")).to_have_text("Hello Pia Full")
    said = page.locator("#toast p", has_text="This phone could not save your program for offline use.")
    expect(said).to_have_count(1)
    assert len(asked) == 1
    page.clock.run_for(30_000)
    page.wait_for_timeout(500)
    assert len(asked) == 1
    expect(said).to_have_count(0)
    # Asked for again (back online): shown again, not said again.
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    wait_until(page, lambda: len(asked) == 2, "the plan asked for again")
    page.locator("#nav").get_by_role("link", name="Progress").click()
    wait_for_screen(page, "progress")
    expect(said).to_have_count(0)
    context.unroute("**/api/v1/patient/plan*")


def test_removed_device_forgets_the_patient_says_what_was_unsent_and_can_join_again(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    # A removal forgets everything of the patient on the phone, unsent records too (they can no
    # longer be sent; on a shared phone they are someone's health data): the screen says how many.
    # test_pwa_forget.py looks into IndexedDB and Cache Storage.
    patient = removed_with_unsent(context, page, clinic, "Ana", 1)
    expect(page.locator("h1")).to_have_text("This phone was disconnected")
    expect(page.locator(".revoked-unsent")).to_contain_text("1 record you logged had not reached your clinic")
    expect(page.get_by_text("ask your clinic for a new code")).to_be_visible()
    wait_outbox(page, 0)
    assert stored_records(page) == []
    assert completions_of(live_server, patient.id) == []

    # Joining again is a fresh start: nothing is left to ask about.
    asked = answer_dialogs(page, True)
    page.get_by_label("Your code").fill(clinic.invite(patient)["code"])
    page.get_by_role("button", name="Start").click()
    wait_for_screen(page, "today")
    expect(page.locator("h1")).to_have_text("Hello Ana")
    assert asked == []
    expect(page.locator(".revoked-unsent")).to_have_count(0)
    wait_outbox(page, 0)
    assert stored_records(page) == []
    assert completions_of(live_server, patient.id) == []


EXPIRED = {
    "en-US": {
        "title": "This phone was disconnected",
        "why": "had not been used for a long time, so it was disconnected from Unknot to protect your health "
        "information",
        "removed": "Your clinic disconnected",
        "unsent": "1 record you logged had not reached your clinic",
        "again": "ask your clinic for a new code",
    },
    "es-ES": {
        "title": "Este teléfono fue desconectado",
        "why": "llevaba mucho tiempo sin usarse, así que se desconectó de Unknot para proteger su información de salud",
        "removed": "Su clínica desconectó",
        "unsent": "1 registro que anotó no había llegado",
        "again": "pida un código nuevo a su clínica",
    },
}


@pytest.mark.parametrize("locale", ["en-US", "es-ES"])
def test_a_phone_unused_too_long_says_why_it_was_disconnected_and_asks_for_a_new_code(
    browser: Browser, clinic: Clinic, locale: str
) -> None:
    # Not the clinic's doing: the server's 401 says `device_expired`, and the phone says so kindly.
    said = EXPIRED[locale]
    context = new_context(browser, clinic.server, locale=locale)
    try:
        page = context.new_page()
        removed_with_unsent(context, page, clinic, "Elena", 1, expired=True)
        expect(page.locator("h1")).to_have_text(said["title"])
        lead = page.locator(".lead")
        expect(lead).to_contain_text(said["why"])
        expect(lead).not_to_contain_text(said["removed"])
        expect(page.locator(".revoked-unsent")).to_contain_text(said["unsent"])
        expect(page.get_by_text(said["again"])).to_be_visible()
        # Opened again, it still says why (the phone keeps only that, with the count).
        page.reload()
        wait_for_screen(page, "join")
        expect(lead).to_contain_text(said["why"])
        expect(page.locator(".revoked-unsent")).to_contain_text(said["unsent"])
    finally:
        context.close()


def answer_dialogs(page: Page, *answers: bool) -> list[str]:
    """Answer the page's next confirm() dialogs in order (any beyond ``answers`` is declined);
    returns the list their texts are collected in."""
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        accept = answers[len(asked)] if len(asked) < len(answers) else False
        asked.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", answer)
    return asked


def test_someone_else_joining_is_asked_before_unsent_records_are_deleted(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    # Ana's phone (still joined) cannot send: the server fails. Bea's invite link is opened on it.
    ana = clinic.patient(name="Ana")
    join_in_browser(page, clinic.invite(ana))
    page.route(
        "**/api/v1/patient/sync",
        lambda route: route.fulfill(status=503, json={"status": 503, "detail": "service unavailable", "errors": []}),
    )
    for _ in range(2):
        page.locator("li.entry button.check:not([aria-pressed='true'])").first.click()
    wait_outbox(page, 2)

    # Saying no changes nothing: Ana's records stay on the phone and Bea's code is not used up.
    bea = clinic.patient(name="Bea")
    code = clinic.invite(bea)["code"]
    asked = answer_dialogs(page, False, True)
    page.evaluate("(code) => { location.hash = `#join=${code}`; }", code)
    expect(page.locator("#toast")).to_contain_text("Not joined. The code was not used and still works.")
    assert asked == [
        "This phone still holds 2 records of Ana that have not reached the clinic. If the code is for Ana, "
        "they will be sent. If it is for someone else, they will be deleted. Join with this code?"
    ]
    wait_for_screen(page, "today")
    expect(page.locator("h1")).to_have_text("Hello Ana")
    wait_outbox(page, 2)

    # Saying yes with the same code: the phone becomes Bea's, and nothing of Ana's stays on it
    # or reaches the clinic under Bea's name.
    page.evaluate("(code) => { location.hash = `#join=${code}`; }", code)
    wait_for_screen(page, "today")
    expect(page.locator("h1")).to_have_text("Hello Bea")
    assert len(asked) == 2
    wait_outbox(page, 0)
    assert stored_records(page) == []
    assert completions_of(live_server, ana.id) == []
    assert completions_of(live_server, bea.id) == []


def test_a_join_tried_again_by_itself_does_not_ask_again_about_unsent_records(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """The join screen tries a join that failed on the way again by itself: the question asked
    before the first try (whose unsent records go) must not pop up again with each try."""
    ana = clinic.patient(name="Ana")
    pause_clock(page)
    join_in_browser(page, clinic.invite(ana))
    page.route(
        "**/api/v1/patient/sync",
        lambda route: route.fulfill(status=503, json={"status": 503, "detail": "service unavailable", "errors": []}),
    )
    page.locator("li.entry button.check").first.click()
    wait_outbox(page, 1)
    tries: list[str] = []

    def first_lost(route: Route) -> None:
        tries.append(route.request.url)
        if len(tries) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/patient/join", first_lost)
    asked = answer_dialogs(page, True)
    page.evaluate("location.hash = '#/join'")
    wait_for_screen(page, "join")
    page.get_by_label("Your code").fill(clinic.invite(clinic.patient(name="Bea"))["code"])
    page.get_by_role("button", name="Start").click()
    expect(page.locator(".join-progress")).to_have_text("Still connecting\u2026 trying again (2 of 4).")
    page.clock.run_for(2_100)
    wait_for_screen(page, "today")
    expect(page.locator("h1")).to_have_text("Hello Bea")
    assert len(tries) == 2
    assert len(asked) == 1
    assert completions_of(live_server, ana.id) == []


def test_disconnecting_names_what_is_unsent_and_then_forgets_the_patient(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    ana = clinic.patient(name="Ana")
    join_in_browser(page, clinic.invite(ana))
    context.set_offline(True)
    page.locator("li.entry button.check").first.click()
    wait_outbox(page, 1)
    asked = answer_dialogs(page, False, True)
    page.locator("#nav").get_by_role("link", name="More").click()
    wait_for_screen(page, "more")
    disconnect = page.get_by_role("button", name="Disconnect")

    # Saying no keeps everything, the unsent record too.
    disconnect.click()
    assert asked == ["Disconnect this phone from your clinic?\n\n1 record has not been sent yet and will be lost."]
    wait_for_screen(page, "more")
    wait_outbox(page, 1)

    # Once it is sent, the question has nothing to warn about; yes forgets the patient on this phone.
    context.set_offline(False)
    wait_outbox(page, 0)
    disconnect.click()
    assert asked[1] == "Disconnect this phone from your clinic?"
    wait_for_screen(page, "join")
    assert stored_records(page) == []
    page.reload()
    wait_for_screen(page, "join")
    expect(page.locator("h1")).to_have_text("Welcome")
    assert len(completions_of(live_server, ana.id)) == 1  # what reached the clinic stays there


# Cache Storage failing in the page (a broken profile, storage full): every call rejects.
BROKEN_CACHES = """for (const name of ["keys", "delete", "open"]) {
  CacheStorage.prototype[name] = () => Promise.reject(new DOMException("Cache Storage failing", "UnknownError"));
}"""


def test_disconnecting_and_joining_go_on_when_the_cached_answers_cannot_be_deleted(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """Disconnect awaited the deletion of the cached API answers uncaught: with Cache Storage
    failing it stopped half-way (the patient still on screen, an unhandled rejection), and so did
    a join on a phone that had none."""
    join_in_browser(page, clinic.invite(clinic.patient(name="Ana")))
    page.add_init_script(BROKEN_CACHES)
    page.reload()
    wait_for_screen(page, "today")
    answer_dialogs(page, True)
    page.locator("#nav").get_by_role("link", name="More").click()
    wait_for_screen(page, "more")
    page.get_by_role("button", name="Disconnect").click()
    wait_for_screen(page, "join")
    assert stored_records(page) == []
    assert page.evaluate("unknotCore.get('token')") is None

    bea = clinic.patient(name="Bea")
    page.get_by_label("Your code").fill(clinic.invite(bea)["code"])
    page.get_by_role("button", name="Start").click()
    wait_for_screen(page, "today")
    expect(page.locator("h1")).to_have_text("Hello Bea")


def test_a_renamed_patient_joining_again_sends_what_she_logs_and_someone_else_gets_a_clean_phone(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    # The clinic removes the device (her unsent record is forgotten with the rest, see above) and
    # corrects her name; she joins again with a new code and logs one that reaches the clinic.
    ana = removed_with_unsent(context, page, clinic, "Ana", 1)
    assert clinic.http.patch(f"/api/v1/patients/{ana.id}", json={"display_name": "Ana María"}).is_success
    page.get_by_label("Your code").fill(clinic.invite(ana)["code"])
    page.get_by_role("button", name="Start").click()
    wait_for_screen(page, "today")
    expect(page.locator("h1")).to_have_text("Hello Ana María")
    page.locator("li.entry button.check").first.click()
    wait_outbox(page, 1)
    wait_outbox(page, 0)
    first = [r["id"] for r in stored_records(page)]
    assert len(first) == 1
    assert completions_of(live_server, ana.id) == first

    # Ana logs one more while the server is failing, then someone else's link is opened on this phone.
    failing = [True]

    def sync_route(route: Route) -> None:
        if failing[0]:
            route.fulfill(status=503, json={"status": 503, "detail": "service unavailable", "errors": []})
        else:
            route.continue_()

    page.route("**/api/v1/patient/sync", sync_route)
    page.locator("li.entry button.check:not([aria-pressed='true'])").first.click()
    wait_outbox(page, 1)
    bea = clinic.patient(name="Bea")
    failing[0] = False
    page.evaluate("(code) => { location.hash = `#join=${code}`; }", clinic.invite(bea)["code"])
    expect(page.locator("h1")).to_have_text("Hello Bea")
    # Ana's record went out under Ana before the phone became Bea's; nothing of Ana's stays on it.
    assert len(completions_of(live_server, ana.id)) == 2
    assert completions_of(live_server, bea.id) == []
    wait_outbox(page, 0)
    assert stored_records(page) == []

    # The clinic renames Bea: the phone shows it from the next start on, without a new code.
    assert clinic.http.patch(f"/api/v1/patients/{bea.id}", json={"display_name": "Beatriz"}).is_success
    page.reload()
    wait_for_screen(page, "today")
    page.locator("#nav").get_by_role("link", name="More").click()
    expect(page.locator(".lead").first).to_contain_text("Beatriz")


def test_sync_failures_keep_the_outbox_retry_later_and_never_duplicate(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient = clinic.patient(name="Pablo")
    join_in_browser(page, clinic.invite(patient))
    calls: list[str] = []
    mode = ["fail"]

    def sync_route(route: Route) -> None:
        calls.append(mode[0])
        if mode[0] == "fail":
            route.fulfill(status=503, json={"status": 503, "detail": "service unavailable", "errors": []})
        elif mode[0] == "lose":
            # The server stores the batch but the answer never reaches the phone.
            route.fetch()
            mode[0] = "pass"
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/patient/sync", sync_route)
    page.locator("li.entry button.check").first.click()
    wait_outbox(page, 1)
    # Sent once the mark can no longer be taken back (8 s), retried by itself after a short wait,
    # and kept while the server fails.
    for _ in range(200):
        if calls.count("fail") >= 2:
            break
        page.wait_for_timeout(100)
    assert calls.count("fail") >= 2, calls
    wait_outbox(page, 1)
    assert completions_of(live_server, patient.id) == []

    mode[0] = "lose"
    page.locator("#sync").click()
    # "lose" is recorded before the server has answered; "pass" only once it has stored the batch.
    for _ in range(50):
        if mode[0] == "pass":
            break
        page.wait_for_timeout(100)
    assert mode[0] == "pass", calls
    record_id = stored_records(page)[0]["id"]
    assert completions_of(live_server, patient.id) == [record_id]  # arrived, but the phone does not know
    wait_outbox(page, 1)

    page.locator("#sync").click()
    wait_outbox(page, 0)
    assert calls[-1] == "pass"
    assert completions_of(live_server, patient.id) == [record_id]


def offline_mark_with_worker(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer, name: str
) -> tuple[Patient, CDPSession, list[str], str]:
    """A new patient joined in ``page`` who marks an item done offline; returns the patient, a CDP
    session with the service worker's events on, the worker's registration ids and the record's id."""
    patient = clinic.patient(name=name)
    join_in_browser(page, clinic.invite(patient))
    cdp = context.new_cdp_session(page)
    registrations: list[str] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(
            r["registrationId"] for r in event["registrations"] if r["scopeURL"] == f"{live_server.url}/"
        ),
    )
    cdp.send("ServiceWorker.enable")
    context.set_offline(True)
    page.locator("li.entry button.check").first.click()
    wait_outbox(page, 1)
    assert registrations
    return patient, cdp, registrations, stored_records(page)[0]["id"]


def sync_until_sent(cdp: CDPSession, live_server: LiveServer, registration: str, patient_id: int) -> None:
    """Fire the outbox's Background Sync in the worker until the patient's completion arrives (10 tries).

    The browser retries a sync that failed (the network may take a moment to come back): so do we.
    Plain sleeps: the page may be frozen or gone."""
    for _ in range(10):
        cdp.send(
            "ServiceWorker.dispatchSyncEvent",
            {"origin": live_server.url, "registrationId": registration, "tag": "unknot-outbox", "lastChance": False},
        )
        for _ in range(10):
            if completions_of(live_server, patient_id):
                return
            time.sleep(0.1)


def test_background_sync_sends_the_outbox_after_the_app_is_closed(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient, cdp, registrations, record_id = offline_mark_with_worker(context, page, clinic, live_server, "Olga")

    # The app is closed (no window of its origin left); the network comes back; the browser
    # fires the sync the app registered, and the service worker sends the outbox itself.
    page.goto("about:blank")
    context.set_offline(False)
    sync_until_sent(cdp, live_server, registrations[-1], patient.id)
    assert completions_of(live_server, patient.id) == [record_id]


def test_background_sync_sends_the_outbox_while_the_only_tab_is_frozen(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    patient, cdp, registrations, record_id = offline_mark_with_worker(context, page, clinic, live_server, "Frozen Tab")

    # The tab stays open but frozen by the browser (the patient went to another app): it runs
    # nothing, so it cannot send when the network comes back. (Headless Chromium keeps every page
    # "visible", so a hidden tab that still runs cannot be made here; sw.js sends for one too.)
    cdp.send("Page.setWebLifecycleState", {"state": "frozen"})
    context.set_offline(False)
    time.sleep(2)
    assert completions_of(live_server, patient.id) == []  # not from the tab
    sync_until_sent(cdp, live_server, registrations[-1], patient.id)
    assert completions_of(live_server, patient.id) == [record_id]

    # Back on screen, the tab shows it sent, and it was sent once.
    cdp.send("Page.setWebLifecycleState", {"state": "active"})
    wait_outbox(page, 0)
    assert [r["state"] for r in stored_records(page)] == ["sent"]
    assert completions_of(live_server, patient.id) == [record_id]


def test_a_401_that_is_not_unknots_own_wipes_nothing_and_is_tried_again_later(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    # A captive portal or a misconfigured proxy answering 401 with a page (or JSON) of its own is
    # not the clinic removing the device: the patient and the unsent records stay, and go later.
    patient = clinic.patient(name="Portal")
    join_in_browser(page, clinic.invite(patient))
    context.set_offline(True)
    page.locator("li.entry button.check").first.click()
    wait_outbox(page, 1)
    [record] = stored_records(page)
    answered: dict[str, int] = {"sync": 0, "read": 0}

    def portal(route: Route) -> None:
        if route.request.url.endswith("/patient/sync"):
            answered["sync"] += 1
            route.fulfill(status=401, content_type="application/json", body='{"message":"Unauthorized"}')
        else:
            answered["read"] += 1
            route.fulfill(status=401, content_type="text/html", body="<html><h1>Sign in to the Wi-Fi</h1></html>")

    # The context's route sees the worker's requests too (it forwards the app's reads).
    context.route("**/api/v1/patient/**", portal)
    context.set_offline(False)
    page.reload()
    wait_for_screen(page, "today")
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    for _ in range(100):
        if answered["sync"] >= 1 and answered["read"] >= 2:
            break
        page.wait_for_timeout(100)
    assert answered["sync"] >= 1, answered
    assert answered["read"] >= 2, answered
    page.wait_for_timeout(500)  # whatever those answers set off is over
    wait_for_screen(page, "today")
    expect(page.locator("#nav")).to_be_visible()
    assert [r["id"] for r in stored_records(page)] == [record["id"]]
    kv = page.evaluate(
        """() => new Promise((resolve) => {
          const r = indexedDB.open("unknot");
          r.onsuccess = () => {
            const kv = r.result.transaction("kv").objectStore("kv");
            const token = kv.get("token");
            const revoked = kv.get("revoked");
            token.transaction.oncomplete = () => {
              resolve([Boolean(token.result), revoked.result || null]);
              r.result.close();
            };
          };
        })"""
    )
    assert kv == [True, None]
    wait_outbox(page, 1)

    # The way is clear again: the record goes.
    context.unroute("**/api/v1/patient/**")
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    wait_outbox(page, 0)
    assert completions_of(live_server, patient.id) == [record["id"]]


def test_a_screen_opened_while_a_typed_join_finishes_is_not_replaced_by_today(page: Page, clinic: Clinic) -> None:
    patient = clinic.patient(name="Hugo")
    held: list[Route] = []
    page.context.route("**/api/v1/patient/log*", lambda route: held.append(route))
    page.goto("/")
    wait_for_screen(page, "join")
    page.get_by_label("Your code").fill(clinic.invite(patient)["code"])
    page.get_by_role("button", name="Start").click()
    # The join is answered; the phone now reads its log, which waits here.
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert held, "the phone never asked for its log"
    page.evaluate("() => { location.hash = '#/help'; }")
    wait_for_screen(page, "help")
    for route in held:
        route.continue_()
    page.context.unroute("**/api/v1/patient/log*")
    # The join finished (the header shows the phone is connected) and Warning signs stayed open.
    expect(page.locator("#nav")).to_be_visible()
    page.wait_for_timeout(500)
    expect(page.locator("main h1")).to_have_text("Warning signs")
