"""UNKNOT_ACCESS_LOG: one line per request with its method, path and status, as the README says."""

from __future__ import annotations

import logging
from pathlib import Path

from litestar.testing import AsyncTestClient

from server.app import create_app
from server.settings import Settings
from tests.conftest import PLANS


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_each_request_is_one_line_with_method_path_and_status(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {},
        database_url=str(tmp_path / "unknot.db"),
        data_dir=str(tmp_path),
        plans_dir=str(PLANS),
        scheduler=False,
        access_log=True,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        handler = Lines()  # after start-up, which configures the app's loggers
        logging.getLogger("unknot.access").addHandler(handler)
        try:
            assert (await client.get("/api/v1/ping?secret=1")).status_code == 200
            assert (await client.get("/api/v1/patients")).status_code == 401
            assert (await client.post("/api/v1/auth/login", json={"email": "a@b.example"})).status_code == 400
            # Refused by the middleware that identifies the caller, before any route handler.
            r = await client.get("/api/v1/patient/me", headers={"Authorization": "Bearer no-such-device"})
            assert r.status_code == 401
            # A line break or NUL sent %-encoded in the path cannot start a forged line.
            forged = "/api/v1/catalog/exercises/x%0AINFO%20POST%20/api/v1/auth/login%20200%00"
            assert (await client.get(forged)).status_code == 404
        finally:
            logging.getLogger("unknot.access").removeHandler(handler)
    assert handler.lines == [
        "GET /api/v1/ping 200",
        "GET /api/v1/patients 401",
        "POST /api/v1/auth/login 400",
        "GET /api/v1/patient/me 401",
        "GET /api/v1/catalog/exercises/x\\nINFO POST /api/v1/auth/login 200\\x00 404",
    ]


async def test_an_invite_link_whose_hash_was_encoded_is_sent_back_to_the_app_and_its_code_not_logged(
    tmp_path: Path,
) -> None:
    """A link rewriter (a mail or chat service) turned the link's "#" into "%23": the code arrives in
    the path. The patient is sent to the app with it as the fragment, and the log never shows it."""
    settings = Settings.from_env(
        {},
        database_url=str(tmp_path / "unknot.db"),
        data_dir=str(tmp_path),
        plans_dir=str(PLANS),
        scheduler=False,
        access_log=True,
        log_level="debug",
    )
    code = "ABCD-EFGH-JKLM-NPQR"
    async with AsyncTestClient(app=create_app(settings)) as client:
        handler = Lines()  # the app's loggers: unknot.access's lines reach it too
        logging.getLogger("unknot").addHandler(handler)
        try:
            r = await client.get(f"/%23join={code}", follow_redirects=False)
            assert (r.status_code, r.headers["location"]) == (302, f"/#join={code}")
            assert r.headers["cache-control"] == "no-store"
            # A line break in it cannot make a header or a log line of its own.
            r = await client.get("/%23join=A%0D%0ALocation:%20x", follow_redirects=False)
            assert (r.status_code, r.headers["location"]) == (302, "/#join=A%0D%0ALocation:%20x")
            # An ordinary 404 and the app itself are as before.
            assert (await client.get("/join%3DABCD")).status_code == 404
            assert (await client.get("/")).status_code == 200
        finally:
            logging.getLogger("unknot").removeHandler(handler)
    assert not [line for line in handler.lines if code in line or "Location" in line]
    assert handler.lines[:2] == ["GET /#... 302", "GET /#... 302"]
