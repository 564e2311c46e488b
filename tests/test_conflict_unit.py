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
    machine,
    offered,
    refusal,
)
from bot.conflict.machine import Agreement, Move
from bot.conflict.nudges import as_commitment, looks_like_request
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


async def delivered(core: Core) -> None:
    """What the edge does after each operation: everything owed has been sent."""
    async with core.db.tx() as conn:
        await conn.execute("UPDATE outbox SET sent_at = ? WHERE sent_at IS NULL", (core.now(),))


async def text(feature: Conflict, uid: int, words: str) -> None:
    await delivered(feature.core)  # a writer has seen what they were sent (see _on_text)
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
    assert (await state(f)).state == "more"
    assert await press(f, A, "mo", "more") == core.t("conflict.not_your_turn")
    await press(f, B, "mo", "more")
    conv = await state(f)
    assert (conv.state, conv.speaker, conv.attempt) == ("speaking", B, 0)
    assert await press(f, B, "dn") == core.t("conflict.write_first")  # something new first
    await text(f, B, "and tired")
    await press(f, B, "dn")
    await text(f, A, "tired too")
    await press(f, B, "ok")
    await press(f, B, "mo", "done")
    assert (await state(f)).state == "validating"
    assert await press(f, B, "sk") == core.t("conflict.not_your_turn")
    await text(f, A, "it makes sense")
    conv = await state(f)
    assert (conv.state, conv.speaker, conv.half) == ("speaking", A, 1)
    assert await press(f, A, "dn") == core.t("conflict.write_first")  # kept is not said
    await press(f, A, "kp", "u")  # until she chooses to use it
    await press(f, A, "dn")
    await text(f, B, "you want to go first")
    await press(f, A, "ok")
    await press(f, A, "mo", "done")
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
        await press(f, speaker, "mo", "done")
        await press(f, listener, "sk")
    assert (await state(f)).rounds_done == 2
    await press(f, A, "rm", "heard")
    assert (await state(f)).state == "round_menu"
    await press(f, B, "rm", "heard")
    assert (await state(f)).state == "requests"

    await text(f, A, "Would you be willing to cook on Mondays?")
    await text(f, A, "I will shop on Saturdays")
    await text(f, B, "Would you be willing to call me at lunch?")
    await press(f, B, "nr", "offer")  # one tap: nothing to offer
    async with core.db.tx() as conn:
        rows = await (await conn.execute("SELECT id, decider, status FROM agreements")).fetchall()
    ids = [(r[0], r[1]) for r in rows if r[2] == "proposed"]
    assert len(ids) == 3 and [r[2] for r in rows].count("none") == 1
    wrong = await f.press(actor(ids[0][1] ^ 3), "ag", 1, ids[0][0], "y")
    assert wrong.toast == core.t("conflict.not_your_turn")
    await f.press(actor(B), "ag", 1, ids[0][0], "y")  # willing: Ben puts it in his words
    assert await press(f, A, "fi") == core.t("conflict.stale")  # not everything answered
    await text(f, B, "I will cook on Mondays and Thursdays")
    await f.press(actor(B), "ag", 1, ids[1][0], "y")  # Ann's offer, welcome
    await f.press(actor(A), "ag", 1, ids[2][0], "n")  # not now...
    await f.press(actor(A), "ag", 1, ids[2][0], "y")  # ...changed until the close
    wording = await f.press(actor(B), "wd", 1, ids[2][0], "y")
    assert wording.toast == core.t("conflict.not_your_turn")  # Ann's words, not Ben's
    await f.press(actor(A), "wd", 1, ids[2][0], "y")
    again = await f.press(actor(A), "ag", 1, ids[2][0], "y")
    assert again.toast == core.t("conflict.stale")
    assert (await state(f)).state == "requests"  # closes only on Finish
    await press(f, B, "fi")
    assert (await state(f)).state == "closed"
    async with core.db.tx() as conn:
        accepted = await f.accepted_agreements(conn, 1)
    assert [(a.doer, a.words) for a in accepted] == [
        (B, "I will cook on Mondays and Thursdays"),
        (A, "I will shop on Saturdays"),
        (A, "I will call you at lunch"),
    ]
    assert all(a.follow_up_at for a in accepted)


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
    assert (conv.state, conv.paused_state, conv.paused_by) == ("timeout", "rules", A)
    assert await press(f, B, "fs", "me") == core.t("conflict.stale")
    assert await press(f, B, "rs") == core.t("conflict.not_your_break", name="Ann")
    assert await press(f, B, "tt", "20") is None  # the same length from now: later, allowed
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
    assert out.queued and not out.reply  # a new conversation's screens are owed


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
    assert m.kinds("I feel lazy today? no: I feel tired") == []  # not said of anyone
    assert m.kinds("you're so lazy") == ["insults"]
    assert m.kinds("Yes, but you started it") == ["defensiveness"]
    assert m.kinds("whatever helps") == []
    assert m.kinds("As usual we had dinner") == []
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


