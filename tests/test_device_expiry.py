"""A patient's phone unused for UNKNOT_DEVICE_IDLE_DAYS is disconnected, as if the clinic removed it.

On both backends, through the API and the scheduler, with the app's clock moved by the test: the
phone's token is refused with the answer the app takes for a removal, coded `device_expired` for the
app to say why, the console lists the device
as expired, its push subscription is gone and no reminder reaches it; a phone in use stays joined.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.catalog import Catalog
from server.clock import Clock, iso
from server.push import Scheduler
from server.settings import Settings
from tests.conftest import rows, sign_in
from tests.pushservice import PushService
from tests.test_push_scheduler import START, deliveries, join_phone, make_patient, utc

Client = AsyncTestClient[Litestar]
IDLE = dt.timedelta(days=7)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shortest limit there may be: the plans made at START still have reminders to send then."""
    return msgspec.structs.replace(settings, device_idle_days=7)


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=START)


async def console(therapist: Client, path: str) -> Any:
    """What the console reads at ``path``, signed in again: the clock has moved on past the session's end."""
    await sign_in(therapist, "ana@clinic.example")
    r = await therapist.get(f"/api/v1{path}")
    assert r.status_code == 200, r.text
    return r.json()


async def devices(therapist: Client, patient_id: int) -> list[dict[str, Any]]:
    """The patient's devices as the console lists them, oldest first."""
    return sorted(await console(therapist, f"/patients/{patient_id}/devices"), key=lambda d: d["id"])


async def audit(therapist: Client, patient_id: int, action: str) -> list[dict[str, Any]]:
    return [a for a in await console(therapist, f"/patients/{patient_id}/audit") if a["action"] == action]


async def test_a_phone_unused_too_long_is_refused_as_a_removed_one_and_listed_as_expired(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, clock: Clock, settings: Settings
) -> None:
    ana = await make_patient(therapist, app, service, catalog)
    [phone] = ana.phones
    removed = await join_phone(therapist, app, ana.id, label="Old phone")
    old = (await devices(therapist, ana.id))[1]
    assert (await therapist.delete(f"/api/v1/patients/{ana.id}/devices/{old['id']}")).status_code == 204
    removal = await removed.get("/api/v1/patient/today")
    assert removal.status_code == 401

    # The limit to the second is still in time (the day's routine: PostgreSQL reads it with the identity).
    clock.fixed = START + IDLE
    assert (await phone.get("/api/v1/patient/today")).status_code == 200
    clock.fixed = START + 2 * IDLE + dt.timedelta(seconds=1)
    r = await phone.get("/api/v1/patient/today")
    # What the app takes for a removal (core.removalBody): Unknot's own JSON 401.
    assert r.status_code == 401
    assert r.headers["content-type"] == removal.headers["content-type"]
    assert set(r.json()) == set(removal.json())
    assert r.json()["status"] == 401
    assert "not used for 7 days" in r.json()["detail"]
    # Told apart by a code (the phone words it for its patient); an older app reads only the status.
    assert (removal.json()["code"], r.json()["code"]) == ("device_removed", "device_expired")
    never = await phone.get("/api/v1/patient/me", headers={"Authorization": "Bearer never-joined"})
    assert (never.status_code, never.json()["code"]) == (401, "device_removed")
    again = await phone.get("/api/v1/patient/me")
    assert (again.status_code, again.json()["code"]) == (401, "device_expired")

    listed, old = await devices(therapist, ana.id)
    assert (listed["revoked_at"], listed["expired"], listed["subscribed"]) == (iso(clock.fixed), True, False)
    assert (old["label"], old["expired"]) == ("Old phone", False)
    # In the patient's history once, by no therapist, however often the phone asks again.
    [entry] = await audit(therapist, ana.id, "device.expire")
    assert (entry["detail"], entry["therapist_id"]) == (str(listed["id"]), None)
    assert rows(settings, "SELECT id FROM push_subscription") == []

    # A new code joins the patient again.
    again = await join_phone(therapist, app, ana.id, label="Phone again")
    assert (await again.get("/api/v1/patient/today")).status_code == 200


async def test_the_scheduler_expires_an_unused_phone_and_reminds_only_the_one_in_use(
    therapist: Client,
    app: Litestar,
    service: PushService,
    catalog: Catalog,
    scheduler: Scheduler,
    clock: Clock,
    settings: Settings,
) -> None:
    ana = await make_patient(therapist, app, service, catalog, devices=2)
    used, unused = ana.phones
    clock.fixed = START + IDLE - dt.timedelta(hours=1)
    assert (await used.get("/api/v1/patient/me")).status_code == 200

    report = await scheduler.tick(utc("2026-11-27T18:00:00"))  # 19:00 in Berlin, a week and 6 hours on
    assert report.devices_expired == 1
    assert [m.name for m in await service.wait_for(1)] == ["Ana-1"]
    phones = await devices(therapist, ana.id)
    [sent] = [d for d in await deliveries(therapist, ana) if d["status"] == "sent"]
    assert sent["device_id"] == phones[0]["id"]
    assert [(d["expired"], d["revoked_at"] is not None) for d in phones] == [(False, False), (True, True)]
    [entry] = await audit(therapist, ana.id, "device.expire")
    assert entry["detail"] == str(phones[1]["id"])
    assert rows(settings, "SELECT device_id FROM push_subscription") == [(phones[0]["id"],)]
    # Already expired: the next tick has nothing to do, and the phone is refused as a removed one.
    assert (await scheduler.tick(utc("2026-11-27T18:00:05"))).devices_expired == 0
    clock.fixed = utc("2026-11-27T18:01:00")
    refused = await unused.get("/api/v1/patient/me")
    assert (refused.status_code, refused.json()["code"]) == (401, "device_expired")
    assert len(await audit(therapist, ana.id, "device.expire")) == 1


async def test_a_phone_used_every_day_stays_joined_while_an_unused_one_expires(
    therapist: Client, app: Litestar, service: PushService, catalog: Catalog, scheduler: Scheduler, clock: Clock
) -> None:
    ana = await make_patient(therapist, app, service, catalog, devices=2)
    daily, _ = ana.phones
    # Once a day at a different hour, a few minutes after the last use was recorded (at most every
    # 10 minutes), for four times the limit, with the scheduler's sweep in between.
    for day in range(4 * IDLE.days):
        clock.fixed = START + dt.timedelta(days=day, hours=(day * 5) % 12, minutes=day % 10)
        assert (await daily.get("/api/v1/patient/me")).status_code == 200, day
        await scheduler.tick(clock.fixed + dt.timedelta(hours=1))
    listed = await devices(therapist, ana.id)
    assert [d["expired"] for d in listed] == [False, True]
    assert listed[0]["revoked_at"] is None
