"""The push reminder endpoints through the real app: keys, subscriptions, reminder times,
the test reminder, the calendar file, the therapist's view, bad input and isolation."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import os
import stat
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.api.errors import InputError
from server.api.reminders import SubscriptionIn, check_subscription
from server.app import create_app
from server.catalog import Catalog
from server.cli import main as cli
from server.clock import Clock
from server.push import Scheduler
from server.push.keys import KEY_FILE, load_or_create
from server.settings import Settings
from tests.conftest import make_therapist, rows, sign_in
from tests.pushservice import PushService, b64url
from tests.test_access_log import Lines
from tests.test_bad_input import snapshot
from tests.test_push_scheduler import START, deliveries, join_phone, make_patient

Client = AsyncTestClient[Litestar]
SUBSCRIPTIONS = "/api/v1/patient/push/subscriptions"


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=START)  # Friday 2026-11-20 12:00 UTC, 13:00 in Berlin


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Hours pass between one step and the next here (to the patient's quiet hours and back), the
    therapist signed in at the start: their session's idle limit is not what these tests are about."""
    return msgspec.structs.replace(settings, session_idle_minutes=12 * 60)


# --- keys ---------------------------------------------------------------------------------------


async def test_the_vapid_key_is_made_on_first_start_private_to_its_owner_and_served_publicly(
    client: Client, settings: Settings
) -> None:
    path = Path(settings.data_dir) / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    r = await client.get("/api/v1/push/public-key")
    assert r.status_code == 200
    raw = base64.urlsafe_b64decode(r.json()["public_key"] + "==")
    assert len(raw) == 65
    assert raw[0] == 4
    assert r.json()["public_key"] == load_or_create(settings.data_dir).public_key  # kept, not remade


