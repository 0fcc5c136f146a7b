"""No secret created in a full flow appears in the server's logs or in an error body (issue 10)."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import re
import subprocess
import uuid
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.bench.harness import BIN, ROOT, answers, create_therapist, free_port, server_env

PASSWORD = "a very secret passphrase 42"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_no_secret_of_a_full_flow_reaches_the_logs_or_error_bodies(tmp_path: Path) -> None:
    env = server_env(tmp_path, free_port(), UNKNOT_LOG_LEVEL="debug", UNKNOT_ACCESS_LOG="1")
    subprocess.run([str(BIN / "unknot"), "init"], env=env, check=True, capture_output=True)
    create_therapist(env, "logs@clinic.example", "Logs", PASSWORD)
    log = tmp_path / "server.log"
    url = f"http://127.0.0.1:{env['UNKNOT_PORT']}"
    with log.open("wb") as sink, contextlib.ExitStack() as stack:
        process = subprocess.Popen([str(BIN / "unknot"), "serve"], env=env, cwd=ROOT, stdout=sink, stderr=sink)
        secrets: dict[str, str] = {"password": PASSWORD}
        bodies: list[str] = []
        try:
            assert answers(url, process), log.read_text()
            therapist = stack.enter_context(httpx.Client(base_url=url, timeout=10))
            r = therapist.post("/api/v1/auth/login", json={"email": "logs@clinic.example", "password": PASSWORD})
            secrets["session"] = therapist.cookies["unknot_session"]
            secrets["csrf"] = r.json()["csrf_token"]
            therapist.headers["x-csrf-token"] = secrets["csrf"]
            pid = therapist.post("/api/v1/patients", json={"display_name": "Lena", "timezone": "UTC"}).json()["id"]
            treated = [{"muscle": "scalenes", "side": "left"}]
            therapist.post(f"/api/v1/patients/{pid}/plans", json={"treated": treated, "treated_on": "2026-11-20"})
            secrets["invite"] = therapist.post(f"/api/v1/patients/{pid}/invites").json()["code"]
            joined = httpx.post(f"{url}/api/v1/patient/join", json={"code": secrets["invite"]})
            secrets["device_token"] = joined.json()["token"]
            phone = stack.enter_context(
                httpx.Client(base_url=url, timeout=10, headers={"authorization": f"Bearer {secrets['device_token']}"})
            )
            key = ec.generate_private_key(ec.SECP256R1())
            p256dh = _b64(
                key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
            )
            auth = _b64(os.urandom(16))
            endpoint = f"http://127.0.0.1:1/push/{uuid.uuid4().hex}"
            secrets |= {"push_endpoint": endpoint, "p256dh": p256dh, "push_auth": auth}
            phone.put(
                "/api/v1/patient/push/subscriptions",
                json={"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}},
            )
            phone.post(
                "/api/v1/patient/sync",
                json={
                    "completions": [
                        {
                            "id": str(uuid.uuid4()),
                            "exercise_id": "neck-side-bend-stretch",
                            "on_date": "2026-11-21",
                            "slot": "evening",
                            "done_at": dt.datetime.now(dt.UTC).isoformat(),
                            "note": "felt fine",
                        }
                    ]
                },
            )
            phone.post("/api/v1/patient/push/test")
            # Failures that carry secrets in the request: their answers must not echo them.
            bodies.append(httpx.post(f"{url}/api/v1/patient/join", json={"code": secrets["invite"]}).text)
            bodies.append(
                httpx.get(
                    f"{url}/api/v1/patient/me", headers={"authorization": f"Bearer {secrets['device_token']}x"}
                ).text
            )
            bodies.append(
                httpx.post(
                    f"{url}/api/v1/auth/login", json={"email": "logs@clinic.example", "password": PASSWORD + "!"}
                ).text
            )
            bodies.append(
                phone.put(
                    "/api/v1/patient/push/subscriptions",
                    json={"endpoint": endpoint, "keys": {"p256dh": "x" + p256dh, "auth": auth}},
                ).text
            )
            therapist.post("/api/v1/auth/logout")
        finally:
            process.terminate()
            process.wait(10)
    vapid = (tmp_path / "vapid_private.pem").read_text()
    secrets["vapid_private_key"] = "".join(vapid.strip().splitlines()[1:-1])[:40]
    text = log.read_text(errors="replace")
    # The access log saw the flow, so the search below covers every request of it.
    assert "/api/v1/patient/join" in text
    assert "/api/v1/patient/push/subscriptions" in text
    for name, value in secrets.items():
        assert value not in text, f"{name} appears in the server log"
        for body in bodies:
            assert value not in body, f"{name} appears in an error body"
    assert not re.search(r"[A-Za-z0-9_-]{43}", "".join(bodies)), "something token-shaped is in an error body"
