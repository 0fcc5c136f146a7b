"""Attacks on the running server over real HTTP (``unknot serve``, as in production): a page of
another site driving the browser, hostile bodies, one client trying to stall everyone, and push
subscriptions aimed at the clinic's own network."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from litestar.openapi.plugins import YamlRenderPlugin
from litestar.testing import TestClient

from server.api.auth import (
    DEVICE_COOKIE,
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS,
    MAX_FAILURES_PER_ADDRESS,
)
from server.api.openapi import CachedYamlRenderPlugin
from server.api.patient import MAX_JOINS_PER_ADDRESS
from server.app import create_app
from server.auth.secrets import new_invite_code, new_token
from server.settings import Settings
from tests.bench.harness import BIN, ROOT, answers, create_therapist, free_port, server_env
from tests.conftest import http_client

EMAIL = "sec@clinic.example"
PASSWORD = "a security review passphrase"


class Live:
    def __init__(self, url: str, log: Path, db: Path, env: dict[str, str]) -> None:
        self.url = url
        self.log = log
        self.db = db
        self.env = env


@contextlib.contextmanager
def serve(tmp: Path, **extra: str) -> Iterator[Live]:
    env = server_env(tmp, free_port(), UNKNOT_LOG_LEVEL="debug", **extra)
    subprocess.run([str(BIN / "unknot"), "init"], env=env, check=True, capture_output=True)
    create_therapist(env, EMAIL, "Security", PASSWORD)
    log = tmp / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([str(BIN / "unknot"), "serve"], env=env, cwd=ROOT, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{env['UNKNOT_PORT']}"
    try:
        assert answers(url, process), log.read_text()
        yield Live(url, log, tmp / "unknot.db", env)
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with serve(tmp_path_factory.mktemp("security")) as server:
        yield server


def test_another_sites_page_cannot_sign_the_browser_in(live: Live) -> None:
    # A form on another site posting text/plain that is JSON (the browser sends no preflight for it)
    # would sign the clinic's browser in to the attacker's account (login CSRF).
    body = f'{{"email": "{EMAIL}", "password": "{PASSWORD}"}}'
    for headers in (
        {"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
        {"origin": "https://evil.example"},  # a browser without Sec-Fetch-* headers
        {"sec-fetch-site": "same-site"},  # a sibling subdomain is another site for the console
    ):
        r = httpx.post(f"{live.url}/api/v1/auth/login", content=body, headers={"content-type": "text/plain", **headers})
        assert r.status_code == 403, (headers, r.status_code, r.text)
        assert "set-cookie" not in r.headers
    # From the same site, a body that is not sent as JSON is refused all the same.
    r = httpx.post(f"{live.url}/api/v1/auth/login", content=body, headers={"content-type": "text/plain"})
    assert (r.status_code, r.json()["errors"][0]["field"]) == (415, "Content-Type"), r.text
    assert "set-cookie" not in r.headers
    host = live.url.removeprefix("http://")
    r = httpx.post(
        f"{live.url}/api/v1/auth/login",
        json={"email": EMAIL, "password": PASSWORD},
        headers={"sec-fetch-site": "same-origin", "origin": f"http://{host}"},
    )
    assert r.status_code == 200, r.text
    assert "unknot_session=" in r.headers["set-cookie"]


def test_in_production_a_request_for_another_host_name_is_refused(tmp_path: Path) -> None:
    # DNS rebinding: a page on another site points its own name at this server, and its requests
    # carry that name in Host. Only the public address and loopback are answered.
    with serve(tmp_path, UNKNOT_ENV="production", UNKNOT_PUBLIC_URL="https://clinic.example") as live:
        client = http_client(base_url=live.url)
        port = live.url.rsplit(":", 1)[1]
        for host in ("clinic.example", f"127.0.0.1:{port}", f"localhost:{port}"):
            assert client.get("/api/v1/ping", headers={"host": host}).status_code == 200, host
        for host in ("rebind.attacker.example", f"rebind.attacker.example:{port}", "clinic.example.attacker.example"):
            for path in ("/api/v1/catalog/muscles", "/", "/js/core.js"):
                r = client.get(path, headers={"host": host})
                # The app's one error shape, naming the header (Litestar's own was {"message": ...}).
                assert r.status_code == 400, (host, path)
                assert r.json() == {
                    "status": 400,
                    "detail": "Host: is not a name this server answers to",
                    "errors": [{"field": "Host", "message": "is not a name this server answers to"}],
                }, (host, path)
                assert r.headers["cross-origin-resource-policy"] == "same-origin"
    log = live.log.read_text()
    assert "Traceback" not in log
    assert "ERROR" not in log


def test_no_other_sites_page_may_load_any_answer_into_itself(live: Live) -> None:
    """Cross-Origin-Resource-Policy on every answer: another site's <img> or <script> of an API URL
    (with the clinic's cookies) or of a file gets nothing it could read through a side channel. The
    app's own pages, worker, manifest and icons are same-origin, so nothing of the app's is blocked."""
    client = http_client(base_url=live.url)
    core = client.get("/js/core.js")
    answers = [
        client.get("/api/v1/ping"),
        client.get("/api/v1/catalog/muscles"),
        client.get("/api/v1/patients"),  # 401
        client.get("/api/v1/no-such-route"),  # 404
        client.get("/"),
        client.get("/sw.js"),
        core,
        client.get("/js/core.js", headers={"if-none-match": core.headers["etag"]}),  # 304
        client.get("/manifest.webmanifest"),
        client.get("/icons/icon-192.png"),
        client.get("/%23join=ABCD", follow_redirects=False),  # 302
    ]
    assert [r.status_code for r in answers] == [200, 200, 401, 404, 200, 200, 200, 304, 200, 200, 302]
    for r in answers:
        assert r.headers["cross-origin-resource-policy"] == "same-origin", r.url
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["cross-origin-opener-policy"] == "same-origin", r.url


def test_a_deeply_nested_body_is_a_400_not_a_server_error(live: Live) -> None:
    for path in ("/api/v1/patient/join", "/api/v1/auth/login"):
        body = b'{"code": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
        r = httpx.post(f"{live.url}{path}", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, (path, r.status_code, r.text)
        # Decoded into the declared type, the body is refused where it first goes wrong, by name.
        assert [e["field"] for e in r.json()["errors"]] == ["code"], r.text
    assert "RecursionError" not in live.log.read_text()
    assert "ERROR" not in live.log.read_text()


def test_the_yaml_schema_is_rendered_once_per_process(tmp_path: Path) -> None:
    # Rendering the YAML took ~0.1 s of CPU on the event loop every time: a few anonymous clients
    # fetching it in a loop held every other request back by 0.4 s. (Measured once; a unit test
    # holds the cause, not a timing.)
    settings = Settings.from_env({}, database_url=str(tmp_path / "unknot.db"), data_dir=str(tmp_path), scheduler=False)
    app = create_app(settings)
    [plugin] = [p for p in app.openapi_config.render_plugins if isinstance(p, YamlRenderPlugin)]
    with TestClient(app) as client:
        first = client.get("/schema/openapi.yaml")
        assert first.status_code == 200
        assert isinstance(plugin, CachedYamlRenderPlugin)
        assert plugin._rendered == first.content
        assert client.get("/schema/openapi.yaml").content == first.content
    assert "/api/v1/patient/today:" in first.text


# --- push subscriptions -------------------------------------------------------------------------


class Port:
    """A port on loopback counting the connections made to it: a service on the clinic's network."""

    def __init__(self) -> None:
        self.connections = 0
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.socket.close()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.socket.accept()
                self.connections += 1
                conn.close()


class Redirecting:
    """A push service on loopback that answers every message with a 307 to ``target``."""

    def __init__(self, target: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(307)
                self.send_header("location", target)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _keys() -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"p256dh": _b64(point), "auth": _b64(os.urandom(16))}


def _phone(url: str) -> httpx.Client:
    """A joined patient's phone (with a plan, so a test reminder has something to say)."""
    r = httpx.post(f"{url}/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    # In production the cookie is Secure, which a client keeps off plain http: send it by hand.
    headers = {"cookie": r.headers["set-cookie"].split(";")[0], "x-csrf-token": r.json()["csrf_token"]}
    with httpx.Client(base_url=url, headers=headers) as therapist:
        pid = therapist.post("/api/v1/patients", json={"display_name": "Pia", "timezone": "UTC"}).json()["id"]
        code = therapist.post(f"/api/v1/patients/{pid}/invites").json()["code"]
    token = httpx.post(f"{url}/api/v1/patient/join", json={"code": code}).json()["token"]
    return http_client(base_url=url, timeout=60, headers={"authorization": f"Bearer {token}"})


def test_outside_development_no_push_message_reaches_the_clinics_own_network(tmp_path: Path) -> None:
    # UNKNOT_PUSH_HOSTS=* (any push service): a patient's phone could register its "push service" at
    # any address, and the test reminder reported back how each internal port answered.
    internal = Port()
    with serve(tmp_path, UNKNOT_ENV="production", UNKNOT_PUSH_HOSTS="*", UNKNOT_PUSH_MAX_ATTEMPTS="1") as live:
        phone = _phone(live.url)
        keys = _keys()
        for endpoint in (
            f"https://127.0.0.1:{internal.port}/push/a",
            f"https://[::1]:{internal.port}/push/b",
            f"https://localhost:{internal.port}/push/c",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/push/d",
            # IPv6 forms that carry a private IPv4 address (a gateway on the way would deliver to it).
            f"https://[::ffff:127.0.0.1]:{internal.port}/push/g",
            "https://[::10.0.0.5]/push/h",
            "https://[64:ff9b::a00:5]/push/i",
            "https://[2002:a00:5::1]/push/j",
        ):
            r = phone.put("/api/v1/patient/push/subscriptions", json={"endpoint": endpoint, "keys": keys})
            assert r.status_code == 422, (endpoint, r.status_code, r.text)
            assert r.json()["errors"][0]["field"] == "endpoint"
        # A name that resolved elsewhere when it was registered (or a subscription from before this
        # check) is checked again when a message goes out.
        r = phone.put(
            "/api/v1/patient/push/subscriptions", json={"endpoint": "https://push.example.org/push/e", "keys": keys}
        )
        assert r.status_code == 200, r.text
        with contextlib.closing(sqlite3.connect(live.db)) as db, db:
            db.execute("UPDATE push_subscription SET endpoint = ?", (f"https://localhost:{internal.port}/push/e",))
            db.execute(
                "INSERT INTO push_subscription (patient_id, device_id, endpoint, p256dh, auth, created_at, updated_at) "
                "SELECT patient_id, device_id, ?, p256dh, auth, created_at, updated_at FROM push_subscription",
                (f"https://127.0.0.1:{internal.port}/push/f",),
            )
        r = phone.post("/api/v1/patient/push/test")
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert [x["status"] for x in results] == ["failed", "failed"], results
        assert all("not a public address" in x["error"] for x in results), results
        phone.close()
    internal.close()
    assert internal.connections == 0


def test_a_push_service_that_redirects_is_not_followed(tmp_path: Path) -> None:
    internal = Port()
    redirecting = Redirecting(f"http://127.0.0.1:{internal.port}/admin")
    with serve(tmp_path, UNKNOT_PUSH_MAX_ATTEMPTS="1") as live:  # development: loopback push services
        phone = _phone(live.url)
        endpoint = f"http://127.0.0.1:{redirecting.port}/push/a"
        r = phone.put("/api/v1/patient/push/subscriptions", json={"endpoint": endpoint, "keys": _keys()})
        assert r.status_code == 200, r.text
        r = phone.post("/api/v1/patient/push/test")
        assert r.status_code == 200, r.text
        assert [(x["status"], x["http_status"]) for x in r.json()["results"]] == [("failed", 307)]
        phone.close()
    redirecting.server.shutdown()
    redirecting.server.server_close()
    internal.close()
    assert internal.connections == 0


# --- guessing limits ----------------------------------------------------------------------------


def sign_in_from(browser: httpx.Client, client: str, password: str, email: str = EMAIL) -> int:
    """A sign-in by ``browser`` (with whatever cookies it holds) through the proxy, as ``client``."""
    body = {"email": email, "password": password}
    r = browser.post("/api/v1/auth/login", json=body, headers={"x-forwarded-for": client})
    if r.status_code == 200:
        browser.headers["x-csrf-token"] = r.json()["csrf_token"]
    return r.status_code


def guess(live: Live, client: str, password: str, email: str = EMAIL, **cookies: str) -> int:
    """A sign-in from a browser that never signed in (or that holds only ``cookies``), as ``client``."""
    with httpx.Client(base_url=live.url, cookies=cookies) as stranger:
        return sign_in_from(stranger, client, password, email)


def use_up_the_account_limit(live: Live, email: str = EMAIL) -> int:
    """Wrong passwords for the account from many addresses, each well under its own limits, until the
    account-wide limit refuses; returns how many were answered (401) before that."""
    for n in range(1, MAX_FAILURES_PER_ACCOUNT + 2):
        status = guess(live, f"192.0.2.{n}", "guess", email)
        if status == 429:
            return n - 1
        assert status == 401
    raise AssertionError("no account-wide limit")


def test_a_guesser_who_knows_the_email_does_not_lock_the_therapist_out(tmp_path: Path) -> None:
    with serve(tmp_path, UNKNOT_TRUSTED_PROXIES="127.0.0.1") as live, httpx.Client(base_url=live.url) as browser:
        # The therapist's own browser signed in before: it holds a device cookie, for sign-in only.
        assert sign_in_from(browser, "203.0.113.20", PASSWORD) == 200

        guesses = [guess(live, "198.51.100.7", f"guess {n}") for n in range(MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS + 1)]
        assert guesses == [401] * MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS + [429]
        assert guess(live, "198.51.100.7", PASSWORD) == 429  # the guesser's address waits, even with the password
        assert guess(live, "203.0.113.21", PASSWORD) == 200  # a colleague's computer, elsewhere

        # From many addresses the account still takes a bounded number of guesses in a window, and a
        # browser that never signed in to the account is refused even with the password ...
        assert use_up_the_account_limit(live) == MAX_FAILURES_PER_ACCOUNT
        assert guess(live, "203.0.113.22", PASSWORD) == 429
        # ... but not the therapist's own browser, wherever it is (even at an address that guessed).
        assert sign_in_from(browser, "203.0.113.20", PASSWORD) == 200
        assert sign_in_from(browser, "192.0.2.1", PASSWORD) == 200
        device = next(c for c in browser.cookies.jar if c.name == DEVICE_COOKIE)
        assert device.path == "/api/v1/auth"
        assert device.has_nonstandard_attr("HttpOnly")
        assert device.get_nonstandard_attr("SameSite", "").lower() == "strict"
        # Signed in, the therapist can change the password; the browser stays remembered.
        r = browser.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "a new passphrase after the attack"},
            headers={"x-forwarded-for": "203.0.113.20"},
        )
        assert r.status_code == 200, r.text
        assert sign_in_from(browser, "203.0.113.20", "a new passphrase after the attack") == 200
        assert guess(live, "203.0.113.23", "a new passphrase after the attack") == 429


