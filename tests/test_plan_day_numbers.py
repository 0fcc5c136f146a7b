"""The API counts a plan's days from 0 (the day of needling); the console and the patient's app
count that day as day 1. Errors about an item's days say which count they use."""

from __future__ import annotations

import datetime as dt

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.test_flow_therapist_patient import assign, create_patient

Client = AsyncTestClient[Litestar]
TODAY = dt.datetime.now(dt.UTC).date()


@pytest.mark.parametrize(
    ("days", "field", "message"),
    [
        # Outside its phase: "days 0 to 1" said nothing of the count, and the console shows days 1-2.
        ({"to_day": 300}, "to_day", "must be within its phase, days 0 to 1 (day 0 is the day of needling)"),
        (
            {"from_day": 2, "to_day": 2},
            "from_day",
            "must be within its phase, days 0 to 1 (day 0 is the day of needling)",
        ),
        # Past what any plan can hold: msgspec's "Expected `int` <= 365" and ">= 0".
        ({"to_day": 400}, "to_day", "must be at most 365 (day 0 is the day of needling)"),
        ({"from_day": -1}, "from_day", "must be at least 0 (day 0 is the day of needling)"),
    ],
)
async def test_an_items_days_out_of_range_are_refused_saying_day_0_is_the_day_of_needling(
    therapist: Client, days: dict[str, int], field: str, message: str
) -> None:
    patient = await create_patient(therapist)
    plan = await assign(therapist, patient["id"], TODAY)
    items = [dict(i) for i in plan["program"]["items"]]
    assert (items[0]["phase"], items[0]["from_day"], items[0]["to_day"]) == ("aftercare", 0, 1)
    items[0].update(days)
    r = await therapist.put(
        f"/api/v1/patients/{patient['id']}/plan", json={"plan_id": plan["id"], "version": 1, "items": items}
    )
    assert r.status_code in (400, 422), r.text
    assert r.json()["errors"] == [{"field": f"items[0].{field}", "message": message}], r.text
    after = (await therapist.get(f"/api/v1/patients/{patient['id']}/plan")).json()
    assert (after["version"], after["program"]["items"]) == (1, plan["program"]["items"])
