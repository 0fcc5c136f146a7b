"""Web Push in the patient app, in real Chromium against the real server.

Headless Chromium cannot make a real ``pushManager.subscribe()`` (it needs Google's push
service; see ../shared/notes/toolchain.md), so the two halves are tested apart:

- The service worker: a push is delivered through the DevTools protocol
  (``ServiceWorker.deliverPushMessage``), exactly as the browser delivers one from a push
  service; the notification it shows is read back with ``registration.getNotifications()``.
- The page: the Reminders screen against the server (times, quiet hours, the calendar file,
  blocked and unsupported browsers), and the upload of an existing subscription on start, with
  the browser's ``getSubscription()`` answered by the test (an init script).

A tap on a notification cannot be made headless (no DevTools command clicks one). The test
dispatches a ``notificationclick`` NotificationEvent for the real notification inside the
worker, through the DevTools protocol (Playwright's worker ``evaluate``); the worker's own
handler runs and the open app window must move to the reminder's slot. Such an event carries no
user activation, so what only a real tap allows (``client.focus()``, ``clients.openWindow()``
when no window is open) is not covered here.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, Worker, expect

from tests.browser.conftest import (
    Clinic,
    LiveServer,
    PageProblems,
    check_a11y,
    join_in_browser,
    local_today,
    new_context,
    wait_for_screen,
)
from tests.browser.shell import PWA
from tests.browser.test_pwa_quality import check_layout

pytestmark = pytest.mark.browser

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)

CLOSE_ALL = """async () => {
  const reg = await navigator.serviceWorker.getRegistration("/");
  for (const n of await reg.getNotifications()) n.close();
}"""

GET_NOTIFICATIONS = """async () => {
  const reg = await navigator.serviceWorker.getRegistration("/");
  return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data,
    silent: n.silent }));
}"""


def watch_registrations(context: BrowserContext, page: Page, server: LiveServer) -> tuple[CDPSession, list[str]]:
    """A DevTools session that collects the app's service worker registration ids (enable before navigating)."""
    cdp = context.new_cdp_session(page)
    found: list[str] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: found.extend(
            r["registrationId"]
            for r in event["registrations"]
            if r["scopeURL"] == f"{server.url}/" and not r.get("isDeleted")
        ),
    )
    cdp.send("ServiceWorker.enable")
    return cdp, found


def notifications(page: Page, count: int) -> list[dict[str, Any]]:
    """The app's notifications once there are ``count`` of them. Never while the worker is showing one
    (see COUNT_SHOWN): here only to wait for a close, or after ``push`` returned."""
    shown: list[dict[str, Any]] = []
    for _ in range(300):  # up to 15 s: a loaded machine can take seconds to close one
        shown = page.evaluate(GET_NOTIFICATIONS)
        if len(shown) == count:
            return shown
        page.wait_for_timeout(50)
    raise AssertionError(f"expected {count} notifications, got {shown}")


# Reading the notifications while the worker shows one can lose it. Chromium's getNotifications()
# keeps a stored notification only if the platform already reports it as displayed or it was
# stored after the read began, and deletes every other one from its store
# (content/browser/notifications/platform_notification_context_impl.cc,
# DoReadAllNotificationDataForServiceWorkerRegistration). showNotification() stores it first and
# puts it on display after that, so a read that starts in between deletes it for good: every later
# read lists nothing although it is on screen. Polling right after delivering a push did exactly
# that, now and then on a busy machine ("expected 1 notifications, got []" for 15 s). The app itself
# never reads its notifications while showing one, so no patient is affected.
#
# So the test counts, inside the worker, the showNotification() calls that have finished (resolved or
# failed) and reads only after the push's one has. The wrapper calls the worker's own
# showNotification with the worker's own arguments; DevTools stays attached to the worker for the
# whole test, so the browser does not stop it (and the counter with it) while idle.
COUNT_SHOWN = """() => {
  if (self.testShown) return;
  const registration = self.registration;
  const show = registration.showNotification.bind(registration);
  const shown = { count: 0, waiting: [] };
  self.testShown = shown;
  registration.showNotification = (...args) => show(...args).finally(() => {
    shown.count += 1;
    shown.waiting = shown.waiting.filter(([count, resolve]) => (shown.count >= count ? (resolve(), false) : true));
  });
}"""

