"""One process per database: a lock held for the life of `python -m bot` (and rotate).

Two pollers on one token get 409s from Telegram and race each other's claims; two
writers on one file race each other's state. The lock is an advisory `flock` on
`<database>.lock`, released by the kernel when the process ends, however it ends,
so a killed process never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from bot.keys import StartRefused

SECOND_PROCESS = """\
Another Trellis process is already running on {db}
(the lock {lock} is held{pid}).

Only one process may use a database and its bot token at a time: stop the other one
first (or point this one at its own DATABASE_PATH and bot token)."""


def hold_lock(database_path: Path) -> int:
    """Take the instance lock or raise StartRefused; returns the descriptor to keep open."""
    lock = Path(f"{database_path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        pid = f" by process {holder}" if holder.isdigit() else ""
        raise StartRefused(SECOND_PROCESS.format(db=database_path, lock=lock, pid=pid)) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd
