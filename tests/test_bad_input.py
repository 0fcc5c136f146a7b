"""Bad input to every therapist and patient endpoint: a 4xx naming the field, and nothing written."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.settings import Settings
from tests.conftest import rows, tables
from tests.test_flow_therapist_patient import assign, completion, create_patient, join

Client = AsyncTestClient[Litestar]
NOW = dt.datetime.now(dt.UTC)
TODAY = NOW.date()


def snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table except the attempt counter and sessions, which requests may touch."""
    return {
        t: sorted(rows(settings, f"SELECT * FROM {t}"), key=repr)
        for t in tables(settings)
        if t not in {"attempt", "therapist_session", "patient_device"}
    }


def good_completion(**changes: Any) -> dict[str, Any]:
    return {**completion("neck-side-bend-stretch", TODAY, "evening"), **changes}


def good_checkin(**changes: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "on_date": TODAY.isoformat(), "soreness": 3, "done_at": NOW.isoformat(), **changes}


THERAPIST_CASES = [
    ("POST", "/api/v1/auth/login", {"email": "not-an-email", "password": "x"}, 400, "email"),
    ("POST", "/api/v1/auth/login", {"email": "a@b.c", "password": ""}, 400, "password"),
    ("POST", "/api/v1/auth/login", {"email": "a\u0000b@x.y", "password": "x"}, 400, "email"),
    # "$" in a pattern also matched before a final line break.
    ("POST", "/api/v1/auth/login", {"email": "a@b.c\n", "password": "x"}, 400, "email"),
    ("POST", "/api/v1/auth/password", {"current_password": "x", "new_password": "short"}, 400, "new_password"),
    ("POST", "/api/v1/auth/password", {"new_password": "long enough 2026"}, 400, "current_password"),
    (
        "POST",
        "/api/v1/auth/password",
        {"current_password": "wrong", "new_password": "long enough 2026"},
        422,
        "current_password",
    ),
    ("POST", "/api/v1/patients", {"display_name": "", "timezone": "UTC"}, 400, "display_name"),
    ("POST", "/api/v1/patients", {"display_name": "   ", "timezone": "UTC"}, 422, "display_name"),
    # Invisible characters only (zero-width space, word joiner, byte-order mark, Hangul filler): blank too.
    ("POST", "/api/v1/patients", {"display_name": "\u200b\u200b", "timezone": "UTC"}, 422, "display_name"),
    ("POST", "/api/v1/patients", {"display_name": " \u2060\ufeff \u3164", "timezone": "UTC"}, 422, "display_name"),
    ("POST", "/api/v1/patients", {"display_name": "A", "timezone": "Mars/Olympus"}, 422, "timezone"),
    ("POST", "/api/v1/patients", {"display_name": "A", "timezone": "localtime"}, 422, "timezone"),
    ("POST", "/api/v1/patients", {"display_name": "Nul\u0000Name", "timezone": "UTC"}, 400, "display_name"),
    # A right-to-left override would show the name (and what follows it in a list) reversed.
    ("POST", "/api/v1/patients", {"display_name": "Ana\u202eX", "timezone": "UTC"}, 400, "display_name"),
    ("POST", "/api/v1/patients", {"display_name": "A", "timezone": "UTC", "locale": "fr"}, 400, "locale"),
    ("POST", "/api/v1/patients", {"display_name": "A" * 101, "timezone": "UTC"}, 400, "display_name"),
    ("POST", "/api/v1/patients", {"display_name": "A", "timezone": "UTC", "ssn": "1"}, 400, "ssn"),
    ("PATCH", "/api/v1/patients/{pid}", {"timezone": "Nowhere/Land"}, 422, "timezone"),
    ("PATCH", "/api/v1/patients/{pid}", {"archived": "yes"}, 400, "archived"),
    # Decoded strictly: a string or number that a lenient decoder would read as true archived the patient.
    ("PATCH", "/api/v1/patients/{pid}", {"archived": "true"}, 400, "archived"),
    ("PATCH", "/api/v1/patients/{pid}", {"archived": 1}, 400, "archived"),
    ("PATCH", "/api/v1/patients/{pid}", {"colour": "red"}, 400, "colour"),
    ("PATCH", "/api/v1/patients/{pid}", {"display_name": "Bell\u0007"}, 400, "display_name"),
    ("PATCH", "/api/v1/patients/{pid}", {"display_name": "\u200b"}, 422, "display_name"),
    # Nothing to change is refused, not recorded in the audit trail as an update.
    ("PATCH", "/api/v1/patients/{pid}", {}, 422, "body"),
    ("POST", "/api/v1/patients/{pid}/plans", {"treated": [], "treated_on": "2026-11-20"}, 400, "treated"),
    (
        "POST",
        "/api/v1/patients/{pid}/plans",
        {"treated": [{"muscle": "nope", "side": "left"}], "treated_on": "2026-11-20"},
        422,
        "treated[0].muscle",
    ),
    (
        "POST",
        "/api/v1/patients/{pid}/plans",
        {"treated": [{"muscle": "scalenes", "side": "left"}], "treated_on": "2026-11-20", "notes": "x" * 2001},
        400,
        "notes",
    ),
    (
        "POST",
        "/api/v1/patients/{pid}/plans",
        {"treated": [{"muscle": "scalenes", "side": "left"}], "treated_on": "2026-11-20", "notes": "x\u0000"},
        400,
        "notes",
    ),
    (
        "POST",
        "/api/v1/patients/{pid}/plans",
        {"treated": [{"muscle": "scalenes", "side": "left"}], "treated_on": "9999-12-31"},
        422,
        "treated_on",
    ),
    (
        "POST",
        "/api/v1/programs/preview",
        {"treated": [{"muscle": "scalenes", "side": "left"}], "treated_on": "0001-01-01"},
        422,
        "treated_on",
    ),
    ("PUT", "/api/v1/patients/{pid}/plan", {"version": 1, "items": "ITEMS"}, 400, "plan_id"),
    ("PUT", "/api/v1/patients/{pid}/plan", {"plan_id": 0, "version": 1, "items": "ITEMS"}, 400, "plan_id"),
    ("PUT", "/api/v1/patients/{pid}/plan", {"plan_id": "one", "version": 1, "items": "ITEMS"}, 400, "plan_id"),
    # A plan that is not the active one (a newer treatment's plan replaced it, or no such plan)
    ("PUT", "/api/v1/patients/{pid}/plan", {"plan_id": 999999, "version": 1, "items": "ITEMS"}, 409, "plan_id"),
    ("PUT", "/api/v1/patients/{pid}/plan", {"plan_id": "PLAN", "version": 0, "items": "ITEMS"}, 400, "version"),
    ("PUT", "/api/v1/patients/{pid}/plan", {"plan_id": "PLAN", "version": 2**63, "items": "ITEMS"}, 400, "version"),
    ("PUT", "/api/v1/patients/{pid}/plan", {"plan_id": "PLAN", "version": 1, "items": []}, 400, "items"),
    (
        "PUT",
        "/api/v1/patients/{pid}/plan",
        {"plan_id": "PLAN", "version": 1, "items": "BAD_EXERCISE"},
        422,
        "items[0].exercise_id",
    ),
    (
        "PUT",
        "/api/v1/patients/{pid}/plan",
        {"plan_id": "PLAN", "version": 1, "items": "BAD_DAYS"},
        422,
        "items[0].to_day",
    ),
    (
        "PUT",
        "/api/v1/patients/{pid}/plan",
        {"plan_id": "PLAN", "version": 1, "items": "BAD_SLOT"},
        400,
        "items[0].slots[0]",
    ),
    (
        "PUT",
        "/api/v1/patients/{pid}/plan",
        {"plan_id": "PLAN", "version": 1, "items": "BAD_HOLD"},
        400,
        "items[0].dosage.hold_seconds",
    ),
    ("PUT", "/api/v1/patients/{pid}/plan", {"plan_id": "PLAN", "version": 1, "items": "LATE"}, 422, "items[0].to_day"),
    # One time of day for an item done 3 times a day: the app would show it once.
    (
        "PUT",
        "/api/v1/patients/{pid}/plan",
        {"plan_id": "PLAN", "version": 1, "items": "FEW_SLOTS"},
        422,
        "items[0].dosage.times_per_day",
    ),
    # Days of another phase: the item would be done beside that phase's items.
    (
        "PUT",
        "/api/v1/patients/{pid}/plan",
        {"plan_id": "PLAN", "version": 1, "items": "OTHER_PHASE"},
        422,
        "items[0].from_day",
    ),
    # A strengthening exercise on the first days: the console offers it from week 2 on.
    (
        "PUT",
        "/api/v1/patients/{pid}/plan",
        {"plan_id": "PLAN", "version": 1, "items": "STRENGTH_TOO_SOON"},
        422,
        "items[0].exercise_id",
    ),
    # Within the template's 60 s, past the exercise's own 15 s.
    (
        "PUT",
        "/api/v1/patients/{pid}/plan",
        {"plan_id": "PLAN", "version": 1, "items": "ITEM_HOLD"},
        422,
        "items[0].dosage.hold_seconds",
    ),
    # A stretch held for no time at all.
    (
        "PUT",
        "/api/v1/patients/{pid}/plan",
        {"plan_id": "PLAN", "version": 1, "items": "NO_HOLD"},
        422,
        "items[0].dosage.hold_seconds",
    ),
    # Within what a dosage can say (50), past the template's 30 repetitions.
    (
        "PUT",
        "/api/v1/patients/{pid}/plan",
        {"plan_id": "PLAN", "version": 1, "items": "MANY_REPS"},
        422,
        "items[0].dosage.reps",
    ),
    ("GET", "/api/v1/patients/{pid}/adherence?days=0", None, 400, "days"),
    ("GET", "/api/v1/patients?archived=maybe", None, 400, "archived"),
    ("DELETE", "/api/v1/patients/0/invites", None, 400, "patient_id"),
    ("GET", "/api/v1/adherence?archived=maybe", None, 400, "archived"),
]

