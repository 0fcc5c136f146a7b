"""The database interface every query module uses, and its SQLite implementation.

Two backends implement :class:`Database`: SQLite (this module, the embedded default) and
PostgreSQL (:mod:`server.db.postgres`). Queries are written once with ``:name``
parameters; where the two dialects must differ, a module keeps both texts side by side
in a :func:`dialects` pair and picks one with ``SQL[db.dialect]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import fcntl
import mmap
import os
import shutil
import sqlite3
import sys
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

__all__ = [
    "LOW_SPACE_BYTES",
    "Database",
    "DatabaseBusy",
    "DatabaseInUse",
    "DatabaseUnavailable",
    "Dialect",
    "DiskFullOnRead",
    "LostWhileCommitting",
    "Memo",
    "Params",
    "Reader",
    "Row",
    "SQLiteDatabase",
    "SQLiteSnapshot",
    "SQLiteTransaction",
    "Transaction",
    "UntilChange",
    "claim_file",
    "create_private",
    "dialects",
    "no_space_left",
]

T = TypeVar("T")
# sqlite3.Row or asyncpg.Record: both index by position and by column name, iterate over
# values and turn into a dict with dict(row).
Row = Any
Params = Mapping[str, Any] | Sequence[Any]
Dialect = Literal["sqlite", "postgresql"]


class DatabaseBusy(Exception):
    """Another process held the write lock past the busy timeout; nothing was written."""


class DatabaseUnavailable(Exception):
    """The database could not be opened or reached; the message says which and why (never a password)."""


class LostWhileCommitting(DatabaseUnavailable):
    """The connection to the database server was lost while a COMMIT was on its way: the transaction
    may have been committed or not, and nothing here can tell which."""


class DiskFullOnRead(sqlite3.OperationalError):
    """SQLite's error for a read that failed because the disk is full (a large sort's temporary
    file, say), with its code and message: raised in its place, so that the answer says a read,
    not a write, was refused; whatever handles SQLite's errors handles it as before."""

    def __init__(self, cause: sqlite3.Error) -> None:
        super().__init__(*cause.args)
        self.sqlite_errorcode = cause.sqlite_errorcode
        self.sqlite_errorname = cause.sqlite_errorname


def dialects(*, sqlite: str, postgresql: str) -> dict[str, str]:
    """One statement in both dialects, kept side by side where it is used."""
    return {"sqlite": sqlite, "postgresql": postgresql}


# synchronous=FULL: a commit the API has answered for is on disk, surviving a crash
# of the process and of the machine; measured cost is small in WAL mode (notes/toolchain.md).
_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    # Health data: an erased patient's rows are overwritten, not left in free pages (and backups).
    "PRAGMA secure_delete=ON",
)


class Memo:
    """A small LRU for values derived from rows that never change (a plan at one version),
    and for hints that a query checks against the database (the plan version last seen).

    It lives with its Database, so two databases in one process never share entries.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()

    def peek(self, key: Hashable) -> Any:
        """The value for ``key``, or ``None``."""
        value = self._values.get(key)
        if value is not None:
            self._values.move_to_end(key)
        return value

    def put(self, key: Hashable, value: object) -> None:
        """Set (or replace) the value for ``key``."""
        self._values[key] = value
        self._values.move_to_end(key)
        if len(self._values) > self._size:
            self._values.popitem(last=False)

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value for ``key``, made by ``make()`` the first time."""
        try:
            self._values.move_to_end(key)
            return self._values[key]
        except KeyError:
            value = make()
            self.put(key, value)
            return value


class UntilChange:
    """Values read from the database, each used again only while nothing has been committed to it
    since it was read, by any connection of any process.

    ``mark()`` must return a value that differs after every commit; it is taken before the read,
    so a commit during the read only makes the value look out of date. Each kind of value (the
    key's first element) has its own ``size`` places, so one kind cannot push out another. A
    ``None`` is not kept: an unknown token must not take the place of a known one.
    """

    def __init__(self, mark: Callable[[], Hashable], size: int = 2048) -> None:
        self._mark = mark
        self._size = size
        self._kinds: dict[Hashable, OrderedDict[Hashable, tuple[Hashable, Any]]] = {}

    async def get(self, key: tuple[Hashable, ...], read: Callable[[], Awaitable[T]]) -> T:
        """The value for ``key``: what ``read()`` gave last time if nothing was committed since, or a new read."""
        mark = self._mark()
        values = self._kinds.setdefault(key[0], OrderedDict())
        held = values.get(key)
        if held is not None and held[0] == mark:
            values.move_to_end(key)
            return held[1]  # type: ignore[no-any-return]
        value = await read()
        if value is not None:
            values[key] = (mark, value)
            values.move_to_end(key)
            if len(values) > self._size:
                values.popitem(last=False)
        return value


