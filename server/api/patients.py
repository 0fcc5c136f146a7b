"""A therapist's patients: create, list, rename, archive, delete; invites, devices, audit."""

from __future__ import annotations

import datetime as dt
import functools
import io
import zoneinfo
from typing import Annotated

import segno
from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.params import JSONBody, QueryParameter
from msgspec import UNSET, Meta, Struct, UnsetType

from server.api.catalog import Lang
from server.api.deps import ClockDep, DatabaseDep, SettingsDep
from server.api.errors import InputError
from server.api.params import PLAIN_TEXT, RowId, visible_name
from server.auth.identity import TherapistUser, therapist_guard
from server.auth.secrets import hash_token, new_invite_code, normalize_invite_code
from server.clock import iso
from server.db import audit, patients
from server.db.audit import AuditEntry
from server.db.connection import Transaction
from server.db.patients import Device, Patient

__all__ = ["PatientsController", "check_timezone", "current_patient", "owned_patient"]

INVITE_DAYS = 7
Name = Annotated[str, Meta(min_length=1, max_length=100, pattern=PLAIN_TEXT)]
TimeZone = Annotated[str, Meta(min_length=1, max_length=64, description="IANA time zone, e.g. Europe/Berlin")]
Locale = Lang  # the languages the content is written in
TherapistRequest = Request[TherapistUser, None, object]


class PatientIn(Struct, frozen=True, forbid_unknown_fields=True):
    """A new patient."""

    display_name: Name
    timezone: TimeZone
    locale: Locale = "en"


class PatientPatch(Struct, frozen=True, forbid_unknown_fields=True):
    """Changes to a patient; omitted fields stay as they are. At least one field is required: a
    body that changes nothing (``{}``) is a 422, not an audit entry for a change never made."""

    display_name: Name | UnsetType = UNSET
    timezone: TimeZone | UnsetType = UNSET
    locale: Locale | UnsetType = UNSET
    archived: bool | UnsetType = UNSET


class InviteOut(Struct, frozen=True):
    """A single-use invite: the code, the link, and the link as an SVG QR code."""

    code: str
    link: str
    expires_at: str
    qr_svg: str


class InvitesWithdrawn(Struct, frozen=True):
    """How many unused, unexpired invite codes were withdrawn (they no longer join a phone)."""

    withdrawn: int


async def _withdraw_invites(tx: Transaction, therapist_id: int, patient_id: int, now: dt.datetime, why: str) -> int:
    """Withdraw the patient's unused codes inside ``tx``, in the audit trail when any was still open."""
    withdrawn = await patients.withdraw_invites(tx, therapist_id, patient_id, now)
    if withdrawn:
        await audit.record(tx, therapist_id, patient_id, "invite.withdraw", now, f"{withdrawn}; {why}")
    return withdrawn


@functools.cache
def _zones() -> frozenset[str]:
    # Not every file ZoneInfo opens is a zone: "localtime" is the server's own, "Factory" a
    # placeholder, and right/ or posix/ copies (some with leap seconds) that a browser does not know.
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory"})


def check_timezone(name: str, field: str = "timezone") -> str:
    """``name`` if it is a known IANA zone."""
    if name not in _zones():
        raise InputError(field, f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)")
    return name


async def owned_patient(db: DatabaseDep, therapist_id: int, patient_id: RowId) -> Patient:
    """The therapist's patient; 404 for another therapist's patient exactly as for a missing one."""
    found = await patients.get_patient(db, therapist_id, patient_id)
    if found is None:
        raise NotFoundException(f"no patient {patient_id}")
    return found


async def current_patient(db: DatabaseDep, therapist_id: int, patient_id: RowId) -> Patient:
    """The therapist's patient who is not archived: 404 as :func:`owned_patient`, 409 when archived."""
    found = await owned_patient(db, therapist_id, patient_id)
    if found.archived_at is not None:
        raise InputError("patient_id", "patient is archived; restore them first", status=409)
    return found


def _name(value: str, field: str = "display_name") -> str:
    cleaned = visible_name(value)
    if not cleaned:
        raise InputError(field, "must not be blank (white space or invisible characters only)")
    return cleaned


