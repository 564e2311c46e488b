"""What the person who runs Trellis needs: backups, a health check, counts.

`python -m bot backup|health|stats` call the plain functions here from a separate
process, on the same database file the bot has open (WAL lets them read while it
writes). The running bot uses `Operations`: each sweep records that it ran (one
upsert into `meta`) and, when `BACKUP_DIR` is set, takes the daily backup.

Nothing here reads what users wrote: the key is only used to decrypt the fixed
`key_check` value, and `stats` returns counts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.crypto import Cipher
from bot.db import Database
from bot.settings import Settings

log = logging.getLogger(__name__)

KEY_CHECK_TEXT = "trellis key check"
BACKUP_RE = re.compile(r"^trellis-(\d{8}T\d{6}Z)\.sqlite3$")
BACKUP_STAMP = "%Y%m%dT%H%M%SZ"
BACKUP_EVERY = timedelta(days=1)
BACKUP_RETRY = timedelta(hours=1)
STALE_SWEEPS = 3  # health fails when the last sweep is older than this many intervals


class OperationError(Exception):
    """A command could not do what was asked; the message says why, in one line."""


# -- opening the file from another process -------------------------------------------


def open_existing(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """Open a database file that must already exist (never create an empty one)."""
    if not path.is_file():
        raise OperationError(f"cannot open the database: {path} does not exist")
    mode = "ro" if read_only else "rw"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=5)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise OperationError(f"cannot open the database {path}: {exc}") from exc
    return conn


def meta(conn: sqlite3.Connection) -> dict[str, str]:
    try:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error as exc:
        raise OperationError(f"cannot read the database: {exc} (has the bot ever run?)") from exc


# -- backups -----------------------------------------------------------------------


def backup_name(now: datetime) -> str:
    return f"trellis-{now.astimezone(UTC).strftime(BACKUP_STAMP)}.sqlite3"


def backup(db_path: Path, dest: Path, now: datetime, *, folder: bool = False) -> Path:
    """A consistent, checked, owner-only copy of the live database; returns its path.

    `dest` is a folder (`folder=True` or an existing folder: the file is named by the
    time) or else a new file.
    SQLite's online backup API copies every page in one step inside one read
    transaction, so the copy is one moment of the database even while the bot writes.
    """
    target = dest / backup_name(now) if folder or dest.is_dir() else dest
    if target.exists():
        raise OperationError(f"{target} already exists; refusing to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = target.with_name(f".{target.name}.partial")
    src = open_existing(db_path, read_only=True)
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        os.chmod(partial, 0o600)  # whatever the umask said
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # pages=-1: all pages in one step, one consistent snapshot
            # One self-contained file: no -wal beside it to forget when copying it away.
            dst.execute("PRAGMA journal_mode=DELETE").fetchall()
            result = [r[0] for r in dst.execute("PRAGMA integrity_check").fetchall()]
        finally:
            dst.close()
        if result != ["ok"]:
            raise OperationError(f"the copy failed its integrity check: {result[0]}")
        with open(partial, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, target)
        _fsync_dir(target.parent)  # the rename itself survives a power cut
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    return target


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backups_in(folder: Path) -> list[Path]:
    """The backups this module wrote in `folder`, oldest first (other files are not ours)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if BACKUP_RE.match(p.name) and p.is_file())


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups; returns what was deleted."""
    found = backups_in(folder)
    gone = found[: max(0, len(found) - keep)]
    for path in gone:
        path.unlink()
    return gone


def key_whereabouts(settings: Settings) -> str:
    if settings.data_encryption_key and settings.data_encryption_key.get_secret_value():
        return "the data key is in DATA_ENCRYPTION_KEY (the environment or .env)"
    return f"the data key is in {settings.key_file.resolve()}"


# -- health ------------------------------------------------------------------------


def key_matches(cipher: Cipher, token: str) -> bool:
    try:
        return cipher.decrypt(token.encode("ascii")) == KEY_CHECK_TEXT
    except ValueError:
        return False


def health(settings: Settings, now: datetime) -> str:
    """'ok: …' when the bot is alive and working; raises OperationError saying why not."""
    conn = open_existing(settings.database_path, read_only=True)
    try:
        facts = meta(conn)
    finally:
        conn.close()
    env_key = (
        settings.data_encryption_key.get_secret_value() if settings.data_encryption_key else None
    )
    try:
        cipher = Cipher.from_settings(env_key, settings.key_file, settings.database_path)
    except ValueError as exc:
        raise OperationError(f"the data key cannot be loaded: {exc}") from exc
    token = facts.get("key_check")
    if token is not None and not key_matches(cipher, token):
        raise OperationError(
            "the data key does not match the database: check DATA_ENCRYPTION_KEY / KEY_FILE"
        )
    last = facts.get("last_sweep")
    if last is None:
        raise OperationError("no sweep recorded yet: is the bot running?")
    age = now.timestamp() - int(last)
    limit = STALE_SWEEPS * settings.sweep_interval_seconds
    if age > limit:
        raise OperationError(
            f"the last sweep was {age:.0f} s ago (limit {limit:g} s): the bot is stopped or stuck"
        )
    return f"ok: last sweep {max(age, 0):.0f} s ago"


# -- stats -------------------------------------------------------------------------


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of `now`'s ISO week."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


STATS: tuple[tuple[str, str], ...] = (
    ("couples paired", "SELECT count(*) FROM couples WHERE stage != 'dissolved'"),
    (
        "couples active",
        "SELECT count(*) FROM couples WHERE stage = 'active' "
        "AND (paused_until IS NULL OR paused_until <= :now)",
    ),
    ("check-ins opened this week", "SELECT count(*) FROM checkins WHERE opened_at >= :week"),
    (
        "check-ins completed this week",
        "SELECT count(*) FROM checkins WHERE status = 'revealed' AND closed_at >= :week",
    ),
    (
        "conversations held this week",
        "SELECT count(*) FROM conflict_conversations c WHERE c.created_at >= :week AND EXISTS "
        "(SELECT 1 FROM conflict_turns t WHERE t.conversation_id = c.id AND t.kind = 'speak')",
    ),
    (
        "conversations held in all",
        "SELECT count(*) FROM conflict_conversations c WHERE EXISTS "
        "(SELECT 1 FROM conflict_turns t WHERE t.conversation_id = c.id AND t.kind = 'speak')",
    ),
    ("messages owed", "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed IS NULL"),
    ("messages failed", "SELECT count(*) FROM outbox WHERE failed IS NOT NULL"),
)


def stats(db_path: Path, now: datetime) -> dict[str, int]:
    """Counts only: no id, name or text leaves this function."""
    conn = open_existing(db_path, read_only=True)
    params = {"now": int(now.timestamp()), "week": int(week_start(now).timestamp())}
    try:
        counts = {name: int(conn.execute(sql, params).fetchone()[0]) for name, sql in STATS}
    except sqlite3.Error as exc:
        raise OperationError(f"cannot read the database: {exc} (has the bot ever run?)") from exc
    finally:
        conn.close()
    counts["database bytes"] = sum(
        p.stat().st_size for p in (db_path, db_path.with_name(db_path.name + "-wal")) if p.exists()
    )
    return counts


# -- inside the running bot -------------------------------------------------------------


@dataclass
class Operations:
    """The bot's own side: heartbeat, key check value, daily backup."""

    db: Database
    cipher: Cipher
    settings: Settings
    _next_backup: datetime | None = None

    async def record_key_check(self) -> None:
        """Store the key check value once; `health` decrypts it to see the key still fits."""
        token = self.cipher.encrypt(KEY_CHECK_TEXT).decode("ascii")
        await self.db.execute_alone(
            "INSERT INTO meta (key, value) VALUES ('key_check', ?) ON CONFLICT DO NOTHING",
            (token,),
        )

    def _backup(self, folder: Path, now: datetime) -> Path:
        return backup(Path(self.db.path), folder, now, folder=True)

    async def after_sweep(self, now: datetime) -> None:
        """One upsert says the sweep ran; then the daily backup if one is due."""
        await self.db.execute_alone(
            "INSERT INTO meta (key, value) VALUES ('last_sweep', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (str(int(now.timestamp())),),
        )
        folder = self.settings.backup_dir
        if folder is None:
            return
        if self._next_backup is None:
            found = [BACKUP_RE.match(p.name) for p in backups_in(folder)]
            stamps = [datetime.strptime(m.group(1), BACKUP_STAMP) for m in found if m]
            self._next_backup = max(stamps).replace(tzinfo=UTC) + BACKUP_EVERY if stamps else now
        if now < self._next_backup:
            return
        self._next_backup = now + BACKUP_EVERY
        try:
            path = await asyncio.to_thread(self._backup, folder, now)
            gone = await asyncio.to_thread(prune, folder, self.settings.backup_keep)
        except (OSError, OperationError, sqlite3.Error) as exc:
            # The bot keeps running and tries again in an hour.
            log.error("daily backup failed: %s", exc)
            self._next_backup = now + BACKUP_RETRY
            return
        log.info("daily backup written to %s; %d old backup(s) removed", path, len(gone))
