"""Shared fixtures: the real app on a real SQLite file in a temporary folder."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.catalog import Catalog, load_catalog
from server.settings import PROJECT_ROOT, Settings

# The content under test: the shipped plans/ unless UNKNOT_PLANS_DIR points elsewhere.
PLANS = Path(os.environ.get("UNKNOT_PLANS_DIR", PROJECT_ROOT / "plans"))


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(PLANS)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {},
        database_url=str(tmp_path / "unknot.db"),
        data_dir=str(tmp_path / "data"),
        plans_dir=str(PLANS),
        scheduler=False,
    )


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as client:
        yield client


PASSWORD = "correct horse battery staple"


async def make_therapist(settings: Settings, email: str, name: str = "Therapist") -> int:
    """Create an account the way `unknot create-therapist` does."""
    from server.cli import _create_therapist

    return await _create_therapist(settings, email, name, PASSWORD)


async def sign_in(client: AsyncTestClient[Litestar], email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Sign in through the API; the client then carries the cookie and the CSRF header."""
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    client.headers["x-csrf-token"] = r.json()["csrf_token"]
    return r.json()


@pytest.fixture
async def therapist(client: AsyncTestClient[Litestar], settings: Settings) -> AsyncTestClient[Litestar]:
    """The shared client, signed in as a therapist."""
    await make_therapist(settings, "ana@clinic.example", "Ana")
    await sign_in(client, "ana@clinic.example")
    return client


@pytest.fixture
def other_client(app: Litestar, client: AsyncTestClient[Litestar]) -> AsyncTestClient[Litestar]:
    """A second browser or phone against the same running app (its own cookies and headers)."""
    return AsyncTestClient(app=app)
