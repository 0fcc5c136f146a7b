"""Shared fixtures: the real app on a real database, on both backends.

``settings`` is parametrised over ``sqlite`` (a file in a temporary folder) and
``postgresql`` (a fresh database, copied from a migrated template, in one throwaway
cluster per test session; see tests/postgres.py), so every test that touches the
database runs on both. A test about one backend only says so with
``@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.catalog import Catalog, load_catalog
from server.clock import Clock
from server.db import open_database
from server.push import Scheduler, load_or_create
from server.settings import PROJECT_ROOT, Settings
from tests.postgres import Cluster
from tests.pushservice import PushService

# The content under test: the shipped plans/ unless UNKNOT_PLANS_DIR points elsewhere.
PLANS = Path(os.environ.get("UNKNOT_PLANS_DIR", PROJECT_ROOT / "plans"))


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(PLANS)


BACKENDS = ["sqlite", "postgresql"]
_cluster: Cluster | None = None


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """The session's PostgreSQL server, started on first use. It must start: no skip."""
    global _cluster
    cluster = Cluster()
    try:
        _cluster = cluster.start()
        yield cluster
    finally:
        _cluster = None
        cluster.stop()


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database with no tables at all (not migrated), on each backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "empty.db")
        return
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    url = cluster.create_database(migrated=False)
    yield url
    cluster.drop_database(url)


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    cluster: Cluster | None = None
    if request.param == "sqlite":
        url = str(tmp_path / "unknot.db")
    else:
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database()
    yield Settings.from_env(
        {},
        database_url=url,
        data_dir=str(tmp_path / "data"),
        plans_dir=str(PLANS),
        scheduler=False,
    )
    if cluster is not None:
        cluster.drop_database(url)


def rows(settings: Settings, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement with ``:name`` parameters directly on the test's database, either backend."""
    if settings.database_backend == "sqlite":
        with sqlite3.connect(settings.sqlite_path) as conn:
            return [tuple(r) for r in conn.execute(sql, params or {}).fetchall()]
    assert _cluster is not None

    async def fetch() -> list[tuple[Any, ...]]:
        import asyncpg

        from server.db.postgres import translate

        text, names = translate(sql)
        conn = await asyncpg.connect(settings.database_url)
        try:
            return [tuple(r) for r in await conn.fetch(text, *((params or {})[n] for n in names))]
        finally:
            await conn.close()

    return _cluster.call(fetch())


def tables(settings: Settings) -> list[str]:
    """The database's tables (either backend)."""
    if settings.database_backend == "sqlite":
        return [r[0] for r in rows(settings, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return [
        r[0]
        for r in rows(
            settings, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        )
    ]


def columns(settings: Settings, table: str) -> list[str]:
    """The column names of ``table`` (either backend)."""
    if settings.database_backend == "sqlite":
        return [r[1] for r in rows(settings, f"PRAGMA table_info({table})")]
    return [
        r[0]
        for r in rows(
            settings,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = :t ORDER BY ordinal_position",
            {"t": table},
        )
    ]


_portals: dict[int, Any] = {}
_enter, _portal = AsyncTestClient.__aenter__, AsyncTestClient.portal


async def _enter_and_share(self: AsyncTestClient[Litestar]) -> AsyncTestClient[Litestar]:
    await _enter(self)
    _portals[id(self.app)] = self.blocking_portal
    self.exit_stack.callback(_portals.pop, id(self.app), None)
    return self


@contextmanager
def _shared_portal(self: AsyncTestClient[Litestar]) -> Iterator[Any]:
    shared = _portals.get(id(self.app))
    if shared is not None and not hasattr(self, "blocking_portal"):
        yield shared
    else:
        with _portal(self) as portal:
            yield portal


@pytest.fixture(autouse=True)
def one_loop_per_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test client of a running app sends its requests on the loop of the app's lifespan.

    A client that was not entered (a second phone, a stranger) would otherwise run each
    request on a fresh event loop of its own. The SQLite backend does not mind; an asyncpg
    pool belongs to the loop that opened it, as in a real server, where one loop serves all.
    """
    monkeypatch.setattr(AsyncTestClient, "__aenter__", _enter_and_share)
    monkeypatch.setattr(AsyncTestClient, "portal", _shared_portal)


_http_clients: list[httpx.Client] = []


def http_client(**options: Any) -> httpx.Client:
    """A client of a server process, closed when the test ends (its sockets with it)."""
    client = httpx.Client(**options)
    _http_clients.append(client)
    return client


@pytest.fixture(autouse=True)
def close_http_clients() -> Iterator[None]:
    yield
    while _http_clients:
        _http_clients.pop().close()


@pytest.fixture
def clock() -> Clock:
    """The app's clock: real time, unless a module fixes it."""
    return Clock()


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Litestar:
    return create_app(settings, clock)


@pytest.fixture
def service() -> Iterator[PushService]:
    """A local push service that decrypts and verifies what it receives."""
    with PushService() as running:
        yield running


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.fixture
async def scheduler(
    client: AsyncTestClient[Litestar], settings: Settings, catalog: Catalog
) -> AsyncIterator[Scheduler]:
    """A scheduler on the test's loop with its own connection, like a second app process (``client``
    has migrated the database and made the keys); its clock is the test module's ``clock``."""
    async with open_database(settings) as db:
        running = Scheduler(db, catalog, settings, load_or_create(settings.data_dir))
        yield running
        await running.stop()


PASSWORD = "correct horse battery staple"


_password_hash: list[str] = []


async def make_therapist(settings: Settings, email: str, name: str = "Therapist") -> int:
    """Create an account the way `unknot create-therapist` does (tests/test_cli.py runs the command).

    PASSWORD's argon2id hash is made once per test run: each hash takes about 0.1 s, and hundreds of
    tests make an account. Signing in still verifies it the real way.
    """
    from server.auth.secrets import hash_password
    from server.db import open_database, therapists
    from server.db.migrate import migrate

    if not _password_hash:
        _password_hash.append(await hash_password(PASSWORD))
    async with open_database(settings) as db:
        await migrate(db)
        async with db.transaction() as tx:
            return await therapists.create_therapist(tx, email, name, _password_hash[0], Clock().now())


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