PATIENT_CASES = [
    ("POST", "/api/v1/patient/join", {"code": "ab"}, 400, "code"),
    ("POST", "/api/v1/patient/join", {"code": "ABCD-EFGH-JKMN", "label": "x" * 81}, 400, "label"),
    ("POST", "/api/v1/patient/join", {"code": "ABCD-EFGH-JKMN", "label": "Phone\u0000"}, 400, "label"),
    ("POST", "/api/v1/patient/join", {"code": "ABCD-EFGH-JKMN", "label": "Phone\u2066x"}, 400, "label"),
    # The phone's join id (a UUID, see test_join_retry.py): 16 to 64 letters, digits and dashes.
    ("POST", "/api/v1/patient/join", {"code": "ABCD-EFGH-JKMN", "join_id": "a1b2c3d4e5f6a7b"}, 400, "join_id"),
    ("POST", "/api/v1/patient/join", {"code": "ABCD-EFGH-JKMN", "join_id": "a" * 65}, 400, "join_id"),
    ("POST", "/api/v1/patient/join", {"code": "ABCD-EFGH-JKMN", "join_id": "a1b2c3d4 e5f6a7b8"}, 400, "join_id"),
    ("POST", "/api/v1/patient/join", {"code": "ABCD-EFGH-JKMN", "join_id": "a1b2c3d4e5f6a7b8\n"}, 400, "join_id"),
    ("POST", "/api/v1/patient/join", {"code": "ABCD-EFGH-JKMN", "join_id": "a1b2c3d4e5f6a7b\u00e9"}, 400, "join_id"),
    ("POST", "/api/v1/patient/join", {"code": "ABCD-EFGH-JKMN", "join_id": 1234567890123456}, 400, "join_id"),
    (
        "PUT",
        "/api/v1/patient/reminders",
        {"rules": [{"slot": "morning", "local_time": "08:00\n"}]},
        400,
        "rules[0].local_time",
    ),
    ("POST", "/api/v1/patient/sync", {"completions": [{"id": "not-a-uuid"}]}, 400, "completions[0].id"),
    ("POST", "/api/v1/patient/sync", {"completions": "C:exercise_id=nope"}, 422, "completions[1].exercise_id"),
    ("POST", "/api/v1/patient/sync", {"completions": "C:slot=night"}, 400, "completions[1].slot"),
    ("POST", "/api/v1/patient/sync", {"completions": "C:pain=11"}, 400, "completions[1].pain"),
    ("POST", "/api/v1/patient/sync", {"completions": "C:on_date=2026-13-01"}, 400, "completions[1].on_date"),
    ("POST", "/api/v1/patient/sync", {"completions": "C:on_date=1999-01-01"}, 422, "completions[1].on_date"),
    ("POST", "/api/v1/patient/sync", {"completions": "C:done_at=2026-11-20T08:00:00"}, 400, "completions[1].done_at"),
    ("POST", "/api/v1/patient/sync", {"completions": "C:done_at=2099-01-01T08:00:00Z"}, 422, "completions[1].done_at"),
    (
        "POST",
        "/api/v1/patient/sync",
        {"completions": f"C:on_date={TODAY + dt.timedelta(days=3)}"},
        422,
        "completions[1].on_date",
    ),
    # Years below 1000 and at the ends of the calendar: refused before they are stored or overflow.
    ("POST", "/api/v1/patient/sync", {"completions": "C:done_at=0999-06-01T00:00:00Z"}, 422, "completions[1].done_at"),
    (
        "POST",
        "/api/v1/patient/sync",
        {"completions": "C:done_at=0001-01-01T00:00:00+01:00"},
        422,
        "completions[1].done_at",
    ),
    ("POST", "/api/v1/patient/sync", {"checkins": "K:done_at=9999-12-31T23:59:59-05:00"}, 422, "checkins[1].done_at"),
    ("POST", "/api/v1/patient/sync", {"completions": "C:note=a\u0000b"}, 400, "completions[1].note"),
    ("POST", "/api/v1/patient/sync", {"completions": "C:note=" + "x" * 501}, 400, "completions[1].note"),
    ("POST", "/api/v1/patient/sync", {"completions": "DUPLICATE"}, 422, "completions[1].id"),
    # A take-back: its time as strictly checked as the completion's own.
    (
        "POST",
        "/api/v1/patient/sync",
        {"completions": "C:withdrawn_at=2099-01-01T08:00:00Z"},
        422,
        "completions[1].withdrawn_at",
    ),
    (
        "POST",
        "/api/v1/patient/sync",
        {"completions": "C:withdrawn_at=0999-06-01T00:00:00Z"},
        422,
        "completions[1].withdrawn_at",
    ),
    (
        "POST",
        "/api/v1/patient/sync",
        {"completions": "C:withdrawn_at=2026-11-20T08:00:00"},
        400,
        "completions[1].withdrawn_at",
    ),
    ("POST", "/api/v1/patient/sync", {"completions": "C:withdrawn_at=soon"}, 400, "completions[1].withdrawn_at"),
    ("POST", "/api/v1/patient/sync", {"checkins": "K:soreness=-1"}, 400, "checkins[1].soreness"),
    ("POST", "/api/v1/patient/sync", {"checkins": 'K:soreness="5"'}, 400, "checkins[1].soreness"),
    ("POST", "/api/v1/patient/sync", {"checkins": "K:soreness=5.0"}, 400, "checkins[1].soreness"),
    ("POST", "/api/v1/patient/sync", {"checkins": "K:red_flags=nope"}, 422, "checkins[1].red_flags[0]"),
    ("POST", "/api/v1/patient/sync", {"checkins": "K:mood=5"}, 400, "checkins[1].mood"),
    ("POST", "/api/v1/patient/sync", {"extra": []}, 400, "extra"),
    ("PATCH", "/api/v1/patient/me", {"timezone": "Mars/Olympus"}, 422, "timezone"),
    ("PATCH", "/api/v1/patient/me", {"timezone": "localtime", "locale": "en"}, 422, "timezone"),
    ("PATCH", "/api/v1/patient/me", {"timezone": "", "locale": "en"}, 400, "timezone"),
    ("PATCH", "/api/v1/patient/me", {"locale": "fr"}, 400, "locale"),
    ("PATCH", "/api/v1/patient/me", {"display_name": "Someone else"}, 400, "display_name"),
    ("PATCH", "/api/v1/patient/me", {}, 422, "body"),
    ("GET", "/api/v1/patient/today?date=tomorrow", None, 400, "date"),
    ("GET", "/api/v1/patient/today?lang=de", None, 400, "lang"),
    ("GET", "/api/v1/patient/today?date=0001-01-01", None, 422, "date"),
    ("GET", "/api/v1/patient/today?date=9999-12-31", None, 422, "date"),
    ("GET", "/api/v1/patient/log?from=2026-02-01&to=2026-01-01", None, 400, "to"),
    ("GET", "/api/v1/patient/log?from=2026-02-01", None, 400, "to"),
]