def _conv(**changes: object) -> Conv:
    base = Conv(
        id=1, couple_id=1, initiator=A, partner=B, group_chat_id=None, topic="t",
        state="speaking", paused_state=None, speaker=A, listener=B, round=1, half=0,
        attempt=1, rounds_done=0, heard_by=None, version=5, resume_at=None,
        idle_nudge_at=None, park_at=None,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_machine_walks_a_round_without_a_database() -> None:
    conv = _conv(state="rules", speaker=None, listener=None)
    first = machine.first_speaker(conv, "you")
    assert first == Move("speaking", {"speaker": B, "listener": A, "half": 0})
    conv = machine.apply(conv, first)
    assert machine.done_speaking(conv, said_something=False) == "conflict.write_first"
    conv = machine.apply(conv, machine.done_speaking(conv, said_something=True))  # type: ignore[arg-type]
    assert conv.state == "paraphrasing"
    conv = machine.apply(conv, Move("confirming"))
    conv = machine.apply(conv, machine.paraphrase_confirmed(conv))
    assert conv.state == "more" and conv.turn_holder() == B  # "Is there more?" is the speaker's
    more = machine.more_or_done(conv, "more")
    assert more == Move("speaking", {"attempt": 0})
    assert machine.more_or_done(conv, "bogus") is None
    conv = machine.apply(conv, machine.more_or_done(conv, "done"))  # type: ignore[arg-type]
    assert conv.state == "validating"
    conv = machine.apply(conv, machine.pass_floor(conv))
    assert (conv.state, conv.speaker, conv.listener, conv.half) == ("speaking", A, B, 1)
    conv = machine.apply(conv, machine.pass_floor(conv))
    assert (conv.state, conv.rounds_done) == ("round_menu", 1)
    conv = machine.apply(conv, machine.another_round(conv))
    assert (conv.state, conv.round, conv.speaker) == ("speaking", 2, B)


def test_a_break_is_its_callers() -> None:
    conv = _conv(state="confirming")
    move = machine.take_break(conv, B, 1000)
    assert move == Move(
        "timeout", {"paused_state": "confirming", "paused_by": B, "resume_at": 1000}
    )
    conv = machine.apply(conv, move)  # type: ignore[arg-type]
    assert machine.take_break(conv, A, 900) == "conflict.not_shorter"  # the other: later only
    assert isinstance(machine.take_break(conv, A, 2000), Move)
    assert isinstance(machine.take_break(conv, B, 900), Move)  # the caller may shorten it
    v = conv.version
    assert refusal(conv, A, "rs", v) == "conflict.not_your_break"
    assert refusal(conv, B, "rs", v) is None
    assert refusal(conv, A, "ak", v) is None  # the other may ask...
    assert refusal(conv, B, "ak", v) == "conflict.not_your_turn"  # ...the caller needn't
    assert machine.resume(conv) == Move("confirming", {"paused_state": None, "paused_by": None})
    parked = _conv(state="parked", paused_state="speaking")
    assert refusal(parked, A, "rs", 5) is None and refusal(parked, B, "rs", 5) is None


def test_repairs_kept_words_and_replacing_are_refused_off_their_step() -> None:
    conv = _conv()
    for action in ("sl", "sr"):
        assert refusal(conv, A, action, 5) is None and refusal(conv, B, action, 5) is None
        assert refusal(_conv(state="round_menu"), A, action, 5) == "conflict.stale"
    assert machine.try_again(conv, A) == "speak"
    assert machine.try_again(conv, B) is None
    assert machine.try_again(_conv(state="confirming"), B) == "paraphrase"
    assert refusal(conv, B, "kp", 5) == "conflict.not_your_turn"
    assert refusal(conv, A, "kp", 5) is None
    assert refusal(_conv(state="more"), B, "mo", 5) == "conflict.not_your_turn"
    assert refusal(_conv(state="appointment"), A, "rp", 5) == "conflict.stale"
    unstarted = _conv(state="parked", paused_state="appointment")
    assert refusal(unstarted, A, "rp", 5) is None and unstarted.replaceable
    assert not _conv(state="parked", paused_state="speaking").replaceable


def test_parking_a_conversation_that_never_started_sets_its_closing() -> None:
    week = machine.NEVER_STARTED_CLOSES_AFTER
    move = machine.park(_conv(state="appointment"), now=100_000, created_at=10)
    assert move == Move("parked", {"paused_state": "appointment", "park_at": 10 + week})
    assert machine.park(_conv(state="speaking"), now=100_000, created_at=10) == Move(
        "parked", {"paused_state": "speaking"}
    )


def test_agreement_decisions_and_what_is_left() -> None:
    def ag(kind: str, author: int, status: str = "proposed") -> Agreement:
        decider = B if author == A else A
        doer = decider if kind == "request" else author
        return Agreement(1, 1, 1, kind, author, decider, doer, "x", status, None)

    request = ag("request", A)
    assert machine.decision(request, B, "y") == "willing"
    assert machine.decision(request, B, "n") == "declined"
    assert machine.decision(request, A, "y") is None  # only the one asked decides
    assert machine.decision(ag("request", A, "declined"), B, "y") == "willing"  # changeable
    assert machine.decision(ag("request", A, "accepted"), B, "n") is None
    assert machine.decision(ag("offer", A), B, "y") == "accepted"
    assert machine.next_to_write([]) == "request"
    assert machine.next_to_write([ag("request", A, "none")]) == "offer"
    done = [ag("request", A, "none"), ag("offer", A, "accepted")]
    assert not machine.settled(done, (A, B))
    both = [*done, ag("request", B, "declined"), ag("offer", B, "none")]
    assert machine.settled(both, (A, B))
    assert not machine.settled([*both[:-1], ag("offer", B, "willing")], (A, B))


def test_requests_are_shaped_and_turned_into_the_doers_words() -> None:
    assert looks_like_request("Would you be willing to wash up on Mondays?")
    for vague in ("I will try", "nothing really", "be nicer", "no", "just listen"):
        assert not looks_like_request(vague), vague
    assert as_commitment("Would you be willing to wash up on Mondays?") == (
        "I will wash up on Mondays"
    )
    assert as_commitment("Could you please call my mother on Sundays?") == (
        "I will call your mother on Sundays"
    )
    assert as_commitment("Tell me when you're late") == "I will tell you when I'm late"


def test_migration_keeps_every_conversation_turn_and_agreement() -> None:
    import sqlite3

    from bot.db import migrations

    conn = sqlite3.connect(":memory:")
    conn.execute("PRAGMA foreign_keys=OFF")
    steps = migrations()
    ours = next(v for v, name, _ in steps if name.endswith("conflict_fidelity.sql"))
    for version, _, sql in steps:
        if version < ours:
            conn.executescript(sql)
    conn.executescript(
        """
        INSERT INTO users (id, first_name, private_chat, created_at) VALUES (1, 'A', 1, 0),
            (2, 'B', 1, 0);
        INSERT INTO couples (id, user_a, user_b, stage, created_at) VALUES (1, 1, 2, 'active', 0);
        INSERT INTO conflict_conversations (id, couple_id, initiator, partner, topic, state,
            paused_state, version, created_at, updated_at)
            VALUES (7, 1, 1, 2, x'00', 'parked', 'appointment', 3, 1000, 1000);
        INSERT INTO conflict_turns (conversation_id, user_id, round, kind, text, at)
            VALUES (7, 1, 1, 'kept', x'01', 5);
        INSERT INTO agreements (conversation_id, couple_id, kind, author, decider, doer, text,
            status, created_at) VALUES (7, 1, 'offer', 1, 2, 1, x'02', 'accepted', 6);
        UPDATE sqlite_sequence SET seq = 41 WHERE name = 'conflict_conversations';
        """
    )
    conn.executescript(steps[ours - 1][2])
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    row = conn.execute(
        "SELECT state, paused_state, version, park_at, paused_by FROM conflict_conversations"
    ).fetchone()
    assert row == ("parked", "appointment", 3, 1000 + 7 * 24 * 3600, None)
    assert conn.execute("SELECT kind, text FROM conflict_turns").fetchall() == [("kept", b"\x01")]
    assert conn.execute("SELECT status, words FROM agreements").fetchall() == [
        ("accepted", b"\x02")
    ]
    seq = "SELECT seq FROM sqlite_sequence WHERE name = 'conflict_conversations'"
    assert conn.execute(seq).fetchone() == (41,)  # ids in outbox keys are never reused


async def test_no_nudge_or_pause_is_scheduled_in_quiet_hours(core: Core) -> None:
    clock = core.clock
    assert isinstance(clock, ManualClock)
    clock.set(datetime(2026, 11, 23, 20, 45, tzinfo=UTC))  # 21:45 in Berlin; quiet from 22:00
    f = Conflict(core)
    await f.start(actor(A), "money")
    await press(f, B, "ap", "now")
    await press(f, A, "fs", "me")
    conv = await state(f)
    morning = int(datetime(2026, 11, 24, 7, 0, tzinfo=UTC).timestamp())  # 08:00 in Berlin
    assert conv.idle_nudge_at == morning  # 22:15 would be inside the quiet hours
    assert conv.park_at is not None and conv.park_at > morning
