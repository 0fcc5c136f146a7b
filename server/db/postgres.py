"""PostgreSQL through an asyncpg pool: the same interface as the SQLite backend.

Queries keep their ``:name`` parameters; :func:`translate` turns them into PostgreSQL's
``$1, $2 ...`` once per statement text (cached), and the parameters of each call are
put in that order. Rows are ``asyncpg.Record``: by position or by column name, like
``sqlite3.Row``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import asyncpg

from server.db.connection import (
    Database,
    DatabaseUnavailable,
    Dialect,
    LostWhileCommitting,
    Memo,
    Params,
    Reader,
    Row,
    Transaction,
)

__all__ = ["PostgresDatabase", "PostgresTransaction", "is_postgres_url", "translate"]

T = TypeVar("T")

# A string literal, a quoted identifier, a comment, a ``::type`` cast, or a :name parameter.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|::|:([A-Za-z_][A-Za-z0-9_]*)")


def is_postgres_url(url: str) -> bool:
    """Whether a database URL names PostgreSQL."""
    return url.startswith(("postgresql://", "postgres://"))


def without_password(url: str) -> str:
    """The URL for messages: the user and host stay, a password goes (from the user part or the query)."""
    parts = urlsplit(url)
    user, at, host = parts.netloc.rpartition("@")
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"])
    return parts._replace(netloc=user.partition(":")[0] + at + host, query=query).geturl()


async def connect(url: str, server_settings: dict[str, str]) -> asyncpg.Connection:
    """One connection; :class:`DatabaseUnavailable` naming the server (not the password) when it cannot be had."""
    try:
        return await asyncpg.connect(url, server_settings=server_settings)
    # Refused, unknown host, wrong password, no such database, too many connections, timeout.
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailable(f"cannot connect to {without_password(url)}: {exc}") from exc


@lru_cache(maxsize=2048)
def translate(sql: str) -> tuple[str, tuple[str, ...]]:
    """``:name`` placeholders to ``$n``; returns the new text and the names in ``$n`` order."""
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _TOKENS.sub(replace, sql), tuple(names)


def _args(names: tuple[str, ...], params: Params) -> tuple[Any, ...]:
    if isinstance(params, Mapping):
        return tuple(params[n] for n in names)
    if names:
        raise TypeError("a statement with :name parameters needs a mapping of values")
    return tuple(params)


def _count(status: str) -> int:
    # "UPDATE 3", "DELETE 0", "INSERT 0 1": the last number is the rows changed.
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresTransaction(Transaction):
    """Statements inside one PostgreSQL transaction on one pooled connection."""

    dialect: Dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection, memo: Memo) -> None:
        self._conn = conn
        self.memo = memo

    async def execute(self, sql: str, params: Params = ()) -> int:
        text, names = translate(sql)
        return _count(await self._conn.execute(text, *_args(names, params)))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        text, names = translate(sql)
        args = [_args(names, r) for r in rows]
        if args:
            await self._conn.executemany(text, args)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        text, names = translate(sql)
        return await self._conn.fetchrow(text, *_args(names, params))

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        text, names = translate(sql)
        return await self._conn.fetch(text, *_args(names, params))

    async def serialize(self, key: str) -> None:
        # Released at commit or rollback; hashtext gives every key its own lock.
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", key)


class _ConnectionLost(DatabaseUnavailable):
    """The server ended a pooled connection (a restart, ``pg_terminate_backend``, an idle timeout) or
    the network did; what ran on it inside a transaction not committed was rolled back."""

    def __init__(self, where: str, reason: BaseException) -> None:
        super().__init__(f"lost the connection to {where}: {reason}")
        self.where = where
        self.reason = reason


def _lost(exc: Exception, conn: asyncpg.Connection) -> bool:
    """Whether ``exc`` says the connection is gone, rather than what the statement did: lost mid-way
    (ConnectionDoesNotExistError), or closed already, whatever asyncpg then says (an InterfaceError
    "the underlying connection is closed", a BrokenPipeError). Also an InternalClientError "cannot
    switch to state 11; another operation (2) is in progress": the server's FATAL error on ending the
    connection was read, its close not yet, and asyncpg, finding its protocol out of step, has closed
    the connection before raising it (checked by ``is_closed``, not by the error's type: asyncpg raises
    that type for its own bugs too)."""
    return conn.is_closed() or isinstance(exc, asyncpg.PostgresConnectionError)


def _reason(exc: BaseException) -> BaseException:
    """The error that says why the connection went. asyncpg's own "the underlying connection is
    closed", met by the ROLLBACK after a statement lost the connection, is chained to that statement's
    error, which has the server's words ("terminating connection due to administrator command")."""
    while isinstance(
        exc.__context__, (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)
    ):
        exc = exc.__context__
    return exc