WAIT_SHOWN = """(count) => new Promise((resolve, reject) => {
  const shown = self.testShown;
  if (shown.count >= count) return resolve();
  shown.waiting.push([count, resolve]);
  // A loaded machine can take seconds to run the worker; a push that shows nothing fails here.
  setTimeout(() => reject(new Error(`${shown.count} notifications shown, waited for ${count}`)), 15000);
})"""


def app_worker(context: BrowserContext, server: LiveServer) -> Worker:
    """The app's service worker, counting the notifications it has shown (see COUNT_SHOWN)."""
    url = f"{server.url}/sw.js"
    found = [w for w in context.service_workers if w.url == url]
    worker = found[0] if found else context.wait_for_event("serviceworker", lambda w: w.url == url)
    worker.evaluate(COUNT_SHOWN)
    return worker


def push(cdp: CDPSession, worker: Worker, server: LiveServer, registration_id: str, data: str) -> None:
    """Deliver a push as the browser does and return once the worker has shown its notification."""
    count = worker.evaluate("() => self.testShown.count")
    cdp.send(
        "ServiceWorker.deliverPushMessage", {"origin": server.url, "registrationId": registration_id, "data": data}
    )
    worker.evaluate(WAIT_SHOWN, count + 1)


def test_a_pushed_reminder_shows_its_text_and_tapping_it_opens_that_slot(
    context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer
) -> None:
    context.grant_permissions(["notifications"], origin=live_server.url)
    cdp, registrations = watch_registrations(context, page, live_server)
    patient = clinic.patient(name="Rosa")
    join_in_browser(page, clinic.invite(patient))
    assert registrations
    worker = app_worker(context, live_server)
    slots = page.eval_on_selector_all("section.slot h2", "els => els.map((e) => e.id.replace('slot-', ''))")
    slot = "evening" if "evening" in slots else slots[-1]
    on_date = local_today().isoformat()
    payload = {
        "v": 1,
        "kind": "reminder",
        "slot": slot,
        "on_date": on_date,
        "title": f"{slot.title()}: 3 stretches, about 6 minutes",
        "body": "Tap to open today's routine.",
        "url": f"/#today?slot={slot}&date={on_date}",
        "tag": f"unknot-{slot}-{on_date}",
        "lang": "en",
        "count": 3,
        "minutes": 6,
    }
    push(cdp, worker, live_server, registrations[-1], json.dumps(payload))
    [shown] = notifications(page, 1)
    assert shown["title"] == payload["title"]
    assert shown["body"] == payload["body"]
    assert shown["tag"] == payload["tag"]
    assert shown["data"]["url"] == f"{live_server.url}/#today?slot={slot}&date={on_date}"
    assert shown["silent"] is False

    # The same reminder again (a retry) replaces it instead of stacking a second one.
    push(cdp, worker, live_server, registrations[-1], json.dumps(payload))
    assert len(page.evaluate(GET_NOTIFICATIONS)) == 1

    # The patient is elsewhere in the app when they tap the notification.
    page.locator("#nav").get_by_role("link", name="Progress").click()
    wait_for_screen(page, "progress")
    worker.evaluate(
        """async (tag) => {
          const [notification] = await self.registration.getNotifications({ tag });
          self.dispatchEvent(new NotificationEvent("notificationclick", { notification }));
        }""",
        payload["tag"],
    )
    wait_for_screen(page, "today")
    # The reminder's address becomes Today's own, so the screen still moves on at midnight.
    expect(page).to_have_url(re.compile(r"#/today$"))
    heading = page.locator(f"#slot-{slot}")
    expect(heading).to_be_focused()
    expect(page.locator("section.slot.due")).to_have_count(1)
    expect(page.locator("section.slot.due h2")).to_have_id(f"slot-{slot}")
    assert heading.evaluate("el => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; }")
    notifications(page, 0)  # the tapped notification is closed

    # The same reminder once more (a server died before recording that it had sent it): every push must
    # show something, so it shows again, but silently: the phone does not ring twice for one reminder.
    push(cdp, worker, live_server, registrations[-1], json.dumps(payload))
    [repeat] = notifications(page, 1)
    assert (repeat["tag"], repeat["silent"]) == (payload["tag"], True)
    # A test reminder for that slot is the patient's own request: it always makes its sound.
    trial = payload | {"kind": "test", "body": "Test reminder. This is how your reminders will look."}
    push(cdp, worker, live_server, registrations[-1], json.dumps(trial))
    [test] = notifications(page, 1)
    assert (test["body"], test["silent"]) == (trial["body"], False)
    page.evaluate(CLOSE_ALL)

    # Yesterday evening's reminder tapped after midnight opens yesterday, not the new day.
    yesterday = (local_today() - dt.timedelta(days=1)).isoformat()
    late = payload | {"on_date": yesterday, "url": f"/#today?slot={slot}&date={yesterday}", "tag": "late"}
    push(cdp, worker, live_server, registrations[-1], json.dumps(late))
    notifications(page, 1)
    worker.evaluate(
        """async (tag) => {
          const [notification] = await self.registration.getNotifications({ tag });
          self.dispatchEvent(new NotificationEvent("notificationclick", { notification }));
        }""",
        "late",
    )
    expect(page.locator("main .eyebrow")).to_have_text("Your plan for")
    expect(page.locator("main h1")).to_contain_text(str(int(yesterday[8:])))
    expect(page).to_have_url(re.compile(rf"#/day/{yesterday}$"))
    expect(page.locator("#nav a[aria-current=page]")).to_have_count(0)
    page.evaluate(CLOSE_ALL)

    # A push the worker cannot read still shows a notification (every push must), in the app's language.
    push(cdp, worker, live_server, registrations[-1], "not json")
    [fallback] = notifications(page, 1)
    assert fallback["title"] == "Time for your exercises"
    assert fallback["data"]["url"] == f"{live_server.url}/#/today"
    assert page.url.endswith(f"#/day/{yesterday}")


