"""SQLite through aiosqlite: one writer, a few readers, WAL.

All writes go through one connection under a lock, so SQLite never sees two
writers fight; readers use their own connections, which WAL lets run beside it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

__all__ = ["Database", "Params", "Row", "Transaction"]

Row = sqlite3.Row
Params = Mapping[str, Any] | Sequence[Any]

# synchronous=FULL: a commit the API has answered for is on disk, surviving a crash
# of the process and of the machine; measured cost is small in WAL mode (notes/toolchain.md).
_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)


class Transaction:
    """Statements inside one write transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows changed."""
        cursor = await self._conn.execute(sql, params)
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for every row in one round trip."""
        await self._conn.executemany(sql, rows)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        """One row or ``None``."""
        async with self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row."""
        async with self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())


class Database:
    """The SQLite database of one app process."""

    def __init__(self, path: Path, readers: int = 2) -> None:
        self.path = path
        self._reader_count = readers
        self._writer: aiosqlite.Connection | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()

    async def _open(self, *, readonly: bool) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        for pragma in _PRAGMAS:
            await conn.execute(pragma)
        if readonly:
            await conn.execute("PRAGMA query_only=ON")
        self._all.append(conn)
        return conn

    async def connect(self) -> None:
        """Open the writer and the reader connections."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._open(readonly=False)
        for _ in range(self._reader_count):
            self._readers.put_nowait(await self._open(readonly=True))

    async def close(self) -> None:
        """Close every connection."""
        for conn in self._all:
            await conn.close()
        self._all.clear()
        self._writer = None

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A write transaction: committed on success, rolled back on any error."""
        assert self._writer is not None, "database is not connected"
        async with self._write_lock:
            # IMMEDIATE takes the write lock now, so no later statement fails with SQLITE_BUSY
            # when another process (a CLI command) writes too.
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._writer)
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        """One row or ``None``, from a reader connection."""
        async with self._reader() as conn, conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row, from a reader connection."""
        async with self._reader() as conn, conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())
