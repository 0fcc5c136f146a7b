"""A patient's records for their therapist: what was logged (JSON and CSV) and the printable handout."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody, PathParameter, QueryParameter
from msgspec import Meta, Struct

from server.api.catalog import AftercareOut, Lang, PatientLangQuery, aftercare_out
from server.api.deps import CatalogDep, ClockDep, DatabaseDep, SettingsDep
from server.api.errors import InputError
from server.api.params import PLAIN_TEXT, RowId
from server.api.patients import current_patient, owned_patient
from server.auth.identity import TherapistUser, therapist_guard
from server.catalog.model import Catalog, Dosage, Kind, PhaseId, Side, Slot
from server.clock import iso, local_date, parse_iso
from server.db import audit, logs, patients, plans, reminders
from server.db.audit import AuditEntry
from server.db.logs import CheckinRow, CompletionRow, Handled
from server.db.patients import Device, Patient
from server.db.plans import PlanRecord
from server.db.reminders import DeliveryRow, Prefs, RuleRow
from server.programs import PlanItem
from server.programs.text import dosage_text, muscle_name, shown_program

__all__ = ["HandoutOut", "RecordsController", "RecordsOut", "records_csv"]

TherapistRequest = Request[TherapistUser, None, object]

CSV_COLUMNS = (
    "record",
    "id",
    "on_date",
    "slot",
    "exercise_id",
    "exercise",
    "done_at",
    "sets_done",
    "reps_done",
    "hold_seconds_done",
    "pain",
    "soreness",
    "red_flags",
    "note",
    # When the patient took the completion back (kept in the history, counted nowhere); blank: it stands.
    "withdrawn_at",
    # A check-in whose red flags a therapist marked as handled: when, who, and their note.
    "handled_at",
    "handled_by",
    "handled_note",
    # done_at (UTC, as every time above) on the patient's clock, which a spreadsheet reads as a
    # date and time, and the time zone it is in: the times above are UTC, on_date is the patient's.
    "done_at_local",
    "timezone",
)
# A cell starting with one of these is a formula to a spreadsheet: patient notes must stay text.
# Spreadsheets skip leading spaces and line breaks, so " =1+1" and "\n@SUM(A1)" count too.
_FORMULA_START = ("=", "+", "-", "@")
_CONTROL_START = ("\t", "\r")


class RecordsOut(Struct, frozen=True, kw_only=True):
    """What the patient logged between two dates, the words for the red flags they reported (and
    which of those are emergency-level), and which of the check-ins a therapist marked as handled."""

    first: dt.date
    last: dt.date
    completions: list[CompletionRow]
    checkins: list[CheckinRow]
    red_flag_signs: dict[str, str]
    urgent_signs: list[str]
    handled: list[Handled]


class HandledIn(Struct, frozen=True, forbid_unknown_fields=True):
    """Marking a check-in's red flags as handled, with an optional short note (what was done)."""

    note: Annotated[str, Meta(max_length=200, pattern=PLAIN_TEXT)] = ""


class TreatedOut(Struct, frozen=True):
    """A treated muscle with its name."""

    muscle: str
    name: str
    side: Side


class PhaseOut(Struct, frozen=True):
    """A phase of the plan, named."""

    id: PhaseId
    name: str
    from_day: int
    to_day: int
    about: str  # what the phase is for, and why the dose is what it is


class HandoutItem(Struct, frozen=True, kw_only=True):
    """One plan item as the patient reads it on paper."""

    exercise_id: str
    title: str
    kind: Kind
    phase: PhaseId
    from_day: int
    to_day: int
    slots: list[Slot]
    side: Side | None
    dosage: Dosage
    dosage_text: str
    # How to do it, as the app's exercise screen says it: a patient on paper has only the sheet.
    steps: list[str]
    feel: str
    # The muscles the exercise works on, by the names the content gives them (plain words).
    muscles: list[str]
    # When to stop (printed with the exercise), and the conditions to ask about first (the
    # sheet lists each once).
    stop: str
    ask_first: list[str]


