"""The data key at start: never run in a state that strands data.

`open_cipher` runs before anything is written (app start, `python -m bot.rotate`):

- the database records a key check value (`meta.key_check`, a Fernet token of a fixed
  text): a start whose key cannot read it is refused with what to restore;
- a key is generated only for a database that holds no ciphertext and no key check;
  a missing key file with ciphertext present is refused, never replaced;
- the key file must sit outside the database folder and be owner-only (0600); the data
  folder and the database files are made owner-only (0700/0600) before SQLite opens them.

Which values are ciphertext: every BLOB column except those in `NOT_CIPHERTEXT`, and
only values that are Fernet tokens (an outbox body built from content alone is plain
JSON; `is_token` tells them apart).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet

from bot.crypto import Cipher
from bot.db import Conn, Database, fetch_all, fetch_one
from bot.operations import KEY_CHECK_TEXT

log = logging.getLogger(__name__)

KEY_CHECK = "key_check"
NOT_CIPHERTEXT = {("invites", "token_hash")}
FERNET_VERSION = 0x80


class StartRefused(Exception):
    """Trellis must not start: the message says why and what to do (shown as is)."""


MISSING_KEY = """\
The data key is missing, but this database holds encrypted data.

  Database: {db}
  Key file: {key} (not found)

Restore the key file from your backup to {key} (or set DATA_ENCRYPTION_KEY to the key
in use when this data was written), then start again. Trellis did not start and made no
new key: a new key could never read what is already stored."""

WRONG_KEY = """\
The data key does not match this database: it cannot read the key check stored there.

  Database: {db}
  Key from: {source}

Restore the key that was in use for this database (a rotation keeps the old one second:
DATA_ENCRYPTION_KEY=<new>,<old>), then start again. Trellis did not start."""

KEY_INSIDE_DATA = """\
The key file {key} is inside the database folder {folder}.
A copy or backup of the data folder would carry its key with it. Move the key elsewhere
(KEY_FILE=...), then start again."""

KEY_MODE = """\
The key file {key} can be read by other users (mode {mode:o}).
Make it owner-only with: chmod 600 {key}
then start again (and consider the key exposed if others could log in)."""


def is_token(value: object) -> bool:
    """True if `value` is a Fernet token (so: ciphertext), not plain bytes or JSON."""
    if not isinstance(value, bytes | bytearray) or len(value) < 57:
        return False
    try:
        raw = base64.urlsafe_b64decode(bytes(value))
    except (binascii.Error, ValueError):
        return False
    return len(raw) >= 57 and raw[0] == FERNET_VERSION


async def cipher_columns(conn: Conn) -> list[tuple[str, str]]:
    """(table, column) of every column that may hold ciphertext, `meta` excluded."""
    tables = await fetch_all(
        conn,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name != 'meta' ORDER BY name",
    )
    found = []
    for t in tables:
        for col in await fetch_all(conn, f"PRAGMA table_info({t['name']})"):
            if (
                str(col["type"]).upper() == "BLOB"
                and (t["name"], col["name"]) not in NOT_CIPHERTEXT
            ):
                found.append((t["name"], col["name"]))
    return found


async def any_ciphertext(conn: Conn) -> bytes | None:
    """One stored ciphertext value, if the database holds any."""
    for table, column in await cipher_columns(conn):
        for row in await fetch_all(
            conn, f"SELECT {column} AS v FROM {table} WHERE {column} IS NOT NULL LIMIT 50"
        ):
            if is_token(row["v"]):
                return bytes(row["v"])
    return None


def secure_files(database_path: Path) -> None:
    """Owner-only data: the folder 0700, the database and its -wal/-shm 0600.

    The database file is created 0600 before SQLite opens it: SQLite gives its -wal and
    -shm files the main file's mode.
    """
    if str(database_path) == ":memory:":
        return
    folder = database_path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _tighten(folder, 0o700)
    if not database_path.exists():
        os.close(os.open(database_path, os.O_WRONLY | os.O_CREAT, 0o600))
    for path in (database_path, Path(f"{database_path}-wal"), Path(f"{database_path}-shm")):
        if path.exists():
            _tighten(path, 0o600)


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077:
        os.chmod(path, mode)
        log.warning("%s was readable by others (mode %o); made owner-only", path, current)


def _key_file_checked(key_file: Path, database_path: Path) -> Path:
    key_file = key_file.resolve()
    folder = database_path.resolve().parent
    if folder == key_file.parent or folder in key_file.parents:
        raise StartRefused(KEY_INSIDE_DATA.format(key=key_file, folder=folder))
    if key_file.exists():
        mode = stat.S_IMODE(key_file.stat().st_mode)
        if mode & 0o077:
            raise StartRefused(KEY_MODE.format(key=key_file, mode=mode))
    return key_file


def _read_key_file(key_file: Path) -> list[bytes]:
    return [line.strip() for line in key_file.read_bytes().splitlines() if line.strip()]


def _new_key_file(key_file: Path) -> list[bytes]:
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Fernet.generate_key()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    log.warning("generated a new data key at %s for an empty database: back it up", key_file)
    return [key]


async def open_cipher(db: Database, env_key: str | None, key_file: Path) -> Cipher:
    """The cipher for this database, or StartRefused. Records the key check if absent."""
    database_path = Path(db.path)
    async with db.tx() as conn:
        check_row = await fetch_one(conn, "SELECT value FROM meta WHERE key = ?", (KEY_CHECK,))
        sample = await any_ciphertext(conn)
    # Stored as text (bot/operations.py reads it for `python -m bot health`).
    check = str(check_row["value"]).encode("ascii") if check_row is not None else None
    holds_data = check is not None or sample is not None
    if env_key:
        keys = [k.strip().encode() for k in env_key.split(",") if k.strip()]
        source = "DATA_ENCRYPTION_KEY"
    else:
        path = _key_file_checked(key_file, database_path)
        source = str(path)
        if path.exists():
            keys = _read_key_file(path)
        elif holds_data:
            raise StartRefused(MISSING_KEY.format(db=database_path, key=path))
        else:
            keys = _new_key_file(path)
    try:
        cipher = Cipher(keys)
    except ValueError as exc:  # not a Fernet key at all
        raise StartRefused(WRONG_KEY.format(db=database_path, source=source)) from exc
    probe = check if check is not None else sample
    if probe is not None:
        try:
            cipher.decrypt(probe)
        except ValueError as exc:
            raise StartRefused(WRONG_KEY.format(db=database_path, source=source)) from exc
    if check is None:
        async with db.tx() as conn:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
                (KEY_CHECK, cipher.encrypt(KEY_CHECK_TEXT).decode("ascii")),
            )
    return cipher


async def preflight(database_path: Path, env_key: str | None, key_file: Path) -> None:
    """Every start check, before the bot talks to Telegram (raises StartRefused)."""
    secure_files(database_path)
    db = Database(database_path)
    await db.open()
    try:
        await open_cipher(db, env_key, key_file)
    finally:
        await db.close()
