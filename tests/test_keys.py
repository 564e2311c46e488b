"""Keys never start in a state that strands data (issue 11, items 9-11), and one process
per database."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.crypto import Cipher
from bot.instance import hold_lock
from bot.keys import KEY_CHECK, StartRefused
from bot.messages import Msg
from bot.rotate import rotate
from playground.sim import World
from tests.helpers import checkin_now, pair_by_invite
from tests.test_checkin import answer_all
from tests.test_faults_sends import services


def file_world(tmp_path: Path) -> World:
    key_file = tmp_path / "secrets" / "trellis.key"
    return World(
        db_path=tmp_path / "data" / "trellis.sqlite3",
        settings_overrides={"data_encryption_key": None, "key_file": key_file},
    )


async def with_private_words(world: World) -> None:
    await world.start()
    alice, bob = world.person(101, "Alice"), world.person(202, "Bob")
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    await answer_all(world, alice, "4", note="a private note")
    await world.stop()


async def refused(world: World) -> str:
    with pytest.raises(StartRefused) as caught:
        await world.start()
    return str(caught.value)


async def test_a_missing_key_file_is_never_replaced_while_ciphertext_exists(
    tmp_path: Path,
) -> None:
    """Was: a new key was made, and every stored answer became unreadable for good."""
    world = file_world(tmp_path)
    await with_private_words(world)
    key_file = tmp_path / "secrets" / "trellis.key"
    saved = key_file.read_bytes()
    key_file.unlink()
    message = await refused(world)
    assert "Restore the key file" in message and str(key_file) in message
    assert not key_file.exists()  # no new key left on disk
    key_file.write_bytes(saved)
    key_file.chmod(0o600)
    await world.start()  # the restored key starts again
    await world.stop()


async def test_a_wrong_key_is_refused(tmp_path: Path) -> None:
    world = World(db_path=tmp_path / "data" / "trellis.sqlite3")
    await with_private_words(world)
    right = world.key
    world.key = Fernet.generate_key().decode()
    assert "does not match this database" in await refused(world)
    world.key = right
    await world.start()
    await world.stop()


async def test_a_key_is_made_only_for_an_empty_database(tmp_path: Path) -> None:
    world = file_world(tmp_path)
    await world.start()
    key_file = tmp_path / "secrets" / "trellis.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    core = services(world).core
    async with core.db.tx() as conn:
        cur = await conn.execute("SELECT value FROM meta WHERE key = ?", (KEY_CHECK,))
        row = await cur.fetchone()
    assert row is not None
    await world.stop()
    # The key check alone (no user data yet) is enough to refuse a stranger's key.
    key_file.unlink()
    assert "Restore the key file" in await refused(world)


async def test_key_and_data_files_are_owner_only(tmp_path: Path) -> None:
    """Was: a 0644 key file was used silently, a key under the data folder accepted, and the
    database, -wal and -shm were 0644 in a 0755 folder."""
    world = file_world(tmp_path)
    await world.start()
    db = world.db_path
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    await world.stop()
    key_file = tmp_path / "secrets" / "trellis.key"
    key_file.chmod(0o644)
    assert "chmod 600" in await refused(world)
    key_file.chmod(0o600)
    db.chmod(0o644)
    await world.start()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600  # tightened at start
    await world.stop()
    inside = World(
        db_path=tmp_path / "d2" / "trellis.sqlite3",
        settings_overrides={
            "data_encryption_key": None,
            "key_file": tmp_path / "d2" / "keys" / "trellis.key",
        },
    )
    assert "inside the database folder" in await refused(inside)


async def test_rotation_skips_plain_bodies_and_resumes(tmp_path: Path) -> None:
    """Was: InvalidToken on a pending plain-content outbox body; no way to resume."""
    world = World(db_path=tmp_path / "data" / "trellis.sqlite3")
    await with_private_words(world)
    await world.start()
    core = services(world).core
    async with core.db.tx() as conn:
        await core.queue_many(conn, [("plain:1", Msg(101, "From content only"))], encrypt=False)
    await world.stop()
    old, new = world.key.encode(), Fernet.generate_key()
    both = Cipher([new, old])
    calls = 0
    real = Cipher.rotate

    def dies_midway(self: Cipher, blob: bytes) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt("interrupted")
        return real(self, blob)

    Cipher.rotate = dies_midway  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            await rotate(world.db_path, both, batch=1)
    finally:
        Cipher.rotate = real  # type: ignore[method-assign]
    world.key = new.decode()
    assert "does not match" in await refused(world)  # the key check still needs the old key
    assert await rotate(world.db_path, both, batch=1) > 0  # run again: it finishes
    assert await rotate(world.db_path, both) == 0  # and there is nothing left to do
    await world.start()  # the new key alone reads everything
    await world.tick()
    assert world.said(101, "From content only")
    await world.send(world.person(101, "Alice"), "/export")
    await world.stop()


ROOT = Path(__file__).resolve().parents[1]


def run_bot(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "TELEGRAM_BOT_TOKEN": "123456789:TEST-token-never-real",
            "TELEGRAM_BASE_URL": "http://127.0.0.1:9/bot",
            "DATABASE_PATH": str(tmp_path / "data" / "trellis.sqlite3"),
            "KEY_FILE": str(tmp_path / "secrets" / "trellis.key"),
            **env,
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_python_m_bot_refuses_clearly(tmp_path: Path) -> None:
    """The real process: a missing key and a second process are refused before Telegram."""
    world = file_world(tmp_path)
    await with_private_words(world)
    key_file = tmp_path / "secrets" / "trellis.key"
    saved = key_file.read_bytes()
    key_file.unlink()
    done = run_bot(tmp_path)
    assert done.returncode == 2 and "Restore the key file" in done.stderr
    key_file.write_bytes(saved)
    key_file.chmod(0o600)
    fd = hold_lock(world.db_path)  # as if another process were running
    try:
        done = run_bot(tmp_path)
    finally:
        os.close(fd)
    assert done.returncode == 2 and "Another Trellis process" in done.stderr
    assert "TEST-token" not in done.stderr
