"""Demo data for trying Unknot locally: a therapist, two patients, a plan, a few logs."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from server.auth.secrets import hash_password, hash_token, new_invite_code, normalize_invite_code, verify_password
from server.catalog import load_catalog
from server.clock import Clock, iso, local_date
from server.db import audit, logs, open_database, patients, plans, therapists
from server.db.connection import Database
from server.db.logs import CheckinRow, CompletionRow
from server.db.migrate import migrate
from server.programs import TreatedMuscle, generate, routine_for
from server.settings import Settings

__all__ = ["DEMO_EMAIL", "DEMO_PASSWORD", "demo_account_open", "load_demo"]

DEMO_EMAIL = "demo@unknot.example"
DEMO_PASSWORD = "unknot-demo-2026"  # noqa: S105 - a published demo account, local use only


async def demo_account_open(db: Database) -> bool:
    """Whether anyone can sign in to the demo account: it is there, not closed, with the published password."""
    found = await therapists.therapist_by_email(db, DEMO_EMAIL)
    return (
        found is not None
        and not await therapists.is_closed(db, found[0].id)
        and await verify_password(found[1], DEMO_PASSWORD)
    )


async def load_demo(settings: Settings, clock: Clock | None = None) -> str:
    """Create the demo data once; every call adds a fresh invite for the demo patient. Returns what to tell the user."""
    clock = clock or Clock()
    now = clock.now()
    catalog = load_catalog(Path(settings.plans_dir))
    async with open_database(settings) as db:
        await migrate(db)
        found = await therapists.therapist_by_email(db, DEMO_EMAIL)
        if found is None:
            password_hash = await hash_password(DEMO_PASSWORD)
            async with db.transaction() as tx:
                therapist_id = await therapists.create_therapist(tx, DEMO_EMAIL, "Demo Therapist", password_hash, now)
                alex = await patients.create_patient(tx, therapist_id, "Alex Demo", "Europe/Berlin", "en", now)
                assert alex is not None  # the account was made just now
                await patients.create_patient(tx, therapist_id, "Bea Ejemplo", "America/New_York", "es", now)
                today = local_date(now, alex.timezone)
                treated = [TreatedMuscle("upper-trapezius", "left"), TreatedMuscle("levator-scapulae", "right")]
                program = generate(treated, today - dt.timedelta(days=3), catalog)
                await plans.create_plan(tx, therapist_id, alex.id, program.treated, program, "Demo treatment", now)
                await audit.record(tx, therapist_id, alex.id, "plan.assign", now, "demo")
            done = []
            for back in (3, 2, 1):
                day = today - dt.timedelta(days=back)
                for entry in routine_for(program, day, catalog).entries[:4]:
                    done.append(
                        CompletionRow(
                            id=str(uuid.uuid4()),
                            exercise_id=entry.exercise_id,
                            on_date=day,
                            slot=entry.slot,
                            done_at=iso(now - dt.timedelta(days=back)),
                            pain=2,
                        )
                    )
            checkins = [
                CheckinRow(
                    id=str(uuid.uuid4()),
                    on_date=today - dt.timedelta(days=2),
                    soreness=4,
                    red_flags=[],
                    note="",
                    done_at=iso(now - dt.timedelta(days=2)),
                )
            ]
            await logs.store_batch(db, alex.id, done, checkins, now)
            patient_id, head, sign_in = alex.id, "demo data loaded", f"{DEMO_EMAIL} / {DEMO_PASSWORD}"
        else:
            # Since loaded, the account may have a new password or be closed, and Alex may be gone.
            head = "demo data already present"
            if await therapists.is_closed(db, found[0].id):
                sign_in = f"{DEMO_EMAIL}: the account is closed"
            elif await verify_password(found[1], DEMO_PASSWORD):
                sign_in = f"{DEMO_EMAIL} / {DEMO_PASSWORD}"
            else:
                sign_in = f"{DEMO_EMAIL} with the password set for it"
            alex_now = [p for p in await patients.list_patients(db, found[0].id) if p.display_name == "Alex Demo"]
            patient_id = alex_now[0].id if alex_now else None
        code = new_invite_code()
        if patient_id is not None:
            async with db.transaction() as tx:
                await patients.create_invite(
                    tx, patient_id, hash_token(normalize_invite_code(code)), now, now + dt.timedelta(days=7)
                )
    base = settings.public_url.rstrip("/")
    invite = (
        f"{base}/#join={code}  code {code}"
        if patient_id is not None
        else "none (Alex Demo is archived, deleted or with another therapist)"
    )
    return (
        f"{head}\n  therapist console: {base}/console/ (sign in as {sign_in})\n  patient invite (Alex Demo): {invite}"
    )
