"""Changing a therapist's password: by the therapist (the API the console uses) and by an
administrator for a forgotten one (`unknot set-password`). Both backends."""

from __future__ import annotations

import asyncio
import io

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.api.auth import DEVICE_COOKIE, MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS
from server.auth.secrets import hash_token
from server.cli import main
from server.settings import Settings
from tests.conftest import PASSWORD, make_therapist, rows, sign_in

Client = AsyncTestClient[Litestar]
EMAIL = "ana@clinic.example"
NEW = "a much better passphrase 2026"


def stored_hash(settings: Settings, email: str = EMAIL) -> str:
    return rows(settings, "SELECT password_hash FROM therapist WHERE email = :e", {"e": email})[0][0]


def remembered(settings: Settings, email: str = EMAIL) -> list[str]:
    """The hashes of the device cookies of the account's remembered browsers."""
    return [
        r[0]
        for r in rows(
            settings,
            "SELECT d.token_hash FROM therapist_device d JOIN therapist t ON t.id = d.therapist_id WHERE t.email = :e",
            {"e": email},
        )
    ]


async def login(client: Client, password: str, email: str = EMAIL) -> int:
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return r.status_code


async def test_a_new_password_signs_out_the_accounts_other_sessions_only(
    therapist: Client, other_client: Client, app: Litestar, settings: Settings
) -> None:
    await sign_in(other_client, EMAIL)  # the same therapist on a second computer
    await make_therapist(settings, "bob@elsewhere.example", "Bob")
    bob = AsyncTestClient(app=app)
    await sign_in(bob, "bob@elsewhere.example")
    before = stored_hash(settings)

    r = await therapist.post("/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": NEW})
    assert r.status_code == 200, r.text
    assert r.json()["other_sessions_ended"] == 1
    assert (await therapist.get("/api/v1/auth/me")).status_code == 200
    assert (await other_client.get("/api/v1/auth/me")).status_code == 401
    assert (await bob.get("/api/v1/auth/me")).status_code == 200
    # The account's other browsers are forgotten too: remembered while someone else may have known the
    # password, they would each keep guesses of their own against the new one.
    assert remembered(settings) == [hash_token(therapist.cookies[DEVICE_COOKIE])]
    assert len(remembered(settings, "bob@elsewhere.example")) == 1

    stranger = AsyncTestClient(app=app)
    assert await login(stranger, PASSWORD) == 401
    assert await login(stranger, NEW) == 200
    after = stored_hash(settings)
    assert after != before
    assert after.startswith("$argon2id$")
    assert NEW not in after


async def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failed_sign_in(
    therapist: Client, settings: Settings
) -> None:
    before = stored_hash(settings)
    for _ in range(MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS):
        r = await therapist.post("/api/v1/auth/password", json={"current_password": "guess", "new_password": NEW})
        assert r.status_code == 422
        assert r.json()["errors"] == [{"field": "current_password", "message": "is not the account's current password"}]
    # The limit is the sign-in limit: even the right password waits now, here and at sign-in.
    r = await therapist.post("/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": NEW})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "900"
    assert await login(therapist, PASSWORD) == 429
    assert stored_hash(settings) == before
    assert (await therapist.get("/api/v1/auth/me")).status_code == 200


async def test_the_same_password_again_is_refused(therapist: Client, settings: Settings) -> None:
    before = stored_hash(settings)
    r = await therapist.post("/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": PASSWORD})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "new_password"
    assert stored_hash(settings) == before


async def test_an_administrator_sets_a_forgotten_password(
    therapist: Client,
    app: Litestar,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("UNKNOT_DATABASE_URL", settings.database_url)

    async def cli(*args: str, stdin: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        return await asyncio.to_thread(main, ["set-password", *args, "--password-stdin"])

    before = stored_hash(settings)
    assert await cli(EMAIL, stdin="too short\n") == 2
    assert "at least 10 characters" in capsys.readouterr().err
    assert await cli("nobody@clinic.example", stdin=NEW + "\n") == 1
    assert "no therapist with email nobody@clinic.example" in capsys.readouterr().err
    assert stored_hash(settings) == before

    # Locked out by guesses from the same address (the account's counts, not the address's).
    for _ in range(MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS):
        assert await login(AsyncTestClient(app=app), "guess") == 401
    assert await login(AsyncTestClient(app=app), PASSWORD) == 429
    assert len(remembered(settings)) == 1

    assert await cli("ANA@Clinic.example", stdin=NEW + "\n") == 0
    assert capsys.readouterr().out.strip() == f"new password set for <{EMAIL}>; 1 session(s) signed out"
    assert remembered(settings) == []  # a reset may follow a compromise: no browser keeps its exemption
    assert (await therapist.get("/api/v1/auth/me")).status_code == 401
    fresh = AsyncTestClient(app=app)
    assert await login(fresh, PASSWORD) == 401
    assert await login(fresh, NEW) == 200
