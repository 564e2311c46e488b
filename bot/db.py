"""The storage layer: one SQLite connection, two places to run a transaction, one small API.

The connection is opened (by aiosqlite, on its own thread) in the application's
`post_init` and closed in `post_shutdown`. Every transaction holds `Database`'s asyncio
lock, so two coroutines never interleave inside one transaction. A transaction runs in
one of two places, both on the same `sqlite3` connection and through the same `Conn`:

- `async with db.tx() as conn` (and `execute_alone`): **on the event loop**, synchronously.
  A short transaction costs ~0.1 ms of SQL; handing each statement to aiosqlite's thread
  cost ~0.25 ms per statement in thread wake-ups and GIL hand-offs, which serialised a
  burst of updates behind the lock (docs/performance.md). `await conn.execute(...)` here
  never suspends, so the whole transaction is one slice of the loop. Never a lock wait
  there: `busy_timeout` is 0 and a busy `BEGIN` is retried with an async back-off.
  One taking more than `SLOW_LOOP_TX` seconds logs a warning naming its caller.
- `await db.job(fn, *args)`: **on aiosqlite's thread**, as one unit of work (BEGIN,
  `fn(conn, *args)`, COMMIT): for long transactions (the sweep's chunks, erasure, export,
  big outbox claims). `fn` is written like any other transaction (`async def`, `await
  conn....`) but must await nothing except the database, which there never suspends
  either; the loop stays free while it runs.

This relies on two private parts of aiosqlite (`Connection._conn`, the sqlite3
connection, and `Connection._execute`, which runs a function on its thread): the version
is pinned in pyproject.toml and tests/test_storage.py checks both.

The WAL is checkpointed off the loop (`checkpoint`, from the sweep, on a second
connection), never by a commit on the loop; it is kept under `WAL_LIMIT_BYTES`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Sequence,
)
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000  # how long a transaction waits for another process's write lock
SCRUB_WAIT_MS = 100  # how long a scrub waits for another process's reader, each sweep
SCRUB_KEY = "scrub_owed"  # meta: 'vacuum' or 'wal', the part of a scrub still owed
SLOW_LOOP_TX = 0.005  # a transaction on the loop longer than this is logged (ids only)
WAL_LIMIT_BYTES = 64 * 1024 * 1024  # above this the sweep's checkpoint truncates the WAL
CHECK_WAL_EVERY = 1000  # loop commits between looks at the WAL's size
BACKOFF_FIRST, BACKOFF_MAX = 0.001, 0.05  # seconds between tries of a busy BEGIN

Row = sqlite3.Row
T = TypeVar("T")


@dataclass
class UpdateMark:
    """The Telegram update being handled, marked seen by its handler's first transaction.

    The mark commits with the handler's effects or not at all: a crash before the commit
    leaves neither (Telegram's redelivery is handled), a crash after leaves both (the
    redelivery is dropped). `committed` tells the error path what the user may be told.
    """

    update_id: int
    at: int
    committed: bool = False


# Set by the edge around each update (bot/app.py); None in sweeps and outside updates.
CURRENT_UPDATE: ContextVar[UpdateMark | None] = ContextVar("trellis_update", default=None)


class AlreadyHandled(Exception):
    """A redelivered update reached a transaction: its first delivery already committed."""


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


def is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY: another connection holds the lock we need."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.OperationalError) and code is not None and code & 0xFF == 5


# -- the API a transaction sees ---------------------------------------------------------


class Cursor:
    """What a statement left: its rows (read with `fetchone`/`fetchall`), rowcount, lastrowid."""

    __slots__ = ("_cur",)

    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cur.lastrowid

    async def fetchone(self) -> Row | None:
        row: Row | None = self._cur.fetchone()
        return row

    async def fetchall(self) -> list[Row]:
        return self._cur.fetchall()

    async def close(self) -> None:
        self._cur.close()


class Statement:
    """A statement already run: `await` it for its cursor, or `async with` it (closes it)."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, Cursor]:
        return self._cursor
        yield  # a generator that never suspends: awaiting a statement costs nothing

    async def __aenter__(self) -> Cursor:
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        self._cursor._cur.close()


class Conn:
    """A transaction's view of the database, the same on the loop and on the db thread.

    The methods are awaitable so feature code reads the same wherever it runs; they run
    the statement at once (synchronously) on whichever thread holds the transaction.
    """

    __slots__ = ("_raw", "statements")

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw
        self.statements = 0

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Statement:
        self.statements += 1
        return Statement(Cursor(self._raw.execute(sql, tuple(params))))

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Statement:
        self.statements += 1
        return Statement(Cursor(self._raw.executemany(sql, seq)))

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        """The first row (use on unique keys or LIMIT 1)."""
        self.statements += 1
        row: Row | None = self._raw.execute(sql, tuple(params)).fetchone()
        return row

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        self.statements += 1
        return self._raw.execute(sql, tuple(params)).fetchall()

    execute_fetchall = fetch_all  # aiosqlite's name, kept for existing call sites

    @property
    def in_transaction(self) -> bool:
        return self._raw.in_transaction


