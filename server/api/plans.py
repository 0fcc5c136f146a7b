"""Treatments and plans, for the therapist: preview, assign, adjust, history."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody
from msgspec import Meta, Struct

from server.api.deps import CatalogDep, ClockDep, DatabaseDep
from server.api.errors import InputError
from server.api.params import PLAIN_TEXT, RowId
from server.api.patients import current_patient, owned_patient
from server.auth.identity import TherapistUser, therapist_guard
from server.db import audit, plans
from server.db.plans import PlanRecord
from server.programs import PlanItem, Program, TreatedMuscle, check_items, generate

__all__ = ["PlanEdit", "PlanIn", "PlansController", "PreviewIn", "ProgramsController"]

TherapistRequest = Request[TherapistUser, None, object]
Items = Annotated[list[PlanItem], Meta(min_length=1, max_length=400)]


class PreviewIn(Struct, frozen=True, forbid_unknown_fields=True):
    """What was treated, and when."""

    treated: Annotated[list[TreatedMuscle], Meta(min_length=1, max_length=40)]
    treated_on: dt.date
    conditions: Annotated[list[Annotated[str, Meta(max_length=64)]], Meta(max_length=10)] = []


class PlanIn(Struct, frozen=True, forbid_unknown_fields=True):
    """A treatment and the plan to assign for it; without ``items`` the generated program is assigned."""

    treated: Annotated[list[TreatedMuscle], Meta(min_length=1, max_length=40)]
    treated_on: dt.date
    conditions: Annotated[list[Annotated[str, Meta(max_length=64)]], Meta(max_length=10)] = []
    notes: Annotated[str, Meta(max_length=2000, pattern=PLAIN_TEXT)] = ""
    items: Items | None = None


class PlanEdit(Struct, frozen=True, forbid_unknown_fields=True):
    """New items for the active plan, naming the plan and the version they were edited from."""

    plan_id: Annotated[int, Meta(ge=1, le=2**63 - 1)]
    version: Annotated[int, Meta(ge=1, le=2**63 - 1)]
    items: Items


# A plan's days must fit what patients can log (800 days back, as the sync takes) and what the
# calendar arithmetic holds; a year ahead leaves room to prepare a plan for a booked visit.
PLAN_DAYS_BACK = 800
PLAN_DAYS_AHEAD = 366

_REPLACED = "a newer treatment's plan replaced this plan; reload to see the active one"


def _check_treated_on(treated_on: dt.date, today: dt.date) -> None:
    earliest, latest = today - dt.timedelta(days=PLAN_DAYS_BACK), today + dt.timedelta(days=PLAN_DAYS_AHEAD)
    if not earliest <= treated_on <= latest:
        raise InputError("treated_on", f"must be between {earliest} and {latest}")


def _with_items(program: Program, items: list[PlanItem], catalog: CatalogDep) -> Program:
    # The program's own phases: a plan stored before the clinic changed its template keeps its days.
    check_items(items, catalog, phases=program.phases)
    return msgspec.structs.replace(program, items=tuple(items))


class ProgramsController(Controller):
    """Program generation, for therapists."""

    path = "/api/v1/programs"
    tags = ["therapist: plans"]
    guards = [therapist_guard]

    @post("/preview", summary="Generate a program from treated muscles", status_code=200)
    async def preview(self, data: JSONBody[PreviewIn], catalog: CatalogDep, clock: ClockDep) -> Program:
        _check_treated_on(data.treated_on, clock.now().date())
        return generate(data.treated, data.treated_on, catalog, data.conditions)


class PlansController(Controller):
    """A patient's plans. The patient's link keeps working across every change here."""

    path = "/api/v1/patients/{patient_id:int}"
    tags = ["therapist: plans"]
    guards = [therapist_guard]

    @post("/plans", summary="Record a treatment and assign its plan (supersedes the active one)", status_code=201)
    async def assign(
        self,
        request: TherapistRequest,
        data: JSONBody[PlanIn],
        db: DatabaseDep,
        catalog: CatalogDep,
        clock: ClockDep,
        patient_id: RowId,
    ) -> PlanRecord:
        therapist_id, now = request.user.therapist.id, clock.now()
        await current_patient(db, therapist_id, patient_id)
        _check_treated_on(data.treated_on, now.date())
        program = generate(data.treated, data.treated_on, catalog, data.conditions)
        if data.items is not None:
            program = _with_items(program, data.items, catalog)
        async with db.transaction() as tx:
            record = await plans.create_plan(tx, therapist_id, patient_id, program.treated, program, data.notes, now)
            muscles = ",".join(f"{t.muscle}:{t.side}" for t in program.treated)
            await audit.record(tx, therapist_id, patient_id, "plan.assign", now, muscles)
        return record

    @get("/plan", summary="The active plan")
    async def active(self, request: TherapistRequest, db: DatabaseDep, patient_id: RowId) -> PlanRecord:
        await owned_patient(db, request.user.therapist.id, patient_id)
        found = await plans.active_plan(db, request.user.therapist.id, patient_id)
        if found is None:
            raise NotFoundException("this patient has no active plan")
        return found

    @put("/plan", summary="Change the active plan's items (add, remove, reorder, dosage, days, slots)")
    async def edit(
        self,
        request: TherapistRequest,
        data: JSONBody[PlanEdit],
        db: DatabaseDep,
        catalog: CatalogDep,
        clock: ClockDep,
        patient_id: RowId,
    ) -> PlanRecord:
        therapist_id, now = request.user.therapist.id, clock.now()
        await current_patient(db, therapist_id, patient_id)
        async with db.transaction() as tx:
            current = await plans.active_plan(tx, therapist_id, patient_id)
            if current is None:
                raise NotFoundException("this patient has no active plan")
            if current.id != data.plan_id:
                raise InputError("plan_id", _REPLACED, status=409)
            program = _with_items(current.program, data.items, catalog)
            # Only the UPDATE can tell: on PostgreSQL another edit (or a new treatment's plan) may
            # commit after the read above.
            updated = await plans.update_plan(tx, therapist_id, patient_id, data.plan_id, data.version, program, now)
            if updated is None:
                current = await plans.active_plan(tx, therapist_id, patient_id)
                if current is None or current.id != data.plan_id:
                    raise InputError("plan_id", _REPLACED, status=409)
                raise InputError("version", "the plan changed meanwhile; reload it", status=409)
            await audit.record(tx, therapist_id, patient_id, "plan.edit", now, f"version {updated.version}")
        return updated

    @get("/plans", summary="Every plan of the patient, newest first")
    async def history(self, request: TherapistRequest, db: DatabaseDep, patient_id: RowId) -> list[PlanRecord]:
        await owned_patient(db, request.user.therapist.id, patient_id)
        return await plans.plan_history(db, request.user.therapist.id, patient_id)
