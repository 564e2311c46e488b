"""/export and /deletedata through the real application, with a canary for the erasure."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

from bot.data_rights import user_columns
from bot.db import BUSY_TIMEOUT_MS
from bot.messages import Msg
from bot.services import Services
from playground.fakeapi import Sent
from playground.sim import Person, World
from tests.helpers import pair_by_invite

CANARY = "Zq7CanaryWord"


def file_bytes(path: str) -> bytes:
    """The raw file as the disk holds it (empty if absent, as a truncated WAL may be)."""
    p = Path(path)
    return p.read_bytes() if p.exists() else b""


def services(world: World) -> Services:
    assert world.app is not None
    svc: Services = world.app.bot_data["services"]
    return svc


async def write_checkin(world: World, couple_id: int, notes: dict[int, str]) -> None:
    """A revealed check-in where each user in `notes` answered with that note."""
    svc = services(world)
    now = svc.core.now()
    enc = svc.core.cipher.encrypt
    async with svc.core.db.tx() as conn:
        cur = await conn.execute(
            "INSERT INTO checkins (couple_id, week, items, status, opened_at, closes_at, "
            "closed_at) VALUES (?, '2026-W48', '[\"support-01\"]', 'revealed', ?, ?, ?)",
            (couple_id, now, now, now),
        )
        for uid, note in notes.items():
            await conn.execute(
                "INSERT INTO answers (checkin_id, user_id, question_id, theme, value, note, "
                "answered_at) VALUES (?, ?, 'support-01', 'support', 4, ?, ?)",
                (cur.lastrowid, uid, enc(note), now),
            )
            await conn.execute(
                "INSERT INTO checkin_progress (checkin_id, user_id, position, stage, "
                "finished_at) VALUES (?, ?, 1, 'done', ?)",
                (cur.lastrowid, uid, now),
            )


async def write_conversation(
    world: World, couple_id: int, a: int, b: int, text: str, *, turn: str | None = None
) -> int:
    """A conversation `a` started about `text`, with one turn of theirs (`turn` or `text`)."""
    svc = services(world)
    now = svc.core.now()
    enc = svc.core.cipher.encrypt
    async with svc.core.db.tx() as conn:
        cur = await conn.execute(
            "INSERT INTO conflict_conversations (couple_id, initiator, partner, topic, state, "
            "speaker, listener, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'closed', ?, ?, ?, ?)",
            (couple_id, a, b, enc(text), a, b, now, now),
        )
        await conn.execute(
            "INSERT INTO conflict_turns (conversation_id, user_id, round, kind, text, at) "
            "VALUES (?, ?, 1, 'speak', ?, ?)",
            (cur.lastrowid, a, enc(turn or text), now),
        )
    assert cur.lastrowid is not None
    return cur.lastrowid


def json_export(world: World, who: Person) -> Sent:
    """The JSON file of the last /export (the readable page follows it)."""
    return [s for s in world.api.sent_to(who.id) if (s.filename or "").endswith(".json")][-1]


async def couple_id(world: World, who: Person) -> int:
    svc = services(world)
    async with svc.core.db.tx() as conn:
        couple = await svc.core.couple_of(conn, who.id)
    assert couple is not None
    return couple.id


async def test_export_holds_only_the_requesters_words(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    cid = await couple_id(world, alice)
    await write_checkin(world, cid, {alice.id: "alice-note", bob.id: "bob-private-note"})
    await write_conversation(world, cid, bob.id, alice.id, "bob-turn")
    await world.send(alice, "/promise alice-promise by Friday")
    await world.send(bob, "/promise bob-promise")
    await world.send(alice, "/thanks alice-thanks")
    await world.send(bob, "/thanks bob-thanks")

    await world.send(alice, "/export")
    sent = json_export(world, alice)
    assert sent.document is not None and sent.filename is not None
    assert sent.filename.endswith(".json")
    data = json.loads(sent.document)
    raw = sent.document.decode()
    for mine in ("alice-note", "alice-promise", "alice-thanks", "Europe/Berlin"):
        assert mine in raw
    for theirs in ("bob-private-note", "bob-promise", "bob-thanks", "bob-turn"):
        assert theirs not in raw
    assert data["you"]["first_name"] == "Alice"
    assert data["couple"]["checkin_weekday"] == 6 and data["couple"]["checkin_time"] == "19:00"
    assert data["checkin_answers"][0]["value"] == 4
    assert data["checkin_answers"][0]["question"]  # the question's own text

    await world.send(bob, "/export")
    bob_raw = json_export(world, bob).document or b""
    assert b"bob-turn" in bob_raw and b"alice-note" not in bob_raw

    world.make_group(-500, alice, bob)
    await world.send(alice, "/export", chat_id=-500)
    assert world.api.last(-500).document is None and "private chat" in world.last_text(-500)


async def test_deletedata_leaves_no_trace(world: World, alice: Person) -> None:
    zed = world.person(404, f"{CANARY}Name")
    await pair_by_invite(world, zed, alice)
    cid = await couple_id(world, zed)
    await write_checkin(world, cid, {zed.id: f"{CANARY} note", alice.id: "alice-note"})
    await write_conversation(world, cid, zed.id, alice.id, f"{CANARY} turn")
    await world.send(zed, f"/promise {CANARY} promise by Friday")
    await world.send(alice, "/promise alice-promise")
    await world.send(zed, f"/thanks {CANARY} thanks")
    await world.send(zed, "/start")  # an outbox row and an invite attempt of theirs
    world.clock.advance(timedelta(days=8))
    await world.tick()  # due asks queued and sent, each to its promiser (Alice's stays)
    svc = services(world)
    async with svc.core.db.tx() as conn:  # a note about them, keyed by their id
        await svc.core.queue(conn, Msg(alice.id, "x"), key=f"ci:1:unreachable:{zed.id}")

    await world.send(zed, "/deletedata")
    ask = world.last_text(zed.id)
    assert "Erase your data?" in ask
    assert "What goes" in ask and "What stays" in ask and "your former partner" in ask
    await world.press(zed, "Keep my data")
    assert "Nothing was erased" in world.last_text(zed.id)
    await world.send(zed, "/deletedata")
    stale = world.find_button(zed.id, "Yes, erase")[1]["callback_data"]
    world.clock.advance(timedelta(hours=1))
    await world.press_data(zed, stale)
    assert world.api.calls_of("answerCallbackQuery")[-1].params["show_alert"]
    await world.send(zed, "/deletedata")
    await world.press(zed, "Yes, erase everything")
    assert "Everything you wrote here is erased" in world.last_text(zed.id)
    told = world.last_text(alice.id)
    assert "erased their data" in told and "/export" in told and "/deletedata" in told

    cipher = svc.core.cipher
    async with svc.core.db.tx() as conn:
        named = await user_columns(conn)
        for table, col in named:
            async with conn.execute(
                f'SELECT COUNT(*) FROM "{table}" WHERE "{col}" = ?', (zed.id,)
            ) as cur:
                row = await cur.fetchone()
            assert row is not None and row[0] == 0, f"{table}.{col} still names the user"
        async with conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cur:
            tables = [r[0] for r in await cur.fetchall()]
        cells = 0
        for table in tables:
            async with conn.execute(f'SELECT * FROM "{table}"') as cur:
                for row in await cur.fetchall():
                    for value in tuple(row):
                        cells += 1
                        if isinstance(value, bytes):
                            assert CANARY.encode() not in value
                            try:
                                value = cipher.decrypt(value)
                            except ValueError:
                                continue
                        assert CANARY not in str(value), f"canary left in {table}"
        async with conn.execute("SELECT key FROM outbox WHERE key IS NOT NULL") as cur:
            keys = [r[0] for r in await cur.fetchall()]
        assert keys and not [k for k in keys if str(zed.id) in k]
        # Alice's own account and words are still there, with Zed as "your former partner".
        async with conn.execute("SELECT first_name FROM users WHERE id = ?", (alice.id,)) as cur:
            assert (await cur.fetchone()) is not None
        async with conn.execute("SELECT note FROM answers WHERE user_id = ?", (alice.id,)) as cur:
            notes = [cipher.dec_opt(r[0]) for r in await cur.fetchall()]
        assert "alice-note" in notes
        async with conn.execute(
            "SELECT text, partner_id FROM promises WHERE promiser_id = ?", (alice.id,)
        ) as cur:
            kept = [(cipher.decrypt(r[0]), r[1]) for r in await cur.fetchall()]
        assert kept == [("alice-promise", 0)]
        async with conn.execute("SELECT user_a, user_b FROM couples") as cur:
            assert [tuple(r) for r in await cur.fetchall()] == [(0, alice.id)]
    assert cells > 0
    assert ("promises", "promiser_id") in named and ("conflict_turns", "user_id") in named

    db = svc.core.db.path
    for path in (db, db + "-wal"):
        raw = file_bytes(path)
        assert CANARY.encode() not in raw, f"canary readable in {path}"
        assert CANARY.encode("utf-16-le") not in raw

    await world.send(zed, "/status")
    assert "aren't paired" in world.last_text(zed.id)
    await world.send(alice, "/status")
    assert "aren't paired" in world.last_text(alice.id)


async def test_erased_words_leave_the_wal_once_a_reader_lets_go(
    world: World, alice: Person
) -> None:
    """Was: a reader in another process (a backup, a health check) made the checkpoint
    after erasure busy; after three waits of 5 s each, holding every update back, the bot
    gave up, and the erased name stayed readable in the -wal file (the sweep's checkpoints
    never truncate it). Now the debt is written with the erasure, in the database, and
    a later sweep pays it once the reader is gone, never waiting on it."""
    zed = world.person(404, f"{CANARY}Name")
    await pair_by_invite(world, zed, alice)
    svc = services(world)
    path = svc.core.db.path
    reader = sqlite3.connect(path, isolation_level=None)  # another process's read
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM users").fetchone()
    await world.send(zed, "/deletedata")
    started = time.monotonic()
    await world.press(zed, "Yes, erase everything")
    waited = time.monotonic() - started
    assert "Everything you wrote here is erased" in world.last_text(zed.id)
    await world.tick()  # the reader still holds its snapshot: nothing can be truncated
    assert CANARY.encode() in file_bytes(path + "-wal")  # the case this test is about
    async with svc.core.db.tx() as conn:  # owed, in the file: a restart still pays it
        assert await conn.fetch_one("SELECT 1 FROM meta WHERE key = 'scrub_owed'")
    reader.execute("COMMIT")
    reader.close()  # the bot's connection stays open: closing this one checkpoints nothing

    await world.tick()
    for raw in (file_bytes(path), file_bytes(path + "-wal")):
        assert CANARY.encode() not in raw and CANARY.encode("utf-16-le") not in raw
    async with svc.core.db.tx() as conn:  # paid: no later sweep pays it again
        assert await conn.fetch_one("SELECT 1 FROM meta WHERE key = 'scrub_owed'") is None
    assert waited < BUSY_TIMEOUT_MS / 1000  # the erasure never sat out the reader


async def test_canary_would_be_found_before_erasure(world: World, alice: Person) -> None:
    """The check above can fail: the plain name sits in the file until erased."""
    zed = world.person(404, f"{CANARY}Name")
    await pair_by_invite(world, zed, alice)
    svc = services(world)
    await svc.core.db.checkpoint()  # the WAL copied into the file
    assert CANARY.encode() in file_bytes(svc.core.db.path)


async def test_deletedata_in_a_group_points_to_private(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    world.make_group(-500, alice, bob)
    await world.send(alice, "/deletedata", chat_id=-500)
    assert "private chat" in world.last_text(-500)
    await world.send(alice, "/deletedata")
    data = world.find_button(alice.id, "Yes, erase")[1]["callback_data"]
    await world.press_data(bob, data, chat_id=bob.id)  # forged: names Alice, pressed by Bob
    assert "isn't for you" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]
    await world.send(alice, "/status")
    assert "Paired with" in world.last_text(alice.id)


async def test_privacy_describes_export_and_deletion(world: World, alice: Person) -> None:
    await world.send(alice, "/privacy")
    text = world.last_text(alice.id)
    for part in ("/export", "/deletedata", "summary", "protected", "your former partner"):
        assert part in text