# ---- the Reminders screen ------------------------------------------------------------------------

# The first visit of a browser that has never been asked: "default" until the patient answers the
# prompt, which this stands in for (Allow). Counts how often the app asked.
PERMISSION_PROMPT = """(() => {
  let state = "default";
  window.permissionAsked = 0;
  Object.defineProperty(Notification, "permission", { get: () => state, configurable: true });
  Notification.requestPermission = () => {
    window.permissionAsked += 1;
    state = "granted";
    return Promise.resolve(state);
  };
})();"""


def open_reminders(page: Page) -> None:
    """More > Reminders, with the patient's times loaded."""
    page.locator("#nav").get_by_role("link", name="More").click()
    wait_for_screen(page, "more")
    page.get_by_role("link", name="Set reminders").click()
    wait_for_screen(page, "reminders")
    expect(page.locator("fieldset[data-slot]")).to_have_count(3)


def slot_box(page: Page, slot: str) -> Any:
    return page.locator(f"fieldset[data-slot='{slot}']")


def rules_in_db(server: LiveServer, patient_id: int) -> dict[str, tuple[str, int, int]]:
    sql = "SELECT slot, local_time, weekdays, enabled FROM reminder_rule WHERE patient_id = ?"
    rows = server.rows(sql, (patient_id,))
    return {r["slot"]: (r["local_time"], r["weekdays"], r["enabled"]) for r in rows}


