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
