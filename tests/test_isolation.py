"""Strict isolation: walk every route of the app as the wrong therapist, the wrong patient and nobody.

A new route fails this test until it is given a sample request below, so no endpoint
can ship without its isolation check.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import AsyncTestClient

from server.auth.identity import patient_guard, therapist_guard
from server.settings import Settings
from tests.conftest import make_therapist, sign_in
from tests.test_flow_therapist_patient import assign, completion, create_patient, join

Client = AsyncTestClient[Litestar]

PUBLIC = {
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/ping"),
    ("GET", "/api/v1/catalog/muscles"),
    ("GET", "/api/v1/catalog/conditions"),
    ("GET", "/api/v1/catalog/exercises"),
    ("GET", "/api/v1/catalog/exercises/{exercise_id:str}"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/patient/join"),
    ("GET", "/api/v1/push/public-key"),
}

TODAY = dt.date(2026, 11, 20)
TREATED = [{"muscle": "scalenes", "side": "left"}]

PUSH_SUBSCRIPTION = {
    "endpoint": "http://127.0.0.1:9/push/isolation",
    "keys": {
        "p256dh": "BMUQ7gkSTNiOzjgK9ypA6A-vTXbqOCor-hk7re9D46xbqQJ_5Jzlk_CIA-tp0Bbq8RrdFl0JJDsWiuw1-CLpiJM",
        "auth": "0kBnYKownSsAyn_7zPE0-w",
    },
}

# A valid request for every guarded route; {pid} is the victim's patient id.
SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/auth/logout"): {},
    ("GET", "/api/v1/auth/me"): {},
    # Only ever the caller's own account; Bob's try with a wrong password changes nothing.
    ("POST", "/api/v1/auth/password"): {"json": {"current_password": "not it", "new_password": "a new password 2026"}},
    ("GET", "/api/v1/patients"): {},
    ("POST", "/api/v1/patients"): {"json": {"display_name": "X", "timezone": "UTC"}},
    ("GET", "/api/v1/patients/{patient_id:int}"): {},
    ("PATCH", "/api/v1/patients/{patient_id:int}"): {"json": {"display_name": "Renamed"}},
    ("DELETE", "/api/v1/patients/{patient_id:int}"): {},
    ("POST", "/api/v1/patients/{patient_id:int}/invites"): {},
    ("DELETE", "/api/v1/patients/{patient_id:int}/invites"): {},
    ("GET", "/api/v1/patients/{patient_id:int}/devices"): {},
    ("DELETE", "/api/v1/patients/{patient_id:int}/devices/{device_id:int}"): {},
    ("GET", "/api/v1/patients/{patient_id:int}/audit"): {},
    ("POST", "/api/v1/programs/preview"): {"json": {"treated": TREATED, "treated_on": "2026-11-20"}},
    ("POST", "/api/v1/patients/{patient_id:int}/plans"): {"json": {"treated": TREATED, "treated_on": "2026-11-20"}},
    ("GET", "/api/v1/patients/{patient_id:int}/plan"): {},
    ("PUT", "/api/v1/patients/{patient_id:int}/plan"): {"json": "PLAN_EDIT"},
    ("GET", "/api/v1/patients/{patient_id:int}/plans"): {},
    ("GET", "/api/v1/patients/{patient_id:int}/adherence"): {},
    ("GET", "/api/v1/attention"): {},
    ("GET", "/api/v1/adherence"): {},
    ("GET", "/api/v1/patient/me"): {},
    # Only ever the token's own patient: Otto's phone changes Otto's zone, never Vera's.
    ("PATCH", "/api/v1/patient/me"): {"json": {"timezone": "Asia/Tokyo", "locale": "en"}},
    ("GET", "/api/v1/patient/plan"): {},
    ("GET", "/api/v1/patient/today"): {},
    ("POST", "/api/v1/patient/sync"): {"json": "SYNC"},
    ("GET", "/api/v1/patient/log"): {"params": {"from": "2026-01-01", "to": "2026-12-31"}},
    # Push reminders (issue 7); the endpoint is a closed loopback port, so a test send fails fast.
    ("PUT", "/api/v1/patient/push/subscriptions"): {"json": PUSH_SUBSCRIPTION},
    ("DELETE", "/api/v1/patient/push/subscriptions"): {"params": {"endpoint": PUSH_SUBSCRIPTION["endpoint"]}},
    ("POST", "/api/v1/patient/push/test"): {},
    ("GET", "/api/v1/patient/reminders"): {},
    ("PUT", "/api/v1/patient/reminders"): {"json": {"rules": [{"slot": "evening", "local_time": "19:30"}]}},
    ("GET", "/api/v1/patient/reminders.ics"): {},
    ("GET", "/api/v1/patients/{patient_id:int}/reminders"): {},
    ("POST", "/api/v1/patients/{patient_id:int}/reminders/test"): {},
    # The therapist console (issue 8): records as JSON and CSV, the printable handout.
    ("GET", "/api/v1/patients/{patient_id:int}/records"): {},
    ("GET", "/api/v1/patients/{patient_id:int}/records.csv"): {},
    ("GET", "/api/v1/patients/{patient_id:int}/export.json"): {},
    ("GET", "/api/v1/patients/{patient_id:int}/handout"): {},
    # Marking the victim's flagged check-in as handled.
    ("POST", "/api/v1/patients/{patient_id:int}/checkins/{checkin_id:uuid}/handled"): {"json": {"note": "called"}},
}


def api_routes(app: Litestar) -> list[tuple[str, str, HTTPRouteHandler]]:
    found = []
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                found.append((method, route.path, handler))
    # Sign-out last, so the walk keeps its session to the end.
    return sorted(found, key=lambda f: f[1] == "/api/v1/auth/logout")


def test_every_api_route_is_public_on_purpose_or_guarded(app: Litestar) -> None:
    for method, path, handler in api_routes(app):
        guards = {g for layer in handler.ownership_layers for g in (layer.guards or [])}
        if (method, path) in PUBLIC:
            assert handler.opt.get("public") is True, f"{method} {path} must say opt={{'public': True}}"
            assert not guards & {therapist_guard, patient_guard}, f"{method} {path} is public yet asks for a user"
        else:
            assert guards & {therapist_guard, patient_guard}, f"{method} {path} has no audience guard"
            assert handler.opt.get("public") is not True


def test_every_guarded_route_has_an_isolation_sample(app: Litestar) -> None:
    guarded = {(m, p) for m, p, _ in api_routes(app)} - PUBLIC
    missing = guarded - set(SAMPLES)
    assert not missing, f"add isolation samples for {sorted(missing)}"


@pytest.fixture
async def world(therapist: Client, other_client: Client, settings: Settings, app: Litestar) -> dict[str, Any]:
    """Therapist A (signed in on `therapist`) with patient A on a phone; therapist B and patient B elsewhere."""
    victim = await create_patient(therapist, name="Victim Vera")
    plan = await assign(therapist, victim["id"], TODAY)
    await join(therapist, other_client, victim["id"])
    entry = plan["program"]["items"][0]
    done = completion(entry["exercise_id"], TODAY, entry["slot"] if "slot" in entry else entry["slots"][0])
    flagged = {
        "id": str(uuid.uuid4()),
        "on_date": TODAY.isoformat(),
        "soreness": 5,
        "red_flags": ["chest-pain-any-time"],
        "done_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    r = await other_client.post("/api/v1/patient/sync", json={"completions": [done], "checkins": [flagged]})
    assert r.status_code == 200
    device = (await therapist.get(f"/api/v1/patients/{victim['id']}/devices")).json()[0]

    await make_therapist(settings, "bob@elsewhere.example", "Bob")
    bob = AsyncTestClient(app=app)
    await sign_in(bob, "bob@elsewhere.example")
    bobs_patient = await create_patient(bob, name="Other Otto")
    other_phone = AsyncTestClient(app=app)
    await join(bob, other_phone, bobs_patient["id"])
    return {
        "victim": victim,
        "plan": plan,
        "device": device,
        "done": done,
        "flagged": flagged,
        "bob": bob,
        "other_phone": other_phone,
        "nobody": AsyncTestClient(app=app),
    }


def _request(method: str, path: str, world: dict[str, Any]) -> dict[str, Any]:
    sample = dict(SAMPLES[(method, path)])
    if sample.get("json") == "PLAN_EDIT":
        plan = world["plan"]
        sample["json"] = {"plan_id": plan["id"], "version": 1, "items": plan["program"]["items"][:2]}
    elif sample.get("json") == "SYNC":
        entry = world["plan"]["program"]["items"][0]
        sample["json"] = {"completions": [completion(entry["exercise_id"], TODAY, entry["slots"][0])]}
    url = (
        path.replace("{patient_id:int}", str(world["victim"]["id"]))
        .replace("{device_id:int}", str(world["device"]["id"]))
        .replace("{checkin_id:uuid}", world["flagged"]["id"])
    )
    return {"method": method, "url": url, **sample}


async def test_another_therapist_gets_404_for_every_patient_route(app: Litestar, world: dict[str, Any]) -> None:
    bob: Client = world["bob"]
    for method, path, _ in api_routes(app):
        if (method, path) in PUBLIC or "/api/v1/patient/" in path:
            continue
        r = await bob.request(**_request(method, path, world))
        if "{patient_id:int}" in path:
            assert r.status_code == 404, (method, path, r.status_code, r.text)
            assert r.json()["detail"].startswith("no ") or "no active plan" in r.json()["detail"]
        assert "Victim Vera" not in r.text, (method, path)
        assert world["done"]["id"] not in r.text, (method, path)
        assert world["flagged"]["id"] not in r.text, (method, path)


async def test_the_victims_data_is_unchanged_after_the_walk(
    app: Litestar, world: dict[str, Any], therapist: Client
) -> None:
    for method, path, _ in api_routes(app):
        if (method, path) not in PUBLIC and "/api/v1/patient/" not in path:
            await world["bob"].request(**_request(method, path, world))
    victim = (await therapist.get(f"/api/v1/patients/{world['victim']['id']}")).json()
    assert victim["display_name"] == "Victim Vera"
    plan = (await therapist.get(f"/api/v1/patients/{world['victim']['id']}/plan")).json()
    assert plan["version"] == 1
    devices = (await therapist.get(f"/api/v1/patients/{world['victim']['id']}/devices")).json()
    assert devices[0]["revoked_at"] is None
    records = (await therapist.get(f"/api/v1/patients/{world['victim']['id']}/records?days=800")).json()
    assert [c["id"] for c in records["checkins"]] == [world["flagged"]["id"]]
    assert records["handled"] == []


async def test_another_patients_token_never_sees_the_victims_data(
    app: Litestar, world: dict[str, Any], therapist: Client
) -> None:
    phone: Client = world["other_phone"]
    for method, path, _ in api_routes(app):
        if "/api/v1/patient/" not in path or (method, path) in PUBLIC:
            continue
        r = await phone.request(**_request(method, path, world))
        assert r.status_code < 500, (method, path)
        assert "Victim Vera" not in r.text, (method, path)
        assert world["done"]["id"] not in r.text, (method, path)
    assert (await phone.get("/api/v1/patient/plan")).status_code == 404  # Otto has no plan; Vera's is not his
    # Otto's phone changed Otto's zone and language (PATCH /patient/me), not Vera's.
    victim = (await therapist.get(f"/api/v1/patients/{world['victim']['id']}")).json()
    assert (victim["timezone"], victim["locale"]) == ("Europe/Madrid", "es")
    otto = (await world["bob"].get("/api/v1/patients")).json()[0]
    assert (otto["timezone"], otto["locale"]) == ("Asia/Tokyo", "en")


async def test_a_patient_token_opens_no_therapist_route_and_vice_versa(
    app: Litestar, world: dict[str, Any], therapist: Client
) -> None:
    phone: Client = world["other_phone"]
    for method, path, _ in api_routes(app):
        if (method, path) in PUBLIC:
            continue
        if "/api/v1/patient/" in path:
            r = await world["bob"].request(**_request(method, path, world))
        else:
            r = await phone.request(**_request(method, path, world))
        assert r.status_code == 401, (method, path, r.status_code)


async def test_nobody_gets_401_everywhere(app: Litestar, world: dict[str, Any]) -> None:
    for method, path, _ in api_routes(app):
        if (method, path) in PUBLIC:
            continue
        r = await world["nobody"].request(**_request(method, path, world))
        assert r.status_code == 401, (method, path, r.status_code)


async def test_state_changes_without_the_csrf_token_or_from_another_site_are_refused(
    therapist: Client, world: dict[str, Any]
) -> None:
    pid = world["victim"]["id"]
    token = therapist.headers.pop("x-csrf-token")
    r = await therapist.patch(f"/api/v1/patients/{pid}", json={"display_name": "Hacked"})
    assert r.status_code == 403
    # A wrong one, its last character changed, and one that is not even text.
    for wrong in (token[:-1] + ("0" if token[-1] != "0" else "1"), b"\xe9t\xe9"):
        r = await therapist.patch(
            f"/api/v1/patients/{pid}", json={"display_name": "Hacked"}, headers={"x-csrf-token": wrong}
        )
        assert r.status_code == 403, r.text
    therapist.headers["x-csrf-token"] = token
    r = await therapist.patch(
        f"/api/v1/patients/{pid}", json={"display_name": "Hacked"}, headers={"sec-fetch-site": "cross-site"}
    )
    assert r.status_code == 403
    r = await therapist.patch(
        f"/api/v1/patients/{pid}", json={"display_name": "Hacked"}, headers={"origin": "https://evil.example"}
    )
    assert r.status_code == 403
    assert (await therapist.get(f"/api/v1/patients/{pid}")).json()["display_name"] == "Victim Vera"


async def test_a_random_bearer_token_is_refused(world: dict[str, Any]) -> None:
    r = await world["nobody"].get("/api/v1/patient/me", headers={"authorization": f"Bearer {uuid.uuid4()}"})
    assert r.status_code == 401
