"""A throwaway PostgreSQL cluster for the tests: Debian's server in a temporary folder.

``Cluster.start()`` runs initdb in a fresh folder and pg_ctl on a free loopback port with
fsync off (tests only: a crash of the machine may lose the cluster, which is thrown away
anyway). As root, every server command runs as the ``postgres`` user, since PostgreSQL
refuses to run as root. ``stop()`` shuts it down and removes the folder.

Each test gets its own database, copied from a template that is migrated once. The
benchmark starts one with ``fsync=True``: PostgreSQL's defaults, durable commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

__all__ = ["Cluster", "ClusterError", "find_bin"]

T = TypeVar("T")
TEMPLATE = "unknot_template"


class ClusterError(RuntimeError):
    """PostgreSQL could not be started: a test failure, never a skip."""


def find_bin() -> Path:
    """The folder with initdb and pg_ctl (the newest Debian PostgreSQL installed)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise ClusterError("PostgreSQL is not installed: run `make system-deps` (Debian's postgresql package)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One PostgreSQL server for a test session."""

    def __init__(self, *, fsync: bool = False) -> None:
        self.fsync = fsync
        self.bin = find_bin()
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="unknot-pg-"))
        self.data = self.folder / "data"
        self.user = "unknot"
        self._names = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="unknot-pg-admin", daemon=True)
        self._admin: asyncpg.Connection | None = None

    def url(self, database: str = "postgres") -> str:
        """A connection URL for ``database``."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def on_socket(self, url: str) -> str:
        """The database of ``url`` reached through the cluster's Unix socket, as a server on the same machine is."""
        return f"postgresql://{self.user}@/{url.rsplit('/', 1)[1]}?host={self.folder}&port={self.port}"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            log = self.folder / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise ClusterError(f"{' '.join(args[:1])} failed ({result.returncode}): {result.stderr.strip()}\n{tail}")

    def start(self) -> Cluster:
        """initdb, start on a free port, make the migrated template; raises ClusterError when impossible."""
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.folder, pg.pw_uid, pg.pw_gid)
        self.folder.chmod(0o700)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8", "--locale=C.UTF-8")
        options = f"-k {self.folder} -c listen_addresses=127.0.0.1 -p {self.port} -c max_connections=300"
        if not self.fsync:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")
        self._thread.start()
        self.call(self._prepare())
        return self

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the cluster's own admin loop (any thread, any test loop)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(120)

    async def _prepare(self) -> None:
        from server.db.migrate import migrate
        from server.db.postgres import PostgresDatabase

        self._admin = await asyncpg.connect(self.url())
        await self._admin.execute(f"CREATE DATABASE {TEMPLATE}")
        async with PostgresDatabase(self.url(TEMPLATE), max_size=1) as db:
            await migrate(db)

    async def _create(self, name: str, template: str) -> None:
        assert self._admin is not None
        # FILE_COPY: a small template is copied file by file, faster than logging every page.
        await self._admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')

    async def _drop(self, name: str) -> None:
        assert self._admin is not None
        await self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def create_database(self, *, migrated: bool = True) -> str:
        """A fresh database (migrated, or empty); returns its URL."""
        name = f"t{next(self._names)}"
        self.call(self._create(name, TEMPLATE if migrated else "template0"))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database` (closing whatever is still connected)."""
        self.call(self._drop(url.rsplit("/", 1)[1]))

    def end_connections(self, url: str) -> int:
        """End the app's connections to the database of ``url``, as a restart of the server does; how many.

        Called from a test's event loop, it holds that loop until they are gone: the app's pool has
        not yet read that they were ended, and its next statement meets a connection already closed.
        """
        app = "SELECT {} FROM pg_stat_activity WHERE datname = $1 AND application_name = 'unknot'"

        async def terminate() -> int:
            assert self._admin is not None
            name = url.rsplit("/", 1)[1]
            ended = await self._admin.fetchval(app.format("count(pg_terminate_backend(pid))"), name)
            for _ in range(1000):  # pg_terminate_backend only signals them: until they are gone
                if not await self._admin.fetchval(app.format("count(*)"), name):
                    return ended
                await asyncio.sleep(0.01)
            raise ClusterError(f"{ended} connections to {name} were signalled to end and are still there")

        return self.call(terminate())

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        with contextlib.suppress(Exception):
            if self._admin is not None:
                self.call(self._admin.close())
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._loop.is_running():
            self._loop.close()
        with contextlib.suppress(ClusterError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "stop", "-m", "fast", "-w")
        shutil.rmtree(self.folder, ignore_errors=True)
