"""Guessing limits on the two secrets people type, and the session cookie's protection (issue 10)."""

from __future__ import annotations

import asyncio
import datetime as dt
import math

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.api.auth import (
    ATTEMPT_WINDOW,
    DEVICE_COOKIE,
    MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS,
    MAX_FAILURES_PER_ADDRESS,
    MAX_FAILURES_PER_DEVICE,
)
from server.api.patient import JOIN_WINDOW, MAX_JOINS_PER_ADDRESS, MAX_JOINS_PER_PREFIX
from server.app import create_app
from server.auth.secrets import INVITE_ALPHABET, INVITE_LENGTH, hash_token, new_invite_code, normalize_invite_code
from server.clock import Clock
from server.db import open_database, therapists
from server.settings import Settings
from tests.conftest import PASSWORD, make_therapist, rows
from tests.test_flow_therapist_patient import create_patient

Client = AsyncTestClient[Litestar]


async def test_parallel_wrong_passwords_are_cut_off_at_the_limit_even_for_the_right_one(
    client: Client, settings: Settings
) -> None:
    await make_therapist(settings, "target@clinic.example")
    attempts = [
        client.post("/api/v1/auth/login", json={"email": "target@clinic.example", "password": f"guess {i}"})
        for i in range(20)
    ]
    statuses = [r.status_code for r in await asyncio.gather(*attempts)]
    assert statuses.count(401) == MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS
    assert statuses.count(429) == 20 - MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS
    blocked = await client.post("/api/v1/auth/login", json={"email": "target@clinic.example", "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.headers["retry-after"] == "900"


async def test_tries_kept_up_past_the_limit_do_not_make_the_wait_longer(
    client: Client, settings: Settings, clock: Clock
) -> None:
    # Counted, one refused try every few minutes would keep the account locked for good.
    await make_therapist(settings, "steady@clinic.example")
    start = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
    clock.fixed = start
    for _ in range(MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS):
        r = await client.post("/api/v1/auth/login", json={"email": "steady@clinic.example", "password": "nope"})
        assert r.status_code == 401
    for minutes in (3, 6, 9, 12, 14):
        clock.fixed = start + dt.timedelta(minutes=minutes)
        r = await client.post("/api/v1/auth/login", json={"email": "steady@clinic.example", "password": "nope"})
        assert r.status_code == 429
    clock.fixed = start + ATTEMPT_WINDOW + dt.timedelta(seconds=1)
    r = await client.post("/api/v1/auth/login", json={"email": "steady@clinic.example", "password": PASSWORD})
    assert r.status_code == 200


async def test_a_correct_sign_in_resets_the_account_counter(client: Client, settings: Settings) -> None:
    await make_therapist(settings, "forgetful@clinic.example")
    for _ in range(MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS - 1):
        r = await client.post("/api/v1/auth/login", json={"email": "forgetful@clinic.example", "password": "nope"})
        assert r.status_code == 401
    ok = await client.post("/api/v1/auth/login", json={"email": "forgetful@clinic.example", "password": PASSWORD})
    assert ok.status_code == 200
    for _ in range(MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS):
        r = await client.post("/api/v1/auth/login", json={"email": "forgetful@clinic.example", "password": "nope"})
        assert r.status_code == 401


async def test_a_clinic_signing_in_from_one_address_is_not_limited_but_its_failures_are(
    client: Client, settings: Settings
) -> None:
    """Behind one address (a clinic's connection), sign-ins that succeed do not count toward the
    address's limit; wrong passwords still do."""
    # Enough accounts that the address limit, not the account limit, is what stops the guesses.
    accounts = MAX_FAILURES_PER_ADDRESS // (MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS - 1)
    emails = [f"therapist{i}@clinic.example" for i in range(accounts)]
    for email in emails:
        await make_therapist(settings, email)
    for i in range(MAX_FAILURES_PER_ADDRESS + 5):
        r = await client.post("/api/v1/auth/login", json={"email": emails[i % accounts], "password": PASSWORD})
        assert r.status_code == 200, (i, r.text)
    for i in range(MAX_FAILURES_PER_ADDRESS):
        r = await client.post("/api/v1/auth/login", json={"email": emails[i % accounts], "password": f"guess {i}"})
        assert r.status_code == 401, (i, r.text)
    r = await client.post("/api/v1/auth/login", json={"email": "nobody@clinic.example", "password": "x"})
    assert r.status_code == 429


async def test_patients_joining_from_one_address_are_not_limited(therapist: Client, other_client: Client) -> None:
    """A clinic's patients join on its Wi-Fi: only failed codes count toward the address's limit."""
    for i in range(MAX_JOINS_PER_ADDRESS + 3):
        patient = await create_patient(therapist, name=f"Patient {i}")
        code = (await therapist.post(f"/api/v1/patients/{patient['id']}/invites")).json()["code"]
        r = await other_client.post("/api/v1/patient/join", json={"code": code})
        assert r.status_code == 201, (i, r.text)
    results = await asyncio.gather(
        *[
            other_client.post("/api/v1/patient/join", json={"code": new_invite_code()})
            for _ in range(MAX_JOINS_PER_ADDRESS)
        ]
    )
    assert {r.status_code for r in results} == {404}
    r = await other_client.post("/api/v1/patient/join", json={"code": new_invite_code()})
    assert r.status_code == 429


async def test_invite_guessing_is_limited_per_address_and_a_valid_code_is_refused_too(
    therapist: Client, other_client: Client
) -> None:
    patient = await create_patient(therapist)
    real = (await therapist.post(f"/api/v1/patients/{patient['id']}/invites")).json()["code"]
    guesses = [new_invite_code() for _ in range(MAX_JOINS_PER_ADDRESS)]
    results = await asyncio.gather(*[other_client.post("/api/v1/patient/join", json={"code": g}) for g in guesses])
    assert {r.status_code for r in results} == {404}
    refused = await other_client.post("/api/v1/patient/join", json={"code": real})
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("too many tries")


async def test_invite_guessing_is_limited_per_code_prefix(other_client: Client) -> None:
    assert MAX_JOINS_PER_PREFIX < MAX_JOINS_PER_ADDRESS
    for i in range(MAX_JOINS_PER_PREFIX):
        r = await other_client.post("/api/v1/patient/join", json={"code": f"ABCD-0000-0000-{i:04d}"})
        assert r.status_code == 404
    same_prefix = await other_client.post("/api/v1/patient/join", json={"code": "abcd-9999-9999-9999"})
    assert same_prefix.status_code == 429
    other_prefix = await other_client.post("/api/v1/patient/join", json={"code": "WXYZ-9999-9999-9999"})
    assert other_prefix.status_code == 404


async def test_characters_that_cannot_be_in_a_code_do_not_make_a_new_prefix(other_client: Client) -> None:
    """The prefix limit counts the code as it is looked up: a full stop or a quote in front of a
    guess must not give it a fresh count."""
    for i in range(MAX_JOINS_PER_PREFIX):
        r = await other_client.post("/api/v1/patient/join", json={"code": f"ABCD-0000-0000-{i:04d}"})
        assert r.status_code == 404
    for disguised in (".ABCD-9999-9999-9999", "\u201cAB.CD 9999 9999 9999", "A\u2013B\u2013C\u2013D 9999 9999 9999"):
        r = await other_client.post("/api/v1/patient/join", json={"code": disguised})
        assert r.status_code == 429, disguised


def test_the_guessing_arithmetic_in_the_readme_holds() -> None:
    """At the allowed rate, over an invite's lifetime, a hit is astronomically unlikely."""
    space = len(INVITE_ALPHABET) ** INVITE_LENGTH
    assert space == 2**80
    windows_per_week = 7 * 24 * 3600 / JOIN_WINDOW.total_seconds()
    # Every code prefix admits MAX_JOINS_PER_PREFIX tries a window, whatever the addresses.
    prefixes = len(INVITE_ALPHABET) ** 4
    guesses_per_week = prefixes * MAX_JOINS_PER_PREFIX * windows_per_week
    live_codes = 10_000  # a generous number of open invites at once
    p_hit = guesses_per_week * live_codes / space
    assert p_hit < 1e-10
    assert math.isclose(guesses_per_week, 7_046_430_720, rel_tol=1e-9)
    assert normalize_invite_code("abcd efgh jkmn pqrs") == "ABCD-EFGH-JKMN-PQRS"
    assert normalize_invite_code("\u201cabcd\u2013efgh\u00a0jkmn\npqrs.\u201d") == "ABCD-EFGH-JKMN-PQRS"


async def test_in_production_the_session_cookie_is_secure_and_hsts_is_sent(settings: Settings) -> None:
    production = msgspec.structs.replace(settings, env="production", public_url="https://testserver.local")
    await make_therapist(production, "prod@clinic.example")
    async with AsyncTestClient(app=create_app(production), base_url="https://testserver.local") as client:
        r = await client.post("/api/v1/auth/login", json={"email": "prod@clinic.example", "password": PASSWORD})
        assert r.status_code == 200
        cookies = [c.lower() for c in r.headers.get_list("set-cookie")]
        assert len(cookies) == 2  # the session, and the device cookie that remembers this browser
        for cookie in cookies:
            assert "; secure" in cookie
            assert "httponly" in cookie
            assert "samesite=strict" in cookie
        assert any(c.startswith(f"{DEVICE_COOKIE}=") and "path=/api/v1/auth" in c for c in cookies)
        assert r.headers["strict-transport-security"].startswith("max-age=")


async def test_in_development_the_cookie_works_over_plain_http_and_no_hsts_is_sent(
    client: Client, settings: Settings
) -> None:
    await make_therapist(settings, "dev@clinic.example")
    r = await client.post("/api/v1/auth/login", json={"email": "dev@clinic.example", "password": PASSWORD})
    for cookie in (c.lower() for c in r.headers.get_list("set-cookie")):
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "secure" not in cookie
    assert "strict-transport-security" not in r.headers


async def test_a_remembered_browser_has_its_own_limit_and_the_same_answers(
    client: Client, other_client: Client, settings: Settings
) -> None:
    await make_therapist(settings, "own@clinic.example")
    ok = await client.post("/api/v1/auth/login", json={"email": "own@clinic.example", "password": PASSWORD})
    assert ok.status_code == 200
    assert client.cookies.get(DEVICE_COOKIE)
    stranger = await other_client.post("/api/v1/auth/login", json={"email": "own@clinic.example", "password": "no"})
    for _ in range(MAX_FAILURES_PER_DEVICE):
        r = await client.post("/api/v1/auth/login", json={"email": "own@clinic.example", "password": "nope"})
        # A wrong password is answered as for any browser: the cookie tells a guesser nothing.
        assert (r.status_code, r.json(), "set-cookie" in r.headers) == (401, stranger.json(), False)
    for password in ("nope", PASSWORD):
        r = await client.post("/api/v1/auth/login", json={"email": "own@clinic.example", "password": password})
        assert r.status_code == 429
        assert r.headers["retry-after"] == "900"
    # Its failures were its own: the account is not locked for another browser (same address here).
    ok = await other_client.post("/api/v1/auth/login", json={"email": "own@clinic.example", "password": PASSWORD})
    assert ok.status_code == 200


async def test_device_cookies_are_stored_hashed_and_renewed_at_each_sign_in(client: Client, settings: Settings) -> None:
    await make_therapist(settings, "renew@clinic.example")
    seen = []
    for _ in range(2):
        r = await client.post("/api/v1/auth/login", json={"email": "renew@clinic.example", "password": PASSWORD})
        assert r.status_code == 200
        seen.append(client.cookies.get(DEVICE_COOKIE))
    assert seen[0] != seen[1]
    stored = [r[0] for r in rows(settings, "SELECT token_hash FROM therapist_device")]
    assert stored == [hash_token(seen[1])]  # the first one is replaced, and no token is stored as is


async def test_an_account_remembers_a_bounded_number_of_browsers(client: Client, settings: Settings) -> None:
    tid = await make_therapist(settings, "many@clinic.example")
    start = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
    async with open_database(settings) as db:
        for n in range(therapists.MAX_DEVICES_PER_THERAPIST + 3):  # browsers that drop their cookies
            await therapists.remember_device(db, f"hash{n:02d}", tid, start + dt.timedelta(minutes=n), 180, None)
    kept = sorted(r[0] for r in rows(settings, "SELECT token_hash FROM therapist_device"))
    assert kept == [f"hash{n:02d}" for n in range(3, therapists.MAX_DEVICES_PER_THERAPIST + 3)]


async def test_closing_an_account_forgets_its_browsers(client: Client, settings: Settings) -> None:
    tid = await make_therapist(settings, "leaving@clinic.example")
    r = await client.post("/api/v1/auth/login", json={"email": "leaving@clinic.example", "password": PASSWORD})
    assert r.status_code == 200
    assert rows(settings, "SELECT count(*) FROM therapist_device WHERE therapist_id = :t", {"t": tid}) == [(1,)]
    async with open_database(settings) as db, db.transaction() as tx:
        await therapists.close_account(tx, tid, dt.datetime.now(dt.UTC), dt.timedelta(minutes=30))
    assert rows(settings, "SELECT count(*) FROM therapist_device WHERE therapist_id = :t", {"t": tid}) == [(0,)]