class PatientsController(Controller):
    """Patients of the signed-in therapist only."""

    path = "/api/v1/patients"
    tags = ["therapist: patients"]
    guards = [therapist_guard]

    @get("/", summary="List patients")
    async def list_patients(
        self, request: TherapistRequest, db: DatabaseDep, archived: Annotated[bool, QueryParameter()] = False
    ) -> list[Patient]:
        return await patients.list_patients(db, request.user.therapist.id, archived=archived)

    @post("/", summary="Create a patient")
    async def create(
        self, request: TherapistRequest, data: JSONBody[PatientIn], db: DatabaseDep, clock: ClockDep
    ) -> Patient:
        name, tz = _name(data.display_name), check_timezone(data.timezone)
        therapist_id, now = request.user.therapist.id, clock.now()
        async with db.transaction() as tx:
            created = await patients.create_patient(tx, therapist_id, name, tz, data.locale, now)
            if created is None:  # closed while this request was on its way
                raise NotAuthorizedException("this account is closed")
            await audit.record(tx, therapist_id, created.id, "patient.create", now)
        return created

    @get("/{patient_id:int}", summary="One patient")
    async def get_one(self, request: TherapistRequest, db: DatabaseDep, patient_id: RowId) -> Patient:
        return await owned_patient(db, request.user.therapist.id, patient_id)

    @patch(
        "/{patient_id:int}",
        summary="Rename, change zone or language, archive or restore",
        description="Only the fields given change. A body with none of them (`{}`) is refused with 422 "
        "(field `body`) and changes nothing. Archiving revokes the patient's devices and withdraws their "
        "unused invite codes; after a restore the patient joins again with a new code.",
    )
    async def update(
        self,
        request: TherapistRequest,
        data: JSONBody[PatientPatch],
        db: DatabaseDep,
        clock: ClockDep,
        patient_id: RowId,
    ) -> Patient:
        changes: dict[str, object] = {}
        if data.display_name is not UNSET:
            changes["display_name"] = _name(data.display_name)
        if data.timezone is not UNSET:
            changes["timezone"] = check_timezone(data.timezone)
        if data.locale is not UNSET:
            changes["locale"] = data.locale
        therapist_id, now = request.user.therapist.id, clock.now()
        if data.archived is not UNSET:
            changes["archived_at"] = iso(now) if data.archived else None
        if not changes:
            # Most likely a client bug (a form sent before anything was filled in); saying so beats
            # a 200 and an audit entry that claims an update.
            raise InputError("body", "names nothing to change: give display_name, timezone, locale or archived")
        async with db.transaction() as tx:
            updated = await patients.update_patient(tx, therapist_id, patient_id, changes)
            if updated is None:
                raise NotFoundException(f"no patient {patient_id}")
            await audit.record(tx, therapist_id, patient_id, "patient.update", now, ",".join(sorted(changes)))
            if data.archived is True:
                # An archived patient's tokens are refused anyway; revoked, they stay refused after a
                # restore (and the console says so), and no code made before joins a phone to them.
                revoked = await patients.revoke_devices(tx, therapist_id, patient_id, now)
                if revoked:
                    detail = f"{','.join(map(str, revoked))}; patient archived"
                    await audit.record(tx, therapist_id, patient_id, "device.revoke", now, detail)
                await _withdraw_invites(tx, therapist_id, patient_id, now, "patient archived")
        return updated

    @delete(
        "/{patient_id:int}",
        summary="Erase an archived patient and everything about them (the audit keeps only the erasure)",
        description="Only an archived patient: a patient who is not archived is a 409 naming patient_id.",
    )
    async def delete_one(self, request: TherapistRequest, db: DatabaseDep, clock: ClockDep, patient_id: RowId) -> None:
        therapist_id = request.user.therapist.id
        async with db.transaction() as tx:
            # Only an archived patient: erasing cannot be undone, and a console tab opened before a
            # restore (the patient back, a phone joined again) still offers it.
            if not await patients.erase_archived_patient(tx, therapist_id, patient_id):
                if await patients.get_patient(tx, therapist_id, patient_id) is None:
                    raise NotFoundException(f"no patient {patient_id}")
                raise InputError("patient_id", "patient is not archived; archive them first, then erase", status=409)
            await audit.forget_patient(tx, patient_id)
            await audit.record(tx, therapist_id, patient_id, "patient.erase", clock.now())

    @post("/{patient_id:int}/invites", summary="Create a single-use invite code, link and QR code")
    async def invite(
        self,
        request: TherapistRequest,
        db: DatabaseDep,
        clock: ClockDep,
        settings: SettingsDep,
        patient_id: RowId,
    ) -> InviteOut:
        therapist_id, now = request.user.therapist.id, clock.now()
        await current_patient(db, therapist_id, patient_id)
        code = new_invite_code()
        expires = now + dt.timedelta(days=INVITE_DAYS)
        async with db.transaction() as tx:
            await patients.create_invite(tx, patient_id, hash_token(normalize_invite_code(code)), now, expires)
            await audit.record(tx, therapist_id, patient_id, "invite.create", now)
        # The code travels in the fragment: it never reaches server logs or Referer headers.
        link = f"{settings.public_url.rstrip('/')}/#join={code}"
        svg = io.BytesIO()
        segno.make(link, error="m").save(svg, kind="svg", scale=6, border=2, xmldecl=False, svgns=True, title="Invite")
        return InviteOut(code, link, iso(expires), svg.getvalue().decode())

    @delete(
        "/{patient_id:int}/invites",
        summary="Withdraw the patient's unused invite codes",
        description="Every code made for this patient and not yet used stops working (a phone already "
        "joined stays joined). Answers how many were still open; 0 when there were none.",
        status_code=200,
    )
    async def withdraw_invites(
        self, request: TherapistRequest, db: DatabaseDep, clock: ClockDep, patient_id: RowId
    ) -> InvitesWithdrawn:
        therapist_id, now = request.user.therapist.id, clock.now()
        async with db.transaction() as tx:
            if await patients.get_patient(tx, therapist_id, patient_id) is None:
                raise NotFoundException(f"no patient {patient_id}")
            return InvitesWithdrawn(await _withdraw_invites(tx, therapist_id, patient_id, now, "by the therapist"))

    @get("/{patient_id:int}/devices", summary="The patient's joined devices, and which of them get push reminders")
    async def devices(self, request: TherapistRequest, db: DatabaseDep, patient_id: RowId) -> list[Device]:
        await owned_patient(db, request.user.therapist.id, patient_id)
        return await patients.devices_of(db, request.user.therapist.id, patient_id)

    @delete(
        "/{patient_id:int}/devices/{device_id:int}",
        summary="Revoke a device",
        description="204 once the device is revoked; the patient's unused invite codes are withdrawn with it. "
        "Revoking a device that is already revoked answers "
        "204 again and changes nothing: the revocation time and the audit trail keep the first one. "
        "A device this patient does not have is 404.",
    )
    async def revoke(
        self,
        request: TherapistRequest,
        db: DatabaseDep,
        clock: ClockDep,
        patient_id: RowId,
        device_id: RowId,
    ) -> None:
        therapist_id, now = request.user.therapist.id, clock.now()
        async with db.transaction() as tx:
            outcome = await patients.revoke_device(tx, therapist_id, patient_id, device_id, now)
            if outcome == "missing":
                raise NotFoundException(f"no device {device_id}")
            # A repeat (a double click, a retried request) is the same answer, but only the
            # revocation that happened is in the audit trail.
            if outcome == "revoked":
                await audit.record(tx, therapist_id, patient_id, "device.revoke", now, str(device_id))
                await _withdraw_invites(tx, therapist_id, patient_id, now, f"device {device_id} revoked")

    @get("/{patient_id:int}/audit", summary="What was done to this patient's records, newest first")
    async def audit_trail(self, request: TherapistRequest, db: DatabaseDep, patient_id: RowId) -> list[AuditEntry]:
        await owned_patient(db, request.user.therapist.id, patient_id)
        return await audit.audit_of(db, request.user.therapist.id, patient_id)
