"""Shared pieces of the benchmarks: a real server in a child process, wrk, and seeding through the API."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSWORD = "bench password 2026"
# What the patient's browser (Chromium) sends with every request: it always takes gzip.
BROWSER_HEADERS = {"Accept-Encoding": "gzip, deflate, br, zstd"}


@dataclass(frozen=True)
class Goal:
    """A figure a benchmark promises, and whether this run's measurement met it."""

    name: str
    measured: str
    met: bool


def report(goals: list[Goal]) -> int:
    """Print every goal with its verdict; the exit status is 1 when any was missed."""
    print("== goals")
    for goal in goals:
        print(f"  {'met    ' if goal.met else 'NOT MET'}  {goal.name}: {goal.measured}")
    missed = sum(not goal.met for goal in goals)
    print(f"  {len(goals) - missed} of {len(goals)} met" + (f"; {missed} not met" if missed else ""))
    return 1 if missed else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running app process."""

    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def rss_kib(self) -> int:
        """Resident memory of the server and its children."""
        total = 0
        pids = [self.process.pid]
        with contextlib.suppress(FileNotFoundError):
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
            pids += [int(c) for c in children]
        for pid in pids:
            with contextlib.suppress(FileNotFoundError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total


def server_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """Environment for an app process on ``port`` with its data in ``data_dir``."""
    return {
        **os.environ,
        "UNKNOT_DATABASE_URL": str(data_dir / "unknot.db"),
        "UNKNOT_DATA_DIR": str(data_dir),
        "UNKNOT_PORT": str(port),
        "UNKNOT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "UNKNOT_LOG_LEVEL": "warning",
        "UNKNOT_SCHEDULER": "0",
        **extra,
    }


def answers(url: str, process: subprocess.Popen[bytes], path: str = "/api/v1/ping", seconds: float = 30) -> bool:
    """Whether the server started as ``process`` answers ``path`` with 200 within ``seconds``
    (false as soon as the process has exited)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}{path}", timeout=1).status_code == 200:
                return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def start_killable(env: dict[str, str], path: str = "/api/v1/ping") -> subprocess.Popen[bytes]:
    """``unknot serve`` in a session of its own (so SIGKILL to the group takes the server and its
    worker at once, as a crash would), once it answers ``path``; raises when it does not start."""
    process = subprocess.Popen(
        [str(BIN / "unknot"), "serve"],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if answers(f"http://127.0.0.1:{env['UNKNOT_PORT']}", process, path):
        return process
    process.kill()
    raise RuntimeError("unknot serve did not start")


@contextlib.contextmanager
def serve(env: dict[str, str], server: str = "granian", workers: int = 1) -> Iterator[Server]:
    """Start the app (``unknot serve``, or uvicorn for comparison) and wait until it answers."""
    port = env["UNKNOT_PORT"]
    if server == "granian":
        cmd = [str(BIN / "unknot"), "serve", "--workers", str(workers)]
    else:
        cmd = [
            str(BIN / "uvicorn"),
            "--factory",
            "server.app:create_app",
            "--port",
            port,
            "--no-access-log",
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ]
    subprocess.run([str(BIN / "unknot"), "init"], env=env, check=True, capture_output=True)
    process = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        if not answers(url, process):
            raise RuntimeError(f"server did not start: {process.stderr.read().decode() if process.stderr else ''}")
        yield Server(url, env, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


@dataclass
class Load:
    """What wrk measured."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    url: str,
    *,
    connections: int = 64,
    seconds: int = 10,
    script: Path | None = None,
    headers: dict[str, str] | None = None,
) -> Load:
    """Run wrk against ``url``, asking as a browser does, and parse its summary."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: run `make system-deps`")
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for name, value in {**BROWSER_HEADERS, **(headers or {})}.items():
        cmd += ["-H", f"{name}: {value}"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(x) for x in m.groups())
    return Load(rps, p50, p99, errors)


def _cpu_seconds_by_program() -> dict[str, float]:
    tick = os.sysconf("SC_CLK_TCK")
    seconds: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")].split()[0]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds[name] = seconds.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return seconds


@contextlib.contextmanager
def cpu_use(*programs: str) -> Iterator[dict[str, float]]:
    """Cores each named program (by process name) kept busy meanwhile; ``wrk`` counts this process's
    finished children, ``idle`` is what the machine had left."""
    before, children, wall = _cpu_seconds_by_program(), os.times(), time.monotonic()
    idle_before = float(Path("/proc/stat").read_text().split()[4])
    result: dict[str, float] = {}
    yield result
    after, children_after, elapsed = _cpu_seconds_by_program(), os.times(), time.monotonic() - wall
    idle = (float(Path("/proc/stat").read_text().split()[4]) - idle_before) / os.sysconf("SC_CLK_TCK")
    for program in programs:
        result[program] = sum(v - before.get(k, 0.0) for k, v in after.items() if k.startswith(program)) / elapsed
    waited = children_after.children_user + children_after.children_system
    result["wrk"] = (waited - children.children_user - children.children_system) / elapsed
    result["idle"] = idle / elapsed


def create_therapist(env: dict[str, str], email: str, name: str, password: str = PASSWORD) -> None:
    """``unknot create-therapist`` against the database ``env`` names."""
    subprocess.run(
        [str(BIN / "unknot"), "create-therapist", email, name, "--password-stdin"],
        input=password.encode(),
        env=env,
        check=True,
        capture_output=True,
    )


def signed_in(url: str, email: str, password: str = PASSWORD, timeout: float = 30) -> httpx.Client:
    """A client signed in as the therapist, sending the CSRF header on every request."""
    client = httpx.Client(base_url=url, timeout=timeout)
    r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    r.raise_for_status()
    client.headers["x-csrf-token"] = r.json()["csrf_token"]
    return client


def seed_patient(server: Server, email: str = "bench@clinic.example") -> tuple[httpx.Client, str]:
    """A therapist, a patient with an assigned plan, and a joined device; returns (therapist client, token)."""
    create_therapist(server.env, email, "Bench")
    therapist = signed_in(server.url, email)
    patient = therapist.post("/api/v1/patients", json={"display_name": "Bench Patient", "timezone": "Europe/Berlin"})
    pid = patient.json()["id"]
    treated = [
        {"muscle": "upper-trapezius", "side": "left"},
        {"muscle": "levator-scapulae", "side": "right"},
        {"muscle": "suboccipitals", "side": "both"},
    ]
    import datetime as dt

    today = dt.date.today()
    therapist.post(
        f"/api/v1/patients/{pid}/plans",
        json={"treated": treated, "treated_on": (today - dt.timedelta(days=9)).isoformat()},
    ).raise_for_status()
    code = therapist.post(f"/api/v1/patients/{pid}/invites").json()["code"]
    token = httpx.post(f"{server.url}/api/v1/patient/join", json={"code": code}).json()["token"]
    return therapist, token


def temp_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="unknot-bench-")
