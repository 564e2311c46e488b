"""What users write never reaches a log (at any level) or the raw database file.

A canary string goes into every kind of free text: check-in notes and open answers,
unasked messages, text sent while the database fails. Logging is set up exactly as
`python -m bot` does with LOG_LEVEL=DEBUG, in each LOG_FORMAT, and everything is
captured: the records, and the lines the configured handler wrote.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import bot.db
from bot.__main__ import setup_logging
from playground.sim import TEST_TOKEN, Person, World
from tests.helpers import checkin_now, pair_by_invite

CANARY = "canary-7f3a9c-pelican"


@pytest.fixture(params=["text", "json"])
def log_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def log_lines() -> io.StringIO:
    """What the configured handler writes (stderr in production)."""
    return io.StringIO()


@pytest.fixture
def debug_logging(
    caplog: pytest.LogCaptureFixture, log_format: str, log_lines: io.StringIO
) -> Iterator[pytest.LogCaptureFixture]:
    """`setup_logging('DEBUG', format)`, undone afterwards so other tests keep their levels."""
    names = ["", *logging.root.manager.loggerDict]
    before = {n: logging.getLogger(n).level for n in names}
    handler = setup_logging("DEBUG", log_format, log_lines)
    caplog.set_level(logging.DEBUG)
    yield caplog
    logging.getLogger().removeHandler(handler)
    for name in [*logging.root.manager.loggerDict]:
        logging.getLogger(name).setLevel(before.get(name, logging.NOTSET))


async def answer_with_canary(world: World, who: Person) -> None:
    """Answer the open check-in, putting the canary in every note and open answer."""
    for _ in range(12):
        labels = world.api.last(who.id).button_texts()
        if "5" in labels:
            await world.press(who, "4")
            await world.send(who, f"note {CANARY} from {who.first_name}")
        elif "Prefer not to say" in labels:
            await world.send(who, f"open answer {CANARY}")
        else:
            return
    raise AssertionError("check-in did not end")


def raw_files(db_path: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)
    )


async def test_canary_in_no_log_and_not_in_the_database_file(
    world: World,
    alice: Person,
    bob: Person,
    debug_logging: pytest.LogCaptureFixture,
    log_format: str,
    log_lines: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, f"unasked {CANARY}")
    await checkin_now(world, alice)
    await answer_with_canary(world, alice)
    await answer_with_canary(world, bob)
    assert any(CANARY in t for t in world.texts(alice.id))  # the reveal shows the notes
    await world.tick()

    # A failure while handling canary text: the error log says what happened, not what.
    monkeypatch.setattr(bot.db, "BUSY_TIMEOUT_MS", 20)
    await world.restart()
    world.raise_errors = False
    other = sqlite3.connect(world.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        await world.send(bob, f"while locked {CANARY}")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert world.errors
    world.errors.clear()
    world.raise_errors = True

    assert logging.getLogger("bot.checkins").isEnabledFor(logging.DEBUG)  # DEBUG was on
    assert any(r.levelno == logging.ERROR for r in debug_logging.records)  # the failure
    logged = (
        debug_logging.text
        + "\n".join(r.getMessage() + str(r.exc_info or "") for r in debug_logging.records)
        + log_lines.getvalue()
    )
    assert CANARY not in logged
    assert TEST_TOKEN not in logged and TEST_TOKEN.split(":")[1] not in logged
    lines = log_lines.getvalue().splitlines()
    assert len(lines) >= len(debug_logging.records) > 0
    if log_format == "json":
        # One object per line, each with the same fields; the failure carries its ids.
        entries = [json.loads(line) for line in lines]
        assert len(entries) == len(debug_logging.records)
        assert all({"time", "level", "logger", "event", "ids"} <= e.keys() for e in entries)
        failed = [e for e in entries if e["event"].startswith("handler failed")]
        assert failed
        for entry in failed:
            assert entry["level"] == "ERROR" and entry["logger"] == "handlers.system"
            assert entry["ids"]["chat_id"] == entry["ids"]["user_id"] == bob.id
            assert isinstance(entry["ids"]["update_id"], int)
            assert "OperationalError" in entry["error"]

    await world.stop()
    raw = raw_files(world.db_path)
    assert raw  # the file and its -wal were read
    assert CANARY.encode() not in raw
    await world.start()  # the fixture stops it again
