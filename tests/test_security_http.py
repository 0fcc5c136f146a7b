"""Attacks on the running server over real HTTP (``unknot serve``, as in production): a page of
another site driving the browser, hostile bodies, and one client trying to stall everyone."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.bench.harness import BIN, ROOT, answers, create_therapist, free_port, server_env

EMAIL = "sec@clinic.example"
PASSWORD = "a security review passphrase"


class Live:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("security")
    env = server_env(tmp, free_port(), UNKNOT_LOG_LEVEL="debug")
    subprocess.run([str(BIN / "unknot"), "init"], env=env, check=True, capture_output=True)
    create_therapist(env, EMAIL, "Security", PASSWORD)
    log = tmp / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([str(BIN / "unknot"), "serve"], env=env, cwd=ROOT, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{env['UNKNOT_PORT']}"
    try:
        assert answers(url, process), log.read_text()
        yield Live(url, log)
    finally:
        process.terminate()
        process.wait(10)


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
    host = live.url.removeprefix("http://")
    r = httpx.post(
        f"{live.url}/api/v1/auth/login",
        json={"email": EMAIL, "password": PASSWORD},
        headers={"sec-fetch-site": "same-origin", "origin": f"http://{host}"},
    )
    assert r.status_code == 200, r.text
    assert "unknot_session=" in r.headers["set-cookie"]


def test_a_deeply_nested_body_is_a_400_not_a_server_error(live: Live) -> None:
    for path in ("/api/v1/patient/join", "/api/v1/auth/login"):
        body = b'{"code": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
        r = httpx.post(f"{live.url}{path}", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, (path, r.status_code, r.text)
        assert r.json()["errors"] == [{"field": "body", "message": "is nested too deeply"}]
    assert "RecursionError" not in live.log.read_text()
    assert "ERROR" not in live.log.read_text()


def test_fetching_the_yaml_schema_costs_about_what_the_json_one_does(live: Live) -> None:
    # Rendering the YAML took ~0.1 s of CPU on the event loop every time: a few anonymous clients
    # fetching it in a loop held every other request back by 0.4 s.
    def median_ms(client: httpx.Client, path: str) -> float:
        times = []
        for _ in range(7):
            start = time.perf_counter()
            assert client.get(path).status_code == 200
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    with httpx.Client(base_url=live.url, timeout=30) as client:
        first = client.get("/schema/openapi.yaml").text
        assert client.get("/schema/openapi.yaml").text == first
        json_ms, yaml_ms = median_ms(client, "/schema/openapi.json"), median_ms(client, "/schema/openapi.yaml")
    assert yaml_ms < 5 * json_ms + 5, (yaml_ms, json_ms)