def test_reminder_times_are_saved_on_the_server_and_a_time_in_quiet_hours_is_marked(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems
) -> None:
    context = new_context(browser, live_server, viewport={"width": 320, "height": 640})
    context.on("page", page_problems.watch)
    context.add_init_script(PERMISSION_PROMPT)
    try:
        page = context.new_page()
        patient = clinic.patient(name="Elena")
        join_in_browser(page, clinic.invite(patient))
        open_reminders(page)
        status = page.locator(".push-status")
        expect(status).to_have_attribute("data-push-state", "off")
        expect(status).to_contain_text("Reminders are off on this phone. Choose your times below")
        remind = page.get_by_role("button", name="Remind me at these times")
        expect(remind).to_be_visible()
        # Two buttons under the times: the quieter one says what it is for.
        expect(page.get_by_text("“Save times” keeps the times without turning reminders on")).to_be_visible()
        check_a11y(page, "reminders (off)")
        check_layout(page, "reminders (off)")

        evening = slot_box(page, "evening")
        evening.get_by_label("Time").fill("20:30")
        morning = slot_box(page, "morning")
        morning.get_by_role("checkbox", name="Saturday").uncheck()
        morning.get_by_role("checkbox", name="Sunday").uncheck()
        slot_box(page, "midday").get_by_role("checkbox", name="Remind me").uncheck()
        quiet = page.locator("fieldset.reminder-quiet")
        expect(quiet.get_by_role("checkbox", name="Keep quiet at night")).to_be_checked()
        quiet.get_by_label("From").fill("21:30")
        quiet.get_by_label("Until").fill("06:30")
        page.get_by_role("button", name="Save times").click()
        expect(page.locator(".times-form [role=status]")).to_have_text("Your times are saved.")

        rules = rules_in_db(live_server, patient.id)
        assert rules["evening"][:3] == ("20:30", 0b111_1111, 1)
        assert rules["morning"][1] == 0b001_1111  # Monday to Friday
        assert rules["midday"][2] == 0
        [prefs] = live_server.rows(
            "SELECT customized, quiet_start, quiet_end FROM reminder_prefs WHERE patient_id = ?", (patient.id,)
        )
        assert tuple(prefs) == (1, "21:30", "06:30")
        assert page.evaluate("window.permissionAsked") == 0  # nothing asked without the tap

        # What the server keeps is what the screen shows next time.
        page.reload()
        wait_for_screen(page, "reminders")
        expect(slot_box(page, "evening").get_by_label("Time")).to_have_value("20:30")
        expect(slot_box(page, "morning").get_by_role("checkbox", name="Sunday")).not_to_be_checked()
        expect(slot_box(page, "morning").get_by_role("checkbox", name="Friday")).to_be_checked()
        expect(slot_box(page, "midday").get_by_role("checkbox", name="Remind me")).not_to_be_checked()
        expect(page.locator("fieldset.reminder-quiet").get_by_label("From")).to_have_value("21:30")

        # A cleared time is said next to it, not as a failure, before anything is sent (offline too).
        puts: list[str] = []
        page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" else None)
        morning_time = slot_box(page, "morning").get_by_label("Time")
        kept = morning_time.input_value()
        morning_time.fill("")
        page.get_by_role("button", name="Save times").click()
        expect(morning_time).to_have_attribute("aria-invalid", "true")
        expect(morning_time).to_be_focused()
        expect(slot_box(page, "morning").locator(f"#{morning_time.get_attribute('aria-describedby')}")).to_have_text(
            "Enter a time, for example 08:00."
        )
        assert puts == []
        morning_time.fill(kept)

        # A time inside the quiet hours: the server's 422 shows next to that time, which gets focus.
        evening_time = slot_box(page, "evening").get_by_label("Time")
        evening_time.fill("23:00")
        page.get_by_role("button", name="Save times").click()
        expect(evening_time).to_have_attribute("aria-invalid", "true")
        expect(evening_time).to_be_focused()
        error_id = evening_time.get_attribute("aria-describedby")
        expect(slot_box(page, "evening").locator(f"#{error_id}")).to_have_text(
            "This time is inside your quiet hours (21:30\u201306:30). Choose another time or change the quiet hours."
        )
        expect(slot_box(page, "morning").get_by_label("Time")).not_to_have_attribute("aria-invalid", "true")
        assert rules_in_db(live_server, patient.id)["evening"][0] == "20:30"
        check_a11y(page, "reminders (error shown)")

        # "Remind me at these times": now, and only now, the browser asks; the changed times are saved
        # first. Headless Chromium has no push service, so subscribing fails and the screen says so,
        # right under the button, which said what it was doing meanwhile and keeps the focus.
        evening_time.fill("21:00")
        button = page.locator(".times-form button.big")
        button.evaluate(
            """(b) => {
              window.buttonTexts = [];
              new MutationObserver(() => window.buttonTexts.push(b.textContent))
                .observe(b, {childList: true, characterData: true, subtree: true});
            }"""
        )
        remind.click()
        said = page.locator(".times-form [role=status]")
        expect(said).to_have_text(
            "This browser could not turn on reminders. You can add the times to your calendar instead."
        )
        expect(said).to_be_in_viewport()
        expect(button).to_be_focused()
        expect(button).to_have_text("Remind me at these times")
        assert "Turning reminders on…" in page.evaluate("window.buttonTexts")
        expect(page.locator(".push-status [role=status]")).to_be_empty()
        assert page.evaluate("window.permissionAsked") == 1
        expect(evening_time).not_to_have_attribute("aria-invalid", "true")
        assert rules_in_db(live_server, patient.id)["evening"][0] == "21:00"
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors


def test_where_push_cannot_work_the_screen_says_why_and_offers_the_calendar_file(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems
) -> None:
    # An empty grant list makes Chromium answer "denied": notifications are blocked for the site.
    context = new_context(browser, live_server, permissions=[])
    context.on("page", page_problems.watch)
    try:
        page = context.new_page()
        blocked_unsupported_and_ios(context, page, clinic, live_server)
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors


def blocked_unsupported_and_ios(context: BrowserContext, page: Page, clinic: Clinic, live_server: LiveServer) -> None:
    patient = clinic.patient(name="Pilar")
    join_in_browser(page, clinic.invite(patient))
    assert page.evaluate("Notification.permission") == "denied"
    open_reminders(page)
    status = page.locator(".push-status")
    expect(status).to_have_attribute("data-push-state", "blocked")
    expect(status).to_contain_text("Notifications from Unknot are blocked in this browser")
    expect(status).to_contain_text("add your exercise times to your calendar instead")
    expect(page.get_by_role("button", name="Remind me at these times")).to_be_hidden()
    expect(page.get_by_text("“Save times” keeps the times without turning reminders on")).to_be_hidden()
    # The calendar comes right after the explanation.
    assert page.evaluate("document.querySelector('.push-status').nextElementSibling.className") == "block calendar"

    # The file holds the patient's times, including a change not saved yet (it is saved first).
    slot_box(page, "evening").get_by_role("checkbox", name="Remind me").check()
    slot_box(page, "evening").get_by_label("Time").fill("20:15")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download calendar file").click()
    download = download_info.value
    assert download.suggested_filename == "unknot-reminders.ics"
    ics = download.path().read_bytes().decode()
    assert ics.startswith("BEGIN:VCALENDAR")
    assert re.search(r"DTSTART;TZID=Europe/Madrid:\d{8}T201500\r\n", ics), ics
    assert "SUMMARY:Evening exercises" in ics
    assert rules_in_db(live_server, patient.id)["evening"][:3] == ("20:15", 0b111_1111, 1)
    expect(page.locator(".calendar [role=status]")).to_have_text(
        "Downloaded. Open the file to add the times to your calendar."
    )
    check_a11y(page, "reminders (blocked)")

    # A browser without the Push API.
    context.add_init_script("delete window.PushManager;")
    page.reload()
    wait_for_screen(page, "reminders")
    expect(status).to_have_attribute("data-push-state", "unsupported")
    expect(status).to_contain_text("This browser cannot show reminders.")
    expect(page.get_by_role("button", name="Download calendar file")).to_be_visible()

    # Safari on an iPhone, not added to the Home Screen: how to add it, and the calendar meanwhile.
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setUserAgentOverride", {"userAgent": IPHONE})
    page.reload()
    wait_for_screen(page, "reminders")
    expect(status).to_have_attribute("data-push-state", "ios-install")
    expect(status).to_contain_text("reminders work only after you add Unknot to your Home Screen")
    expect(status).to_contain_text("“Add to Home Screen”")
    expect(page.get_by_role("button", name="Download calendar file")).to_be_visible()


# ---- the subscription: sent on every start, on pushsubscriptionchange, and removed ---------------

# Stands in for the browser's push service (which headless Chromium cannot reach): getSubscription()
# answers with a subscription the test made, whose endpoint is the test's local push service.
SUBSCRIPTIONS = "/api/v1/patient/push/subscriptions"