class Reader:
    """Reads inside a transaction or a snapshot (the interface both backends implement)."""

    dialect: Dialect
    memo: Memo

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        """One row or ``None``."""
        raise NotImplementedError

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row."""
        raise NotImplementedError


class Transaction(Reader):
    """Statements inside one write transaction (the interface both backends implement)."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows changed."""
        raise NotImplementedError

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for every row in one round trip."""
        raise NotImplementedError

    async def serialize(self, key: str) -> None:
        """Hold a lock named ``key`` until this transaction ends, across every app process.

        SQLite's write transactions are serialised already; PostgreSQL takes an advisory lock.
        """


class Database:
    """A connected database of one app process (the interface both backends implement)."""

    dialect: Dialect
    memo: Memo
    # When a write was last refused because the disk that holds the database is full (SQLite's
    # file, or the PostgreSQL server's); ``None`` again once a write commits. Per process: what
    # ``GET /api/v1/health`` reports, so a monitoring system learns the clinic cannot store anything.
    disk_full_since: dt.datetime | None = None
    # Whether the disk that holds the database had less than LOW_SPACE_BYTES free when the note was
    # made: only then does room found later prove it has room again. A write refused with room left (a
    # user's quota, SQLite's max_page_count) says nothing free space can tell: only a write clears that.
    _full_on_low_space = False

    def _wrote(self, refused: BaseException | None, full: bool) -> None:
        """Note how a write transaction ended: committed having changed something (``refused`` is
        ``None``; one that changed nothing needs no space, so it proves nothing), or refused, ``full``
        saying whether for a full disk (any other error leaves the note as it was). A read refused
        for a full disk is noted as a refused write: a write would be refused too."""
        if refused is None:
            self.disk_full_since = None
        elif full and self.disk_full_since is None:
            self.disk_full_since = dt.datetime.now(dt.UTC)
            self._full_on_low_space = (free := self.space_left()) is not None and free < LOW_SPACE_BYTES

    def full_since(self) -> dt.datetime | None:
        """:attr:`disk_full_since`, dropped first if the disk found full has room again: after the
        operator frees space, health says so without waiting for a write (on a quiet night none comes)."""
        if (
            self.disk_full_since is not None
            and self._full_on_low_space
            and (free := self.space_left()) is not None
            and free >= LOW_SPACE_BYTES
        ):
            self.disk_full_since = None
        return self.disk_full_since

    def disk_full(self, exc: BaseException) -> bool:
        """Whether ``exc`` says this database cannot grow: the disk that holds it (SQLite's file, or
        the PostgreSQL server's) is full. The operator's to fix, by freeing space; no bug and no bad request."""
        raise NotImplementedError

    async def connect(self) -> None:
        """Open the connections."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close the connections."""
        raise NotImplementedError

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A write transaction: committed on success, rolled back on any error."""
        raise NotImplementedError

    def snapshot(self) -> AbstractAsyncContextManager[Reader]:
        """Reads that all see the database as it was at one moment, whatever commits meanwhile."""
        raise NotImplementedError

    async def clock_ahead(self) -> dt.timedelta | None:
        """How far this machine's clock is ahead of the database server's; ``None`` when the
        database is on this machine (SQLite)."""
        return None

    def space_left(self) -> int | None:
        """Bytes this user may still write on the disk that holds the database; ``None`` when
        that disk is another machine's (PostgreSQL)."""
        return None

    def migration(self) -> AbstractAsyncContextManager[Transaction]:
        """A write transaction for a schema change (where SQLite differs, see its override)."""
        return self.transaction()

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        """One row or ``None`` (outside a transaction)."""
        raise NotImplementedError

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row (outside a transaction)."""
        raise NotImplementedError

    async def until_change(self, key: tuple[Hashable, ...], read: Callable[[], Awaitable[T]]) -> T:
        """``read()``, or its value from an earlier call under ``key`` while nothing was committed
        since, where the backend can tell that cheaply (SQLite). ``key`` starts with the kind of
        value and holds every input of ``read`` that does not come from the database at the time
        of the call (an identity looked up earlier in the request may be older); ``read`` must use
        this database outside any transaction."""
        return await read()


class SQLiteTransaction(Transaction):
    """Statements inside one SQLite write transaction."""

    dialect: Dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, memo: Memo) -> None:
        self._conn = conn
        self.memo = memo

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._conn.execute(sql, params)
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, params))


class SQLiteSnapshot(Reader):
    """Reads inside one SQLite read transaction, on a connection of its own."""

    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, memo: Memo) -> None:
        self._conn = conn
        self.memo = memo

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        return self._conn.execute(sql, params).fetchone()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()


def _reader(path: Path) -> sqlite3.Connection:
    """A read-only connection for use on the event loop (open it after the file is in WAL mode)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    for pragma in (*_PRAGMAS[2:], "PRAGMA query_only=ON"):
        conn.execute(pragma)
    return conn


# The wal-index header (https://sqlite.org/walformat.html#the_wal_index_header): the first 96
# bytes of the -shm file, which every connection to the database, in any process, maps. Every
# commit rewrites it (a change counter, the last frame, checksums), and only a commit does.
_WAL_INDEX_HEADER = 96
_WAL_INDEX_VERSION = 3007000  # the header's first field; another value is a format this code does not know


def _wal_index(fd: int) -> mmap.mmap | None:
    """The wal-index header of the -shm file open as ``fd``, mapped read-only, or ``None`` when it cannot be read."""
    try:
        header = mmap.mmap(fd, _WAL_INDEX_HEADER, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    if int.from_bytes(header[:4], sys.byteorder) != _WAL_INDEX_VERSION:
        header.close()
        return None
    return header


WRITE_WAIT_SECONDS = 5.0  # as busy_timeout: how long a write waits for its turn before a 503


class _WriteTurns:
    """Turns at writing among the app processes on one SQLite file, first come first served.

    SQLite's own busy handler polls, up to every 100 ms: under a steady stream of writes the
    process that just committed takes the lock again before the other one looks, and the other
    waits past its timeout (a 503). An exclusive flock() on a side file queues the waiters in the
    kernel instead, which wakes them at each release. One thread per database does all the
    locking, in order, so a wait given up on is still followed by its release.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(f"{path}-turn", os.O_RDWR | os.O_CREAT, 0o600)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="unknot-write-turn")

    async def take(self) -> None:
        """Wait for this process's turn; :class:`DatabaseBusy` after WRITE_WAIT_SECONDS."""
        loop = asyncio.get_running_loop()
        turn = loop.run_in_executor(self._thread, fcntl.flock, self._fd, fcntl.LOCK_EX)
        try:
            await asyncio.wait_for(asyncio.shield(turn), WRITE_WAIT_SECONDS)
        except BaseException as exc:
            # The wait goes on in the lock thread: give the turn back as soon as it comes.
            loop.run_in_executor(self._thread, fcntl.flock, self._fd, fcntl.LOCK_UN)
            if isinstance(exc, TimeoutError):
                raise DatabaseBusy("another process kept writing") from None
            raise

    async def give_back(self) -> None:
        """End this process's turn (even if the task waiting for it is cancelled meanwhile)."""
        loop = asyncio.get_running_loop()
        await asyncio.shield(loop.run_in_executor(self._thread, fcntl.flock, self._fd, fcntl.LOCK_UN))

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
        os.close(self._fd)  # releases the lock if a wait was still going on


class DatabaseInUse(DatabaseUnavailable):
    """Another program has the SQLite file open (a restore needs it to itself), or is restoring it."""


def claim_file(path: Path, *, alone: bool) -> int:
    """Mark the SQLite file ``path`` as open by this program (``alone``: by no other); returns the
    descriptor holding the mark, released by closing it.

    Every connected :class:`SQLiteDatabase` holds a shared mark; a restore takes it alone, so it
    never copies under a running server (which would go on with what it had cached).

    Raises:
        DatabaseInUse: the mark is held the other way.
    """
    fd = os.open(f"{path}-in-use", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if alone else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseInUse(
            f"{path} is open in another program (a running `unknot serve`?); stop it first"
            if alone
            else f"{path} is being restored; try again when the restore has finished"
        ) from None
    return fd


# Less than this left to the server's user, the disk is full: an I/O error of SQLite's is that (it
# says "disk I/O error", not "full", when it cannot grow its -shm file: SQLITE_IOERR_SHMSIZE), and
# health says so before a write is refused.
LOW_SPACE_BYTES = 1 << 20


def no_space_left(exc: BaseException, folder: Path) -> bool:
    """Whether ``exc``, met opening or writing the SQLite database in ``folder``, comes of the disk
    that holds it being full (or this user's quota used up)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None) or 0
    if code == sqlite3.SQLITE_FULL:
        return True
    if code & 0xFF != sqlite3.SQLITE_IOERR:
        return False
    try:
        return shutil.disk_usage(folder).free < LOW_SPACE_BYTES
    except OSError:
        return False


def create_private(path: Path) -> None:
    """Create an empty database file only its owner can read (SQLite gives its -wal and -shm the same mode)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class SQLiteDatabase(Database):
    """The SQLite database of one app process.

    Writes go to one aiosqlite connection (its own thread, so a commit's fsync never
    stalls the event loop) under a lock. Reads run inline on a plain sqlite3 connection:
    an indexed lookup takes microseconds, less than the hop to a thread would, and in
    WAL mode a reader never waits for the writer.

    :meth:`until_change` reuses a read while the wal-index header is unchanged. Comparing it
    costs well under a microsecond; any statement costs much more in the server, since
    CPython's sqlite3 gives up the GIL around each step and the server's threads take it.
    SQLite truncates the -shm only when no connection has the file open, and this one keeps
    its connections open while the header is mapped: the file must not be removed or cut by
    hand under a running server (nor may the database itself).
    """

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._turns: _WriteTurns | None = None
        self._claim: int | None = None
        self._shm_fd: int | None = None
        self._wal_header: mmap.mmap | None = None
        self._until_change: UntilChange | None = None
        self.memo = Memo()

    def space_left(self) -> int | None:
        try:
            return shutil.disk_usage(self.path.parent).free
        except OSError:
            return None

    def disk_full(self, exc: BaseException) -> bool:
        # SQLite says "disk I/O error", not "full", when its -shm file cannot grow (see no_space_left).
        return no_space_left(exc, self.path.parent)

    def _read_failed(self, exc: sqlite3.Error) -> None:
        """Raise :class:`DiskFullOnRead` in place of ``exc``, met by a read, if it says the disk is full
        (noting that, as a refused write is); return otherwise."""
        if no_space_left(exc, self.path.parent):
            self._wrote(exc, full=True)
            raise DiskFullOnRead(exc) from exc

    async def connect(self) -> None:
        """Open the writer and the reader connection."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._claim = claim_file(self.path, alone=False)
            create_private(self.path)
            self._writer = await aiosqlite.connect(self.path, isolation_level=None)
            self._writer.row_factory = sqlite3.Row
            for pragma in _PRAGMAS:  # the first read: "file is not a database" shows here
                await self._writer.execute(pragma)
            # The reader is opened after the writer has switched the file to WAL.
            self._reader = _reader(self.path)
            self._turns = _WriteTurns(self.path)
            # WAL fails quietly on some file systems, and the -shm exists once a connection has read.
            (mode,) = self._reader.execute("PRAGMA journal_mode").fetchone()
            if mode == "wal":
                # Closing any descriptor of a file drops every POSIX lock this process holds on it,
                # SQLite's too (https://sqlite.org/howtocorrupt.html, "POSIX advisory locks canceled"):
                # another program opening the database would then think itself the first, and
                # reset the -shm under this process's connections (a crash, or worse). So this
                # descriptor, and the mapping's own copy of it, stay open until the connections close.
                with contextlib.suppress(OSError):
                    self._shm_fd = os.open(f"{self.path}-shm", os.O_RDONLY)
                if self._shm_fd is not None and (header := _wal_index(self._shm_fd)) is not None:
                    self._wal_header = header
                    self._until_change = UntilChange(lambda: header[:_WAL_INDEX_HEADER])
        except DatabaseInUse:
            await self.close()
            raise
        except (OSError, sqlite3.Error) as exc:
            await self.close()
            if no_space_left(exc, self.path.parent):
                raise DatabaseUnavailable(
                    f"cannot open {self.path}: the disk that holds it is full: free space on it, "
                    "then run the command again"
                ) from exc
            raise DatabaseUnavailable(f"cannot open {self.path}: {exc}") from exc

    async def close(self) -> None:
        """Close both connections."""
        if self._turns is not None:
            self._turns.close()
            self._turns = None
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        # Only now that no connection is open (see connect).
        self._until_change = None
        if self._wal_header is not None:
            self._wal_header.close()
            self._wal_header = None
        if self._shm_fd is not None:
            os.close(self._shm_fd)
            self._shm_fd = None
        if self._claim is not None:
            os.close(self._claim)
            self._claim = None

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A write transaction: committed on success, rolled back on any error."""
        return self._write(foreign_keys=True)

    def migration(self) -> AbstractAsyncContextManager[Transaction]:
        """A write transaction whose foreign keys are checked once, before it commits.

        SQLite changes a table's definition by building a new table and dropping the old one;
        with foreign keys enforced, that DROP would cascade into every table referencing it.
        """
        return self._write(foreign_keys=False)

    @asynccontextmanager
    async def _write(self, *, foreign_keys: bool) -> AsyncIterator[Transaction]:
        assert self._writer is not None, "database is not connected"
        assert self._turns is not None
        writer = self._writer
        async with self._write_lock:
            await self._turns.take()
            try:
                if not foreign_keys:  # only outside a transaction does this pragma take effect
                    await writer.execute("PRAGMA foreign_keys=OFF")
                # IMMEDIATE takes the write lock now, so no later statement fails with SQLITE_BUSY
                # when a program that does not take turns (the sqlite3 shell, say) writes too.
                try:
                    await writer.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                        raise DatabaseBusy("another process is writing") from exc
                    raise
                changes = writer.total_changes
                try:
                    yield SQLiteTransaction(writer, self.memo)
                    if not foreign_keys and (broken := await writer.execute_fetchall("PRAGMA foreign_key_check")):
                        raise sqlite3.IntegrityError(f"foreign keys broken by the change: {list(map(tuple, broken))}")
                except BaseException:
                    # SQLite has already rolled back after some errors (a full disk among them): a
                    # ROLLBACK then fails, and its error would hide the one that says what happened.
                    if writer.in_transaction:
                        await writer.execute("ROLLBACK")
                    raise
                await writer.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._wrote(exc, full=self.disk_full(exc))
                raise
            else:
                if writer.total_changes != changes:
                    self._wrote(None, full=False)
            finally:
                if not foreign_keys:
                    await writer.execute("PRAGMA foreign_keys=ON")
                await self._turns.give_back()

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Reader]:
        """Reads in one read transaction (WAL: it sees the commits before its first read, none after)."""
        assert self._reader is not None, "database is not connected"
        # A connection of its own: the shared reader must see every commit at once (a patient reads
        # right after syncing), which it would not inside a long-lived read transaction.
        conn = _reader(self.path)
        try:
            conn.execute("BEGIN")
            yield SQLiteSnapshot(conn, self.memo)
        except sqlite3.OperationalError as exc:  # a snapshot's block only reads
            self._read_failed(exc)
            raise
        finally:
            conn.close()

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        assert self._reader is not None, "database is not connected"
        # Closed at once: a statement left open keeps its read transaction, and every later read
        # on the shared reader would see the database as it was then (until_change relies on this).
        try:
            cursor = self._reader.execute(sql, params)
            try:
                return cursor.fetchone()
            finally:
                cursor.close()
        except sqlite3.OperationalError as exc:
            self._read_failed(exc)
            raise

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        assert self._reader is not None, "database is not connected"
        try:
            return self._reader.execute(sql, params).fetchall()  # fetchall() ends the statement
        except sqlite3.OperationalError as exc:  # a large sort's temporary file on a full disk, say
            self._read_failed(exc)
            raise

    async def until_change(self, key: tuple[Hashable, ...], read: Callable[[], Awaitable[T]]) -> T:
        if self._until_change is None:
            return await read()
        return await self._until_change.get(key, read)
