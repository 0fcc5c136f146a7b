"""Only the language a phone uses is precached (sw.js): what a patient sees offline in their own
language, switching to one the phone never stored, and after a new version takes over."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    PageProblems,
    join_in_browser,
    new_context,
    screenshot,
    wait_for_screen,
)
from tests.browser.test_pwa_outbox_faults import wait_until
from tests.browser.test_pwa_sync_status import tick_on_another_phone
from tests.browser.test_pwa_update_and_taps import WORKER_VERSION

pytestmark = pytest.mark.browser

# The language files in each shell cache of the app: {cache name: [paths]}.
SHELL_LANGS = """async () => {
  const found = {};
  for (const name of await caches.keys()) {
    if (!name.startsWith("unknot-shell-")) continue;
    const keys = await (await caches.open(name)).keys();
    found[name] = keys.map((r) => new URL(r.url).pathname).filter((p) => p.startsWith("/i18n/")).sort();
  }
  return found;
}"""


def shell_langs(page: Page) -> dict[str, list[str]]:
    return page.evaluate(SHELL_LANGS)


def wait_shell_langs(page: Page, wanted: list[str]) -> None:
    """Wait until the one shell cache holds exactly the language files ``wanted``."""
    wait_until(page, lambda: list(shell_langs(page).values()) == [wanted], f"a shell with {wanted} alone")


def phone(browser: Browser, server: LiveServer, problems: PageProblems, locale: str) -> BrowserContext:
    """A fresh phone (no worker, nothing stored) with its browser in ``locale``."""
    context = new_context(browser, server, locale=locale)
    context.on("page", problems.watch)
    return context


def more_language(page: Page, name: str) -> None:
    page.get_by_role("link", name=re.compile("^(More|Más)$")).click()
    wait_for_screen(page, "more")
    page.get_by_role("button", name=name).click()


def test_a_spanish_phone_offline_opens_in_spanish_and_stores_no_english(
    browser: Browser, clinic: Clinic, live_server: LiveServer, page_problems: PageProblems
) -> None:
    context = phone(browser, live_server, page_problems, "es-ES")
    try:
        page = context.new_page()
        join_in_browser(page, clinic.invite(clinic.patient(name="Lucía", locale="es")))
        expect(page.locator("html")).to_have_attribute("lang", "es")
        wait_shell_langs(page, ["/i18n/es.js"])

        context.set_offline(True)
        response = page.reload()
        assert response is not None
        assert response.from_service_worker
        wait_for_screen(page, "today")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        expect(page.locator("#nav")).to_contain_text("Hoy")
        expect(page.locator("#main h1")).to_have_text("Hola, Lucía")
        assert list(shell_langs(page).values()) == [["/i18n/es.js"]]
    finally:
        context.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)


def test_a_phone_in_another_language_whose_clinic_chose_spanish_keeps_spanish_for_offline(
    browser: Browser, clinic: Clinic, live_server: LiveServer, page_problems: PageProblems
) -> None:
    """A French browser: the worker's own pick (the browser's, else English) is not the Spanish the
    page takes from the clinic on joining; the page's language joins the shell all the same."""
    context = phone(browser, live_server, page_problems, "fr-FR")
    try:
        page = context.new_page()
        join_in_browser(page, clinic.invite(clinic.patient(name="Amélie", locale="es")))
        expect(page.locator("html")).to_have_attribute("lang", "es")
        wait_until(page, lambda: "/i18n/es.js" in next(iter(shell_langs(page).values())), "Spanish in the shell")

        context.set_offline(True)
        page.reload()
        wait_for_screen(page, "today")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        expect(page.locator("#main h1")).to_have_text("Hola, Amélie")
    finally:
        context.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)


def test_offline_a_language_this_phone_never_stored_keeps_the_app_in_its_own_and_says_so(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    join_in_browser(page, clinic.invite(clinic.patient(name="Mark")))
    wait_shell_langs(page, ["/i18n/en.js"])
    context.set_offline(True)
    more_language(page, "Español")
    expect(page.locator("#toast")).to_contain_text(
        "Español needs an internet connection the first time. Connect and try again; after that it works offline too."
    )
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="English")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Español")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#main h1")).to_have_text("More")
    screenshot(page, "more-offline-language-needs-a-connection")

    # Not kept as the patient's choice either: the app opens in English again, offline.
    page.reload()
    wait_for_screen(page, "more")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#main h1")).to_have_text("More")