def _expand(body: Any, plan: dict[str, Any]) -> Any:
    """Turn the short markers above into full bodies built from a real plan."""
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if body.get("plan_id") == "PLAN":
        body["plan_id"] = plan["id"]
    items = [dict(i, dosage=dict(i["dosage"])) for i in plan["program"]["items"]]
    marker = body.get("items")
    if isinstance(marker, str):
        first = items[0]
        if marker == "BAD_EXERCISE":
            first["exercise_id"] = "no-such-exercise"
        elif marker == "BAD_DAYS":
            first["from_day"], first["to_day"] = 5, 3
        elif marker == "BAD_SLOT":
            first["slots"] = ["night"]
        elif marker == "BAD_HOLD":
            first["dosage"]["hold_seconds"] = 500
        elif marker == "LATE":
            first["to_day"] = 300
        elif marker == "FEW_SLOTS":
            first["slots"], first["dosage"]["times_per_day"] = ["morning"], 3
        elif marker == "OTHER_PHASE":
            assert first["phase"] == "aftercare"
            first["from_day"], first["to_day"] = 2, 6
        elif marker == "ITEM_HOLD":
            first["exercise_id"], first["dosage"]["hold_seconds"] = "scalene-stretch", 20
            first["phase"], first["from_day"], first["to_day"] = "mobility", 2, 6
        elif marker == "STRENGTH_TOO_SOON":
            assert first["phase"] == "aftercare"
            first["exercise_id"] = "toe-raises"
        elif marker == "NO_HOLD":
            held = next(i for i in items if i["dosage"]["hold_seconds"] >= 10)
            held["dosage"]["hold_seconds"] = 0
            items[:] = [held, *(i for i in items if i is not held)]
        elif marker == "MANY_REPS":
            first["dosage"]["reps"] = 40
        body["items"] = items
    for key, good in (("completions", good_completion), ("checkins", good_checkin)):
        marker = body.get(key)
        if isinstance(marker, str):
            if marker == "DUPLICATE":
                record = good()
                body[key] = [record, record]
            else:
                name, _, value = marker[2:].partition("=")
                bad: Any = value
                if value.lstrip("-").isdigit() or value.startswith('"') or value.endswith(".0"):
                    bad = json.loads(value)  # a number, or a quoted string standing for one
                elif name == "red_flags":
                    bad = [value]
                body[key] = [good(), good(**{name: bad})]
    return body


