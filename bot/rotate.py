"""`python -m bot.rotate`: re-encrypt every stored value under the first key.

Run it with the bot stopped (it takes the same instance lock), after setting
`DATA_ENCRYPTION_KEY=<new>,<old>`; drop the old key once it reports done.

Which values are ciphertext: bot/keys.py (`cipher_columns`, `is_token`): every BLOB
column except hashes, and only values that are Fernet tokens, so a plain-JSON outbox
body is left as it is. The work is committed in batches and a value already under the
first key is skipped, so an interrupted run is simply run again. The key check is
rotated last: until everything else is done, it still needs the old key to start.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.crypto import Cipher
from bot.db import Database, fetch_all
from bot.instance import hold_lock
from bot.keys import KEY_CHECK, StartRefused, cipher_columns, is_token, open_cipher, secure_files
from bot.settings import Settings

BATCH = 500


async def rotate(db_path: Path, cipher: Cipher, batch: int = BATCH) -> int:
    """Re-encrypt what is not yet under the first key; returns how many values changed."""
    db = Database(db_path)
    await db.open()
    try:
        return await rotate_open(db, cipher, batch)
    finally:
        await db.close()


async def rotate_open(db: Database, cipher: Cipher, batch: int = BATCH) -> int:
    count = 0
    async with db.tx() as conn:
        columns = await cipher_columns(conn)
    for table, column in columns:
        last = -(2**63)
        while True:
            async with db.tx() as conn:
                rows = await fetch_all(
                    conn,
                    f"SELECT rowid AS r, {column} AS v FROM {table} "
                    f"WHERE rowid > ? AND {column} IS NOT NULL ORDER BY rowid LIMIT ?",
                    (last, batch),
                )
                if not rows:
                    break
                last = rows[-1]["r"]
                changed = [
                    (cipher.rotate(bytes(r["v"])), r["r"])
                    for r in rows
                    if is_token(r["v"]) and not cipher.is_current(bytes(r["v"]))
                ]
                await conn.executemany(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", changed)
                if changed:
                    await db.owe_scrub(conn)
                count += len(changed)
    async with db.tx() as conn:  # last: only a finished rotation lets the old key go
        for r in await fetch_all(conn, "SELECT value FROM meta WHERE key = ?", (KEY_CHECK,)):
            token = str(r["value"]).encode("ascii")  # stored as text (bot/operations.py)
            if not cipher.is_current(token):
                await conn.execute(
                    "UPDATE meta SET value = ? WHERE key = ?",
                    (cipher.rotate(token).decode("ascii"), KEY_CHECK),
                )
                count += 1
    if not await db.scrub():  # no page or WAL frame keeps the old ciphertext
        print(
            "another process is reading the database: old ciphertext stays in its WAL "
            "until the bot's next sweep after that reader ends",
            file=sys.stderr,
        )
    return count


async def _run(settings: Settings) -> int:
    secure_files(settings.database_path)
    db = Database(settings.database_path)
    await db.open()
    try:
        key = (
            settings.data_encryption_key.get_secret_value()
            if settings.data_encryption_key
            else None
        )
        cipher = await open_cipher(db, key, settings.key_file)
        return await rotate_open(db, cipher)
    finally:
        await db.close()


def main() -> int:
    settings = Settings()
    try:
        hold_lock(settings.database_path)
        count = asyncio.run(_run(settings))
    except StartRefused as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"re-encrypted {count} values under the first key; you may now drop the old key")
    return 0


if __name__ == "__main__":
    sys.exit(main())
