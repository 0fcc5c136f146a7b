"""The PostgreSQL backend's small connection pool: bounded, first come first served, and
never handing out a connection that was cancelled mid-query or left in a transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

from server.db.connection import DatabaseUnavailable
from server.db.postgres import PostgresDatabase
from tests.postgres import Cluster


@pytest.fixture
def url(pg_cluster: Cluster) -> Iterator[str]:
    url = pg_cluster.create_database()
    yield url
    pg_cluster.drop_database(url)


async def test_many_requests_share_a_few_connections_in_arrival_order(url: str) -> None:
    async with PostgresDatabase(url, max_size=3) as db:
        order: list[int] = []

        async def one(n: int) -> None:
            async with db.transaction() as tx:
                # When it got its connection: how long PostgreSQL's backends take to answer (a loaded
                # machine may hold one back) is not the pool's order.
                order.append(n)
                await tx.fetch_one("SELECT pg_sleep(0.01)")

        await asyncio.gather(*(one(n) for n in range(30)))
        pool = db._pool
        assert pool is not None
        assert pool._open <= 3
        assert sorted(order) == list(range(30))
        # Nobody overtakes a waiter by much: first come, first served.
        assert all(abs(position - n) <= 3 for position, n in enumerate(order))
        backends = await db.fetch_one("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'unknot'")
        assert backends["n"] <= 3


async def test_a_request_under_way_gets_the_next_connection_before_one_that_has_not_started(url: str) -> None:
    """Finishing a request frees its client sooner than starting another: the tail latency halved."""
    async with PostgresDatabase(url, max_size=1) as db:
        order: list[str] = []
        again, free = asyncio.Event(), asyncio.Event()

        async def under_way() -> None:
            await db.fetch_one("SELECT 1")  # its first query (the device lookup)
            await again.wait()
            await db.fetch_one("SELECT 2")  # and its second (the routine)
            order.append("under way")

        async def holder() -> None:
            async with db.transaction():
                await free.wait()

        async def new() -> None:
            await db.fetch_one("SELECT 3")
            order.append("new")

        tasks = [asyncio.create_task(under_way())]
        await asyncio.sleep(0.05)
        tasks.append(asyncio.create_task(holder()))
        await asyncio.sleep(0.05)
        tasks.append(asyncio.create_task(new()))  # waits first
        await asyncio.sleep(0.05)
        again.set()  # then the request under way waits too
        await asyncio.sleep(0.05)
        free.set()
        await asyncio.gather(*tasks)
        assert order == ["under way", "new"]


async def test_a_cancelled_query_or_a_failed_statement_leaves_the_pool_healthy(url: str) -> None:
    async with PostgresDatabase(url, max_size=2) as db:
        slow = [asyncio.create_task(db.fetch_one("SELECT pg_sleep(5)")) for _ in range(2)]
        waiting = asyncio.create_task(db.fetch_one("SELECT 1 AS one"))
        await asyncio.sleep(0.2)
        for task in slow:
            task.cancel()
        assert (await asyncio.wait_for(waiting, 3))["one"] == 1
        with pytest.raises(asyncpg.UndefinedTableError, match="nowhere"):
            await db.fetch_one("SELECT * FROM nowhere")

        async def fails_half_way() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO attempt (key, at) VALUES ('k', 't')")
                raise RuntimeError

        with pytest.raises(RuntimeError):
            await fails_half_way()
        assert (await db.fetch_one("SELECT count(*) AS n FROM attempt"))["n"] == 0
        results = await asyncio.gather(*(db.fetch_one("SELECT 2 AS two") for _ in range(10)))
        assert {r["two"] for r in results} == {2}
        assert db._pool is not None
        assert db._pool._open <= 2


async def test_the_pool_size_setting_bounds_each_process_and_a_unix_socket_url_connects(
    url: str, pg_cluster: Cluster
) -> None:
    """``UNKNOT_DATABASE_POOL_SIZE`` reaches the pool; PostgreSQL on the same machine is reached by its socket."""
    from server.db import open_database
    from server.settings import Settings, SettingsError

    local = pg_cluster.on_socket(url)
    settings = Settings.from_env({"UNKNOT_DATABASE_URL": local, "UNKNOT_DATABASE_POOL_SIZE": "2"})
    async with open_database(settings) as db:
        await asyncio.gather(*(db.fetch_one("SELECT pg_sleep(0.05)") for _ in range(8)))
        backends = await db.fetch_all(
            "SELECT client_addr FROM pg_stat_activity "
            "WHERE application_name = 'unknot' AND datname = current_database()"
        )
    assert 1 <= len(backends) <= 2
    assert {b["client_addr"] for b in backends} == {None}  # None: a Unix socket, not TCP
    with pytest.raises(SettingsError, match=r"UNKNOT_DATABASE_POOL_SIZE: .*at least 1"):
        Settings.from_env({"UNKNOT_DATABASE_POOL_SIZE": "0"})


async def test_connections_the_server_ended_are_replaced_where_nothing_had_run_on_them(
    url: str, pg_cluster: Cluster
) -> None:
    # After PostgreSQL restarted (or ended idle connections), the first statement on each pooled
    # connection failed with "connection was closed in the middle of operation": a 500 for the request.
    async with PostgresDatabase(url, max_size=3) as db:

        async def fill_the_pool() -> None:
            await asyncio.gather(*(db.fetch_one("SELECT pg_sleep(0.05)") for _ in range(3)))

        await fill_the_pool()
        assert pg_cluster.end_connections(url) == 3
        assert (await db.fetch_one("SELECT 1 AS one"))["one"] == 1
        assert [r["n"] for r in await db.fetch_all("SELECT 2 AS n")] == [2]

        await fill_the_pool()
        assert pg_cluster.end_connections(url) == 3
        async with db.transaction() as tx:  # its BEGIN met the closed connection: nothing had run
            await tx.execute("INSERT INTO attempt (key, at) VALUES ('one', 't')")

        await fill_the_pool()
        assert pg_cluster.end_connections(url) == 3
        async with db.snapshot() as reader:
            assert (await reader.fetch_one("SELECT count(*) AS n FROM attempt"))["n"] == 1

        # Lost after a statement ran: that cannot be run again safely; unavailable (503), rolled back.
        async def lost_half_way() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO attempt (key, at) VALUES ('two', 't')")
                assert pg_cluster.end_connections(url) >= 1
                await tx.execute("INSERT INTO attempt (key, at) VALUES ('three', 't')")

        # The server's reason, not asyncpg's "cannot call Transaction.__aexit__(): the underlying
        # connection is closed" that the ROLLBACK met after it.
        with pytest.raises(
            DatabaseUnavailable,
            match=r"^lost the connection to postgresql://unknot@[^:]+:\d+/\w+: connection was closed in the middle "
            r"of operation: terminating connection due to administrator command$",
        ):
            await lost_half_way()
        assert [r["key"] for r in await db.fetch_all("SELECT key FROM attempt")] == ["one"]
        assert db._pool is not None
        assert db._pool._open <= 3


async def test_a_connection_whose_end_was_announced_but_not_yet_read_is_lost_not_an_internal_error(
    url: str, pg_cluster: Cluster
) -> None:
    # The server's last words on ending a connection (a FATAL error) can be read a loop turn before
    # its close: a statement then met asyncpg's InternalClientError "cannot switch to state 11;
    # another operation (2) is in progress", asyncpg having closed the connection meanwhile.
    async with PostgresDatabase(url, max_size=1) as db:

        async def announced() -> None:
            assert pg_cluster.end_connections(url) == 1
            for _ in range(2):  # the FATAL is read in the second turn; the close in a later one
                await asyncio.sleep(0)

        await db.fetch_one("SELECT 1")
        await announced()
        assert (await db.fetch_one("SELECT 2 AS two"))["two"] == 2  # run again on a new connection

        async def lost_half_way() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO attempt (key, at) VALUES ('one', 't')")
                await announced()
                await tx.execute("INSERT INTO attempt (key, at) VALUES ('two', 't')")

        with pytest.raises(
            DatabaseUnavailable, match=r"^lost the connection to postgresql://\S+: cannot switch to state"
        ):
            await lost_half_way()
        assert await db.fetch_all("SELECT key FROM attempt") == []