EXISTING_SUBSCRIPTION = """(({ endpoint, p256dh, auth, key, renewed }) => {
  const text = key.replace(/-/g, "+").replace(/_/g, "/");
  const raw = Uint8Array.from(atob(text + "=".repeat((4 - (text.length % 4)) % 4)), (c) => c.charCodeAt(0));
  let current = null;
  const make = (sub) => {
    const made = {
      endpoint: sub.endpoint,
      expirationTime: null,
      options: { userVisibleOnly: true, applicationServerKey: raw.buffer },
      toJSON: () => ({ endpoint: sub.endpoint, expirationTime: null, keys: { p256dh: sub.p256dh, auth: sub.auth } }),
      unsubscribe: () => {
        if (current === made) current = null;
        window.unsubscribed = true;
        return Promise.resolve(true);
      },
    };
    return made;
  };
  current = make({ endpoint, p256dh, auth });
  PushManager.prototype.getSubscription = () => Promise.resolve(current);
  // Given one, the browser's next subscription (headless Chromium cannot make a real one).
  if (renewed) {
    PushManager.prototype.subscribe = () => {
      current = make(renewed);
      window.subscribedAgain = true;
      return Promise.resolve(current);
    };
  }
})(ARGS);"""

# In the worker: the browser's new subscription after a change, and the options it was asked for.
RESUBSCRIBE = """({ endpoint, p256dh, auth, old }) => {
  self.subscribeAsked = null;
  PushManager.prototype.subscribe = (options) => {
    const key = btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey)))
      .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
    self.subscribeAsked = { key, userVisibleOnly: options.userVisibleOnly };
    return Promise.resolve({ endpoint, toJSON: () => ({ endpoint, expirationTime: null, keys: { p256dh, auth } }) });
  };
  // No PushSubscriptionChangeEvent constructor in Chromium; the handler reads no more than this.
  const event = new ExtendableEvent("pushsubscriptionchange");
  event.oldSubscription = old ? { endpoint: old } : null;
  self.dispatchEvent(event);
}"""