class HandoutFlag(Struct, frozen=True):
    """A warning sign that applies to this plan, and what to do; ``hours``: it applies only that
    many hours after needling (null: at any time)."""

    id: str
    sign: str
    action: str
    urgency: str
    hours: int | None


class HandoutOut(Struct, frozen=True, kw_only=True):
    """The active plan in the patient's language: everything the printed handout shows."""

    display_name: str
    lang: Lang
    plan_id: int
    version: int
    treated_on: dt.date
    treated: list[TreatedOut]
    phases: list[PhaseOut]
    items: list[HandoutItem]
    precautions: list[str]
    aftercare: AftercareOut
    red_flags: list[HandoutFlag]
    # Whom the patient contacts (the warning signs say "contact the clinic"); empty when not set.
    therapist_name: str
    clinic_name: str
    clinic_phone: str


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    risky = text.startswith(_CONTROL_START) or text.lstrip().startswith(_FORMULA_START)
    return "'" + text if risky else text


def records_csv(
    completions: list[CompletionRow],
    checkins: list[CheckinRow],
    handled: list[Handled],
    titles: dict[str, str],
    timezone: str,
) -> str:
    """Completions and check-ins (with the clinic's handled marks) as one CSV table, by date; free
    text cannot become a spreadsheet formula."""
    marks = {m.checkin_id: m for m in handled}
    zone = ZoneInfo(timezone)

    def local(at: str) -> str:
        return parse_iso(at).astimezone(zone).strftime("%Y-%m-%d %H:%M")

    rows: list[tuple[object, ...]] = []
    for c in completions:
        rows.append(
            (
                "completion",
                c.id,
                c.on_date,
                c.slot,
                c.exercise_id,
                titles.get(c.exercise_id, ""),
                c.done_at,
                c.sets_done,
                c.reps_done,
                c.hold_seconds_done,
                c.pain,
                None,
                None,
                c.note,
                c.withdrawn_at,
                None,
                None,
                None,
                local(c.done_at),
                timezone,
            )
        )
    for k in checkins:
        flags = " ".join(k.red_flags)
        mark = marks.get(k.id)
        rows.append(
            (
                "checkin",
                k.id,
                k.on_date,
                None,
                None,
                None,
                k.done_at,
                None,
                None,
                None,
                None,
                k.soreness,
                flags,
                k.note,
                None,
                *((mark.at, mark.therapist_name, mark.note) if mark else (None, None, None)),
                local(k.done_at),
                timezone,
            )
        )
    rows.sort(key=lambda r: (str(r[2]), str(r[6]), str(r[0])))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return out.getvalue()


class PatientExport(Struct, frozen=True, kw_only=True):
    """Everything stored about one patient (right of access). Secrets are stored only as hashes
    and are not part of it; push subscriptions are counted, their keys left out."""

    exported_at: str
    patient: Patient
    plans: list[PlanRecord]
    completions: list[CompletionRow]
    checkins: list[CheckinRow]
    devices: list[Device]
    reminder_rules: list[RuleRow]
    reminder_prefs: Prefs | None
    push_subscriptions: int
    deliveries: list[DeliveryRow]
    audit: list[AuditEntry]
    checkins_handled: list[Handled]


def _handout_item(item: PlanItem, catalog: Catalog, lang: Lang) -> HandoutItem:
    exercise = catalog.exercises[item.exercise_id]
    return HandoutItem(
        exercise_id=item.exercise_id,
        title=exercise.title.get(lang),
        kind=exercise.kind,
        phase=item.phase,
        from_day=item.from_day,
        to_day=item.to_day,
        slots=list(item.slots),
        side=item.side,
        dosage=item.dosage,
        dosage_text=dosage_text(item.dosage, lang),
        steps=list(exercise.steps.get(lang)),
        feel=exercise.feel.get(lang),
        muscles=[muscle_name(catalog, m, lang) for m in exercise.muscles],
        stop=exercise.stop.get(lang),
        ask_first=[catalog.cautions[c].text.get(lang) for c in exercise.ask_first],
    )


