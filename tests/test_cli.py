"""The `unknot` command's answers to bad input and to a database it cannot reach: one clear line, no traceback."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import server.clock
from server.auth.secrets import verify_password
from server.cli import main
from server.clock import CLOCKS_APART, clocks_apart
from server.demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.postgres import Cluster

UNKNOT = Path(sys.executable).parent / "unknot"
PASSWORD = "a long enough password\n"


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data folder the command uses; returns the SQLite file's path."""
    monkeypatch.setenv("UNKNOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(tmp_path / "unknot.db"))
    return tmp_path / "unknot.db"


def closed_port() -> int:
    """A loopback port nothing listens on (bound and let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(env: dict[str, str], seconds: float = 30) -> subprocess.CompletedProcess[str]:
    """``unknot serve`` expected to stop on its own; a server that starts instead fails the test
    after ``seconds`` and is stopped with its workers (its own process group)."""
    process = subprocess.Popen(
        [str(UNKNOT), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("unknot serve started instead of refusing")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def therapists(db: Path) -> list[tuple[str, str]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT email, name FROM therapist").fetchall()


def create(monkeypatch: pytest.MonkeyPatch, email: str, name: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD))
    return main(["create-therapist", email, name, "--password-stdin"])


@pytest.mark.parametrize(
    ("email", "name", "says"),
    [
        ("no-at-sign", "Ann", "email 'no-at-sign' must be an email address"),
        ("ann @clinic.example", "Ann", "must be an email address"),
        ("ann@clinic.example", "   ", "name must not be empty"),
        ("ann@clinic.example", "\u200b\u200d", "name must not be empty"),
        ("ann@clinic.example", "Ann\x07", "no control characters"),
        ("ann@clinic.example", "A" * 101, "at most 100 characters"),
    ],
)
def test_create_therapist_refuses_a_bad_email_or_name_and_stores_nothing(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], email: str, name: str, says: str
) -> None:
    assert create(monkeypatch, email, name) == 2
    assert says in capsys.readouterr().err
    assert therapists(data) == []


def test_create_therapist_keeps_the_name_as_typed_without_stray_spaces(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["init"]) == 0
    assert create(monkeypatch, "Ann@Clinic.example", "  Ann   Lee ") == 0
    assert therapists(data) == [("ann@clinic.example", "Ann Lee")]


def test_account_commands_and_the_demo_refuse_a_database_that_is_not_there(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A mistyped UNKNOT_DATABASE_URL made a new empty file, and the account landed where no server looks.
    for command in (
        ["create-therapist", "ann@clinic.example", "Ann", "--password-stdin"],
        ["set-password", "ann@clinic.example", "--password-stdin"],
        ["close-therapist", "ann@clinic.example"],
        ["demo"],
    ):
        monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD.strip() + "\r\n"))
        assert main(command) == 1, command
        assert capsys.readouterr().err == (
            f"unknot: no database at {data}: check UNKNOT_DATABASE_URL, or run `unknot init` to create it\n"
        )
    assert not data.exists()
    # Once it is there: a password piped from a file saved on Windows is the password typed, without \r.
    assert main(["init"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD.strip() + "\r\n"))
    assert main(["create-therapist", "ann@clinic.example", "Ann", "--password-stdin"]) == 0
    with sqlite3.connect(data) as conn:
        [(stored,)] = conn.execute("SELECT password_hash FROM therapist").fetchall()
    assert asyncio.run(verify_password(stored, PASSWORD.strip()))


def test_set_password_run_without_a_terminal_or_input_says_how_to_give_one(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A script or cron job: no controlling terminal and nothing on standard input.
    assert main(["init"]) == 0
    create(monkeypatch, "ann@clinic.example", "Ann")
    done = subprocess.run(
        [str(UNKNOT), "set-password", "ann@clinic.example"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "no password given" in done.stderr
    assert "--password-stdin" in done.stderr
    assert "Traceback" not in done.stderr


def test_init_on_a_path_that_cannot_hold_a_database_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(tmp_path / "a-file" / "unknot.db"))
    assert main(["init"]) == 1
    assert f"cannot open {tmp_path / 'a-file' / 'unknot.db'}" in capsys.readouterr().err


def test_a_folder_given_for_the_database_or_a_file_for_the_content_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Both ended in a Python traceback (an aiosqlite thread's, NotADirectoryError).
    monkeypatch.setenv("UNKNOT_DATABASE_URL", str(tmp_path))
    with pytest.raises(SystemExit) as stopped:
        main(["init"])
    assert str(stopped.value) == f"unknot: UNKNOT_DATABASE_URL {tmp_path} is a folder; give the database file's path"
    (tmp_path / "a-file").write_text("not a folder")
    assert main(["plans-check", str(tmp_path / "a-file")]) == 1
    assert (
        capsys.readouterr().err
        == f"error: {tmp_path / 'a-file'}: folder: Not a directory\n1 problem(s) in {tmp_path / 'a-file'}\n"
    )


def test_init_on_a_file_that_is_not_a_database_says_so_and_leaves_it_alone(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data.write_bytes(b"these are someone's notes, not SQLite " * 200)
    before = data.read_bytes()
    assert main(["init"]) == 1
    assert "file is not a database" in capsys.readouterr().err
    assert data.read_bytes() == before


def test_an_unreachable_postgresql_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://unknot:s3cret-pw@127.0.0.1:{closed_port()}/unknot"
    monkeypatch.setenv("UNKNOT_DATABASE_URL", url)
    assert main(["init"]) == 1
    err = capsys.readouterr().err
    assert f"cannot connect to postgresql://unknot@127.0.0.1:{url.split(':')[3]}" in err
    assert "s3cret-pw" not in err


def test_migrate_db_to_an_unreachable_target_is_one_line_without_the_password(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init"]) == 0
    target = f"postgresql://unknot:s3cret-pw@127.0.0.1:{closed_port()}/unknot"
    assert main(["migrate-db", "--from", str(data), "--to", target]) == 1
    out = capsys.readouterr()
    assert "cannot connect to postgresql://unknot@127.0.0.1" in out.err
    assert "s3cret-pw" not in out.out + out.err


def test_migrate_db_from_a_file_that_is_not_there_says_so_before_copying_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It printed "copying ... in one transaction" first, as if the copy had begun.
    missing = tmp_path / "unknot.db"
    assert main(["migrate-db", "--from", str(missing), "--to", f"postgresql://u@127.0.0.1:{closed_port()}/x"]) == 1
    assert capsys.readouterr() == ("", f"unknot: {missing}: no such file\n")
    assert list(tmp_path.iterdir()) == []


def test_serve_with_an_unreachable_database_stops_at_once_with_the_reason(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "UNKNOT_DATA_DIR": str(tmp_path),
        "UNKNOT_DATABASE_URL": f"postgresql://unknot@127.0.0.1:{closed_port()}/unknot",
        "UNKNOT_PORT": str(closed_port()),
    }
    done = serve(env)
    assert done.returncode == 1
    assert "cannot connect to postgresql://unknot@127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr


def test_backup_to_a_place_that_cannot_hold_it_says_so_and_leaves_nothing(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init"]) == 0
    (tmp_path / "a-file").write_text("not a folder")
    assert main(["backup", str(tmp_path / "a-file" / "copy.db")]) == 1
    assert f"cannot write {tmp_path / 'a-file' / 'copy.db'}" in capsys.readouterr().err
    readonly = tmp_path / "read-only"
    readonly.mkdir(mode=0o500)
    said = f"cannot write {readonly / 'copy.db'}: the folder {readonly} is not writable by this user"
    if os.access(readonly, os.W_OK):  # root writes anywhere: a folder it cannot write needs another way
        readonly, said = Path("/proc"), "cannot copy"
    assert main(["backup", str(readonly / "copy.db")]) == 1
    assert said in capsys.readouterr().err
    assert not list(readonly.glob("copy.db*"))


def test_serve_on_a_database_file_that_is_not_there_creates_nothing_and_says_how(
    data: Path, no_server: type[NoServer], capsys: pytest.CaptureFixture[str]
) -> None:
    # A mistyped UNKNOT_DATABASE_URL would otherwise start an empty clinic.
    assert main(["vapid-keys"]) == 0
    capsys.readouterr()
    assert main(["serve"]) == 1
    assert not no_server.started
    assert not data.exists()
    assert capsys.readouterr().err == (
        f"unknot: no database at {data}: check UNKNOT_DATABASE_URL, or run `unknot init` to create it\n"
    )
    assert main(["init"]) == 0
    assert main(["serve"]) == 0
    assert no_server.started


def test_serve_refuses_fewer_than_one_worker(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--workers", "0"])
    assert exit_.value.code == 2
    assert "--workers: must be a whole number of at least 1, not '0'" in capsys.readouterr().err


def test_serve_on_a_port_another_server_listens_on_refuses_instead_of_sharing_it(tmp_path: Path) -> None:
    # Granian listens with SO_REUSEPORT: without a check, a second server (an old version, another
    # clinic's database) would start beside the first and take half of its requests.
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        env = {
            "PATH": "/usr/bin:/bin",
            "UNKNOT_DATA_DIR": str(tmp_path),
            "UNKNOT_DATABASE_URL": str(tmp_path / "unknot.db"),
            "UNKNOT_PORT": str(port),
        }
        done = serve(env)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in done.stderr
    assert "UNKNOT_PORT" in done.stderr


def test_serve_on_an_address_this_machine_does_not_have_says_so(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "UNKNOT_DATA_DIR": str(tmp_path),
        "UNKNOT_DATABASE_URL": str(tmp_path / "unknot.db"),
        "UNKNOT_HOST": "203.0.113.7",  # TEST-NET-3: documentation only, never this machine's
    }
    done = serve(env)
    assert done.returncode == 1
    assert "cannot listen on 203.0.113.7:8000: Cannot assign requested address" in done.stderr
    assert "UNKNOT_HOST" in done.stderr
    assert "Traceback" not in done.stderr


class NoServer:
    """Stands in for Granian: a check that let ``serve`` through would start it."""

    started = False

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def serve(self) -> None:
        NoServer.started = True


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> type[NoServer]:
    import granian

    NoServer.started = False
    monkeypatch.setattr(granian, "Granian", NoServer)
    return NoServer


EXPOSED = [
    ({}, None),
    ({"UNKNOT_HOST": "0.0.0.0"}, "it listens on 0.0.0.0 (UNKNOT_HOST)"),
    ({"UNKNOT_PUBLIC_URL": "https://a.example"}, "patients reach it at https://a.example (UNKNOT_PUBLIC_URL)"),
    ({"UNKNOT_PUBLIC_URL": "http://localhost:8000"}, None),
    (
        {
            "UNKNOT_HOST": "0.0.0.0",
            "UNKNOT_ENV": "production",
            "UNKNOT_CLINIC_PHONE": "+34 910 000 000",
            "UNKNOT_PUBLIC_URL": "https://clinic.example.org",
        },
        None,
    ),
]


def serve_warnings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_server: type[NoServer], env: dict[str, str]
) -> str:
    """What ``unknot serve`` prints on stderr with ``env`` set, up to where Granian would start."""
    assert main(["init"]) == 0
    monkeypatch.setenv("UNKNOT_PORT", str(closed_port()))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["serve"]) == 0
    assert no_server.started
    return capsys.readouterr().err


@pytest.mark.parametrize(("env", "said"), EXPOSED)
def test_serve_warns_when_a_development_server_is_reachable_from_other_machines(
    data: Path,
    no_server: type[NoServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    said: str | None,
) -> None:
    # Development takes push subscriptions to local addresses and sends cookies without Secure.
    err = serve_warnings(monkeypatch, capsys, no_server, env)
    if said is None:
        assert "warning" not in err
    else:
        assert err == (
            f"unknot: warning: UNKNOT_ENV is development but {said}; "
            "set UNKNOT_ENV=production on a server other machines reach\n"
        )


PRODUCTION = {"UNKNOT_ENV": "production", "UNKNOT_CLINIC_PHONE": "+34 910 000 000"}


@pytest.mark.parametrize(
    ("env", "said"),
    [
        (
            PRODUCTION,
            "invite links and QR codes point at http://127.0.0.1:{port}, which no phone reaches; set "
            "UNKNOT_PUBLIC_URL to the https:// address patients open",
        ),
        (
            {**PRODUCTION, "UNKNOT_PUBLIC_URL": "http://192.168.1.20:8000"},
            "UNKNOT_PUBLIC_URL http://192.168.1.20:8000 is not https: browsers keep the console's sign-in cookie "
            "(Secure in production) and let the patient app work offline and get reminders only over https",
        ),
        ({**PRODUCTION, "UNKNOT_PUBLIC_URL": "https://clinic.example.org"}, None),
        ({"UNKNOT_PUBLIC_URL": "http://localhost:8000"}, None),  # development: a phone on this machine's own browser
    ],
)
def test_serve_warns_in_production_when_phones_cannot_use_the_public_address(
    data: Path,
    no_server: type[NoServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    said: str | None,
) -> None:
    # Without UNKNOT_PUBLIC_URL every QR code handed out pointed at 127.0.0.1; over plain http the
    # console could not keep its sign-in and the app neither installed nor got reminders.
    monkeypatch.delenv("UNKNOT_PUBLIC_URL", raising=False)
    err = serve_warnings(monkeypatch, capsys, no_server, env)
    if said is None:
        assert "warning" not in err, err
    else:
        assert err == f"unknot: warning: {said.format(port=os.environ['UNKNOT_PORT'])}\n"


@pytest.mark.parametrize(
    ("env", "warned"),
    [
        ({"UNKNOT_ENV": "production"}, True),
        ({"UNKNOT_ENV": "production", "UNKNOT_CLINIC_PHONE": "+34 910 000 000"}, False),
        ({}, False),  # development and the demo: no clinic to call
    ],
)
def test_serve_warns_in_production_when_patients_get_no_number_to_call(
    data: Path,
    no_server: type[NoServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    warned: bool,
) -> None:
    err = serve_warnings(monkeypatch, capsys, no_server, env)
    said = (
        "unknot: warning: UNKNOT_CLINIC_PHONE is not set: the printed plan and the app's warning signs tell "
        "patients to contact the clinic but give no number to call\n"
    )
    assert (said in err) is warned, err


@pytest.mark.parametrize(
    ("env", "reset", "warned"),
    [("production", False, True), ("production", True, False), ("development", False, False)],
)
def test_serve_warns_in_production_while_the_demo_account_has_its_published_password(
    data: Path,
    no_server: type[NoServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: str,
    reset: bool,
    warned: bool,
) -> None:
    # `make run` loads the demo: a clinic's server set up with it kept an account anyone could sign in to.
    assert main(["init"]) == 0
    assert main(["demo"]) == 0
    if reset:
        monkeypatch.setattr(sys, "stdin", io.StringIO("not-the-published-one\n"))
        assert main(["set-password", "demo@unknot.example", "--password-stdin"]) == 0
    err = serve_warnings(monkeypatch, capsys, no_server, {"UNKNOT_ENV": env, "UNKNOT_CLINIC_PHONE": "+34 910 000 000"})
    said = (
        "unknot: warning: anyone can sign in to the demo account demo@unknot.example: its password is published "
        "in the README; give it another with `unknot set-password demo@unknot.example`\n"
    )
    assert (said in err) is warned, err


CLOCKS = [
    (None, None),  # SQLite: the database is on this machine
    (dt.timedelta(seconds=4), None),
    (dt.timedelta(seconds=-5), None),
    (dt.timedelta(minutes=10), "this machine's clock is 600 s ahead of the database server's; "),
    (dt.timedelta(seconds=-30.4), "this machine's clock is 30 s behind the database server's; "),
]


@pytest.mark.parametrize(("ahead", "said"), CLOCKS)
def test_clocks_seconds_apart_are_named_and_milliseconds_are_not(ahead: dt.timedelta | None, said: str | None) -> None:
    apart = clocks_apart(ahead)
    if said is None:
        assert apart is None
    else:
        assert apart is not None
        assert apart.startswith(said), apart
        assert apart.endswith("may send one twice: synchronise this machine's clock (NTP)")


@pytest.mark.parametrize("tolerance", [CLOCKS_APART, dt.timedelta(0)])
def test_serve_on_postgresql_compares_this_machines_clock_with_the_database_servers(
    data: Path,
    pg_cluster: Cluster,
    no_server: type[NoServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tolerance: dt.timedelta,
) -> None:
    # Each process judges by its own clock when a reminder is due and when a claim on one ran out.
    monkeypatch.setenv("UNKNOT_DATABASE_URL", pg_cluster.create_database())
    monkeypatch.setenv("UNKNOT_PORT", str(closed_port()))
    # Clocks on one machine are the same clock: with no tolerance at all, the time a round trip
    # takes is enough to be named, which shows the comparison is made and said.
    monkeypatch.setattr(server.clock, "CLOCKS_APART", tolerance)
    assert main(["serve"]) == 0
    assert no_server.started
    err = capsys.readouterr().err
    if tolerance:
        assert "clock" not in err
    else:
        assert re.fullmatch(
            r"unknot: warning: this machine's clock is 0 s (ahead of|behind) the database server's; app processes "
            r"whose clocks differ send reminders early or late, and may send one twice: synchronise this "
            r"machine's clock \(NTP\)\n",
            err,
        ), err


def test_serve_with_a_key_file_others_can_read_stops_with_one_line(
    data: Path, no_server: type[NoServer], capsys: pytest.CaptureFixture[str]
) -> None:
    # A key copied to a second host (README, Scaling out) often arrives with mode 644.
    assert main(["init"]) == 0
    assert main(["vapid-keys"]) == 0
    capsys.readouterr()
    key = data.parent / "vapid_private.pem"
    key.chmod(0o644)
    assert main(["serve"]) == 1
    assert not no_server.started
    err = capsys.readouterr().err
    assert f"is readable by others (mode 644); run: chmod 600 {key}" in err
    assert err.count("\n") == 1


def test_serve_does_not_make_a_new_key_pair_while_phones_are_subscribed_with_the_old_one(
    data: Path, no_server: type[NoServer], capsys: pytest.CaptureFixture[str]
) -> None:
    # Restored onto a new machine without the key, or started from another working folder: a new
    # key pair would leave every subscribed phone without reminders until its app is opened.
    assert main(["init"]) == 0
    with sqlite3.connect(data) as conn:
        conn.executescript(
            "INSERT INTO therapist (id, email, name, password_hash, created_at) VALUES (1, 'a@b.c', 'T', 'h', 'now');"
            "INSERT INTO patient (id, therapist_id, display_name, timezone, locale, created_at) "
            "VALUES (1, 1, 'P', 'UTC', 'en', 'now');"
            "INSERT INTO patient_device (id, token_hash, patient_id, label, created_at, last_seen_at) "
            "VALUES (1, 't', 1, 'phone', 'now', 'now');"
            "INSERT INTO push_subscription (patient_id, device_id, endpoint, p256dh, auth, created_at, updated_at) "
            "VALUES (1, 1, 'https://push.example/1', 'k', 'a', 'now', 'now');"
        )
    capsys.readouterr()
    assert main(["serve"]) == 1
    assert not no_server.started
    assert not (data.parent / "vapid_private.pem").exists()
    err = capsys.readouterr().err
    assert "but 1 phone(s) subscribed with one: restore vapid_private.pem there from your backup" in err
    assert main(["vapid-keys"]) == 0  # the way out when the old key is lost
    assert main(["serve"]) == 0
    assert no_server.started


def test_serve_without_the_patient_app_names_the_folder(
    data: Path, no_server: type[NoServer], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNKNOT_PWA_DIR", str(data.parent / "no-such-folder"))
    assert main(["serve"]) == 1
    assert not no_server.started
    assert f"UNKNOT_PWA_DIR {data.parent / 'no-such-folder'}: no index.html here" in capsys.readouterr().err


def test_vapid_keys_in_a_folder_that_cannot_be_made_says_so(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (data.parent / "a-file").write_text("not a folder")
    monkeypatch.setenv("UNKNOT_DATA_DIR", str(data.parent / "a-file" / "keys"))
    assert main(["vapid-keys"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"unknot: UNKNOT_DATA_DIR {data.parent / 'a-file' / 'keys'}: ")
    assert "Not a directory" in err


def test_output_cut_short_by_the_reader_is_no_traceback() -> None:
    # `unknot plans-check | head -1`: the reader goes away before the command has written.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as a shell runs it: stdout buffered
    process = subprocess.Popen([str(UNKNOT), "plans-check"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert process.stdout is not None
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert b"Traceback" not in err
    assert b"BrokenPipeError" not in err


def test_demo_loads_once_and_each_run_gives_a_fresh_invite(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    capsys.readouterr()
    assert main(["demo"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("demo data loaded\n")
    assert f"(sign in as {DEMO_EMAIL} / {DEMO_PASSWORD})" in first
    assert main(["demo"]) == 0
    again = capsys.readouterr().out
    assert again.startswith("demo data already present\n")
    codes = [re.search(r"code (\S+)", out).group(1) for out in (first, again)]  # type: ignore[union-attr]
    assert codes[0] != codes[1]
    with sqlite3.connect(data) as conn:
        assert conn.execute("SELECT count(*) FROM patient").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM patient_invite").fetchone() == (2,)


def test_demo_is_refused_in_production_and_creates_nothing(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNKNOT_ENV", "production")
    assert main(["demo"]) == 2
    assert "not loaded with UNKNOT_ENV=production" in capsys.readouterr().err
    assert therapists(data) == []


def test_demo_after_the_account_changed_never_prints_a_password_that_no_longer_works(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init"]) == 0
    assert main(["demo"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("the clinic's own password\n"))
    assert main(["set-password", DEMO_EMAIL, "--password-stdin"]) == 0
    capsys.readouterr()
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert DEMO_PASSWORD not in out
    assert f"sign in as {DEMO_EMAIL} with the password set for it" in out

    # The demo account handed its patients on and was closed: no invite to make, and no traceback.
    assert create(monkeypatch, "bo@clinic.example", "Bo") == 0
    assert main(["transfer-patients", DEMO_EMAIL, "bo@clinic.example"]) == 0
    assert main(["close-therapist", DEMO_EMAIL]) == 0
    capsys.readouterr()
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert f"sign in as {DEMO_EMAIL}: the account is closed" in out
    assert "patient invite (Alex Demo): none (Alex Demo is archived, deleted or with another therapist)" in out