# Whether the current request (asyncio task) has had a connection already.
_request_served: ContextVar[bool] = ContextVar("unknot_request_served", default=False)


class _Pool:
    """A small pool of asyncpg connections, for one event loop.

    asyncpg's own pool does more on every acquire and release (a shielded task, timers, a
    reset round trip by default) than a one-row read costs, which more than doubled the
    cost of the patient's hot path. Unknot needs less: connections never change session
    state, listen, or hold session-level locks (advisory locks are transaction-scoped).
    A connection that saw anything but a clean finish or a PostgreSQL error (cancellation,
    a broken socket) is closed and replaced, never handed out again.
    """

    def __init__(self, url: str, size: int, server_settings: dict[str, str]) -> None:
        self._url = url
        self._size = size
        self._settings = server_settings
        self._idle: deque[asyncpg.Connection] = deque()
        # Waiters in arrival order; each is handed a connection, or None for "a slot is free".
        # Those whose request already had a connection go first: finishing a request under way
        # frees its client sooner than starting another (each waited twice in one queue before:
        # the device lookup, then the routine, behind every request that arrived meanwhile).
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._returning: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._open = 0
        self._closed = False

    async def start(self) -> None:
        self._idle.append(await self._connect())

    async def _connect(self) -> asyncpg.Connection:
        self._open += 1
        try:
            return await connect(self._url, self._settings)
        except BaseException:
            self._open -= 1
            self._hand_over(None)
            raise

    def _next_waiter(self) -> asyncio.Future[asyncpg.Connection | None] | None:
        """The waiter whose turn it is (requests under way first), taken off its queue; ``None`` if none."""
        for queue in (self._returning, self._waiters):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():  # one that gave up (cancelled) is skipped
                    return waiter
        return None

    def _hand_over(self, conn: asyncpg.Connection | None) -> None:
        """Give a free connection (or a free slot) to the longest waiter; keep the connection otherwise."""
        if (waiter := self._next_waiter()) is not None:
            waiter.set_result(conn)
        elif conn is not None:
            self._idle.append(conn)

    async def _acquire(self) -> asyncpg.Connection:
        first = False
        while True:
            if self._closed:
                raise asyncpg.InterfaceError("the database was closed")
            # Nobody takes an idle connection ahead of those already waiting (that would starve them).
            if not (self._waiters or self._returning) or first:
                while self._idle:
                    conn = self._idle.pop()
                    if not conn.is_closed():
                        return conn
                    self._open -= 1
                if self._open < self._size:
                    return await self._connect()
            waiter: asyncio.Future[asyncpg.Connection | None] = asyncio.get_running_loop().create_future()
            if first:
                self._returning.appendleft(waiter)
            elif _request_served.get():
                self._returning.append(waiter)
            else:
                self._waiters.append(waiter)
            try:
                conn = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._hand_over(waiter.result())  # handed something, but leaving: pass it on
                raise
            if conn is not None:
                return conn
            first = True  # a slot came free for this waiter: its turn

    def _release(self, conn: asyncpg.Connection, *, clean: bool) -> None:
        if clean and not self._closed and not conn.is_closed() and not conn.is_in_transaction():
            self._hand_over(conn)
        else:
            self._open -= 1
            conn.terminate()
            self._hand_over(None)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for the duration of the block; :class:`_ConnectionLost` if it was found gone."""
        conn = await self._acquire()
        _request_served.set(True)  # in this request's (task's) context only
        clean = False
        try:
            yield conn
            clean = True
        except Exception as exc:
            if _lost(exc, conn):
                # The server restarted, most likely: the connections idle beside this one are as dead.
                self._drop_idle()
                raise _ConnectionLost(without_password(self._url), _reason(exc)) from exc
            clean = isinstance(exc, asyncpg.PostgresError)  # the server said no; the connection is fine
            raise
        finally:
            self._release(conn, clean=clean)

    def _drop_idle(self) -> None:
        while self._idle:
            self._idle.pop().terminate()
            self._open -= 1
            self._hand_over(None)

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            conn = self._idle.pop()
            self._open -= 1
            await conn.close()
        while (waiter := self._next_waiter()) is not None:
            waiter.set_result(None)


class PostgresDatabase(Database):
    """A PostgreSQL database reached through one small pool of asyncpg connections per app process.

    Transactions run at READ COMMITTED (PostgreSQL's default); statements that must be
    exact under concurrency say how (conditional updates, ``SKIP LOCKED`` claims,
    advisory locks through :meth:`Transaction.serialize`).
    """

    dialect: Dialect = "postgresql"

    def __init__(self, url: str, *, max_size: int) -> None:
        self.url = url
        self._max_size = max_size
        self._pool: _Pool | None = None
        self.memo = Memo()

    async def connect(self) -> None:
        """Open the pool (one connection now, more as requests need them, up to ``max_size``)."""
        # Every session in UTC: the app stores ISO 8601 text, but now() and casts agree.
        pool = _Pool(self.url, self._max_size, {"timezone": "UTC", "application_name": "unknot"})
        await pool.start()
        self._pool = pool

    async def close(self) -> None:
        """Close the idle connections; those in use are closed when they come back."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @asynccontextmanager
    async def _begin(self, **options: Any) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection in a transaction for the duration of the block.

        A connection found gone at BEGIN (closed by the server while it sat idle in the pool) is
        replaced once: nothing had run on it. One lost after BEGIN raises :class:`_ConnectionLost`
        (a DatabaseUnavailable: 503), the transaction rolled back by the server; one lost while the
        COMMIT of a read-write transaction was on its way, :class:`LostWhileCommitting` (it may
        have been committed).
        """
        assert self._pool is not None, "database is not connected"
        for last in (False, True):
            begun = committing = False
            try:
                async with self._pool.connection() as conn, conn.transaction(**options):
                    begun = True
                    yield conn
                    # Leaving the block sends COMMIT, unless asyncpg knows the connection is gone already.
                    committing = not conn.is_closed()
                return
            except _ConnectionLost as exc:
                if committing and not options.get("readonly"):
                    said = f"lost the connection to {exc.where} while committing: {exc.reason}"
                    raise LostWhileCommitting(said) from exc
                if begun or last:
                    raise

    async def _read(self, fetch: Callable[..., Awaitable[T]], sql: str, params: Params) -> T:
        """One read outside a transaction; run again on another connection if its own was found gone
        (a read changes nothing, so running it twice is safe)."""
        assert self._pool is not None, "database is not connected"
        text, names = translate(sql)
        args = _args(names, params)
        with contextlib.suppress(_ConnectionLost):
            async with self._pool.connection() as conn:
                return await fetch(conn, text, *args)
        async with self._pool.connection() as conn:
            return await fetch(conn, text, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A transaction on one pooled connection: committed on success, rolled back on any error."""
        try:
            async with self._begin() as conn:
                yield PostgresTransaction(conn, self.memo)
                # Only while a full disk is noted (no cost otherwise): a transaction that changed
                # nothing commits on a full disk too, so only one that did says there is room again.
                wrote = self.disk_full_since is None or await conn.fetchval(
                    "SELECT txid_current_if_assigned() IS NOT NULL"
                )
        except asyncpg.PostgresError as exc:
            self._wrote(exc, full=self.disk_full(exc))
            raise
        if wrote:
            self._wrote(None, full=False)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Reader]:
        """Reads in one read-only REPEATABLE READ transaction: one snapshot for all of them."""
        async with self._begin(isolation="repeatable_read", readonly=True) as conn:
            yield PostgresTransaction(conn, self.memo)

    def disk_full(self, exc: BaseException) -> bool:
        return isinstance(exc, asyncpg.DiskFullError)

    async def clock_ahead(self) -> dt.timedelta:
        """How far this machine's clock is ahead of the database server's."""
        before = dt.datetime.now(dt.UTC)
        row = await self.fetch_one("SELECT clock_timestamp() AS now")
        after = dt.datetime.now(dt.UTC)
        assert row is not None
        # The server read its clock somewhere in the round trip: halfway is the best guess.
        return before + (after - before) / 2 - row["now"]

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        return await self._read(asyncpg.Connection.fetchrow, sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._read(asyncpg.Connection.fetch, sql, params)