@dataclass
class Subscriber:
    """A browser's side of a subscription: the key pair and auth secret (as a browser would make them)."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def keys(self) -> dict[str, str]:
        point = self.private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"p256dh": b64url(point), "auth": b64url(self.auth)}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm")
        return json.loads(plain)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class PushService:
    """A local push service: takes every message with 201 and keeps it."""

    url: str
    received: list[tuple[str, dict[str, str], bytes]]


@pytest.fixture
def push_service() -> Iterator[PushService]:
    received: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(201)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield PushService(f"http://127.0.0.1:{server.server_port}", received)
    finally:
        server.shutdown()
        server.server_close()


def subscriptions_in_db(server: LiveServer, patient_id: int) -> dict[str, tuple[str, str]]:
    rows = server.rows("SELECT endpoint, p256dh, auth FROM push_subscription WHERE patient_id = ?", (patient_id,))
    return {r["endpoint"]: (r["p256dh"], r["auth"]) for r in rows}


def wait_until(check: Any, what: str, page: Page) -> None:
    for _ in range(100):
        if check():
            return
        page.wait_for_timeout(50)
    raise AssertionError(what)


def test_the_subscription_is_sent_on_start_renewed_by_the_worker_tested_and_removed(
    browser: Browser, live_server: LiveServer, clinic: Clinic, page_problems: PageProblems, push_service: PushService
) -> None:
    key = httpx.get(f"{live_server.url}/api/v1/push/public-key").json()["public_key"]
    subscriber = Subscriber(f"{push_service.url}/push/first")
    first = subscriber.endpoint
    context = new_context(browser, live_server, permissions=["notifications"])
    context.on("page", page_problems.watch)
    again = Subscriber(f"{push_service.url}/push/again")
    existing = {
        "endpoint": subscriber.endpoint,
        "key": key,
        **subscriber.keys,
        "renewed": {"endpoint": again.endpoint, **again.keys},
    }
    context.add_init_script(EXISTING_SUBSCRIPTION.replace("ARGS", json.dumps(existing)))
    try:
        page = context.new_page()
        sent: list[str] = []
        page.on("request", lambda r: sent.append(r.method) if r.url.endswith(SUBSCRIPTIONS) else None)
        # The page's and the worker's: the endpoint goes in the body, never in the URL (a proxy's log).
        removals: list[tuple[str, str | None]] = []
        context.on("request", lambda r: removals.append((r.url, r.post_data)) if r.method == "DELETE" else None)
        patient = clinic.patient(name="Sara")
        # Joining starts the app with a token: the subscription the browser has goes to the server,
        # once (a second PUT still on its way could land after the test below removed the row).
        join_in_browser(page, clinic.invite(patient))
        wait_until(lambda: subscriber.endpoint in subscriptions_in_db(live_server, patient.id), "not stored", page)
        page.wait_for_timeout(500)  # a second PUT would start right after the first
        assert sent == ["PUT"]
        assert subscriptions_in_db(live_server, patient.id) == {
            subscriber.endpoint: (subscriber.keys["p256dh"], subscriber.keys["auth"])
        }
        [device] = live_server.rows("SELECT device_id FROM push_subscription WHERE patient_id = ?", (patient.id,))
        assert [d["id"] for d in clinic.devices(patient)] == [device["device_id"]]

        # And again on every later start (the browser may have changed it silently).
        with page.expect_response(lambda r: r.url.endswith(SUBSCRIPTIONS)) as put:
            page.reload()
        assert put.value.request.method == "PUT"
        assert put.value.status == 200
        assert put.value.json()["created"] is False
        assert page.evaluate("window.subscribedAgain") is None
        assert subscriber.endpoint in subscriptions_in_db(live_server, patient.id)

        # The server dropped it (its push service answered 410) but this browser did not notice:
        # sent again, the server does not have it, so the app drops it and subscribes again.
        live_server.execute("DELETE FROM push_subscription WHERE patient_id = ?", (patient.id,))
        page.reload()
        wait_until(lambda: set(subscriptions_in_db(live_server, patient.id)) == {again.endpoint}, "not renewed", page)
        assert page.evaluate("window.unsubscribed") is True
        assert page.evaluate("window.subscribedAgain") is True
        subscriber = again

        # The Reminders screen: on. A test reminder goes through the server to the push service.
        open_reminders(page)
        status = page.locator(".push-status")
        expect(status).to_have_attribute("data-push-state", "on")
        expect(status).to_contain_text("Reminders are on for this phone.")
        check_a11y(page, "reminders (on)")
        status.get_by_role("button", name="Send me a test reminder").click()
        expect(status.locator("[role=status]")).to_have_text(
            "A test reminder is on its way to this phone. It should appear in a few seconds."
        )
        [(path, headers, body)] = push_service.received
        assert path == "/push/again"
        assert headers["content-encoding"] == "aes128gcm"
        assert headers["authorization"].startswith("vapid t=")
        assert f"k={key}" in headers["authorization"]
        message = subscriber.decrypt(body)
        assert message["kind"] == "test"
        assert message["title"]

        # The browser replaced the subscription: the worker subscribes again with the same key and
        # sends the new one with the token it keeps in IndexedDB, and says the old one is gone.
        renewed = Subscriber(f"{push_service.url}/push/renewed")
        replaced = f"{push_service.url}/push/replaced"
        [worker] = [w for w in context.service_workers if w.url == f"{live_server.url}/sw.js"]
        worker.evaluate(RESUBSCRIBE, {"endpoint": renewed.endpoint, **renewed.keys, "old": replaced})
        wait_until(lambda: renewed.endpoint in subscriptions_in_db(live_server, patient.id), "not renewed", page)
        assert worker.evaluate("self.subscribeAsked") == {"key": key, "userVisibleOnly": True}
        wait_until(lambda: replaced in str(removals), "the replaced subscription not removed", page)

        # Turning reminders off unsubscribes this browser and removes its subscription on the server.
        status.get_by_role("button", name="Turn off reminders on this phone").click()
        expect(status).to_have_attribute("data-push-state", "off")
        expect(status.locator("[role=status]")).to_have_text("Reminders are turned off on this phone.")
        assert page.evaluate("window.unsubscribed") is True
        assert subscriber.endpoint not in subscriptions_in_db(live_server, patient.id)
        # The first, which the server had dropped (the page); the replaced one (the worker); this one.
        assert [(url, json.loads(body or "null")) for url, body in removals] == [
            (f"{live_server.url}{SUBSCRIPTIONS}", {"endpoint": endpoint})
            for endpoint in (first, replaced, subscriber.endpoint)
        ]
        expect(page.get_by_role("button", name="Remind me at these times")).to_be_visible()
    finally:
        context.close()
    assert not page_problems.errors, page_problems.errors


def test_the_service_worker_handles_every_push_event() -> None:
    sw = (PWA / "sw.js").read_text()
    for event in ("push", "notificationclick", "pushsubscriptionchange"):
        assert f'self.addEventListener("{event}"' in sw, event