def test_only_a_device_cookie_of_the_account_itself_gets_past_the_account_limit(tmp_path: Path) -> None:
    with serve(tmp_path, UNKNOT_TRUSTED_PROXIES="127.0.0.1") as live, httpx.Client(base_url=live.url) as browser:
        create_therapist(live.env, "other@clinic.example", "Other", PASSWORD)
        assert sign_in_from(browser, "203.0.113.20", PASSWORD, "other@clinic.example") == 200
        use_up_the_account_limit(live)
        # A browser remembered for another account (a colleague's, or the guesser's own account) ...
        assert sign_in_from(browser, "203.0.113.20", PASSWORD) == 429
        # ... or holding a made-up device cookie is a stranger to this account.
        assert guess(live, "203.0.113.20", PASSWORD, **{DEVICE_COOKIE: new_token()}) == 429
        assert guess(live, "203.0.113.20", PASSWORD, **{DEVICE_COOKIE: ""}) == 429
        # The other account is untouched.
        assert sign_in_from(browser, "203.0.113.20", PASSWORD, "other@clinic.example") == 200


def test_an_administrators_new_password_lets_a_locked_out_therapist_in_at_once(tmp_path: Path) -> None:
    with serve(tmp_path, UNKNOT_TRUSTED_PROXIES="127.0.0.1") as live, httpx.Client(base_url=live.url) as browser:
        assert sign_in_from(browser, "203.0.113.20", PASSWORD) == 200  # perhaps the intruder's browser
        for n in range(MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS):
            assert guess(live, "198.51.100.7", f"guess {n}") == 401
        use_up_the_account_limit(live)
        new = "the administrator's new passphrase"
        subprocess.run(
            [str(BIN / "unknot"), "set-password", EMAIL, "--password-stdin"],
            input=new.encode(),
            env=live.env,
            check=True,
            capture_output=True,
        )
        # The account's counts are cleared: a browser that never signed in gets in, from anywhere,
        # even from the address that guessed.
        assert guess(live, "203.0.113.30", new) == 200
        assert guess(live, "198.51.100.7", new) == 200
        # The reset forgot the browsers remembered before it: that one is a stranger again.
        use_up_the_account_limit(live)
        assert sign_in_from(browser, "203.0.113.20", new) == 429