@pytest.fixture
async def setup(therapist: Client, other_client: Client) -> dict[str, Any]:
    patient = await create_patient(therapist)
    plan = await assign(therapist, patient["id"], TODAY - dt.timedelta(days=3))
    await join(therapist, other_client, patient["id"])
    return {"pid": patient["id"], "plan": plan}


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), THERAPIST_CASES + PATIENT_CASES)
async def test_bad_input_names_the_field_and_changes_nothing(
    therapist: Client,
    other_client: Client,
    settings: Settings,
    setup: dict[str, Any],
    method: str,
    path: str,
    body: Any,
    status: int,
    field: str,
) -> None:
    client = other_client if "/api/v1/patient/" in path else therapist
    before = snapshot(settings)
    kwargs = {} if body is None else {"json": _expand(body, setup["plan"])}
    r = await client.request(method, path.replace("{pid}", str(setup["pid"])), **kwargs)
    assert r.status_code == status, r.text
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields == [field], r.json()
    assert r.json()["errors"][0]["message"]
    # A code only where a record of a sync batch is refused (tested in the next test).
    assert ("code" in r.json()["errors"][0]) == (
        path.endswith("/sync") and field.startswith(("completions[", "checkins["))
    )
    assert snapshot(settings) == before


# Each refused record of a sync batch: its field, and why in a code the phone tells its patient in
# their own language (the English message stays beside it, for the clinic and older apps).
SYNC_REFUSALS = [
    ({"completions": [{"id": "not-a-uuid"}]}, 400, "completions[0].id", "invalid"),
    ({"completions": "C:exercise_id=nope"}, 422, "completions[1].exercise_id", "unknown_exercise"),
    ({"completions": "C:slot=night"}, 400, "completions[1].slot", "invalid"),
    ({"completions": "C:pain=11"}, 400, "completions[1].pain", "invalid"),
    ({"completions": "C:on_date=2026-13-01"}, 400, "completions[1].on_date", "invalid"),
    ({"completions": "C:on_date=1999-01-01"}, 422, "completions[1].on_date", "too_long_ago"),
    ({"completions": f"C:on_date={TODAY + dt.timedelta(days=3)}"}, 422, "completions[1].on_date", "in_the_future"),
    ({"completions": "C:done_at=2026-11-20T08:00:00"}, 400, "completions[1].done_at", "no_time_zone"),
    ({"completions": "C:done_at=2099-01-01T08:00:00Z"}, 422, "completions[1].done_at", "in_the_future"),
    ({"completions": "C:done_at=0999-06-01T00:00:00Z"}, 422, "completions[1].done_at", "too_long_ago"),
    ({"completions": "C:done_at=0001-01-01T00:00:00+01:00"}, 422, "completions[1].done_at", "too_long_ago"),
    ({"checkins": "K:done_at=9999-12-31T23:59:59-05:00"}, 422, "checkins[1].done_at", "in_the_future"),
    ({"completions": "C:note=a\u0000b"}, 400, "completions[1].note", "invalid"),
    ({"completions": "DUPLICATE"}, 422, "completions[1].id", "repeated_id"),
    ({"checkins": "DUPLICATE"}, 422, "checkins[1].id", "repeated_id"),
    ({"completions": "C:withdrawn_at=2099-01-01T08:00:00Z"}, 422, "completions[1].withdrawn_at", "in_the_future"),
    ({"completions": "C:withdrawn_at=0999-06-01T00:00:00Z"}, 422, "completions[1].withdrawn_at", "too_long_ago"),
    ({"completions": "C:withdrawn_at=2026-11-20T08:00:00"}, 400, "completions[1].withdrawn_at", "no_time_zone"),
    ({"checkins": "K:soreness=5.0"}, 400, "checkins[1].soreness", "invalid"),
    ({"checkins": "K:red_flags=nope"}, 422, "checkins[1].red_flags[0]", "unknown_red_flag"),
    ({"checkins": "K:mood=5"}, 400, "checkins[1].mood", "invalid"),
]


@pytest.mark.parametrize(("body", "status", "field", "code"), SYNC_REFUSALS)
async def test_a_refused_sync_record_says_why_in_a_code_beside_the_message(
    other_client: Client, settings: Settings, setup: dict[str, Any], body: Any, status: int, field: str, code: str
) -> None:
    before = snapshot(settings)
    r = await other_client.post("/api/v1/patient/sync", json=_expand(body, setup["plan"]))
    assert r.status_code == status, r.text
    [error] = r.json()["errors"]
    assert (error["field"], error["code"]) == (field, code), r.json()
    assert error["message"]
    assert r.json()["detail"] == f"{field}: {error['message']}"
    assert snapshot(settings) == before


async def test_a_number_too_large_to_read_names_its_field_and_changes_nothing(
    therapist: Client, settings: Settings
) -> None:
    before = snapshot(settings)
    raw = b'{"display_name": "A", "timezone": "UTC", "locale": 1e309}'
    r = await therapist.post("/api/v1/patients", content=raw, headers={"content-type": "application/json"})
    assert (r.status_code, [e["field"] for e in r.json()["errors"]]) == (400, ["locale"]), r.text
    assert snapshot(settings) == before
