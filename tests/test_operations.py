"""The operator's commands through their real entry point, `python -m bot …`, in a
separate process on the same database file the running application uses.

The application runs in this process (against the fake Bot API) with a clock set to
the real time, because the commands read the wall clock as a supervisor would.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.clock import ManualClock
from bot.crypto import Cipher
from bot.operations import backups_in
from bot.rotate import rotate
from bot.settings import Settings
from playground.sim import World
from tests.helpers import pair_by_invite, started
from tests.test_data_rights import (
    couple_id,
    json_export,
    services,
    write_checkin,
    write_conversation,
)

ROOT = Path(__file__).resolve().parents[1]


def command_env(world: World, **extra: str) -> dict[str, str]:
    """The environment a supervisor would give: no token, the world's file and key."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in Settings.model_fields and not k.startswith("PYTHON")
    }
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_PATH=str(world.db_path),
        DATA_ENCRYPTION_KEY=world.key,
        SWEEP_INTERVAL_SECONDS="30",
    )
    env.update(extra)
    return env


def argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot", *args]


def run(world: World, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # cwd is the test's folder: a developer's .env in the repository is not read.
    return subprocess.run(
        argv(*args),
        cwd=world.db_path.parent.parent,
        env=command_env(world, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[World]:
    clock = ManualClock(datetime.now(UTC))  # the commands read the wall clock
    async with started(World(db_path=tmp_path / "data" / "trellis.sqlite3", clock=clock)) as w:
        yield w


# -- backup -------------------------------------------------------------------------


async def test_backup_while_the_bot_writes_then_restore_and_read_back(
    live: World, tmp_path: Path
) -> None:
    alice, bob = live.person(101, "Alice"), live.person(202, "Bob")
    await pair_by_invite(live, alice, bob)
    written = 0
    stop = asyncio.Event()

    async def keep_writing() -> None:
        nonlocal written
        while not stop.is_set():
            await live.send(alice, f"/thanks thank-you-{written}")
            written += 1
            await asyncio.sleep(0)

    writer = asyncio.create_task(keep_writing())
    await asyncio.sleep(0.05)
    before = written
    proc = await asyncio.create_subprocess_exec(
        *argv("backup", str(tmp_path / "backups") + os.sep),
        cwd=tmp_path,
        env=command_env(live),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    during = written - before
    stop.set()
    await writer
    assert proc.returncode == 0, err.decode()
    assert during > 0  # the application wrote while the command ran

    [copy] = backups_in(tmp_path / "backups")
    assert f"backup written to {copy}" in out.decode()
    assert "DATA_ENCRYPTION_KEY" in out.decode() and "apart" in out.decode()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o700
    raw = copy.read_bytes()
    # A Fernet key is 32 bytes in URL-safe base64: a signing half and an encryption half
    # (the Fernet spec). Neither may be in the copy, whether as text or raw bytes.
    key_bytes = base64.urlsafe_b64decode(live.key)
    assert live.key.encode() not in raw
    assert key_bytes[:16] not in raw and key_bytes[16:] not in raw
    assert not copy.with_name(copy.name + "-wal").exists()  # one self-contained file
    with sqlite3.connect(copy) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        in_copy = check.execute("SELECT count(*) FROM appreciations").fetchone()[0]
    assert 0 < in_copy <= written

    # Restore as the README says: stop, copy back, start; the data reads back.
    await live.stop()
    for leftover in live.db_path.parent.glob(live.db_path.name + "*"):
        leftover.unlink()
    shutil.copy2(copy, live.db_path)
    await live.start()
    await live.send(alice, "/export")
    exported = json.loads(json_export(live, alice).document or b"{}")
    texts = [t["text"] for t in exported["thanks_sent"]]
    assert texts == [f"thank-you-{n}" for n in range(in_copy)]  # whole transactions, in order
    await live.send(alice, "/status")
    assert "Bob" in live.last_text(alice.id)


async def test_backup_refuses_to_overwrite_and_says_why(live: World, tmp_path: Path) -> None:
    await live.tick()
    target = tmp_path / "one.sqlite3"
    target.write_bytes(b"keep me")
    done = await asyncio.to_thread(run, live, "backup", str(target))
    assert done.returncode == 1
    assert "already exists" in done.stderr and done.stderr.count("\n") == 1
    assert target.read_bytes() == b"keep me"


async def test_the_sweep_takes_a_daily_backup_and_keeps_the_last_n(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    world = World(
        db_path=tmp_path / "data" / "trellis.sqlite3",
        settings_overrides={"backup_dir": folder, "backup_keep": 2},
    )
    await world.start()
    try:
        folder.mkdir()
        (folder / "notes.txt").write_text("not a backup")
        await world.tick()
        assert len(backups_in(folder)) == 1
        world.clock.advance(timedelta(hours=23))
        await world.tick()
        assert len(backups_in(folder)) == 1  # not yet a day
        for _ in range(3):
            world.clock.advance(timedelta(days=1))
            await world.tick()
        kept = backups_in(folder)
        assert [p.name for p in kept] == [
            "trellis-20261126T080000Z.sqlite3",
            "trellis-20261127T080000Z.sqlite3",
        ]
        assert (folder / "notes.txt").exists()
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in kept)
        await world.restart()  # a restart does not take a second backup the same day
        await world.tick()
        assert backups_in(folder) == kept
    finally:
        await world.stop()


# -- health -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode",
    [{}, {"WEBHOOK_URL": "https://bot.example.org/hook", "WEBHOOK_SECRET": "s3cret"}],
    ids=["polling", "webhook"],
)
async def test_health_is_zero_while_the_bot_sweeps(live: World, mode: dict[str, str]) -> None:
    await live.tick()
    done = await asyncio.to_thread(run, live, "health", **mode)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: last sweep")


def one_line_failure(done: subprocess.CompletedProcess[str], why: str) -> None:
    assert done.returncode == 1, done.stdout
    assert why in done.stderr
    assert done.stderr.count("\n") == 1 and not done.stdout


async def test_health_fails_when_the_last_sweep_is_old(live: World) -> None:
    live.clock.advance(timedelta(seconds=-91))  # three 30 s intervals and a second ago
    await live.tick()
    one_line_failure(await asyncio.to_thread(run, live, "health"), "the last sweep was 9")
    live.clock.advance(timedelta(seconds=80))
    await live.tick()
    assert (await asyncio.to_thread(run, live, "health")).returncode == 0


async def test_health_fails_before_any_sweep(live: World) -> None:
    one_line_failure(await asyncio.to_thread(run, live, "health"), "no sweep recorded yet")


async def test_health_fails_when_the_database_cannot_be_opened(live: World) -> None:
    await live.tick()
    missing = live.db_path.with_name("gone.sqlite3")
    one_line_failure(
        await asyncio.to_thread(run, live, "health", DATABASE_PATH=str(missing)),
        "cannot open the database",
    )
    assert not missing.exists()  # the check did not create an empty one
    garbage = live.db_path.with_name("garbage.sqlite3")
    garbage.write_bytes(b"this is not a database" * 100)
    one_line_failure(
        await asyncio.to_thread(run, live, "health", DATABASE_PATH=str(garbage)),
        "cannot open the database",
    )


async def test_health_fails_when_the_key_does_not_match(live: World, tmp_path: Path) -> None:
    await live.tick()
    other = Fernet.generate_key().decode()
    one_line_failure(
        await asyncio.to_thread(run, live, "health", DATA_ENCRYPTION_KEY=other),
        "the data key does not match the database",
    )
    key_file = tmp_path / "secrets" / "trellis.key"
    one_line_failure(
        await asyncio.to_thread(
            run, live, "health", DATA_ENCRYPTION_KEY="", KEY_FILE=str(key_file)
        ),
        "the data key cannot be loaded",
    )
    assert not key_file.exists()  # a check never makes a new key
    # A rotated key list (new first, old still listed) still matches.
    rotated = f"{other},{live.key}"
    done = await asyncio.to_thread(run, live, "health", DATA_ENCRYPTION_KEY=rotated)
    assert done.returncode == 0, done.stderr


# -- stats --------------------------------------------------------------------------


async def test_stats_counts_and_nothing_else(live: World) -> None:
    alice, bob = live.person(101, "Alice"), live.person(202, "Bob")
    await pair_by_invite(live, alice, bob)
    cid = await couple_id(live, alice)
    await write_checkin(live, cid, {alice.id: "secret-note-a", bob.id: "secret-note-b"})
    await write_conversation(live, cid, alice.id, bob.id, "secret-topic")
    await live.send(alice, "/promise secret-promise")
    svc = services(live)
    async with svc.core.db.tx() as conn:
        await conn.execute(
            "INSERT INTO outbox (chat_id, created_at, failed) VALUES (?, 0, 'forbidden')",
            (bob.id,),
        )
        await conn.execute(
            "INSERT INTO outbox (chat_id, body, created_at) VALUES (?, X'00', 0)", (bob.id,)
        )
    done = await asyncio.to_thread(run, live, "stats")
    assert done.returncode == 0, done.stderr
    counts = dict(line.split(": ") for line in done.stdout.splitlines())
    assert counts["couples paired"] == "1" and counts["couples active"] == "1"
    assert counts["check-ins opened this week"] == "1"
    assert counts["check-ins completed this week"] == "1"
    assert counts["conversations held this week"] == "1"
    assert counts["messages owed"] == "1" and counts["messages failed"] == "1"
    assert int(counts["database bytes"]) > 0
    for secret in ("Alice", "Bob", "secret", str(alice.id), str(bob.id)):
        assert secret not in done.stdout


async def test_health_matches_the_new_key_after_rotation(live: World) -> None:
    await live.tick()
    await live.stop()
    old, new = live.key, Fernet.generate_key().decode()
    await rotate(live.db_path, Cipher([new.encode(), old.encode()]))
    done = await asyncio.to_thread(run, live, "health", DATA_ENCRYPTION_KEY=new)
    assert done.returncode == 0, done.stderr  # the key check value was rotated too
    one_line_failure(
        await asyncio.to_thread(run, live, "health", DATA_ENCRYPTION_KEY=old),
        "the data key does not match the database",
    )
    live.key = new
    await live.start()  # the fixture stops it
