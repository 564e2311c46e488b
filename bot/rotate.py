"""`python -m bot.rotate`: re-encrypt every stored value under the first key.

Convention (docs/architecture.md): every BLOB column holds Fernet ciphertext,
except `invites.token_hash`, which is a hash. Run it with the bot stopped, after
setting `DATA_ENCRYPTION_KEY=<new>,<old>`; then drop the old key.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from bot.crypto import Cipher
from bot.settings import Settings

NOT_CIPHERTEXT = {("invites", "token_hash")}


def encrypted_columns(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """(table, column, primary-key expression) for every encrypted column."""
    found = []
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    for table in tables:
        for _, column, kind, *_ in conn.execute(f"PRAGMA table_info({table})"):
            if kind.upper() == "BLOB" and (table, column) not in NOT_CIPHERTEXT:
                found.append((table, column, "rowid"))
    return found


def rotate(db_path: Path, cipher: Cipher) -> int:
    """Re-encrypt in one transaction; returns how many values were rewritten."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        count = 0
        for table, column, key in encrypted_columns(conn):
            rows = conn.execute(
                f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL"
            ).fetchall()
            conn.executemany(
                f"UPDATE {table} SET {column} = ? WHERE {key} = ?",
                [(cipher.rotate(value), rid) for rid, value in rows],
            )
            count += len(rows)
        # The key check value (bot/operations.py) is text, not a BLOB: rotate it by name.
        for (token,) in conn.execute("SELECT value FROM meta WHERE key = 'key_check'").fetchall():
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'key_check'",
                (cipher.rotate(token.encode("ascii")).decode("ascii"),),
            )
            count += 1
        conn.execute("COMMIT")
        conn.execute("VACUUM")  # no page keeps the old ciphertext
        return count
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def main() -> int:
    settings = Settings()
    key = settings.data_encryption_key.get_secret_value() if settings.data_encryption_key else None
    cipher = Cipher.from_settings(key, settings.key_file, settings.database_path)
    count = rotate(settings.database_path, cipher)
    print(f"re-encrypted {count} values under the first key")
    return 0


if __name__ == "__main__":
    sys.exit(main())
