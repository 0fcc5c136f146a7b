"""What a security walk of the API and console found, each kept fixed by a test here."""

from __future__ import annotations

import base64
import datetime as dt
import time
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.settings import Settings
from tests.conftest import PASSWORD, make_therapist, sign_in
from tests.test_flow_therapist_patient import assign, create_patient, join
from tests.test_security_http import EMAIL, serve

Client = AsyncTestClient[Litestar]

# Behaviour of the web layer, not of the database: one backend is enough.
SQLITE = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)

# What a browser sends on every request once the clinic's reverse proxy asked for its own password
# (nginx auth_basic in front of the whole site, a common way to keep a console off the internet).
PROXY_PASSWORD = {"authorization": "Basic " + base64.b64encode(b"clinic:proxy password").decode()}


@SQLITE
async def test_a_proxys_basic_password_in_front_of_the_app_does_not_lock_the_console_out(
    client: Client, other_client: Client, settings: Settings
) -> None:
    await make_therapist(settings, "basic@clinic.example", "Basic")
    client.headers.update(PROXY_PASSWORD)
    # Public answers, signing in and the therapist's routes work as without the proxy.
    assert (await client.get("/api/v1/catalog/muscles")).status_code == 200
    r = await client.post("/api/v1/auth/login", json={"email": "basic@clinic.example", "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["x-csrf-token"] = r.json()["csrf_token"]
    patient = await create_patient(client, name="Behind The Proxy")
    assert [p["id"] for p in (await client.get("/api/v1/patients")).json()] == [patient["id"]]
    # A patient route still needs the device token: the proxy's password is not one.
    r = await other_client.get("/api/v1/patient/me", headers=PROXY_PASSWORD)
    assert r.status_code == 401
    assert "device token" in r.json()["detail"]
    # And a Bearer token that is not a device's is refused as before.
    r = await other_client.get("/api/v1/patient/me", headers={"authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    r = await other_client.get("/api/v1/catalog/muscles", headers={"authorization": "Bearer "})
    assert r.status_code == 401


@SQLITE
@pytest.mark.parametrize(
    "path",
    [
        "/README.md%00",  # a NUL byte: the operating system cannot even be asked
        "/x%00.js",
        "/console/%00",
        "/" + "a" * 300,  # a name longer than the file system takes
        "/index.html/x",  # a file taken for a folder
        "/console/index.html/x",
    ],
)
async def test_a_path_that_can_name_no_file_is_a_404_not_a_server_error(client: Client, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 404, (path, r.status_code, r.text)
    assert r.json()["status"] == 404


@SQLITE
@pytest.mark.parametrize(
    "path", ["/api/v1/auth/login", "/api/v1/patient/join", "/api/v1/patients", "/api/v1/programs/preview"]
)
async def test_an_empty_body_is_named_as_empty(therapist: Client, path: str) -> None:
    r = await therapist.post(path, content=b"", headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["errors"] == [{"field": "body", "message": "is empty; send the request's JSON"}], r.text


@SQLITE
async def test_a_session_cookie_kept_after_sign_out_or_a_password_change_opens_nothing(
    therapist: Client, app: Litestar, settings: Settings
) -> None:
    # The browser forgets the cookie when told to; a copy taken before (another tab's request, a
    # proxy's log, a shared computer) must be dead on the server too.
    kept = therapist.cookies["unknot_session"]
    assert (await therapist.post("/api/v1/auth/logout")).status_code == 204
    replay = AsyncTestClient(app=app)
    r = await replay.get("/api/v1/patients", headers={"cookie": f"unknot_session={kept}"})
    assert r.status_code == 401, r.text
    # Another browser's session ends when the password changes on this one.
    await sign_in(therapist, "ana@clinic.example")
    other = AsyncTestClient(app=app)
    await sign_in(other, "ana@clinic.example")
    elsewhere = other.cookies["unknot_session"]
    r = await therapist.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "a new password 2026"}
    )
    assert r.json()["other_sessions_ended"] == 1, r.text
    r = await replay.get("/api/v1/patients", headers={"cookie": f"unknot_session={elsewhere}"})
    assert r.status_code == 401, r.text
    assert (await therapist.get("/api/v1/patients")).status_code == 200


@SQLITE
async def test_a_password_change_renews_this_browsers_session_so_a_copied_cookie_stops(
    therapist: Client, app: Litestar
) -> None:
    # The reason for a new password is often that someone else had the account: if they copied this
    # browser's cookie, it must not outlive the change.
    copied = therapist.cookies["unknot_session"]
    r = await therapist.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "a new password 2026"}
    )
    assert r.status_code == 200, r.text
    new_csrf = r.json()["csrf_token"]
    assert therapist.cookies["unknot_session"] != copied
    replay = AsyncTestClient(app=app)
    r = await replay.get("/api/v1/patients", headers={"cookie": f"unknot_session={copied}"})
    assert r.status_code == 401, r.text
    # This browser goes on signed in; changes take the new CSRF token (and no longer the old one).
    old_csrf = therapist.headers["x-csrf-token"]
    assert new_csrf != old_csrf
    assert (await therapist.get("/api/v1/auth/me")).json()["csrf_token"] == new_csrf
    therapist.headers["x-csrf-token"] = new_csrf
    created = await therapist.post("/api/v1/patients", json={"display_name": "After", "timezone": "UTC"})
    assert created.status_code == 201, created.text
    r = await therapist.post(
        "/api/v1/patients", json={"display_name": "X", "timezone": "UTC"}, headers={"x-csrf-token": old_csrf}
    )
    assert r.status_code == 403


@SQLITE
async def test_behind_a_proxy_on_another_port_that_drops_it_from_host_signing_in_and_changes_work(
    settings: Settings,
) -> None:
    # nginx on https://clinic.example:8443 with `proxy_set_header Host $host` passes on
    # "clinic.example"; the browser's Origin says ":8443". The public URL says which origin is ours.
    production = msgspec.structs.replace(settings, env="production", public_url="https://clinic.example:8443")
    await make_therapist(production, "proxy@clinic.example")
    same = {"origin": "https://clinic.example:8443", "sec-fetch-site": "same-origin"}
    async with AsyncTestClient(app=create_app(production), base_url="https://clinic.example") as browser:
        login = {"email": "proxy@clinic.example", "password": PASSWORD}
        r = await browser.post("/api/v1/auth/login", json=login, headers=same)
        assert r.status_code == 200, r.text
        browser.headers["x-csrf-token"] = r.json()["csrf_token"]
        r = await browser.post("/api/v1/patients", json={"display_name": "Port", "timezone": "UTC"}, headers=same)
        assert r.status_code == 201, r.text
        # Another port, scheme or host of the same name is still another site's page.
        for origin in ("https://clinic.example:9443", "http://clinic.example:8443", "https://evil.example:8443"):
            r = await browser.post("/api/v1/auth/login", json=login, headers={**same, "origin": origin})
            assert r.status_code == 403, (origin, r.text)
            r = await browser.post(
                "/api/v1/patients", json={"display_name": "X", "timezone": "UTC"}, headers={**same, "origin": origin}
            )
            assert r.status_code == 403, (origin, r.text)
        assert [p["display_name"] for p in (await browser.get("/api/v1/patients")).json()] == ["Port"]


@SQLITE
async def test_only_an_archived_patient_can_be_erased(therapist: Client, other_client: Client) -> None:
    # The console offers "Erase all data" for an archived patient only; a tab opened before the
    # patient was restored (and a phone joined again) still shows it. The server decides.
    patient = await create_patient(therapist, name="Still Here")
    pid = patient["id"]
    await assign(therapist, pid, dt.date.today())
    await join(therapist, other_client, pid)
    r = await therapist.delete(f"/api/v1/patients/{pid}")
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["field"] == "patient_id"
    assert "archive" in r.json()["errors"][0]["message"]
    assert (await therapist.get(f"/api/v1/patients/{pid}")).json()["display_name"] == "Still Here"
    assert (await other_client.get("/api/v1/patient/plan")).status_code == 200
    assert [a["action"] for a in (await therapist.get(f"/api/v1/patients/{pid}/audit")).json()].count(
        "patient.erase"
    ) == 0
    assert (await therapist.patch(f"/api/v1/patients/{pid}", json={"archived": True})).status_code == 200
    assert (await therapist.delete(f"/api/v1/patients/{pid}")).status_code == 204
    assert (await therapist.get(f"/api/v1/patients/{pid}")).status_code == 404
    # Nobody's patient, or someone else's, is still a 404.
    assert (await therapist.delete("/api/v1/patients/999999")).status_code == 404


def test_a_reverse_proxy_left_untrusted_is_named_in_the_log_once(tmp_path: Path) -> None:
    # Behind nginx without UNKNOT_TRUSTED_PROXIES every client is 127.0.0.1 to the limits: one
    # stranger's wrong codes keep every patient from joining. The operator is told, once.
    guess = {"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ"}
    with serve(tmp_path / "untrusted") as live:
        assert httpx.post(f"{live.url}/api/v1/patient/join", json=guess).status_code == 404
        assert "UNKNOT_TRUSTED_PROXIES" not in live.log.read_text()  # no proxy, nothing said
        through_proxy = {"x-forwarded-for": "203.0.113.7"}
        for _ in range(2):
            r = httpx.post(f"{live.url}/api/v1/patient/join", json=guess, headers=through_proxy)
            assert r.status_code == 404
            r = httpx.post(
                f"{live.url}/api/v1/auth/login", json={"email": EMAIL, "password": "no"}, headers=through_proxy
            )
            assert r.status_code == 401
        time.sleep(0.5)  # the log is written by a queue listener
        lines = [line for line in live.log.read_text().splitlines() if "UNKNOT_TRUSTED_PROXIES" in line]
        assert len(lines) == 1, lines
        assert "UNKNOT_TRUSTED_PROXIES=127.0.0.1" in lines[0]
    with serve(tmp_path / "trusted", UNKNOT_TRUSTED_PROXIES="127.0.0.1") as live:
        r = httpx.post(f"{live.url}/api/v1/patient/join", json=guess, headers={"x-forwarded-for": "203.0.113.7"})
        assert r.status_code == 404
        time.sleep(0.5)
        assert "UNKNOT_TRUSTED_PROXIES" not in live.log.read_text()
