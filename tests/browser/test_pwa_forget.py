"""A removed device forgets its patient: when the server answers 401 to the phone's token (the
clinic removed the device, archived or erased the patient), nothing of the patient stays on the
phone: not in IndexedDB, not in Cache Storage (the worker cannot serve an old answer either), not
the push subscription. Unsent records go too, and the join screen says how many. A later join
with another patient's code shows nothing of the first."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    join_in_browser,
    stored_records,
    wait_for_screen,
    wait_outbox,
)
from tests.browser.test_pwa_push import EXISTING_SUBSCRIPTION

pytestmark = pytest.mark.browser

# Everything the app keeps in IndexedDB ("unknot": kv and records), as {kv: {key: value}, records: [...]}.
DUMP_IDB = """() => new Promise((resolve, reject) => {
  const r = indexedDB.open("unknot");
  r.onsuccess = () => {
    const db = r.result;
    const t = db.transaction(["kv", "records"]);
    const out = { kv: {}, records: null };
    const kv = t.objectStore("kv");
    const keys = kv.getAllKeys();
    const values = kv.getAll();
    const records = t.objectStore("records").getAll();
    t.oncomplete = () => {
      keys.result.forEach((k, i) => { out.kv[k] = values.result[i]; });
      out.records = records.result;
      db.close();
      resolve(out);
    };
    t.onerror = () => reject(t.error);
  };
  r.onerror = () => reject(r.error);
})"""

# Every Cache Storage entry: {cache name: [{url, body}]}, bodies of API answers only.
DUMP_CACHES = """async () => {
  const out = {};
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    out[name] = [];
    for (const request of await cache.keys()) {
      const response = await cache.match(request);
      const api = new URL(request.url).pathname.startsWith("/api/");
      out[name].push({ url: request.url, body: api ? await response.text() : null });
    }
  }
  return out;
}"""


def idb(page: Page) -> dict[str, Any]:
    return page.evaluate(DUMP_IDB)


def cached(page: Page) -> dict[str, list[dict[str, Any]]]:
    return page.evaluate(DUMP_CACHES)


def api_entries(page: Page) -> list[dict[str, Any]]:
    return [e for entries in cached(page).values() for e in entries if "/api/" in e["url"]]


def test_a_removed_device_forgets_the_patient_and_the_next_patient_sees_nothing_of_them(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    # A phone that gets reminders: the browser has a push subscription (see test_pwa_push).
    key = httpx.get(f"{live_server.url}/api/v1/push/public-key").json()["public_key"]
    context.grant_permissions(["notifications"], origin=live_server.url)
    existing = {"endpoint": "https://push.example.test/forget-me", "key": key, "p256dh": "x", "auth": "y"}
    context.add_init_script(EXISTING_SUBSCRIPTION.replace("ARGS", json.dumps(existing)))

    ana = clinic.patient(name="Anastasia", treated=[{"muscle": "upper-trapezius", "side": "left"}])
    join_in_browser(page, clinic.invite(ana))
    expect(page.locator("h1")).to_have_text("Hello Anastasia")

    # Opened again (the worker in control from the start), her answers are cached for offline use.
    page.reload()
    wait_for_screen(page, "today")
    page.wait_for_function(
        """async () => (await caches.keys()).some((n) => n.startsWith("unknot-api-"))
          && (await (await caches.open((await caches.keys()).find((n) => n.startsWith("unknot-api-")))).keys())
            .some((r) => new URL(r.url).pathname === "/api/v1/patient/plan")"""
    )

    # She logs one exercise that reaches the clinic, and one offline that does not.
    first = page.locator("li.entry button.check").first
    first.click()
    # Logged (the outbox counts it) before it can be seen gone: an outbox of 0 right after the tap
    # may be the one from before it, and the record would then go offline with the second.
    expect(first).to_have_attribute("aria-pressed", "true")
    wait_outbox(page, 0)
    context.set_offline(True)
    page.locator("li.entry button.check:not([aria-pressed='true'])").first.click()
    wait_outbox(page, 1)
    before = idb(page)
    token = before["kv"]["token"]
    assert before["kv"]["patient"]["display_name"] == "Anastasia"
    assert "plan" in before["kv"]
    assert len(before["records"]) == 2
    assert api_entries(page), "the worker keeps the patient's API answers for offline use"

    # The therapist removes the device through the real API; the app comes back online.
    clinic.revoke_all_devices(ana)
    context.set_offline(False)
    wait_for_screen(page, "join")

    def nothing_of_ana() -> None:
        stored = idb(page)
        assert stored["records"] == []
        # Only the phone's own settings and the removal's count stay.
        assert set(stored["kv"]) <= {"lang", "sound", "shell_lang", "revoked"}, stored["kv"]
        assert stored["kv"]["revoked"] == {"unsent": 1, "expired": False}
        text = json.dumps(stored)
        assert "Anastasia" not in text
        assert token not in text
        assert api_entries(page) == []
        assert not any(name.startswith("unknot-api-") and entries for name, entries in cached(page).items())

    # Forgetting runs right after the 401: give it a moment, then nothing of hers may be left.
    for _ in range(50):
        if idb(page)["records"] == [] and not api_entries(page):
            break
        page.wait_for_timeout(100)
    nothing_of_ana()
    page.wait_for_function("() => window.unsubscribed === true")  # the push subscription is gone

    # The join screen says what happened, what was lost and how to join again.
    expect(page.locator("h1")).to_have_text("This phone was disconnected")
    lead = page.locator(".lead")
    expect(lead).to_contain_text("Your clinic disconnected this phone")
    expect(lead).to_contain_text("has been removed from this phone")
    expect(page.locator(".revoked-unsent")).to_have_text(
        "1 record you logged had not reached your clinic. It can no longer be sent, so it was removed too. "
        "If it matters, tell your clinic."
    )
    expect(page.get_by_text("ask your clinic for a new code")).to_be_visible()
    expect(page.locator("#sync")).to_be_hidden()

    # Reloaded, the screen still says so (in Spanish too) and nothing came back.
    page.reload()
    wait_for_screen(page, "join")
    expect(page.locator(".revoked-unsent")).to_be_visible()
    nothing_of_ana()
    page.evaluate("""async () => {
      const { loadLang, t } = await import("/js/i18n.js");
      await loadLang("es");
      window.spanish = [t("revoked_title"), t("revoked_text"), t("revoked_unsent", { n: 1 })];
      await loadLang("en");
    }""")
    spanish = page.evaluate("window.spanish")
    assert spanish[0] == "Este teléfono fue desconectado"
    assert "se ha borrado de este teléfono" in spanish[1]
    assert "1 registro que anotó no había llegado" in spanish[2]

    # Offline, the worker has nothing to answer for her old token: no cached plan comes back.
    context.set_offline(True)
    offline_plan = page.evaluate(
        """(token) => fetch("/api/v1/patient/plan?lang=en", { headers: { Authorization: "Bearer " + token } })
          .then((r) => r.status, () => "failed")""",
        token,
    )
    assert offline_plan == "failed"
    context.set_offline(False)

    # Someone else joins on this phone: only their name, plan and records show.
    bea = clinic.patient(name="Beatriz", treated=[{"muscle": "gluteus-medius", "side": "right"}])
    page.goto(clinic.invite(bea)["link"])
    wait_for_screen(page, "today")
    expect(page.locator("h1")).to_have_text("Hello Beatriz")
    expect(page.locator(".lead, .revoked-unsent")).to_have_count(0)
    wait_outbox(page, 0)
    assert stored_records(page) == []
    expect(page.locator("li.entry button.check[aria-pressed='true']")).to_have_count(0)
    stored = idb(page)
    assert "revoked" not in stored["kv"]
    assert stored["kv"]["plan"]["plan_id"] == bea.plan["id"]
    assert "Anastasia" not in json.dumps(stored)
    for entry in api_entries(page):
        assert "Anastasia" not in (entry["body"] or "")
        assert "upper-trapezius" not in (entry["body"] or "")
    # Her program was for the upper trapezius, Beatriz's is for the gluteus medius.
    for screen in ("today", "progress", "more"):
        page.locator("#nav").get_by_role("link", name=screen.capitalize()).click()
        wait_for_screen(page, screen)
        shown = page.locator("body").inner_text()
        assert "Anastasia" not in shown
        assert "trapezius" not in shown.lower(), screen


def test_a_removal_the_worker_sees_first_still_shows_the_disconnected_screen(
    page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    # The worker may be answered 401 before the page is (its network back first, a request the page
    # does not act on, another tab's): it forgets the token, so the page's next send finds none and
    # its plan may come from the cache. The page must still say the phone was disconnected.
    ana = clinic.patient(name="Anastasia", treated=[{"muscle": "upper-trapezius", "side": "left"}])
    join_in_browser(page, clinic.invite(ana))
    page.reload()
    wait_for_screen(page, "today")
    token = idb(page)["kv"]["token"]
    clinic.revoke_all_devices(ana)
    status = page.evaluate(
        """(token) => fetch("/api/v1/patient/me", { headers: { Authorization: "Bearer " + token } })
          .then((r) => r.status)""",
        token,
    )
    assert status == 401
    wait_for_screen(page, "join")
    expect(page.locator("h1")).to_have_text("This phone was disconnected")
    expect(page.locator("#nav")).to_be_hidden()
    stored = idb(page)
    assert stored["records"] == []
    assert set(stored["kv"]) <= {"lang", "sound", "shell_lang", "revoked"}, stored["kv"]
