"""The /conflict state machine without Telegram: transitions, refusals, nudges and times."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

import content
from bot.clock import ManualClock
from bot.conflict import (
    BREAK_CHOICES,
    LATER_CHOICES,
    Conflict,
    Conv,
    NudgeMatcher,
    break_until,
    offered,
    refusal,
)
from bot.core import Actor, Core
from bot.crypto import Cipher
from bot.db import Database
from bot.messages import Outcome
from bot.schedule import Quiet
from bot.settings import Settings

A, B, C = 1, 2, 3


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Core]:
    db = Database(tmp_path / "t.sqlite3")
    await db.open()
    clock = ManualClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    settings = Settings(_env_file=None, database_path=tmp_path / "t.sqlite3")  # type: ignore[call-arg]
    c = Core(db, clock, content.load(), Cipher([Fernet.generate_key()]), settings)
    async with db.tx() as conn:
        for uid, name in ((A, "Ann"), (B, "Ben"), (C, "Cat")):
            await conn.execute(
                "INSERT INTO users (id, first_name, private_chat, created_at) VALUES (?, ?, 1, 0)",
                (uid, name),
            )
        await conn.execute(
            "INSERT INTO couples (id, user_a, user_b, stage, timezone, created_at) "
            "VALUES (1, ?, ?, 'active', 'Europe/Berlin', 0)",
            (A, B),
        )
        await conn.executemany(
            "INSERT INTO members (user_id, couple_id) VALUES (?, 1)", [(A,), (B,)]
        )
    yield c
    await db.close()


def actor(uid: int) -> Actor:
    return Actor(uid, {A: "Ann", B: "Ben", C: "Cat"}[uid], uid, True)


async def state(feature: Conflict) -> Conv:
    async with feature.core.db.tx() as conn:
        conv = await feature.load(conn, 1)
    assert conv is not None
    return conv


async def text(feature: Conflict, uid: int, words: str) -> None:
    async with feature.core.db.tx() as conn:
        taken = await feature.private_text(conn, actor(uid), words, Outcome())
    assert taken is not None


async def press(feature: Conflict, uid: int, action: str, arg: str = "") -> str | None:
    conv = await state(feature)
    out = await feature.press(actor(uid), action, conv.id, conv.version, arg)
    return out.toast


async def test_walks_every_transition_and_refuses_the_wrong_presser(core: Core) -> None:
    f = Conflict(core)
    await f.start(actor(A), "")
    assert (await state(f)).state == "topic"
    await text(f, B, "not mine to name")
    assert (await state(f)).state == "topic"
    await text(f, A, "money")
    conv = await state(f)
    assert (conv.state, conv.topic) == ("appointment", "money")

    assert await press(f, A, "ap", "now") == core.t("conflict.not_your_turn")
    await press(f, B, "ap", "now")
    assert (await state(f)).state == "rules"
    assert await press(f, B, "fs", "me") == core.t("conflict.not_your_turn")
    await press(f, A, "fs", "you")
    conv = await state(f)
    assert (conv.state, conv.speaker, conv.listener, conv.half) == ("speaking", B, A, 0)

    assert await press(f, B, "dn") == core.t("conflict.write_first")
    await text(f, A, "my side first")  # out of turn: kept, state unchanged
    await text(f, B, "I feel worried")
    assert await press(f, A, "dn") == core.t("conflict.not_your_turn")
    await press(f, B, "dn")
    assert (await state(f)).state == "paraphrasing"
    await text(f, A, "you feel worried")
    assert (await state(f)).state == "confirming"
    assert await press(f, A, "ok") == core.t("conflict.not_your_turn")
    await press(f, B, "nq")
    assert (await state(f)).state == "correcting"
    await text(f, B, "and scared")
    conv = await state(f)
    assert (conv.state, conv.attempt) == ("paraphrasing", 2)
    await text(f, A, "worried and scared")
    await press(f, B, "ok")
    assert (await state(f)).state == "validating"
    assert await press(f, B, "sk") == core.t("conflict.not_your_turn")
    await text(f, A, "it makes sense")
    conv = await state(f)
    assert (conv.state, conv.speaker, conv.half) == ("speaking", A, 1)
    await press(f, A, "dn")  # her kept message opened her turn
    await text(f, B, "you want to go first")
    await press(f, A, "ok")
    await press(f, B, "sk")
    conv = await state(f)
    assert (conv.state, conv.rounds_done) == ("round_menu", 1)

    await press(f, B, "rm", "more")
    conv = await state(f)
    assert (conv.state, conv.round, conv.speaker, conv.half) == ("speaking", 2, B, 0)
    for speaker, listener in ((B, A), (A, B)):
        await text(f, speaker, "more")
        await press(f, speaker, "dn")
        await text(f, listener, "heard")
        await press(f, speaker, "ok")
        await press(f, listener, "sk")
    assert (await state(f)).rounds_done == 2
    await press(f, A, "rm", "heard")
    assert (await state(f)).state == "round_menu"
    await press(f, B, "rm", "heard")
    assert (await state(f)).state == "requests"

    ids = []
    for uid in (A, B):
        await text(f, uid, "would you be willing to")
        await text(f, uid, "I will")
    async with core.db.tx() as conn:
        rows = await (await conn.execute("SELECT id, decider FROM agreements")).fetchall()
        ids = [(r[0], r[1]) for r in rows]
    assert len(ids) == 4
    wrong = await f.press(actor(ids[0][1] ^ 3), "ag", 1, ids[0][0], "y")
    assert wrong.toast == core.t("conflict.not_your_turn")
    for n, (aid, decider) in enumerate(ids):
        await f.press(actor(decider), "ag", 1, aid, "y" if n else "n")
    again = await f.press(actor(ids[0][1]), "ag", 1, ids[0][0], "y")
    assert again.toast == core.t("conflict.stale")
    assert (await state(f)).state == "closed"
    async with core.db.tx() as conn:
        accepted = await f.accepted_agreements(conn, 1)
    assert len(accepted) == 3 and all(a.follow_up_at for a in accepted)


async def test_time_out_park_resume_and_end(core: Core) -> None:
    f = Conflict(core)
    clock = core.clock
    assert isinstance(clock, ManualClock)
    await f.start(actor(B), "chores")
    await press(f, A, "ap", "later")
    assert (await state(f)).state == "appointment"
    await press(f, A, "ap", "60")
    assert (await state(f)).state == "scheduled"
    assert await press(f, A, "to") == core.t("conflict.stale")  # no break from a wait
    clock.advance(timedelta(hours=1))
    await f.sweep()
    assert (await state(f)).state == "rules"
    await press(f, A, "tt", "20")
    conv = await state(f)
    assert (conv.state, conv.paused_state) == ("timeout", "rules")
    assert await press(f, B, "fs", "me") == core.t("conflict.stale")
    await press(f, A, "rs")
    assert (await state(f)).state == "rules"
    await press(f, B, "fs", "me")
    clock.advance(timedelta(minutes=30))
    assert await f.sweep()  # the idle nudge
    assert (await state(f)).idle_nudge_at is None
    assert not await f.sweep()
    clock.advance(timedelta(hours=24))
    await f.sweep()
    conv = await state(f)
    assert (conv.state, conv.paused_state) == ("parked", "speaking")
    await press(f, A, "rs")
    assert (await state(f)).state == "speaking"
    await press(f, A, "en")
    assert (await state(f)).state == "speaking"  # asking changes nothing
    await press(f, C, "ey")
    assert (await state(f)).state == "speaking"
    await press(f, A, "ey")
    conv = await state(f)
    assert conv.state == "ended"
    out = await f.start(actor(A), "again")
    assert "would like to talk about" in out.reply[0].text or out.queued


def test_refusals_are_pure() -> None:
    conv = Conv(
        id=1, couple_id=1, initiator=A, partner=B, group_chat_id=None, topic="t",
        state="confirming", paused_state=None, speaker=A, listener=B, round=1, half=0,
        attempt=1, rounds_done=0, heard_by=None, version=5, resume_at=None,
        idle_nudge_at=None, park_at=None,
    )  # fmt: skip
    assert refusal(conv, A, "ok", 5) is None
    assert refusal(conv, B, "ok", 5) == "conflict.not_your_turn"
    assert refusal(conv, C, "ok", 5) == "common.not_yours"
    assert refusal(conv, A, "ok", 4) == "conflict.stale"
    assert refusal(conv, A, "dn", 5) == "conflict.stale"
    assert refusal(conv, A, "bogus", 5) == "conflict.stale"
    assert refusal(conv, B, "to", 5) is None
    assert refusal(replace(conv, state="topic"), A, "to", 5) == "conflict.stale"
    assert refusal(replace(conv, state="closed"), A, "en", 5) == "conflict.stale"


def test_nudges_normalise_phone_apostrophes_and_respect_word_boundaries() -> None:
    m = NudgeMatcher(content.load().nudges)
    assert m.kinds("You’re always late") == ["absolutes"]
    assert m.kinds("YOU NEVER listen, you idiot") == ["absolutes", "insults"]
    assert m.kinds("Oh please. Whatever.") == ["contempt"]
    assert m.kinds("I feel lazy today? no: I feel tired") == ["insults"]
    assert m.kinds("I feel unheard about the dishes") == []
    assert m.kinds("a jerkin and dumbbells") == []


def test_break_times_stay_between_20_minutes_and_a_day() -> None:
    awake = Quiet.of("Europe/Berlin", "00:00", "00:00")  # no quiet hours
    morning = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
    assert break_until("20", morning, awake) == morning + timedelta(minutes=20)
    assert break_until("eve", morning, awake) == datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    late = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
    assert break_until("eve", late, awake) == late + timedelta(hours=3)
    just_before = datetime(2026, 11, 23, 17, 50, tzinfo=UTC)
    assert break_until("eve", just_before, awake) == just_before + timedelta(minutes=20)
    assert break_until("tmr", morning, awake) == morning + timedelta(hours=24)
    assert break_until("mor", morning, awake) is None
    assert break_until("999", morning, awake) is None


def test_no_choice_lands_in_quiet_hours() -> None:
    """Seen: "This evening" chosen at 21:01 meant 00:01; a break ended at 01:06."""
    quiet = Quiet.of("Europe/Berlin", "22:00", "08:00")
    at_2101 = datetime(2026, 11, 23, 20, 1, tzinfo=UTC)  # 21:01 in Berlin
    assert break_until("eve", at_2101, quiet) is None  # would be 00:01
    assert break_until("60", at_2101, quiet) is None  # 22:01
    assert break_until("20", at_2101, quiet) == at_2101 + timedelta(minutes=20)
    assert break_until("mor", at_2101, quiet) == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert offered(BREAK_CHOICES, at_2101, quiet) == ["20", "mor", "tmr"]
    at_2150 = datetime(2026, 11, 23, 20, 50, tzinfo=UTC)
    assert offered(LATER_CHOICES, at_2150, quiet) == ["mor", "tmr"]
    for code in offered(BREAK_CHOICES, at_2150, quiet):
        until = break_until(code, at_2150, quiet)
        assert until is not None and not quiet.covers(until)


def test_quiet_hours_move_a_moment_to_the_morning() -> None:
    quiet = Quiet.of("Europe/Berlin", "22:00", "08:00")
    evening = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # 23:30 Berlin
    assert quiet.outside(evening) == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    small_hours = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 02:00 Berlin
    assert quiet.outside(small_hours) == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    day = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert quiet.outside(day) == day
    daytime = Quiet.of("Europe/Berlin", "13:00", "14:00")  # a window that does not wrap
    assert daytime.covers(day + timedelta(minutes=30)) and not daytime.covers(
        day - timedelta(hours=1)
    )