class RecordsController(Controller):
    """An owned patient's records; another therapist's patient is a 404 like a missing one."""

    path = "/api/v1/patients/{patient_id:int}"
    tags = ["therapist: records"]
    guards = [therapist_guard]

    @get(
        "/records",
        summary="Completions and check-ins of the last days (default 90)",
        description="Completions the patient took back are listed too, with `withdrawn_at` set; they "
        "count in no figure.",
    )
    async def records_json(
        self,
        request: TherapistRequest,
        db: DatabaseDep,
        catalog: CatalogDep,
        clock: ClockDep,
        patient_id: RowId,
        days: Annotated[int, QueryParameter(ge=1, le=800)] = 90,
    ) -> RecordsOut:
        therapist_id = request.user.therapist.id
        patient = await owned_patient(db, therapist_id, patient_id)
        last = local_date(clock.now(), patient.timezone)
        first = last - dt.timedelta(days=days - 1)
        checkins = await logs.checkins_between(db, patient_id, first, last)
        reported = {f for c in checkins for f in c.red_flags}
        shown = [f for f in catalog.aftercare.red_flags if f.id in reported]
        return RecordsOut(
            first=first,
            last=last,
            completions=await logs.completions_between(db, patient_id, first, last),
            checkins=checkins,
            red_flag_signs={f.id: f.sign.get("en") for f in shown},
            urgent_signs=[f.id for f in shown if f.urgency == "emergency"],
            handled=await logs.handled_between(db, therapist_id, patient_id, first, last),
        )

    @post(
        "/checkins/{checkin_id:uuid}/handled",
        summary="Mark a check-in's red flags as handled",
        description="The check-in stops raising the red-flag badge on the attention list; a later flagged "
        "check-in raises it again. Answers the mark the check-in holds: marking it again (a double click, "
        "a retry) changes nothing and answers the first mark, its time, therapist and note. A check-in "
        "this patient does not have is 404; one without red flags, or an archived patient, is 409.",
        status_code=200,
    )
    async def mark_handled(
        self,
        request: TherapistRequest,
        db: DatabaseDep,
        clock: ClockDep,
        patient_id: RowId,
        checkin_id: Annotated[uuid.UUID, PathParameter(description="A check-in's id (the UUID its phone gave it)")],
        data: JSONBody[HandledIn],
    ) -> Handled:
        therapist_id, now = request.user.therapist.id, clock.now()
        await current_patient(db, therapist_id, patient_id)
        async with db.transaction() as tx:
            # A note of spaces only is no note.
            note = data.note.strip()
            outcome, mark = await logs.mark_handled(tx, therapist_id, patient_id, str(checkin_id), now, note)
            if outcome == "missing":
                raise NotFoundException(f"no check-in {checkin_id}")
            if outcome == "no-flags":
                raise InputError("checkin_id", "this check-in reported no red flags", status=409)
            # Only the mark that happened is in the audit trail, in its transaction.
            if outcome == "handled":
                await audit.record(tx, therapist_id, patient_id, "checkin.handled", now, str(checkin_id))
        assert mark is not None
        return mark

    @get("/export.json", summary="Everything stored about the patient, as JSON (right of access)")
    async def export(
        self, request: TherapistRequest, db: DatabaseDep, clock: ClockDep, patient_id: RowId
    ) -> Response[PatientExport]:
        therapist_id, now = request.user.therapist.id, clock.now()
        patient = await owned_patient(db, therapist_id, patient_id)
        whole = (dt.date.min, dt.date.max)
        export = PatientExport(
            exported_at=iso(now),
            patient=patient,
            plans=await plans.plan_history(db, therapist_id, patient_id),
            completions=await logs.completions_between(db, patient_id, *whole),
            checkins=await logs.checkins_between(db, patient_id, *whole),
            devices=await patients.devices_of(db, therapist_id, patient_id),
            reminder_rules=await reminders.rules_of(db, patient_id),
            reminder_prefs=await reminders.prefs_of(db, patient_id),
            push_subscriptions=(await reminders.subscription_info(db, patient_id)).count,
            deliveries=await reminders.deliveries_of(db, therapist_id, patient_id, 10_000),
            audit=await audit.audit_of(db, therapist_id, patient_id),
            checkins_handled=await logs.handled_between(db, therapist_id, patient_id, *whole),
        )
        async with db.transaction() as tx:
            await audit.record(tx, therapist_id, patient_id, "records.export", now, "everything, JSON")
        # A file to hand to the patient who asked for their data (the console saves it under this name).
        filename = f"unknot-patient-{patient_id}-{now.date().isoformat()}.json"
        return Response(export, headers={"content-disposition": f'attachment; filename="{filename}"'})

    @get("/records.csv", summary="Every completion and check-in as CSV (a download)", media_type="text/csv")
    async def records_download(
        self,
        request: TherapistRequest,
        db: DatabaseDep,
        catalog: CatalogDep,
        clock: ClockDep,
        patient_id: RowId,
    ) -> Response[str]:
        therapist_id, now = request.user.therapist.id, clock.now()
        patient = await owned_patient(db, therapist_id, patient_id)
        # Ownership was checked just above; the whole history, first day to last.
        completions = await logs.completions_between(db, patient_id, dt.date.min, dt.date.max)
        checkins = await logs.checkins_between(db, patient_id, dt.date.min, dt.date.max)
        handled = await logs.handled_between(db, therapist_id, patient_id, dt.date.min, dt.date.max)
        # An exercise the content no longer has keeps its id in the row; its title is left blank.
        titles = {x: e.title.get("en") for x in {c.exercise_id for c in completions} if (e := catalog.exercises.get(x))}
        body = records_csv(completions, checkins, handled, titles, patient.timezone)
        # Health data leaving the system is worth a line in the audit trail.
        async with db.transaction() as tx:
            detail = f"{len(completions)} completions, {len(checkins)} check-ins"
            await audit.record(tx, therapist_id, patient_id, "records.export", now, detail)
        filename = f"unknot-patient-{patient_id}-{now.date().isoformat()}.csv"
        # The byte order mark tells a spreadsheet (Excel above all) that the file is UTF-8: without
        # it "dolía" in a patient's note opens as "dolÃ­a".
        return Response(
            "\ufeff" + body,
            media_type="text/csv",
            headers={"content-disposition": f'attachment; filename="{filename}"'},
        )

    @get("/handout", summary="The active plan in the patient's language, for the printed handout")
    async def handout(
        self,
        request: TherapistRequest,
        db: DatabaseDep,
        catalog: CatalogDep,
        settings: SettingsDep,
        patient_id: RowId,
        lang: PatientLangQuery = None,
    ) -> HandoutOut:
        therapist_id = request.user.therapist.id
        patient = await owned_patient(db, therapist_id, patient_id)
        record = await plans.active_plan(db, therapist_id, patient_id)
        if record is None:
            raise NotFoundException("this patient has no active plan")
        language: Lang = lang or ("es" if patient.locale == "es" else "en")
        # The printout shows what the patient's phone shows (see shown_program).
        program = shown_program(record.program, catalog)
        phases = {p.id: p for p in catalog.template.phases}
        return HandoutOut(
            display_name=patient.display_name,
            lang=language,
            plan_id=record.id,
            version=record.version,
            treated_on=program.treated_on,
            treated=[TreatedOut(t.muscle, muscle_name(catalog, t.muscle, language), t.side) for t in program.treated],
            phases=[
                PhaseOut(p.id, phases[p.id].name.get(language), p.from_day, p.to_day, phases[p.id].about.get(language))
                for p in program.phases
            ],
            items=[_handout_item(i, catalog, language) for i in program.items],
            precautions=list(program.precautions),
            aftercare=aftercare_out(catalog, settings.aftercare_temperature, language),
            red_flags=[
                HandoutFlag(f.id, f.sign.get(language), f.action.get(language), f.urgency, catalog.aftercare.window(f))
                for f in catalog.aftercare.red_flags
                if f.precaution is None or f.precaution in program.precautions
            ],
            therapist_name=request.user.therapist.name,
            clinic_name=settings.clinic_name,
            clinic_phone=settings.clinic_phone,
        )
