"""The console's Reminders card as a therapist reads it: which phone each entry of the delivery log
went to (a test reminder to two phones: one reached, one not; a phone whose subscription is gone
since), that reminders ended with the plan and why none comes, how long a reminder waits for a
phone that is offline, and a test reminder sent from the card (tests/pushservice.py on loopback
takes it: the live server is in development). The Devices table says which phones get reminders."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, PageProblems, local_today
from tests.browser.console_helpers import ConsoleAccount, console_session, goto_view, wait_view
from tests.pushservice import PushService

pytestmark = pytest.mark.browser

KEYS = {
    "p256dh": "BMUQ7gkSTNiOzjgK9ypA6A-vTXbqOCor-hk7re9D46xbqQJ_5Jzlk_CIA-tp0Bbq8RrdFl0JJDsWiuw1-CLpiJM",
    "auth": "0kBnYKownSsAyn_7zPE0-w",
}


@pytest.fixture(scope="module")
def account(live_server: LiveServer) -> Iterator[ConsoleAccount]:
    created = ConsoleAccount.create(live_server, "Reminders Therapist")
    yield created
    created.close()


def test_the_reminders_card_names_each_phone_says_the_plan_ended_and_how_long_a_reminder_waits(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    # A plan treated 200 days ago has ended (Madrid's today, the patient's zone).
    treated_on = local_today("Europe/Madrid") - dt.timedelta(days=200)
    patient = account.patient(
        "Rita Reminders", treated=[{"muscle": "upper-trapezius", "side": "left"}], treated_on=treated_on
    )
    pid = patient["id"]
    for n, label in enumerate(["Rita's iPhone", "Kitchen tablet"]):
        invite = account.ok(account.api.post(f"/api/v1/patients/{pid}/invites"))
        with account.join(invite["code"], label) as phone:
            subscription = {"endpoint": f"http://127.0.0.1:9/push/console-reminders-{pid}-{n}", "keys": KEYS}
            assert phone.put("/api/v1/patient/push/subscriptions", json=subscription).status_code == 200
    # A third phone that never turned reminders on, and a fourth whose subscription is gone since.
    for label in ["Rita's laptop", "Old Android"]:
        invite = account.ok(account.api.post(f"/api/v1/patients/{pid}/invites"))
        account.join(invite["code"], label).close()
    subs = {
        r["label"]: (r["id"], r["device_id"])
        for r in live_server.rows(
            "SELECT s.id, s.device_id, d.label FROM push_subscription s JOIN patient_device d ON d.id = s.device_id "
            "WHERE s.patient_id = ?",
            (pid,),
        )
    }
    [old_android] = live_server.rows(
        "SELECT id FROM patient_device WHERE label = 'Old Android' AND patient_id = ?", (pid,)
    )
    # Test reminders as the scheduler records one per phone (the phones here have no push service):
    # reached one, refused on the other, refused as gone by a phone whose subscription was deleted
    # then, and one logged before deliveries kept their phone, its subscription gone since.
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for slot, (sid, device), status, code, error in [
        ("evening", subs["Rita's iPhone"], "sent", 201, ""),
        ("evening", subs["Kitchen tablet"], "failed", 400, "400 Bad Request"),
        ("morning", (None, old_android["id"]), "gone", 410, "410 Gone"),
        ("evening", (None, None), "gone", 410, "410 Gone"),
    ]:
        live_server.execute(
            "INSERT INTO reminder_delivery (patient_id, subscription_id, device_id, kind, slot, on_date, due_at, "
            "status, attempts, payload, last_error, http_status, created_at) "
            "VALUES (?, ?, ?, 'test', ?, ?, ?, ?, 1, '', ?, ?, ?)",
            (pid, sid, device, slot, local_today("Europe/Madrid").isoformat(), now, status, error, code, now),
        )
    view = account.ok(account.api.get(f"/api/v1/patients/{pid}/reminders"))
    last_day = dt.date.fromisoformat(view["plan_last_day"])
    assert last_day < local_today("Europe/Madrid")

    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{pid}", "patient")
        # The Devices table says which phones get reminders, in words.
        devices = page.get_by_role("table", name="Devices joined to this patient")
        expect(devices.get_by_role("columnheader", name="Reminders")).to_be_visible()
        for label, said in [
            ("Rita's iPhone", "on"),
            ("Kitchen tablet", "on"),
            ("Rita's laptop", "not turned on"),
            ("Old Android", "not turned on"),
        ]:
            expect(devices.get_by_role("row", name=label).get_by_role("cell", name=said, exact=True)).to_be_visible()
        card = page.get_by_role("region", name="Reminders")
        # Turned on, but the plan has ended: the status says so, and the reason is under the times.
        expect(card.locator("strong").first).to_have_text("Ended with the plan")
        expect(card).not_to_contain_text("On ·")
        expect(card).to_contain_text(f"No reminder is coming: the plan ended on {last_day:%b} {last_day.day}.")
        expect(card).to_contain_text("A reminder waits at most 30 minutes for a phone that is switched off or offline")
        card.get_by_text("Last deliveries").click()
        items = card.get_by_role("listitem")
        expect(items).to_have_count(4)
        expect(items.filter(has_text="(test): sent")).to_contain_text("Rita's iPhone")
        expect(items.filter(has_text="(test): failed")).to_contain_text("Kitchen tablet (400 Bad Request)")
        expect(items.filter(has_text="Morning")).to_contain_text("(test): gone · Old Android (410 Gone)")
        expect(items.filter(has_text="Evening").filter(has_text="(test): gone")).to_contain_text(
            "a phone no longer subscribed"
        )


def test_a_test_reminder_sent_from_the_console_says_which_phone_it_reached_and_what_helps_the_other(
    browser: Browser,
    live_server: LiveServer,
    account: ConsoleAccount,
    page_problems: PageProblems,
    service: PushService,
) -> None:
    patient = account.patient("Tomas Test", treated=[{"muscle": "upper-trapezius", "side": "left"}])
    pid = patient["id"]
    subs = []
    for label in ["Tomas's iPhone", "Kitchen tablet"]:
        invite = account.ok(account.api.post(f"/api/v1/patients/{pid}/invites"))
        with account.join(invite["code"], label) as phone:
            key = account.ok(phone.get("/api/v1/push/public-key"))["public_key"]
            sub = service.subscribe(label, application_server_key=key)
            assert phone.put("/api/v1/patient/push/subscriptions", json=sub.as_json()).status_code == 200
            # No quiet hours: a test from the console is never sent inside them, and this one runs at any hour.
            assert phone.put("/api/v1/patient/reminders", json={"quiet_hours": None}).status_code == 200
            subs.append(sub)
    service.answer(subs[1], 400)

    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{pid}", "patient")
        card = page.get_by_role("region", name="Reminders")
        card.get_by_role("button", name="Send a test reminder").click()
        expect(card.get_by_role("status")).to_have_text(
            "Sent to Tomas's iPhone: it shows there within seconds while the phone is on. "
            "Not delivered to Kitchen tablet: its push service refused it (400 Bad Request); "
            "the patient turns reminders off and on again in the app."
        )
        assert [m.name for m in service.received] == ["Tomas's iPhone"]
        assert service.received[0].payload["kind"] == "test"
        page.reload()
        wait_view(page, "patient")
        expect(page.locator("tr[data-action='reminders.test']")).to_contain_text("reached 1 of 2 phones")


def test_reminders_turned_on_before_the_patient_has_a_plan_wait_for_one(
    browser: Browser, live_server: LiveServer, account: ConsoleAccount, page_problems: PageProblems
) -> None:
    patient = account.patient("Nadia Noplan")
    pid = patient["id"]
    with account.joined_phone(pid) as phone:
        subscription = {"endpoint": f"http://127.0.0.1:9/push/console-noplan-{pid}", "keys": KEYS}
        assert phone.put("/api/v1/patient/push/subscriptions", json=subscription).status_code == 200

    with console_session(browser, live_server, account, page_problems) as (_, page):
        goto_view(page, f"#/patients/{pid}", "patient")
        card = page.get_by_role("region", name="Reminders")
        # A phone gets reminders, but none can come without a plan: the status does not say "On".
        expect(card.locator("strong").first).to_have_text("Waiting for a plan")
        expect(card).not_to_contain_text("On ·")
        expect(card).to_contain_text("No reminder is coming: the patient has no plan yet.")

        account.ok(
            account.api.post(
                f"/api/v1/patients/{pid}/plans",
                json={
                    "treated": [{"muscle": "upper-trapezius", "side": "left"}],
                    "treated_on": local_today().isoformat(),
                },
            )
        )
        page.reload()
        wait_view(page, "patient")
        expect(card.locator("strong").first).to_have_text("On")
        expect(card).not_to_contain_text("No reminder is coming")
