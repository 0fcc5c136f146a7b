"""Content ids are permanent once a plan uses them: start-up refuses content that lacks one, and a
process that meets one anyway (another process with other content shares the database) leaves the
item out instead of failing the patient's phone or the therapist's printout."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.catalog import load_catalog
from server.cli import main
from server.clock import Clock
from server.db.content import ContentMissingError
from server.programs import Program
from server.push.message import payload_for
from server.push.scheduler import left_in_slot
from server.settings import Settings
from tests.conftest import PLANS
from tests.test_cli import closed_port, serve
from tests.test_flow_therapist_patient import assign, completion, create_patient, join

Client = AsyncTestClient[Litestar]
GONE = "neck-side-bend-stretch"
TODAY = dt.datetime.now(dt.UTC).date()


def without_exercise(tmp_path: Path, exercise_id: str) -> Path:
    """A copy of plans/ with one exercise taken out (what a careless content update does)."""
    copy = tmp_path / "plans-without"
    shutil.copytree(PLANS, copy)
    path = copy / "exercises" / "neck.toml"
    head, *blocks = path.read_text().split("[[exercise]]\n")
    kept = [b for b in blocks if not b.startswith(f'id = "{exercise_id}"\n')]
    assert len(kept) == len(blocks) - 1
    path.write_text("[[exercise]]\n".join([head, *kept]))
    assert exercise_id not in load_catalog(copy).exercises  # the content on its own is valid
    return copy


async def plan_using_gone(therapist: Client, phone: Client) -> tuple[int, dict]:
    """A patient whose plan has the exercise about to go, a joined phone, and one completion of it."""
    patient = await create_patient(therapist)
    plan = await assign(therapist, patient["id"], TODAY - dt.timedelta(days=3))
    assert GONE in {i["exercise_id"] for i in plan["program"]["items"]}
    await join(therapist, phone, patient["id"])
    r = await phone.post("/api/v1/patient/sync", json={"completions": [completion(GONE, TODAY, "evening")]})
    assert r.status_code == 200, r.text
    return patient["id"], plan


async def test_a_process_without_an_exercise_serves_plans_that_use_it_without_it(
    therapist: Client, other_client: Client, settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    # Started before any plan used the exercise, so start-up had nothing to refuse; a process with
    # the full content (the other half of a rolling update) then writes the plan.
    reduced = create_app(msgspec.structs.replace(settings, plans_dir=str(without_exercise(tmp_path, GONE))), clock)
    async with AsyncTestClient(app=reduced) as old:
        pid, plan = await plan_using_gone(therapist, other_client)
        old.cookies = therapist.cookies
        phone = AsyncTestClient(app=reduced)
        phone.headers["authorization"] = other_client.headers["authorization"]

        r = await phone.get("/api/v1/patient/plan")
        assert r.status_code == 200, r.text
        served = r.json()
        assert GONE not in served["exercises"]
        items = served["program"]["items"]
        assert items
        assert GONE not in {i["exercise_id"] for i in items}
        assert set(served["exercises"]) == {i["exercise_id"] for i in items}
        assert len(items) == len([i for i in plan["program"]["items"] if i["exercise_id"] != GONE])

        for offset in range(-1, 45, 3):  # every phase, future days too
            r = await phone.get(f"/api/v1/patient/today?date={TODAY + dt.timedelta(days=offset)}")
            assert r.status_code == 200, r.text
            assert GONE not in {e["exercise_id"] for e in r.json()["entries"]}

        r = await old.get(f"/api/v1/patients/{pid}/handout")
        assert r.status_code == 200, r.text
        assert r.json()["items"]
        assert GONE not in {i["exercise_id"] for i in r.json()["items"]}

        r = await old.get(f"/api/v1/patients/{pid}/records.csv")
        assert r.status_code == 200, r.text
        [row] = [line for line in r.text.splitlines() if GONE in line]
        assert f",{GONE},," in row  # the id stays, the title is blank

        # A reminder counts only what the phone shows.
        catalog = reduced.state.catalog
        program = msgspec.json.decode(msgspec.json.encode(plan["program"]), type=Program)
        left = left_in_slot(program, TODAY, "evening", set(), catalog)
        assert GONE not in {e.exercise_id for e in left}
        assert payload_for("reminder", "evening", TODAY, left, catalog, "es").title


async def test_start_up_refuses_content_that_lacks_an_exercise_a_stored_plan_uses(
    therapist: Client, other_client: Client, settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    await plan_using_gone(therapist, other_client)
    reduced = create_app(msgspec.structs.replace(settings, plans_dir=str(without_exercise(tmp_path, GONE))), clock)
    with pytest.raises(BaseException) as raised:  # the lifespan's task group wraps it
        async with AsyncTestClient(app=reduced):
            pass
    error = raised.value
    while isinstance(error, BaseExceptionGroup):
        [error] = error.exceptions
    assert isinstance(error, ContentMissingError)
    assert f"exercise '{GONE}' (used by 1 plan and 1 logged completion)" in str(error)


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_plans_check_with_the_database_and_serve_name_the_missing_ids(
    therapist: Client,
    other_client: Client,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await plan_using_gone(therapist, other_client)
    reduced = without_exercise(tmp_path, GONE)
    monkeypatch.setenv("UNKNOT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("UNKNOT_DATA_DIR", settings.data_dir)

    # The command runs its own event loop: off this test's loop, in a thread.
    assert await asyncio.to_thread(main, ["plans-check", str(reduced)]) == 0  # the content alone is fine
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["plans-check", str(reduced), "--database"]) == 1
    err = capsys.readouterr().err
    assert f"exercise '{GONE}' (used by 1 plan and 1 logged completion)" in err
    assert "plans/README.md" in err
    assert await asyncio.to_thread(main, ["plans-check", str(PLANS), "--database"]) == 0
    assert "every exercise and muscle its plans use is here" in capsys.readouterr().out

    env = {**os.environ, "UNKNOT_PLANS_DIR": str(reduced), "UNKNOT_PORT": str(closed_port())}
    refused = await asyncio.to_thread(serve, env)
    assert refused.returncode == 1
    assert f"exercise '{GONE}' (used by 1 plan" in refused.stderr
    assert "Traceback" not in refused.stderr


def without_precaution(tmp_path: Path, muscle_id: str, precaution: str) -> Path:
    """A copy of plans/ as it was before a muscle was given a precaution."""
    copy = tmp_path / "plans-before"
    shutil.copytree(PLANS, copy)
    path = copy / "muscles" / "neck.toml"
    head, *blocks = path.read_text().split("[[muscle]]\n")
    [i] = [n for n, b in enumerate(blocks) if b.startswith(f'id = "{muscle_id}"\n')]
    assert f'precautions = ["{precaution}"]\n' in blocks[i]
    blocks[i] = blocks[i].replace(f'precautions = ["{precaution}"]\n', "")
    path.write_text("[[muscle]]\n".join([head, *blocks]))
    assert precaution not in load_catalog(copy).muscles[muscle_id].precautions
    return copy


async def test_a_precaution_the_content_adds_reaches_plans_made_before_it(
    therapist: Client, other_client: Client, settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    # The plan is made by a process whose content did not yet say the muscle lies over a vessel.
    before = create_app(
        msgspec.structs.replace(settings, plans_dir=str(without_precaution(tmp_path, "sternocleidomastoid", "vessel"))),
        clock,
    )
    async with AsyncTestClient(app=before) as old:
        old.cookies = therapist.cookies
        old.headers.update(therapist.headers)
        patient = await create_patient(old)
        treated = [{"muscle": "sternocleidomastoid", "side": "left"}]
        r = await old.post(
            f"/api/v1/patients/{patient['id']}/plans", json={"treated": treated, "treated_on": TODAY.isoformat()}
        )
        assert r.status_code == 201, r.text
        assert "vessel" not in r.json()["program"]["precautions"]
    # Served with today's content: the swelling sign is watched for in its first 48 hours.
    await join(therapist, other_client, patient["id"])
    r = await other_client.get(f"/api/v1/patient/today?date={TODAY}")
    assert "groin-swelling" in {f["id"] for f in r.json()["red_flags"]}
    r = await other_client.get(f"/api/v1/patient/today?date={TODAY + dt.timedelta(days=3)}")
    assert "groin-swelling" not in {f["id"] for f in r.json()["red_flags"]}
    r = await other_client.get("/api/v1/patient/plan")
    assert "vessel" in r.json()["program"]["precautions"]
    r = await therapist.get(f"/api/v1/patients/{patient['id']}/handout")
    assert "groin-swelling" in {f["id"] for f in r.json()["red_flags"]}