def test_a_language_chosen_online_works_offline_afterwards(context: BrowserContext, page: Page, clinic: Clinic) -> None:
    join_in_browser(page, clinic.invite(clinic.patient(name="Marta")))
    more_language(page, "Español")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("#main h1")).to_have_text("Más")
    wait_shell_langs(page, ["/i18n/en.js", "/i18n/es.js"])

    context.set_offline(True)
    page.goto("/#/today")
    page.reload()
    wait_for_screen(page, "today")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("#main h1")).to_have_text("Hola, Marta")
    # And back to English offline: this phone has both now.
    more_language(page, "English")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#main h1")).to_have_text("More")


def test_after_a_new_version_takes_over_offline_the_language_in_use_is_still_there(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """An English browser whose patient chose Spanish: the new version precaches Spanish (the
    language the phone uses), not the browser's English."""
    join_in_browser(page, clinic.invite(clinic.patient(name="Inés")))
    more_language(page, "Español")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    sw = live_server.pwa_dir / "sw.js"
    original = sw.read_text()
    try:
        sw.write_text(re.sub(r'const VERSION = "[^"]*";', 'const VERSION = "lang-update";', original, count=1))
        page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
        expect(page.locator("#update")).to_contain_text("Hay una versión nueva de Unknot.", timeout=10_000)
        assert shell_langs(page)["unknot-shell-lang-update"] == ["/i18n/es.js"]
        context.set_offline(True)
        page.close()

        again = context.new_page()
        again.goto("/")
        wait_for_screen(again, "today")
        assert again.evaluate(WORKER_VERSION) == "lang-update"
        expect(again.locator("html")).to_have_attribute("lang", "es")
        expect(again.locator("#main h1")).to_have_text("Hola, Inés")
        assert shell_langs(again) == {"unknot-shell-lang-update": ["/i18n/es.js"]}
    finally:
        sw.write_text(original)


def test_a_language_chosen_while_a_new_version_waits_is_in_the_new_versions_shell(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """The new version was installed with English; the patient then chose Spanish (online, on the
    old version): the page tells the waiting worker too, so Spanish opens offline once it takes over."""
    join_in_browser(page, clinic.invite(clinic.patient(name="Rosa")))
    sw = live_server.pwa_dir / "sw.js"
    original = sw.read_text()
    try:
        sw.write_text(re.sub(r'const VERSION = "[^"]*";', 'const VERSION = "lang-waiting";', original, count=1))
        page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
        expect(page.locator("#update")).to_contain_text("A new version of Unknot is ready.", timeout=10_000)
        assert shell_langs(page)["unknot-shell-lang-waiting"] == ["/i18n/en.js"]
        more_language(page, "Español")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        # The notice follows the language too (it stayed in English).
        expect(page.locator("#update")).to_contain_text("Hay una versión nueva de Unknot.")
        wait_until(
            page,
            lambda: shell_langs(page)["unknot-shell-lang-waiting"] == ["/i18n/en.js", "/i18n/es.js"],
            "Spanish in the waiting version's shell",
        )
        # Offline, the patient takes the new version from the banner, now in Spanish.
        context.set_offline(True)
        with page.expect_navigation():
            page.locator("#update").get_by_role("button", name="Actualizar").click()
        wait_for_screen(page, "more")
        assert page.evaluate(WORKER_VERSION) == "lang-waiting"
        expect(page.locator("html")).to_have_attribute("lang", "es")
        expect(page.locator("#main h1")).to_have_text("Más")
    finally:
        sw.write_text(original)


def test_offline_without_the_file_of_the_language_in_use_the_app_opens_in_one_it_has(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    """Spanish chosen, but its file is not on this phone (here: taken out of the shell; a phone
    whose browser language changed while offline is in the same place): the app opens in English
    rather than not at all."""
    join_in_browser(page, clinic.invite(clinic.patient(name="Pilar")))
    more_language(page, "Español")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    wait_shell_langs(page, ["/i18n/en.js", "/i18n/es.js"])
    page.evaluate("""async () => {
      for (const name of await caches.keys()) await (await caches.open(name)).delete("/i18n/es.js");
    }""")
    context.set_offline(True)
    page.goto("/#/today")
    page.reload()
    wait_for_screen(page, "today")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#main h1")).to_have_text("Hello Pilar")
    expect(page.locator("#toast")).to_contain_text("Español needs an internet connection the first time.")


def test_the_last_language_tapped_is_the_one_shown_when_the_first_waits_for_the_network(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    """Español tapped on a slow connection, then English before it came: English was shown, and
    then Spanish once its file arrived, the opposite of the last tap."""
    join_in_browser(page, clinic.invite(clinic.patient(name="Tom")))
    held: list[Route] = []
    context.route("**/i18n/es.js", lambda route: held.append(route))
    more_language(page, "Español")
    wait_until(page, lambda: bool(held), "Spanish asked for")
    page.get_by_role("button", name="English").click()
    page.wait_for_timeout(300)
    for route in held:
        route.continue_()
    context.unroute("**/i18n/es.js")
    page.wait_for_timeout(1_000)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#main h1")).to_have_text("More")
    expect(page.get_by_role("button", name="English")).to_have_attribute("aria-pressed", "true")


def tap_again_then_let_spanish_come(context: BrowserContext, page: Page, held: list[Route]) -> None:
    """A second tap on busy Español asks for nothing more; once its held file comes, the app is in
    Spanish and no language button is busy."""
    page.get_by_role("button", name="Español").click(force=True)
    page.wait_for_timeout(300)
    assert len(held) == 1
    for route in held:
        route.continue_()
    context.unroute("**/i18n/es.js")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    spanish = page.get_by_role("button", name="Español")
    expect(spanish).to_have_attribute("aria-pressed", "true")
    for name in ("Español", "English"):
        for attribute in ("aria-busy", "aria-disabled"):
            expect(page.get_by_role("button", name=name)).not_to_have_attribute(attribute, "true")


def test_a_language_tapped_on_a_slow_connection_is_busy_until_it_is_shown_or_refused(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    """Nothing showed that the tap was taken while the language's file came."""
    join_in_browser(page, clinic.invite(clinic.patient(name="Slow")))
    wait_shell_langs(page, ["/i18n/en.js"])
    # Refused (offline, and this phone never stored Spanish): busy no more once said.
    context.set_offline(True)
    more_language(page, "Español")
    spanish = page.get_by_role("button", name="Español")
    expect(page.locator("#toast")).to_contain_text("Español needs an internet connection")
    expect(spanish).not_to_have_attribute("aria-busy", "true")
    expect(spanish).not_to_have_attribute("aria-disabled", "true")
    expect(spanish).to_have_attribute("aria-pressed", "false")
    context.set_offline(False)

    # Slow: busy, and disabled-looking, until the file came and the app is in Spanish.
    held: list[Route] = []
    context.route("**/i18n/es.js", lambda route: held.append(route))
    spanish.click()
    wait_until(page, lambda: bool(held), "Spanish asked for")
    expect(spanish).to_have_attribute("aria-busy", "true")
    expect(spanish).to_have_attribute("aria-disabled", "true")
    assert spanish.evaluate("el => getComputedStyle(el).opacity") == "0.55"
    expect(spanish).to_be_focused()  # not disabled: focus stays on it
    screenshot(page, "more-language-busy")
    expect(page.get_by_role("button", name="English")).not_to_have_attribute("aria-busy", "true")
    tap_again_then_let_spanish_come(context, page, held)


def test_a_language_whose_file_never_comes_is_refused_after_15_seconds_and_later_taps_are_not_held_up(
    context: BrowserContext, page: Page, clinic: Clinic
) -> None:
    """On a dead connection the language file's fetch could hang for minutes: the button stayed
    busy, nothing was said, and every tap after it waited behind it."""
    page.clock.install()
    join_in_browser(page, clinic.invite(clinic.patient(name="Dead Line")))
    wait_shell_langs(page, ["/i18n/en.js"])
    held: list[Route] = []
    context.route("**/i18n/es.js", lambda route: held.append(route))
    more_language(page, "Español")
    wait_until(page, lambda: bool(held), "Spanish asked for")
    spanish = page.get_by_role("button", name="Español")
    expect(spanish).to_have_attribute("aria-busy", "true")
    english = page.get_by_role("button", name="English")
    english.click()  # waits its turn
    page.clock.run_for(14_000)
    expect(spanish).to_have_attribute("aria-busy", "true")
    page.clock.run_for(1_500)
    expect(page.locator("#toast")).to_contain_text("Español needs an internet connection the first time.")
    expect(spanish).not_to_have_attribute("aria-busy", "true")
    expect(spanish).to_have_attribute("aria-pressed", "false")
    expect(english).to_have_attribute("aria-pressed", "true")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#main h1")).to_have_text("More")

    # Refused, not remembered: with the connection back, the next tap brings Spanish.
    context.unroute("**/i18n/es.js")
    spanish.click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("button", name="Español")).to_have_attribute("aria-pressed", "true")


def test_a_language_being_switched_stays_busy_when_more_is_drawn_again_meanwhile(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    """More is drawn again when a read of the log brings news (back online, say): the language's
    button lost its busy state while its file was still coming, and a second tap asked for it again."""
    patient = clinic.patient(name="Redrawn")
    join_in_browser(page, clinic.invite(patient))
    there = page.locator("li.entry button.check").first.get_attribute("data-focus") or ""
    held: list[Route] = []
    context.route("**/i18n/es.js", lambda route: held.append(route))
    more_language(page, "Español")
    wait_until(page, lambda: bool(held), "Spanish asked for")
    spanish = page.get_by_role("button", name="Español")
    expect(spanish).to_have_attribute("aria-busy", "true")
    drawn = page.locator(".screen.more").element_handle()
    tick_on_another_phone(clinic, live_server, patient, there)  # news for the next read
    with page.expect_response(lambda r: "/api/v1/patient/log" in r.url):
        page.evaluate("() => window.dispatchEvent(new Event('online'))")
    wait_until(page, lambda: drawn.evaluate("el => !el.isConnected"), "More drawn again")
    expect(spanish).to_have_attribute("aria-busy", "true")
    expect(spanish).to_have_attribute("aria-disabled", "true")
    tap_again_then_let_spanish_come(context, page, held)


def without(key: str) -> Callable[[Route], None]:
    """Serves a language file lacking ``key``, as a newer version of the app may (its code no
    longer uses it) to a phone whose code still does."""

    def route(route: Route) -> None:
        response = route.fetch()
        # Served without comments and spaces: `key:"text",`.
        kept, n = re.subn(rf'\b{key}:"[^"]*",', "", response.text())
        assert n == 1
        route.fulfill(response=response, body=kept)

    return route


def test_a_text_missing_from_the_language_file_is_said_in_english_or_in_words_never_as_its_key(
    browser: Browser, clinic: Clinic, live_server: LiveServer, page_problems: PageProblems
) -> None:
    """A language file fetched after the app was installed (a newer version's) that lacked a text
    the installed code uses showed its key ("nav_progress") in place of the text."""
    nav = "#nav a[href='#/progress']"
    # A Spanish phone that never had English: the key as words, and English is not downloaded for it.
    spanish = phone(browser, live_server, page_problems, "es-ES")
    try:
        spanish.route("**/i18n/es.js", without("nav_progress"))
        english_asked: list[str] = []
        spanish.on("request", lambda r: english_asked.append(r.url) if r.url.endswith("/i18n/en.js") else None)
        page = spanish.new_page()
        join_in_browser(page, clinic.invite(clinic.patient(name="Lucía", locale="es")))
        expect(page.locator(nav)).to_have_text("Nav progress")
        expect(page.locator("#nav a[href='#/today']")).to_have_text("Hoy")
        page.reload()
        wait_for_screen(page, "today")
        expect(page.locator(nav)).to_have_text("Nav progress")
        assert english_asked == []
    finally:
        spanish.close()

    # A phone that has English (its worker kept it, the language it used first): the English text,
    # after a reload too, with no English asked of the network.
    english = phone(browser, live_server, page_problems, "en-US")
    try:
        english.route("**/i18n/es.js", without("nav_progress"))
        page = english.new_page()
        join_in_browser(page, clinic.invite(clinic.patient(name="Lucy")))
        wait_shell_langs(page, ["/i18n/en.js"])
        more_language(page, "Español")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        expect(page.locator(nav)).to_have_text("Progress")
        wait_shell_langs(page, ["/i18n/en.js", "/i18n/es.js"])
        english.set_offline(True)
        page.reload()
        wait_for_screen(page, "more")
        expect(page.locator("#nav a[href='#/today']")).to_have_text("Hoy")
        expect(page.locator(nav)).to_have_text("Progress")
        english.set_offline(False)
    finally:
        english.close()
    assert not page_problems.errors, "\n".join(page_problems.errors)
