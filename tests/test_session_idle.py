"""A console session left unused ends (a clinic's shared tablet left signed in), on top of the 12
hours from sign-in that end every session. Both backends."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.clock import Clock
from server.settings import Settings, SettingsError
from tests.conftest import PASSWORD, make_therapist, rows, sign_in

Client = AsyncTestClient[Litestar]
START = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(fixed=START)


async def me(client: Client) -> int:
    return (await client.get("/api/v1/auth/me")).status_code


async def test_a_session_unused_for_31_minutes_is_refused(therapist: Client, clock: Clock) -> None:
    clock.fixed = START + dt.timedelta(minutes=29)
    assert await me(therapist) == 200
    clock.fixed += dt.timedelta(minutes=31)
    assert await me(therapist) == 401
    # It stays ended: the refused request did not count as a use.
    clock.fixed += dt.timedelta(seconds=1)
    assert await me(therapist) == 401


async def test_a_session_used_every_20_minutes_lives_until_12_hours_after_sign_in(
    therapist: Client, clock: Clock
) -> None:
    for minutes in range(20, 12 * 60, 20):
        clock.fixed = START + dt.timedelta(minutes=minutes)
        assert await me(therapist) == 200, f"refused {minutes} minutes after sign-in"
    clock.fixed = START + dt.timedelta(hours=12)
    assert await me(therapist) == 401


async def test_the_idle_limit_is_the_clinics_setting(app: Litestar, therapist: Client, clock: Clock) -> None:
    app.state.settings = msgspec.structs.replace(app.state.settings, session_idle_minutes=10)
    clock.fixed = START + dt.timedelta(minutes=11)
    assert await me(therapist) == 401
    env = Settings.from_env({"UNKNOT_SESSION_IDLE_MINUTES": "45"})
    assert env.session_idle_minutes == 45
    # Use is recorded once a minute: a limit of one minute would end sessions in use.
    with pytest.raises(SettingsError, match="UNKNOT_SESSION_IDLE_MINUTES"):
        Settings.from_env({"UNKNOT_SESSION_IDLE_MINUTES": "1"})


async def test_sign_in_and_me_tell_the_console_the_idle_limit(therapist: Client, settings: Settings) -> None:
    """The console hides its page once the limit passes untouched (tests/browser/test_console_idle_hides.py)."""
    assert settings.session_idle_minutes == 30
    assert (await therapist.get("/api/v1/auth/me")).json()["idle_minutes"] == 30
    assert (await sign_in(therapist, "ana@clinic.example"))["idle_minutes"] == 30


async def test_sign_in_and_me_tell_the_console_when_the_session_ends_however_used(
    therapist: Client, clock: Clock
) -> None:
    """The console hides its page at that moment too (tests/browser/test_console_idle_hides.py),
    not only at its next call; a new password keeps the session's end."""
    clock.fixed = START + dt.timedelta(minutes=20)
    assert (await therapist.get("/api/v1/auth/me")).json()["expires_at"] == "2026-11-24T20:00:00Z"
    r = await therapist.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "a much better passphrase"}
    )
    assert r.status_code == 200, r.text
    assert (await therapist.get("/api/v1/auth/me")).json()["expires_at"] == "2026-11-24T20:00:00Z"
    signed_in = await sign_in(therapist, "ana@clinic.example", "a much better passphrase")
    assert signed_in["expires_at"] == "2026-11-24T20:20:00Z"


async def test_use_is_written_at_most_once_a_minute(therapist: Client, clock: Clock, settings: Settings) -> None:
    def last_used() -> str:
        return rows(settings, "SELECT last_used_at FROM therapist_session")[0][0]

    assert last_used() == "2026-11-24T08:00:00Z"
    clock.fixed = START + dt.timedelta(seconds=59)
    assert await me(therapist) == 200
    assert last_used() == "2026-11-24T08:00:00Z"  # a read stays a read
    clock.fixed = START + dt.timedelta(seconds=61)
    assert await me(therapist) == 200
    assert last_used() == "2026-11-24T08:01:01Z"


async def test_a_new_password_counts_only_the_sessions_it_signed_out_not_those_ended_already(
    therapist: Client, other_client: Client, app: Litestar, clock: Clock
) -> None:
    """ "2 other sessions were signed out" for a tablet that had signed itself out would tell the
    therapist someone else was using the account."""
    await sign_in(other_client, "ana@clinic.example")  # the shared tablet, then left alone
    clock.fixed = START + dt.timedelta(minutes=31)
    await sign_in(therapist, "ana@clinic.example")
    desk = AsyncTestClient(app=app)
    await sign_in(desk, "ana@clinic.example")  # in use
    r = await therapist.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "a much better passphrase"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["other_sessions_ended"] == 1
    assert (await desk.get("/api/v1/auth/me")).status_code == 401


async def test_each_sign_in_clears_every_accounts_ended_sessions_and_keeps_the_live_ones(
    therapist: Client, other_client: Client, app: Litestar, clock: Clock, settings: Settings
) -> None:
    """A tablet's forgotten session was kept until its own therapist signed in again."""

    def sessions() -> list[str]:
        found = rows(
            settings,
            "SELECT t.email FROM therapist_session s JOIN therapist t ON t.id = s.therapist_id ORDER BY t.email",
        )
        return [r[0] for r in found]

    await make_therapist(settings, "bo@clinic.example", "Bo")
    await make_therapist(settings, "cy@clinic.example", "Cy")
    await sign_in(other_client, "bo@clinic.example")  # the shared tablet, then left alone
    # Ana goes on using hers: unused for 20 minutes at most, never for the idle limit.
    for minutes in range(20, 12 * 60, 20):
        clock.fixed = START + dt.timedelta(minutes=minutes)
        assert await me(therapist) == 200
    assert sessions() == ["ana@clinic.example", "bo@clinic.example"]
    desk = AsyncTestClient(app=app)
    await sign_in(desk, "cy@clinic.example")
    assert sessions() == ["ana@clinic.example", "cy@clinic.example"]  # Bo's, unused for hours, is gone
    clock.fixed = START + dt.timedelta(hours=12)
    await sign_in(AsyncTestClient(app=app), "cy@clinic.example")
    # Ana's ran out 12 hours after sign-in, used 20 minutes ago or not; Cy's first one lives on.
    assert sessions() == ["cy@clinic.example", "cy@clinic.example"]
    assert await me(desk) == 200
