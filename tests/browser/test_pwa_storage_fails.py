"""A phone that cannot store: no IndexedDB (some private modes), or storage full for IndexedDB and
Cache Storage alike. The app still joins, shows the plan and sends what is logged for the visit,
says once that this phone could not keep the program, and never claims to keep a tick it cannot."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    join_in_browser,
    new_context,
    wait_for_screen,
    wait_outbox,
)
from tests.browser.test_pwa_outbox_faults import server_completions, wait_until
from tests.browser.test_pwa_sync_status import tick_on_another_phone

pytestmark = pytest.mark.browser

# indexedDB.open throwing, as in private modes that have no IndexedDB.
NO_INDEXEDDB = """IDBFactory.prototype.open = function () {
  throw new DOMException("not in private mode", "InvalidStateError");
};"""

SAID = {
    "en-US": {
        "hello": "Hello Private",
        "storage": "closing or reloading the app will disconnect this phone, and you will need a new code",
        "not_kept": "Not saved: it could not be sent",
        "offline": "Offline: this phone cannot keep what you log",
    },
    "es-ES": {
        "hello": "Hola, Private",
        "storage": "si cierra o recarga la aplicación, este teléfono se desconectará y necesitará un código nuevo",
        "not_kept": "No se ha guardado: no se pudo enviar",
        "offline": "Sin conexión: este teléfono no puede guardar lo que registre",
    },
}


def full_storage(context: BrowserContext, page: Page, server: LiveServer) -> None:
    """This origin's storage quota set to one byte: every IndexedDB and Cache Storage write fails
    with QuotaExceededError (the page's and its worker's), as on a phone whose storage is full.
    Pages loaded from here on see it (a page already open may still pass a small write)."""
    cdp = context.new_cdp_session(page)
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": server.url, "quotaSize": 1})


def tick_first(page: Page) -> str:
    """Tap the first open done mark on the list; returns its data-focus key."""
    mark = page.locator("li.entry button.check:not([aria-pressed='true'])").first
    key = mark.get_attribute("data-focus") or ""
    mark.click()
    return key


@pytest.mark.parametrize("locale", ["en-US", "es-ES"])
def test_without_indexeddb_the_visit_works_and_a_tick_is_sent_at_once_or_said_not_saved(
    browser: object, clinic: Clinic, live_server: LiveServer, locale: str
) -> None:
    said = SAID[locale]
    context = new_context(browser, live_server, locale=locale)  # type: ignore[arg-type]
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.add_init_script(NO_INDEXEDDB)
        patient = clinic.patient(name="Private")
        page.goto(clinic.invite(patient)["link"])
        wait_for_screen(page, "today")
        expect(page.locator("h1")).to_have_text(said["hello"])
        toast = page.locator("#toast")
        expect(toast).to_contain_text(said["storage"])

        # Online, a tick goes at once (no seconds held to take it back: nothing would keep it).
        key = tick_first(page)
        wait_until(page, lambda: len(server_completions(live_server, patient.id)) == 1, "the tick at the clinic")
        expect(page.locator(f"button.check[data-focus='{key}']")).to_have_attribute("aria-pressed", "true")
        wait_outbox(page, 0)

        # Offline, it can be neither sent nor kept: said so, and not shown done. A take-back too:
        # the mark stays done, as the clinic has it.
        context.set_offline(True)
        expect(page.locator("#offline")).to_contain_text(said["offline"])
        page.wait_for_timeout(800)  # a second tap on the same mark this soon is ignored
        page.locator(f"button.check[data-focus='{key}']").click()
        expect(toast).to_contain_text(said["not_kept"])
        expect(page.locator(f"button.check[data-focus='{key}']")).to_have_attribute("aria-pressed", "true")
        toast.evaluate("(box) => box.replaceChildren()")
        key = tick_first(page)
        expect(toast).to_contain_text(said["not_kept"])
        expect(page.locator(f"button.check[data-focus='{key}']")).to_have_attribute("aria-pressed", "false")
        wait_outbox(page, 0)
        context.set_offline(False)
        assert len(server_completions(live_server, patient.id)) == 1
        assert live_server.rows("SELECT withdrawn_at FROM completion WHERE patient_id = ?", (patient.id,))[0][0] is None

        # Online, a take-back goes at once too.
        page.wait_for_timeout(800)
        page.locator("li.entry button.check[aria-pressed='true']").first.click()
        wait_until(
            page,
            lambda: live_server.rows("SELECT withdrawn_at FROM completion WHERE patient_id = ?", (patient.id,))[0][0],
            "the take-back at the clinic",
        )
        wait_outbox(page, 0)
        assert errors == []
    finally:
        context.close()


def test_a_full_phone_joins_from_the_network_and_sends_what_is_logged(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """Storage full from the first visit: the worker cannot install its shell and the database
    takes no write. The invite code was used up and the join lost ("already used")."""
    patient = clinic.patient(name="Full Phone")
    page.goto("/manifest.webmanifest")  # the origin, without the app
    full_storage(context, page, live_server)
    page.goto(clinic.invite(patient)["link"])
    wait_for_screen(page, "today")
    expect(page.locator("h1")).to_have_text("Hello Full Phone")
    expect(page.locator("#toast")).to_contain_text(SAID["en-US"]["storage"])
    tick_first(page)
    wait_until(page, lambda: len(server_completions(live_server, patient.id)) == 1, "the tick at the clinic")
    wait_outbox(page, 0)
    assert page.evaluate("() => navigator.serviceWorker.controller") is None


def test_when_storage_fills_up_the_worker_passes_the_servers_answers_not_its_old_copies(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """A worker in control whose Cache Storage refuses writes answered every read the server made
    with its older stored copy (or a network error): a tick from the patient's other phone never
    showed, and the page kept asking for the log."""
    patient = clinic.patient(name="Filling Up")
    join_in_browser(page, clinic.invite(patient))
    there = page.locator("li.entry button.check").first.get_attribute("data-focus") or ""
    tick_on_another_phone(clinic, live_server, patient, there)
    full_storage(context, page, live_server)
    page.reload()
    wait_for_screen(page, "today")
    assert page.evaluate("() => navigator.serviceWorker.controller !== null")
    expect(page.locator(f"button.check[data-focus='{there}']")).to_have_attribute("aria-pressed", "true")
