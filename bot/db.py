"""One aiosqlite connection, explicit transactions, versioned migrations.

The connection is opened in the application's `post_init` and closed in
`post_shutdown`. All statements go through `Database.tx()`, which holds an
asyncio lock so that two coroutines never interleave inside one transaction
on the shared connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every file in bot/migrations, in order."""
    found = []
    for entry in resources.files("bot.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql"):
            found.append((int(name.split("_", 1)[0]), name, entry.read_text("utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        # WAL + NORMAL: crash-safe and fast; secure_delete overwrites freed pages
        # so deleted text does not linger in the file.
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            f"busy_timeout={BUSY_TIMEOUT_MS}",
            "secure_delete=ON",
        ):
            await conn.execute(f"PRAGMA {pragma}")
        self._conn = conn
        try:
            await self._migrate()
        except BaseException:
            # aiosqlite's thread would keep the process alive after a failed start.
            await self.close()
            raise

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def _migrate(self) -> None:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row else 0
        for version, name, sql in migrations():
            if version <= current:
                continue
            log.info("applying migration %s", name)
            # Foreign keys off while a migration rebuilds a table (SQLite's documented
            # procedure: dropping a parent with them on would cascade into its children);
            # every reference is checked before the migration commits.
            await self.conn.execute("PRAGMA foreign_keys=OFF")
            try:
                try:
                    await self.conn.executescript(
                        f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};"
                    )
                except BaseException:
                    if self.conn.in_transaction:
                        await self.conn.execute("ROLLBACK")
                    raise
                broken = list(await self.conn.execute_fetchall("PRAGMA foreign_key_check"))
                if broken:
                    await self.conn.execute("ROLLBACK")
                    raise RuntimeError(f"migration {name} left broken references: {list(broken)}")
                await self.conn.execute("COMMIT")
            finally:
                await self.conn.execute("PRAGMA foreign_keys=ON")

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: commits on success, rolls back on any exception."""
        async with self._lock:
            conn = self.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")

    async def execute_alone(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement in its own implicit transaction, in one round trip; returns rowcount."""
        async with self._lock:
            cur = await self.conn.execute(sql, tuple(params))
            return cur.rowcount

    async def vacuum(self) -> None:
        """Rewrite the file so no freed page keeps old bytes (used after erasure)."""
        async with self._lock:
            # Each cursor is drained and closed: the checkpoint returns a row, and an
            # unfinished statement makes VACUUM fail ("SQL statements in progress").
            for sql in (
                "PRAGMA wal_checkpoint(TRUNCATE)",
                "VACUUM",
                "PRAGMA wal_checkpoint(TRUNCATE)",
            ):
                async with self.conn.execute(sql) as cur:
                    await cur.fetchall()


async def fetch_one(
    conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()
) -> aiosqlite.Row | None:
    """The first row, in one round trip to the database thread (use on unique keys or LIMIT 1)."""
    rows = await conn.execute_fetchall(sql, tuple(params))
    for row in rows:
        return row
    return None


async def fetch_all(
    conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()
) -> list[aiosqlite.Row]:
    """Every row, in one round trip (execute + fetchall + close would be three)."""
    return list(await conn.execute_fetchall(sql, tuple(params)))