def test_processes_starting_together_keep_one_key_and_a_readable_key_file_is_refused(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: load_or_create(tmp_path / "data"), range(8)))
    assert len({k.public_key for k in keys}) == 1
    assert sum(k.created for k in keys) == 1
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [KEY_FILE]
    os.chmod(tmp_path / "data" / KEY_FILE, 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create(tmp_path / "data")


def test_unknot_vapid_keys_makes_the_pair_once_and_prints_the_public_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNKNOT_DATA_DIR", str(tmp_path / "keys"))
    assert cli(["vapid-keys"]) == 0
    first = capsys.readouterr().out
    assert "created" in first
    assert cli(["vapid-keys"]) == 0
    second = capsys.readouterr().out
    assert "exists" in second
    key = load_or_create(tmp_path / "keys").public_key
    assert key in first
    assert key in second


# --- subscriptions ---------------------------------------------------------------------------------


async def test_a_patient_subscribes_several_devices_refreshes_and_unsubscribes(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog
) -> None:
    ana = await make_patient(therapist, app, service, catalog, devices=2)
    phone = ana.phones[0]
    assert (await phone.get("/api/v1/patient/reminders")).json()["subscriptions"] == 2
    # The app sends its subscription on every start: the same endpoint again changes nothing.
    r = await phone.put("/api/v1/patient/push/subscriptions", json=ana.subs[0].as_json())
    assert r.json() == {"endpoint": ana.subs[0].endpoint, "created": False, "subscriptions": 2}
    r = await phone.request("DELETE", SUBSCRIPTIONS, json={"endpoint": ana.subs[0].endpoint})
    assert r.status_code == 204
    assert (await phone.get("/api/v1/patient/reminders")).json()["subscriptions"] == 1
    r = await phone.request("DELETE", SUBSCRIPTIONS, json={"endpoint": ana.subs[0].endpoint})
    assert r.status_code == 404
    assert r.json()["errors"][0]["field"] == "endpoint"


async def test_an_unsubscribe_without_a_usable_endpoint_is_refused_by_name_and_changes_nothing(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, settings: Settings
) -> None:
    phone = (await make_patient(therapist, app, service, catalog)).phones[0]
    before = snapshot(settings)
    for kwargs, status, field in (
        ({}, 400, "endpoint"),  # no body and no query
        ({"json": None}, 400, "endpoint"),
        ({"json": {}}, 400, "endpoint"),
        ({"json": {"endpoint": 5}}, 400, "endpoint"),
        ({"json": {"endpoint": ""}}, 400, "endpoint"),
        ({"json": {"endpoint": "https://push.example/\x00"}}, 400, "endpoint"),
        ({"json": {"endpoint": "https://push.example/a", "other": 1}}, 400, "other"),
        ({"json": ["https://push.example/a"]}, 400, "body"),
        ({"params": {"endpoint": ""}}, 400, "endpoint"),
        ({"content": b'{"endpoint": "x"}'}, 415, "Content-Type"),  # not sent as JSON
    ):
        r = await phone.request("DELETE", SUBSCRIPTIONS, **kwargs)
        assert (r.status_code, [e["field"] for e in r.json()["errors"]]) == (status, [field]), (kwargs, r.text)
    assert snapshot(settings) == before


async def test_an_older_app_may_name_the_subscription_in_the_query_which_the_access_log_never_shows(
    settings: Settings, clock: Clock, service: PushService, catalog: Catalog
) -> None:
    """Phones whose cached app is an older version's send the endpoint in the query string, for a
    while. It is taken, and the app's own access log (UNKNOT_ACCESS_LOG) writes the path only."""
    app = create_app(msgspec.structs.replace(settings, access_log=True), clock)
    async with AsyncTestClient(app=app) as therapist:
        await make_therapist(settings, "ana@clinic.example", "Ana")
        await sign_in(therapist, "ana@clinic.example")
        ana = await make_patient(therapist, app, service, catalog, devices=2)
        lines = Lines()
        logging.getLogger("unknot").addHandler(lines)
        try:
            r = await ana.phones[0].delete(SUBSCRIPTIONS, params={"endpoint": ana.subs[0].endpoint})
            assert r.status_code == 204, r.text
            r = await ana.phones[1].request("DELETE", SUBSCRIPTIONS, json={"endpoint": ana.subs[1].endpoint})
            assert r.status_code == 204, r.text
        finally:
            logging.getLogger("unknot").removeHandler(lines)
        assert (await ana.phones[0].get("/api/v1/patient/reminders")).json()["subscriptions"] == 0
    assert lines.lines == [f"DELETE {SUBSCRIPTIONS} 204"] * 2


async def test_another_patient_can_neither_remove_nor_take_over_a_subscription(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog
) -> None:
    ana = await make_patient(therapist, app, service, catalog, name="Ana")
    bo = await make_patient(therapist, app, service, catalog, name="Bo")
    mine = ana.subs[0].as_json()
    r = await bo.phones[0].delete("/api/v1/patient/push/subscriptions", params={"endpoint": mine["endpoint"]})
    assert r.status_code == 404
    stolen = {**mine, "keys": bo.subs[0].as_json()["keys"]}
    r = await bo.phones[0].put("/api/v1/patient/push/subscriptions", json=stolen)
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "endpoint"
    assert (await ana.phones[0].get("/api/v1/patient/reminders")).json()["subscriptions"] == 1
    # The public key is no secret: with a secret of Bo's own, Ana's browser could not read her reminders.
    own_secret = {**mine, "keys": {**mine["keys"], "auth": bo.subs[0].as_json()["keys"]["auth"]}}
    r = await bo.phones[0].put("/api/v1/patient/push/subscriptions", json=own_secret)
    assert r.status_code == 409
    assert (await ana.phones[0].get("/api/v1/patient/reminders")).json()["subscriptions"] == 1
    # The same browser (same keys) handed on to the next patient moves over.
    r = await bo.phones[0].put("/api/v1/patient/push/subscriptions", json=mine)
    assert r.status_code == 200
    assert (await ana.phones[0].get("/api/v1/patient/reminders")).json()["subscriptions"] == 0
    assert (await bo.phones[0].get("/api/v1/patient/reminders")).json()["subscriptions"] == 2


async def test_the_devices_list_says_which_phones_get_reminders(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog
) -> None:
    ana = await make_patient(therapist, app, service, catalog, devices=2)
    ana.phones.append(await join_phone(therapist, app, ana.id, label="Tablet"))  # never turned reminders on

    async def subscribed() -> list[tuple[int, bool]]:
        r = await therapist.get(f"/api/v1/patients/{ana.id}/devices")
        assert r.status_code == 200, r.text
        return sorted((d["id"], d["subscribed"]) for d in r.json())

    first, second, tablet = (i for i, _ in await subscribed())
    assert await subscribed() == [(first, True), (second, True), (tablet, False)]
    service.gone(ana.subs[0])  # uninstalled: the test reminder finds its subscription gone
    assert (await ana.phones[1].post("/api/v1/patient/push/test")).json()["sent"] == 1
    assert await subscribed() == [(first, False), (second, True), (tablet, False)]
    assert (await therapist.delete(f"/api/v1/patients/{ana.id}/devices/{second}")).status_code == 204
    assert await subscribed() == [(first, False), (second, False), (tablet, False)]


async def test_the_delivery_log_names_only_the_patients_own_phones_once_a_browser_is_handed_on(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, settings: Settings
) -> None:
    ana = await make_patient(therapist, app, service, catalog, name="Ana")
    bo = await make_patient(therapist, app, service, catalog, name="Bo")
    [ana_phone] = (await therapist.get(f"/api/v1/patients/{ana.id}/devices")).json()
    assert (await ana.phones[0].post("/api/v1/patient/push/test")).status_code == 200
    # As a row logged before deliveries kept their device: only its subscription says which phone.
    rows(settings, "UPDATE reminder_delivery SET device_id = NULL")
    [entry] = (await therapist.get(f"/api/v1/patients/{ana.id}/reminders")).json()["deliveries"]
    assert entry["device_id"] == ana_phone["id"]
    # The same browser (same keys) handed on to Bo: its subscription is now Bo's phone's.
    assert (await bo.phones[0].put("/api/v1/patient/push/subscriptions", json=ana.subs[0].as_json())).status_code == 200
    [entry] = (await therapist.get(f"/api/v1/patients/{ana.id}/reminders")).json()["deliveries"]
    assert (entry["device_id"], entry["device"]) == (None, None)


def test_endpoints_must_be_https_on_a_known_push_service_outside_development() -> None:
    point = b64url(b"\x04" + bytes(64))
    keys = {"p256dh": "BMUQ7gkSTNiOzjgK9ypA6A-vTXbqOCor-hk7re9D46xbqQJ_5Jzlk_CIA-tp0Bbq8RrdFl0JJDsWiuw1-CLpiJM"}
    keys["auth"] = b64url(bytes(16))
    production = Settings.from_env({}, env="production")

    def check(endpoint: str, settings: Settings = production, **changes: str) -> str:
        data = msgspec.convert({"endpoint": endpoint, "keys": {**keys, **changes}}, SubscriptionIn)
        try:
            check_subscription(data, settings)
        except InputError as exc:
            return exc.field
        return "ok"

    assert check("https://fcm.googleapis.com/fcm/send/abc") == "ok"
    assert check("https://updates.push.services.mozilla.com/wpush/v2/abc") == "ok"
    assert check("https://web.push.apple.com/abc") == "ok"
    assert check("http://127.0.0.1:9999/push/abc") == "endpoint"
    assert check("http://fcm.googleapis.com/fcm/send/abc") == "endpoint"
    assert check("https://169.254.169.254/latest/meta-data") == "endpoint"
    assert check("https://evil.example/push") == "endpoint"
    assert check("https://user:pw@fcm.googleapis.com/x") == "endpoint"
    assert check("https://fcm.googleapis.com/x", p256dh=point) == "keys.p256dh"
    assert check("http://127.0.0.1:9999/push/abc", Settings.from_env({})) == "ok"
    assert check("https://evil.example/push", Settings.from_env({}, push_hosts="*")) == "ok"


# --- reminder times ------------------------------------------------------------------------------


async def test_reminders_start_from_the_plans_slots_and_the_patient_changes_them(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog
) -> None:
    ana = await make_patient(therapist, app, service, catalog)  # a plan with morning and evening items only
    phone = ana.phones[0]
    body = (await phone.get("/api/v1/patient/reminders")).json()
    assert body["timezone"] == "Europe/Berlin"
    assert body["customized"] is False
    assert body["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert body["calendar_url"] == "/api/v1/patient/reminders.ics"
    assert [(r["slot"], r["local_time"], r["enabled"], r["next_at"]) for r in body["rules"]] == [
        ("morning", "08:00", True, "2026-11-21T07:00:00Z"),
        ("midday", "13:00", False, None),
        ("evening", "19:00", True, "2026-11-20T18:00:00Z"),
    ]
    assert all(len(r["weekdays"]) == 7 for r in body["rules"])

    change = {"rules": [{"slot": "evening", "local_time": "20:30", "weekdays": ["sat", "sun"]}]}
    r = await phone.put("/api/v1/patient/reminders", json=change)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["customized"] is True
    evening = body["rules"][2]
    assert evening == {
        "slot": "evening",
        "local_time": "20:30",
        "weekdays": ["sat", "sun"],
        "enabled": True,
        "next_at": "2026-11-21T19:30:00Z",  # Saturday 20:30 in Berlin
    }
    # Midday still shows as off (the plan has nothing there) but stays on underneath: see
    # test_push_scheduler's test_a_slot_the_plan_takes_into_use_later_is_reminded_after_the_patient_saved_settings.
    assert [r["enabled"] for r in body["rules"]] == [True, False, True]
    r = await phone.put(
        "/api/v1/patient/reminders",
        json={"rules": [{"slot": "morning", "local_time": "07:30", "enabled": False}], "quiet_hours": None},
    )
    body = r.json()
    assert body["quiet_hours"] is None
    assert body["rules"][0]["enabled"] is False
    assert body["rules"][0]["next_at"] is None
    assert body["rules"][2]["local_time"] == "20:30"
    assert (await phone.get("/api/v1/patient/reminders")).json() == body


async def test_the_calendar_file_lists_the_enabled_reminders_in_the_patients_zone(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    r = await ana.phones[0].get("/api/v1/patient/reminders.ics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/calendar")
    assert "attachment" in r.headers["content-disposition"]
    lines = r.text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR"
    assert "DTSTART;TZID=Europe/Berlin:20261120T190000" in lines
    assert "DTSTART;TZID=Europe/Berlin:20261121T080000" not in lines  # the morning starts on the 20th too
    assert "DTSTART;TZID=Europe/Berlin:20261120T080000" in lines
    assert r.text.count("BEGIN:VEVENT") == 2  # midday is off
    assert sum(line.startswith("RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;UNTIL=") for line in lines) == 2
    assert "SUMMARY:Evening exercises" in lines


async def test_the_calendar_file_reminds_only_while_the_plan_has_something_in_that_slot(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog
) -> None:
    r = await therapist.post("/api/v1/patients", json={"display_name": "No plan", "timezone": "Europe/Berlin"})
    phone = await join_phone(therapist, app, r.json()["id"])
    assert "BEGIN:VEVENT" not in (await phone.get("/api/v1/patient/reminders.ics")).text

    # A plan that starts in three days, its evening stretches five days a week.
    starts = START.date() + dt.timedelta(days=3)
    ana = await make_patient(therapist, app, service, catalog, treated_on=starts, evening_days_per_week=5)
    lines = (await ana.phones[0].get("/api/v1/patient/reminders.ics")).text.split("\r\n")
    assert f"DTSTART;TZID=Europe/Berlin:{starts:%Y%m%d}T190000" in lines
    assert f"DTSTART;TZID=Europe/Berlin:{starts:%Y%m%d}T080000" in lines
    last = max(i["to_day"] for i in ana.items)
    # Each phase's items rest on the last two days of each week counted from the phase's start.
    evening = [i for i in ana.items if "evening" in i["slots"]]
    due = {n for i in evening for n in range(i["from_day"], i["to_day"] + 1) if (n - i["from_day"]) % 7 < 5}
    rest = [starts + dt.timedelta(days=n) for n in range(last + 1) if n not in due]
    assert rest
    # Made today for a visit in three days, the plan reminds on the visit day only in the evening
    # (reminds_on): the visit's time is not known, and the morning may come before it.
    assert [line for line in lines if line.startswith("EXDATE")] == [
        f"EXDATE;TZID=Europe/Berlin:{starts:%Y%m%d}T080000",
        *(f"EXDATE;TZID=Europe/Berlin:{day:%Y%m%d}T190000" for day in rest),
    ]


# --- the test reminder ---------------------------------------------------------------------------


async def test_a_test_reminder_reaches_every_device_now_and_shows_in_the_log(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog
) -> None:
    ana = await make_patient(therapist, app, service, catalog, devices=2)
    r = await ana.phones[0].post("/api/v1/patient/push/test")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sent"] == 2
    assert body["payload"]["kind"] == "test"
    # 13:00 in Berlin: midday has nothing in it, so the evening's, which comes next (tests/test_push_walk.py).
    assert body["payload"]["title"] == "Evening: 3 stretches, about 6 minutes"
    received = await service.wait_for(2)
    assert sorted(m.name for m in received) == ["Ana-1", "Ana-2"]
    assert all(m.payload == body["payload"] for m in received)
    view = (await therapist.get(f"/api/v1/patients/{ana.id}/reminders")).json()
    assert [(d["kind"], d["status"]) for d in view["deliveries"]] == [("test", "sent")] * 2
    assert view["last_ok_at"] == "2026-11-20T12:00:00Z"
    for _ in range(4):  # five in ten minutes are fine, the sixth is refused
        assert (await ana.phones[0].post("/api/v1/patient/push/test")).status_code == 200
    r = await ana.phones[0].post("/api/v1/patient/push/test")
    assert r.status_code == 429
    assert "retry-after" in r.headers


async def test_a_test_reminder_reports_a_dead_device_and_forgets_it(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog
) -> None:
    ana = await make_patient(therapist, app, service, catalog, devices=2)
    service.gone(ana.subs[1])
    body = (await ana.phones[0].post("/api/v1/patient/push/test")).json()
    assert body["sent"] == 1
    assert sorted(r["status"] for r in body["results"]) == ["gone", "sent"]
    assert (await ana.phones[0].get("/api/v1/patient/reminders")).json()["subscriptions"] == 1


async def test_a_test_reminder_says_by_their_labels_which_phones_it_reached_and_which_it_did_not(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog
) -> None:
    ana = await make_patient(therapist, app, service, catalog, devices=0)
    labels = ["Ana's iPhone", "Kitchen tablet", "Old Android"]
    for label in labels:
        phone = await join_phone(therapist, app, ana.id, label=label)
        key = (await phone.get("/api/v1/push/public-key")).json()["public_key"]
        sub = service.subscribe(label, application_server_key=key)
        assert (await phone.put("/api/v1/patient/push/subscriptions", json=sub.as_json())).status_code == 200
        ana.phones.append(phone)
        ana.subs.append(sub)
    devices = {d["label"]: d["id"] for d in (await therapist.get(f"/api/v1/patients/{ana.id}/devices")).json()}
    service.answer(ana.subs[1], 503)  # busy: a test is sent once, not retried
    service.gone(ana.subs[2])  # uninstalled

    r = await ana.phones[1].post("/api/v1/patient/push/test")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sent"] == 1
    found = {(x["label"], x["device_id"], x["status"], x["http_status"], x["this_device"]) for x in body["results"]}
    assert found == {
        ("Ana's iPhone", devices["Ana's iPhone"], "sent", 201, False),
        ("Kitchen tablet", devices["Kitchen tablet"], "failed", 503, True),
        ("Old Android", devices["Old Android"], "gone", 410, False),
    }
    # The therapist's log says which phone each went to, the one whose subscription is gone since
    # (deleted on the 410) included.
    assert (await ana.phones[1].get("/api/v1/patient/reminders")).json()["subscriptions"] == 2
    log = (await therapist.get(f"/api/v1/patients/{ana.id}/reminders")).json()["deliveries"]
    assert sorted((d["kind"], d["status"], d["device"], d["device_id"]) for d in log) == [
        ("test", "failed", "Kitchen tablet", devices["Kitchen tablet"]),
        ("test", "gone", "Old Android", devices["Old Android"]),
        ("test", "sent", "Ana's iPhone", devices["Ana's iPhone"]),
    ]


async def test_the_therapist_sends_a_test_reminder_and_is_told_which_phones_it_reached(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, settings: Settings, clock: Clock
) -> None:
    ana = await make_patient(therapist, app, service, catalog, devices=0)
    url = f"/api/v1/patients/{ana.id}/reminders/test"
    r = await therapist.post(url)
    assert (r.status_code, r.json()["errors"][0]["field"]) == (409, "subscriptions"), r.text
    for label in ("Ana's iPhone", "Kitchen tablet"):
        phone = await join_phone(therapist, app, ana.id, label=label)
        key = (await phone.get("/api/v1/push/public-key")).json()["public_key"]
        sub = service.subscribe(label, application_server_key=key)
        assert (await phone.put("/api/v1/patient/push/subscriptions", json=sub.as_json())).status_code == 200
        ana.phones.append(phone)
        ana.subs.append(sub)
    service.answer(ana.subs[1], 400)

    r = await therapist.post(url)  # 13:00 in Berlin
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sent"] == 1
    assert body["payload"]["kind"] == "test"
    assert {(x["label"], x["status"]) for x in body["results"]} == {
        ("Ana's iPhone", "sent"),
        ("Kitchen tablet", "failed"),
    }
    [message] = await service.wait_for(1)
    assert (message.name, message.payload) == ("Ana's iPhone", body["payload"])
    assert rows(
        settings, "SELECT action, detail FROM audit WHERE patient_id = :p AND action = 'reminders.test'", {"p": ana.id}
    ) == [("reminders.test", "1 of 2")]

    # Never in the patient's quiet hours (22:00-07:00 by default): 23:30 in Berlin.
    clock.fixed = dt.datetime(2026, 11, 20, 22, 30, tzinfo=dt.UTC)
    r = await therapist.post(url)
    assert r.status_code == 409, r.text
    error = r.json()["errors"][0]
    assert error["field"] == "quiet_hours"
    assert "23:30" in error["message"]
    clock.fixed = START
    # The therapist's tests and the phone's count together (five in ten minutes).
    for _ in range(4):
        assert (await ana.phones[0].post("/api/v1/patient/push/test")).status_code == 200
    assert (await therapist.post(url)).status_code == 429
    # An archived patient's phones are disconnected: nothing to test.
    assert (await therapist.patch(f"/api/v1/patients/{ana.id}", json={"archived": True})).status_code == 200
    assert (await therapist.post(url)).status_code == 409


async def test_the_therapist_is_told_how_long_a_reminder_waits_for_a_phone_that_is_offline(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, settings: Settings
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    view = (await therapist.get(f"/api/v1/patients/{ana.id}/reminders")).json()
    # UNKNOT_PUSH_TTL_SECONDS (1800 by default): the push service keeps a message that long, no longer.
    assert view["offline_kept_minutes"] == settings.push_ttl_seconds // 60 == 30


async def test_a_test_reminder_has_its_own_tag_and_does_not_replace_the_days_reminder(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, clock: Clock
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    clock.fixed = dt.datetime(2026, 11, 20, 18, 5, tzinfo=dt.UTC)  # 19:05 in Berlin, after the evening's
    assert (await scheduler.tick(dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC))).sent == 1
    r = await ana.phones[0].post("/api/v1/patient/push/test")
    assert r.status_code == 200, r.text
    assert r.json()["payload"]["slot"] == "evening"
    reminder, test = await service.wait_for(2)
    assert (reminder.payload["kind"], reminder.payload["tag"]) == ("reminder", "unknot-evening-2026-11-20")
    # The service worker shows each push with its tag (pwa/sw.js): one tag would put the test in
    # the reminder's place in the tray.
    assert (test.payload["kind"], test.payload["tag"]) == ("test", "unknot-test")


async def test_a_test_reminder_whose_request_ended_before_its_outcome_is_never_sent_again(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    service.delay = 0.5
    sending = asyncio.create_task(scheduler.send_test(ana.id, "Europe/Berlin", "en", START))
    deadline = asyncio.get_running_loop().time() + 10
    while service.attempts(ana.subs[0]) == 0:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    # The request dies (the phone went away, the process stopped) while the push is on its way.
    sending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sending
    service.delay = 0
    # Once the lease of the row it left behind has ended, nobody takes it over.
    report = await scheduler.tick(START + scheduler.lease + dt.timedelta(seconds=1))
    assert report.sent == 0
    assert service.attempts(ana.subs[0]) == 1
    [test] = [d for d in await deliveries(therapist, ana) if d["kind"] == "test"]
    assert (test["status"], test["attempts"]) == ("expired", 1)
    assert test["last_error"] == "outcome unknown: the request sending it ended first"


# --- the therapist's view -----------------------------------------------------------------------------


async def test_the_therapist_sees_whether_reminders_are_on_and_another_therapist_sees_nothing(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, settings: Settings
) -> None:
    r = await therapist.post("/api/v1/patients", json={"display_name": "Dana", "timezone": "Europe/Madrid"})
    dana = r.json()["id"]
    view = (await therapist.get(f"/api/v1/patients/{dana}/reminders")).json()
    assert (view["on"], view["subscriptions"], view["deliveries"]) == (False, 0, [])
    assert (view["coming"], view["not_coming"]) == (False, "off")
    ana = await make_patient(therapist, app, service, catalog)
    view = (await therapist.get(f"/api/v1/patients/{ana.id}/reminders")).json()
    assert (view["on"], view["subscriptions"], view["timezone"]) == (True, 1, "Europe/Berlin")
    assert (view["coming"], view["not_coming"]) == (True, None)
    assert [r["slot"] for r in view["rules"] if r["enabled"]] == ["morning", "evening"]

    await make_therapist(settings, "eve@elsewhere.example", "Eve")
    eve = AsyncTestClient(app=app)
    eve.blocking_portal = therapist.blocking_portal
    await sign_in(eve, "eve@elsewhere.example")
    r = await eve.get(f"/api/v1/patients/{ana.id}/reminders")
    assert r.status_code == 404
    assert "Europe/Berlin" not in r.text
    assert (await ana.phones[0].get(f"/api/v1/patients/{ana.id}/reminders")).status_code == 401
    nobody = AsyncTestClient(app=app)
    nobody.blocking_portal = therapist.blocking_portal
    assert (await nobody.get("/api/v1/patient/reminders")).status_code == 401
    assert (await nobody.put("/api/v1/patient/push/subscriptions", json=ana.subs[0].as_json())).status_code == 401


async def test_reminders_turned_on_for_a_patient_without_a_plan_say_none_is_coming_and_why(
    therapist: Client, app: Litestar, service: PushService
) -> None:
    r = await therapist.post("/api/v1/patients", json={"display_name": "Nora", "timezone": "Europe/Madrid"})
    nora = r.json()["id"]
    phone = await join_phone(therapist, app, nora)
    key = (await phone.get("/api/v1/push/public-key")).json()["public_key"]
    sub = service.subscribe("nora", application_server_key=key)
    assert (await phone.put("/api/v1/patient/push/subscriptions", json=sub.as_json())).status_code == 200
    view = (await therapist.get(f"/api/v1/patients/{nora}/reminders")).json()
    # Turned on (a phone subscribed, times on): "on" stays as older consoles read it, and the
    # added fields say no reminder can come until there is a plan.
    assert (view["on"], view["coming"], view["not_coming"]) == (True, False, "no_plan")
    assert all(rule["next_at"] is None for rule in view["rules"])


# --- bad input --------------------------------------------------------------------------------------

GOOD_P256DH = "BMUQ7gkSTNiOzjgK9ypA6A-vTXbqOCor-hk7re9D46xbqQJ_5Jzlk_CIA-tp0Bbq8RrdFl0JJDsWiuw1-CLpiJM"


def sub(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "endpoint": "http://127.0.0.1:9/push/new",
        "keys": {"p256dh": GOOD_P256DH, "auth": b64url(bytes(range(16)))},
    }
    keys = {k: v for k, v in changes.items() if k in ("p256dh", "auth")}
    body["keys"].update(keys)
    body.update({k: v for k, v in changes.items() if k not in keys})
    return body


def rule(**changes: Any) -> dict[str, Any]:
    return {"slot": "evening", "local_time": "19:30", **changes}


BAD = [
    ("PUT", "/push/subscriptions", {"endpoint": "http://127.0.0.1:9/push/x"}, 400, "keys"),
    ("PUT", "/push/subscriptions", sub(colour="red"), 400, "colour"),
    ("PUT", "/push/subscriptions", sub(endpoint="ftp://127.0.0.1/x"), 422, "endpoint"),
    ("PUT", "/push/subscriptions", sub(endpoint="https://evil.example/push/x"), 422, "endpoint"),
    ("PUT", "/push/subscriptions", sub(endpoint="x" * 3000), 400, "endpoint"),
    ("PUT", "/push/subscriptions", sub(p256dh="not base64!"), 422, "keys.p256dh"),
    ("PUT", "/push/subscriptions", sub(p256dh=b64url(b"\x04" + bytes(64))), 422, "keys.p256dh"),
    ("PUT", "/push/subscriptions", sub(auth=b64url(bytes(10))), 422, "keys.auth"),
    ("PUT", "/push/subscriptions", sub(keys={"p256dh": GOOD_P256DH}), 400, "keys.auth"),
    ("PUT", "/reminders", {"rules": [rule(local_time="25:00")]}, 400, "rules[0].local_time"),
    ("PUT", "/reminders", {"rules": [rule(local_time="7:00")]}, 400, "rules[0].local_time"),
    ("PUT", "/reminders", {"rules": [rule(slot="night")]}, 400, "rules[0].slot"),
    ("PUT", "/reminders", {"rules": [rule(weekdays=["funday"])]}, 400, "rules[0].weekdays[0]"),
    ("PUT", "/reminders", {"rules": [rule(weekdays=[])]}, 422, "rules[0].weekdays"),
    ("PUT", "/reminders", {"rules": [rule(), rule(local_time="20:00")]}, 422, "rules[1].slot"),
    ("PUT", "/reminders", {"rules": [rule(), rule(), rule(), rule()]}, 400, "rules"),
    ("PUT", "/reminders", {"rules": [rule(local_time="23:00")]}, 422, "rules[0].local_time"),
    ("PUT", "/reminders", {"quiet_hours": {"start": "18:00", "end": "07:00"}}, 422, "quiet_hours"),
    ("PUT", "/reminders", {"quiet_hours": {"start": "07:00", "end": "07:00"}}, 422, "quiet_hours.end"),
    ("PUT", "/reminders", {"quiet_hours": {"start": "22:00"}}, 400, "quiet_hours.end"),
    ("PUT", "/reminders", {"rules": [rule(enabled="yes")]}, 400, "rules[0].enabled"),
    ("PUT", "/reminders", {"rules": [rule()], "snooze": 5}, 400, "snooze"),
    ("DELETE", "/push/subscriptions", None, 400, "endpoint"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), BAD)
async def test_bad_input_names_the_field_and_writes_nothing(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    settings: Settings,
    method: str,
    path: str,
    body: Any,
    status: int,
    field: str,
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    before = snapshot(settings)
    r = await ana.phones[0].request(method, f"/api/v1/patient{path}", json=body)
    assert r.status_code == status, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.text
    assert snapshot(settings) == before


async def test_a_test_reminder_without_a_subscription_is_a_clear_409(
    therapist: Client, app: Litestar, catalog: Catalog
) -> None:
    r = await therapist.post("/api/v1/patients", json={"display_name": "Eli", "timezone": "UTC"})
    phone = await join_phone(therapist, app, r.json()["id"])
    r = await phone.post("/api/v1/patient/push/test")
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "subscriptions"
    # Reminders still read fine without a plan or a subscription: every slot on by default.
    body = (await phone.get("/api/v1/patient/reminders")).json()
    assert [r["enabled"] for r in body["rules"]] == [True, True, True]
    assert body["subscriptions"] == 0
    await asyncio.sleep(0)