def test_an_ipv6_client_cannot_take_turns_with_the_addresses_of_its_network(tmp_path: Path) -> None:
    # Behind a proxy (here: this test) each IPv6 client has a /64 of its own, 2^64 addresses: counted
    # per address, a sign-in guesser spraying passwords over accounts never met the per-address limit.
    with serve(tmp_path, UNKNOT_TRUSTED_PROXIES="127.0.0.1") as live, httpx.Client(base_url=live.url) as proxy:

        def sign_in(client: str, account: int) -> int:
            body = {"email": f"user{account}@clinic.example", "password": "guess"}  # 1 try per account
            return proxy.post("/api/v1/auth/login", json=body, headers={"x-forwarded-for": client}).status_code

        tries = [sign_in(f"2001:db8:0:7::{n:x}", n) for n in range(MAX_FAILURES_PER_ADDRESS + 1)]
        assert set(tries[:-1]) == {401}
        assert tries[-1] == 429
        assert sign_in("2001:db8:0:8::1", 999) == 401  # the next network is someone else

        def join(client: str) -> int:
            body = {"code": new_invite_code()}  # random, so only the per-address limit can answer 429
            return proxy.post("/api/v1/patient/join", json=body, headers={"x-forwarded-for": client}).status_code

        tries = [join(f"2001:db8:0:9:{n:x}::1") for n in range(MAX_JOINS_PER_ADDRESS + 1)]
        assert set(tries[:-1]) == {404}
        assert tries[-1] == 429
        assert join("::ffff:198.51.100.7") == 404