async def fetch_one(conn: Conn, sql: str, params: Iterable[Any] = ()) -> Row | None:
    """The first row (use on unique keys or LIMIT 1)."""
    return await conn.fetch_one(sql, params)


async def fetch_all(conn: Conn, sql: str, params: Iterable[Any] = ()) -> list[Row]:
    """Every row."""
    return await conn.fetch_all(sql, params)


# -- the database -------------------------------------------------------------------------


@dataclass
class Stats:
    """Counters for benchmarks and the slow-transaction warning (no timing in tests)."""

    loop_txs: int = 0
    jobs: int = 0
    busy_retries: int = 0
    slow: int = 0
    longest_hold: float = 0.0  # seconds the lock was held at once, the longest so far
    held: float = 0.0  # seconds the lock was held in all

    def reset(self) -> None:
        self.loop_txs = self.jobs = self.busy_retries = self.slow = 0
        self.longest_hold = self.held = 0.0


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._aio: aiosqlite.Connection | None = None
        self._raw: sqlite3.Connection | None = None
        self._conn: Conn | None = None
        self._lock = asyncio.Lock()
        self._held_since = 0.0
        self._commits = 0
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpointing: asyncio.Task[None] | None = None
        # Whether a scrub is owed: unknown (None) until `scrub` has read `meta` once.
        self._scrub_owed: bool | None = None
        self.stats = Stats()

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: the connection is made on aiosqlite's thread and used on
        # the loop's too, never at once (the lock sees to that).
        aio = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
        self._aio = aio
        raw = aio._conn
        raw.row_factory = sqlite3.Row
        self._raw = raw
        self._conn = Conn(raw)
        try:
            await self._on_thread(self._migrate)
        except BaseException:
            # aiosqlite's thread would keep the process alive after a failed start.
            await self.close()
            raise

    async def close(self) -> None:
        if self._checkpointing is not None:
            await asyncio.gather(self._checkpointing, return_exceptions=True)
            self._checkpointing = None
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._aio is not None:
            aio, self._aio, self._raw, self._conn = self._aio, None, None, None
            await aio.close()

    @property
    def raw(self) -> sqlite3.Connection:
        if self._raw is None:
            raise RuntimeError("database is not open")
        return self._raw

    def _migrate(self) -> None:
        raw = self.raw
        # WAL + NORMAL: crash-safe and fast; secure_delete overwrites freed pages so deleted
        # text does not linger in the file. busy_timeout 0: the loop never sleeps inside
        # SQLite (see tx); wal_autocheckpoint 0: no checkpoint at a commit on the loop.
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=0",
            "secure_delete=ON",
            "wal_autocheckpoint=0",
            f"journal_size_limit={WAL_LIMIT_BYTES}",
        ):
            raw.execute(f"PRAGMA {pragma}").fetchall()
        with _busy_timeout(raw):
            current = int(raw.execute("PRAGMA user_version").fetchone()[0])
            for version, name, sql in migrations():
                if version <= current:
                    continue
                log.info("applying migration %s", name)
                # Foreign keys off while a migration rebuilds a table (SQLite's documented
                # procedure: dropping a parent with them on would cascade into its children);
                # every reference is checked before the migration commits.
                raw.execute("PRAGMA foreign_keys=OFF")
                try:
                    try:
                        raw.executescript(
                            f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};"
                        )
                    except BaseException:
                        if raw.in_transaction:
                            raw.execute("ROLLBACK")
                        raise
                    broken = raw.execute("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raw.execute("ROLLBACK")
                        raise RuntimeError(
                            f"migration {name} left broken references: {[tuple(b) for b in broken]}"
                        )
                    raw.execute("COMMIT")
                finally:
                    raw.execute("PRAGMA foreign_keys=ON")

    # -- the lock -----------------------------------------------------------------

    async def _acquire(self) -> None:
        await self._lock.acquire()
        self._held_since = time.perf_counter()

    def _release(self) -> None:
        held = time.perf_counter() - self._held_since
        stats = self.stats
        stats.held += held
        if held > stats.longest_hold:
            stats.longest_hold = held
        self._lock.release()

    # -- on the loop ------------------------------------------------------------------

    def tx(self, *, patient: bool = False) -> LoopTx:
        """A write transaction on the loop: commits on success, rolls back on any exception.
        `patient`: while another process holds the write lock, wait as long as it takes
        (bookkeeping that must not be lost, e.g. that a message went out)."""
        return LoopTx(self, patient)

    @asynccontextmanager
    async def look(self) -> AsyncIterator[Conn]:
        """A transaction for reading before an update's handler (its language, whether it
        was handled): it never writes the update's mark, which must commit with the
        handler's own effects."""
        outside = CURRENT_UPDATE.set(None)
        try:
            async with self.tx() as conn:
                yield conn
        finally:
            CURRENT_UPDATE.reset(outside)

    async def _retry_busy(self, statement: Callable[[], T], patient: bool = False) -> T:
        """Run `statement` (which fails whole or not at all); while another process holds
        the write lock, try again with a growing pause, up to BUSY_TIMEOUT_MS in all (or
        for as long as it takes, if `patient`)."""
        delay, waited = BACKOFF_FIRST, 0.0
        while True:
            try:
                return statement()
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or (not patient and waited >= BUSY_TIMEOUT_MS / 1000):
                    raise
            self.stats.busy_retries += 1
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, BACKOFF_MAX)

    async def execute_alone(
        self, sql: str, params: Iterable[Any] = (), *, patient: bool = False
    ) -> int:
        """One statement in its own implicit transaction, on the loop; returns rowcount.
        `patient` as for `tx`."""
        args = tuple(params)
        raw = self.raw
        await self._acquire()
        try:
            cur = await self._retry_busy(lambda: raw.execute(sql, args), patient)
            self._committed()
            return cur.rowcount
        finally:
            self._release()

    def _committed(self) -> None:
        self.stats.loop_txs += 1
        self._commits += 1
        if self._commits % CHECK_WAL_EVERY == 0 and self._wal_size() > WAL_LIMIT_BYTES:
            self._checkpoint_soon()

    # -- on the database thread ------------------------------------------------------

    async def _on_thread(self, fn: Callable[[], T]) -> T:
        """Run `fn` on aiosqlite's thread (its private `_execute`, see the module doc)."""
        if self._aio is None:
            raise RuntimeError("database is not open")
        result: T = await self._aio._execute(fn)
        return result

    async def job(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """`fn(conn, *args)` as one transaction on the database thread (see the module doc)."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("database is not open")
        raw = conn._raw
        update = CURRENT_UPDATE.get()  # read here: the thread has its own context

        def work() -> T:
            with _busy_timeout(raw):
                raw.execute("BEGIN IMMEDIATE")
                try:
                    mark = _mark_update(raw, update)
                    result = _run_to_end(fn(conn, *args))
                except BaseException:
                    if raw.in_transaction:
                        raw.execute("ROLLBACK")
                    raise
                raw.execute("COMMIT")
                if mark is not None:
                    mark.committed = True
                return result

        return await self._locked_on_thread(work)

    async def _locked_on_thread(self, work: Callable[[], T]) -> T:
        await self._acquire()
        try:
            running = asyncio.ensure_future(self._on_thread(work))
        except BaseException:
            self._release()
            raise
        # Released when the work is over, even if our caller is cancelled meanwhile: the
        # thread must be done with the connection before the loop may use it again.
        running.add_done_callback(lambda _: self._release())
        self.stats.jobs += 1
        return await asyncio.shield(running)

    async def owe_scrub(self, conn: Conn) -> None:
        """Inside a transaction that deletes what someone asked to be erased (or rewrites
        ciphertext under a new key): the file owes a scrub, paid by `scrub`."""
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, 'vacuum') "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (SCRUB_KEY,),
        )
        self._scrub_owed = None  # read again: the transaction may still roll back

    async def scrub(self) -> bool:
        """Pay the scrub `owe_scrub` recorded: VACUUM once (no freed page keeps old
        bytes), then empty the WAL, whose older frames still hold the deleted rows.

        A reader in another process (a backup, a health check) keeps those frames until
        it ends; waiting for it here would hold every update back, so the scrub waits
        SCRUB_WAIT_MS at most, the debt stays in `meta` (a restart keeps it too) and each
        sweep tries again. True when nothing is owed any more."""
        if self._scrub_owed is False:
            return True

        def work() -> bool:
            raw = self.raw
            row = raw.execute("SELECT value FROM meta WHERE key = ?", (SCRUB_KEY,)).fetchone()
            if row is None:
                return True
            if row[0] == "vacuum":
                with _busy_timeout(raw):
                    raw.execute("VACUUM").fetchall()
                    raw.execute("UPDATE meta SET value = 'wal' WHERE key = ?", (SCRUB_KEY,))
            with _busy_timeout(raw, SCRUB_WAIT_MS):
                busy = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if busy:
                return False
            with _busy_timeout(raw):
                raw.execute("DELETE FROM meta WHERE key = ?", (SCRUB_KEY,))
            return True

        paid = await self._locked_on_thread(work)
        if not paid and self._scrub_owed is None:
            log.warning("a reader holds the WAL: erased bytes stay there until a later sweep")
        self._scrub_owed = not paid
        return paid

    # -- the WAL -------------------------------------------------------------------

    def _wal_size(self) -> int:
        try:
            return os.stat(self.path + "-wal").st_size
        except OSError:
            return 0

    async def checkpoint(self) -> tuple[int, int, int]:
        """Copy the WAL into the database off the loop, on a connection of its own (our
        writers go on meanwhile). PASSIVE normally; past WAL_LIMIT_BYTES, TRUNCATE, which
        waits for readers and writers and leaves an empty WAL. Returns SQLite's
        (busy, frames in the WAL, frames checkpointed)."""
        if self.path == ":memory:" or self._aio is None:
            return (0, 0, 0)
        mode = "TRUNCATE" if self._wal_size() > WAL_LIMIT_BYTES else "PASSIVE"

        def work() -> tuple[int, int, int]:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False
                )
                self._checkpointer.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                self._checkpointer.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
            row = self._checkpointer.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            return (int(row[0]), int(row[1]), int(row[2]))

        return await asyncio.to_thread(work)

    def _checkpoint_soon(self) -> None:
        """The WAL grew past its bound between sweeps: checkpoint it in the background."""
        if self._checkpointing is not None and not self._checkpointing.done():
            return

        async def run() -> None:
            try:
                await self.checkpoint()
            except Exception as exc:  # the next sweep tries again
                log.warning("WAL checkpoint failed: %s", type(exc).__name__)

        self._checkpointing = asyncio.get_running_loop().create_task(run())


class LoopTx:
    """`async with db.tx() as conn`: BEGIN IMMEDIATE ... COMMIT on the event loop."""

    __slots__ = ("_db", "_mark", "_patient", "_started")

    def __init__(self, db: Database, patient: bool = False) -> None:
        self._db = db
        self._patient = patient
        self._started = 0.0
        self._mark: UpdateMark | None = None

    async def __aenter__(self) -> Conn:
        db = self._db
        conn = db._conn
        if conn is None:
            raise RuntimeError("database is not open")
        await db._acquire()
        try:
            raw = conn._raw
            await db._retry_busy(lambda: raw.execute("BEGIN IMMEDIATE"), self._patient)
            self._mark = _mark_update(raw)
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            db._release()
            raise
        conn.statements = 0
        self._started = time.perf_counter()
        return conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        db = self._db
        raw = db.raw
        try:
            if exc_type is None:
                try:
                    raw.execute("COMMIT")
                except BaseException:
                    if raw.in_transaction:
                        raw.execute("ROLLBACK")
                    raise
                db._committed()
                if self._mark is not None:
                    self._mark.committed = True
            elif raw.in_transaction:
                raw.execute("ROLLBACK")
        finally:
            took = time.perf_counter() - self._started
            db._release()
            if took > SLOW_LOOP_TX:
                db.stats.slow += 1
                # Ids only: where the transaction was opened, never a statement's values.
                caller = sys._getframe(1).f_code
                log.warning(
                    "slow transaction on the event loop: %.1f ms, %d statements, in %s (%s:%d)",
                    took * 1000,
                    db._conn.statements if db._conn else 0,
                    caller.co_qualname,
                    os.path.basename(caller.co_filename),
                    sys._getframe(1).f_lineno,
                )


def _mark_update(raw: sqlite3.Connection, mark: UpdateMark | None = None) -> UpdateMark | None:
    """In an update's first transaction, mark the update seen (or refuse a second copy)."""
    mark = mark if mark is not None else CURRENT_UPDATE.get()
    if mark is None or mark.committed:
        return None
    cur = raw.execute(
        "INSERT INTO seen_updates (update_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (mark.update_id, mark.at),
    )
    if cur.rowcount != 1:
        raise AlreadyHandled(mark.update_id)
    return mark


class _busy_timeout:
    """Off the loop a transaction may wait for another process's lock, as SQLite does."""

    def __init__(self, raw: sqlite3.Connection, ms: int = BUSY_TIMEOUT_MS) -> None:
        self.raw = raw
        self.ms = ms

    def __enter__(self) -> None:
        self.raw.execute(f"PRAGMA busy_timeout = {self.ms}")

    def __exit__(self, *exc: object) -> None:
        self.raw.execute("PRAGMA busy_timeout = 0")


def _run_to_end(coroutine: Awaitable[T]) -> T:
    """Run a coroutine that never suspends (a job: it awaits only `Conn`) to its end."""
    assert isinstance(coroutine, Coroutine)
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("a database job may await only the database")
