"""The audit trail: who did what to which patient, and when."""

from __future__ import annotations

import datetime as dt

from msgspec import Struct

from server.clock import iso
from server.db.connection import Database, Transaction

__all__ = ["AuditEntry", "audit_of", "forget_patient", "record"]


class AuditEntry(Struct, frozen=True):
    """One recorded action."""

    at: str
    therapist_id: int | None
    action: str
    detail: str


async def record(
    tx: Transaction, therapist_id: int | None, patient_id: int | None, action: str, now: dt.datetime, detail: str = ""
) -> None:
    """Record an action inside the transaction that performs it, so neither exists without the other."""
    await tx.execute(
        "INSERT INTO audit (at, therapist_id, patient_id, action, detail) VALUES (:at, :tid, :pid, :action, :detail)",
        {"at": iso(now), "tid": therapist_id, "pid": patient_id, "action": action, "detail": detail},
    )


async def audit_of(db: Database, therapist_id: int, patient_id: int) -> list[AuditEntry]:
    """An owned patient's audit trail, newest first."""
    rows = await db.fetch_all(
        "SELECT a.at, a.therapist_id, a.action, a.detail FROM audit a JOIN patient p ON p.id = a.patient_id "
        "WHERE a.patient_id = :pid AND p.therapist_id = :tid ORDER BY a.id DESC",
        {"pid": patient_id, "tid": therapist_id},
    )
    return [AuditEntry(*r) for r in rows]


async def forget_patient(tx: Transaction, patient_id: int) -> None:
    """Drop a patient's audit entries: after an erasure only the fact of the erasure stays."""
    await tx.execute("DELETE FROM audit WHERE patient_id = :pid", {"pid": patient_id})
