"""Safety through the real application with two partners: crisis, threat and control words
held in every place a partner writes, /safety, "Prefer not to say" and "Only for me"."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from bot.services import Services
from bot.summary import store
from bot.summary.numbers import trend
from playground.fakeapi import Fault
from playground.sim import Person, World
from tests.helpers import checkin_now, pair_by_invite
from tests.test_conflict_flow import GROUP, pair_in_group
from tests.test_data_rights import json_export

FIRST = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # Sunday 19:00 Berlin

WORDS = {
    "self_harm": "I don't want to be here anymore. I think about ending it.",
    "threat": "If you tell anyone about this I will hurt you",
    "control": "He checks my phone every night and gets angry if I say no",
}
# What the writer is told, privately, for each rule.
REPLY = {
    "self_harm": "Thank you for telling me",
    "threat": "I didn't send that to Bob",
    "control": "I've kept what you wrote private",
}
PLACES = ("note", "answer", "private_turn", "group_turn")


def svc(world: World) -> Services:
    assert world.app is not None
    services: Services = world.app.bot_data["services"]
    return services


def rows(world: World, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(world.db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def every_text(world: World, chat: int) -> str:
    return "\n".join(s.text for s in world.api.sent_to(chat))


async def to_open_question(world: World, who: Person) -> None:
    """Answer scale items (4, no note) until the open question waits for typed text."""
    for _ in range(12):
        if "5" not in world.api.last(who.id).button_texts():
            return
        await world.press(who, "4")
        await world.press(who, "Skip")


async def finish(world: World, who: Person) -> None:
    await to_open_question(world, who)
    if "Prefer not to say" in world.api.last(who.id).button_texts():
        await world.send(who, "A quiet evening together")
        await to_open_question(world, who)


async def write_in(world: World, place: str, alice: Person, bob: Person, text: str) -> None:
    """Alice writes `text` as a check-in note, an open answer or a /conflict turn."""
    if place in ("note", "answer"):
        await pair_by_invite(world, alice, bob)
        await checkin_now(world, alice)
        if place == "note":
            await world.press(alice, "4")
        else:
            await to_open_question(world, alice)
        await world.send(alice, text)
        return
    if place == "private_turn":
        await pair_by_invite(world, alice, bob)
        await world.send(alice, "/conflict the weekend")
        await world.press(bob, "Now is good")
        await world.press(alice, "Alice speaks first")
        await world.send(alice, text)
        return
    await pair_in_group(world, alice, bob)
    await world.send(alice, "/conflict the weekend", chat_id=GROUP)
    await world.press(bob, "Now is good", chat_id=GROUP)
    await world.press(alice, "Alice speaks first", chat_id=GROUP)
    await world.send(alice, text, chat_id=GROUP)


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("kind", sorted(WORDS))
async def test_held_words_never_reach_the_partner(
    world: World, alice: Person, bob: Person, kind: str, place: str
) -> None:
    text = WORDS[kind]
    await write_in(world, place, alice, bob, text)
    reply = next(s for s in reversed(world.api.sent_to(alice.id)) if REPLY[kind] in s.text)
    assert "findahelpline.com" in reply.text  # help now, in the same message
    choice = ["Share it with Bob", "Keep it to myself"]
    if place == "group_turn":
        # Already visible in the group: no choice to make, the bot never repeats the words.
        assert "won't repeat or quote them" in reply.text and reply.button_texts() == []
        pause = world.api.last(GROUP)
        assert "Let's pause here" in pause.text and pause.button_texts() == ["Time-out"]
        assert text not in every_text(world, GROUP)
    elif kind == "threat":
        assert reply.button_texts() == (["Time-out"] if place == "private_turn" else [])
        assert "never passes threats on" in reply.text
    else:
        assert reply.button_texts() == choice
    assert text not in every_text(world, bob.id)
    held = rows(world, "SELECT kind, writer_id, text FROM safety_holds")
    assert [(k, w) for k, w, _ in held] == [(kind, alice.id)]
    assert text.encode() not in held[0][2]  # encrypted like any other text
    if place.endswith("turn"):
        # Not a turn: nothing in the conversation (recaps, paraphrase checks) can quote it.
        assert rows(world, "SELECT COUNT(*) FROM conflict_turns") == [(0,)]
        chat = GROUP if place == "group_turn" else alice.id
        await world.send(alice, "I feel tired and I need a calm weekend", chat_id=chat)
        await world.press(alice, "Done, over to Bob", chat_id=chat)
        await world.send(bob, "You feel tired", chat_id=GROUP if chat == GROUP else bob.id)
        for seen in {chat, bob.id, alice.id}:  # no step, recap or paraphrase check quotes it
            assert text not in every_text(world, seen)
    else:
        await finish(world, alice)
        await finish(world, bob)
        reveal = next(s for s in world.api.sent_to(bob.id) if "Nobody went first" in s.text)
        assert text.replace("'", "&#x27;") not in reveal.text and "anymore" not in reveal.text
        assert "checks my phone" not in reveal.text and "hurt you" not in reveal.text


async def test_share_before_the_reveal_shows_it_and_keep_never_does(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    await world.press(alice, "4")
    await world.send(alice, "I'm scared of him when he drinks")  # item 1: will be shared
    share = world.find_button(alice.id, "Share it with Bob")[1]["callback_data"]
    await world.press(alice, "Share it with Bob")
    assert world.said(alice.id, "Shared with Bob")
    await world.press(alice, "4")
    await world.send(alice, "Sometimes I feel suicidal")  # item 2: kept
    await world.press(alice, "Keep it to myself")
    assert world.said(alice.id, "never be shown to Bob")
    await world.press_data(alice, share)  # the first choice was already made
    assert "already chosen" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]
    await world.press_data(bob, share)  # and the partner can never choose for the writer
    assert "isn't for you" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]
    await finish(world, alice)
    await finish(world, bob)
    reveal = next(s for s in world.api.sent_to(bob.id) if "Nobody went first" in s.text)
    assert "scared of him when he drinks" in reveal.text  # the writer's knowing choice
    assert "suicidal" not in reveal.text and "suicidal" not in every_text(world, bob.id)

    await world.send(alice, "/export")
    mine = json.loads(json_export(world, alice).document or b"{}")
    assert any(h["text"] == "Sometimes I feel suicidal" for h in mine["words_held_back"])
    await world.send(bob, "/export")
    theirs = b"".join(s.document or b"" for s in world.api.sent_to(bob.id))
    assert b"suicidal" not in theirs and b"scared of him" not in theirs


async def test_promise_and_thanks_are_screened_and_shared_only_by_choice(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    before = len(world.api.sent_to(bob.id))
    await world.send(alice, "/thanks for nothing, I'll make you pay for this")
    assert "I didn't send that to Bob" in world.last_text(alice.id)
    await world.send(alice, "/promise stop crying because she won't let me see my friends")
    assert "I've kept what you wrote private" in world.last_text(alice.id)
    assert len(world.api.sent_to(bob.id)) == before  # nothing reached Bob
    assert rows(world, "SELECT COUNT(*) FROM appreciations") == [(0,)]
    assert rows(world, "SELECT COUNT(*) FROM promises") == [(0,)]
    await world.press(alice, "Share it with Bob")
    shared = world.api.last(bob.id)
    assert "Alice chose to share this with you" in shared.text and shared.protect
    assert "see my friends" in shared.text


async def test_a_held_topic_starts_no_conversation(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict why I want to kill myself")
    assert "Thank you for telling me" in world.last_text(alice.id)
    assert rows(world, "SELECT COUNT(*) FROM conflict_conversations") == [(0,)]
    assert "kill myself" not in every_text(world, bob.id)


async def test_the_focus_is_neutral_in_a_week_a_rule_fired(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    world.clock.set(FIRST)
    await world.tick()
    await world.press(alice, "2")
    await world.send(alice, "He gets angry if I say no to him")
    await world.press(alice, "Keep it to myself")
    await finish(world, alice)
    await world.press(bob, "5")
    await world.press(bob, "Skip")
    await finish(world, bob)
    await world.tick()
    for chat in (alice.id, bob.id):
        summary = next(s for s in world.api.sent_to(chat) if "Your week together" in s.text)
        assert "Go gently" in summary.text and "A focus for the coming week" not in summary.text
        assert "holding back" not in summary.text and "angry" not in summary.text


async def test_only_the_fact_that_a_rule_fired_is_logged(
    world: World, alice: Person, bob: Person, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await write_in(world, "private_turn", alice, bob, WORDS["threat"])
    fired = [r.getMessage() for r in caplog.records if "safety rule fired" in r.getMessage()]
    assert fired and "kind=threat" in fired[0] and f"user={alice.id}" in fired[0]
    assert not any("hurt you" in r.getMessage() for r in caplog.records)


# -- /safety and the pointers ----------------------------------------------------


async def test_both_partners_are_pointed_to_safety_at_pairing_and_in_help(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    assert any("/safety" in t and "paired" in t for t in world.texts(alice.id))
    assert any("/safety" in t and "paired" in t for t in world.texts(bob.id))
    await world.send(bob, "/help")
    assert "/safety" in world.last_text(bob.id)
    await world.send(bob, "/safety")
    page = world.last_text(bob.id)
    assert "What it is not</b>: therapy" in page and "findahelpline.com" in page
    assert "/deletedata" in page and "/unpair" in page and "no reason given" in page
    world.make_group(GROUP, alice, bob)
    await world.send(bob, "/safety", chat_id=GROUP)
    assert "private chat" in world.last_text(GROUP) and "findahelpline" not in world.last_text(
        GROUP
    )


async def test_help_lines_by_language_zone_and_operator(world: World) -> None:
    safety = svc(world).safety
    uk = safety.help_lines("en-GB", None)
    assert "Refuge" in uk and "0808 2000 247" in uk and "116 123" in uk
    us = safety.help_lines("en", "America/Chicago")
    assert "988" in us and "1-800-799-7233" in us and "thehotline.org" in us
    unknown = safety.help_lines("de", "Europe/Berlin")
    assert "findahelpline.com" in unknown and "Refuge" not in unknown and "988" not in unknown
    await world.stop()
    world.settings_overrides["safety_resources"] = "Our town's line: 0800 123 <b>"
    await world.start()
    assert "• Our town&#x27;s line: 0800 123 &lt;b&gt;" in svc(world).safety.help_lines(None, None)


# -- the right not to answer -------------------------------------------------------


async def decline_all_scales(world: World, who: Person) -> None:
    for _ in range(12):
        labels = world.api.last(who.id).button_texts()
        if "5" in labels or "Prefer not to say" in labels:
            await world.press(who, "Prefer not to say")
        else:
            return


async def test_prefer_not_to_say_through_reveal_summary_chart_and_export(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    for week in range(2):
        world.clock.set(FIRST + timedelta(weeks=week))
        await world.tick()
        if week == 0:
            await finish(world, alice)
        else:
            assert "Prefer not to say" in world.api.last(alice.id).button_texts()
            await decline_all_scales(world, alice)
        for _ in range(12):  # Bob answers 1 everywhere: a gap of 3 with Alice's 4s
            labels = world.api.last(bob.id).button_texts()
            if "5" in labels:
                await world.press(bob, "1")
                await world.press(bob, "Skip")
            elif "Prefer not to say" in labels:
                await world.press(bob, "Prefer not to say")
            else:
                break
        await world.tick()
    reveal = [s for s in world.api.sent_to(alice.id) if "Nobody went first" in s.text][-1]
    assert reveal.text.count("Alice: —") == 5 and "Alice: <b>" not in reveal.text
    assert "differently" not in reveal.text  # a decline is not a gap
    summary = [s for s in world.api.sent_to(alice.id) if "Your week together" in s.text][-1]
    assert "most differently" not in summary.text and "furthest apart" not in summary.text
    assert "Alice 4" not in summary.text and "Alice – · Bob 1" in summary.text
    assert "didn't come up" not in summary.text  # a decline is never called anything else
    services = svc(world)
    async with services.core.db.tx() as conn:
        couple = await services.core.couple_of(conn, alice.id)
        assert couple is not None
        history = await store.history(conn, couple.id, "2026-W49")
    assert history[-1].values.get(alice.id, {}) == {}  # nothing counted for week two
    assert history[0].values[alice.id]  # week one counted as answered
    about = {q.id: q.about for q in services.core.content.questions}
    drawn = trend(history, couple.users, about, "2026-W49")  # what the chart draws
    assert len(drawn.weeks) == 2 and drawn.series[alice.id][1] is None  # a gap, not a low score
    assert all(v[1] is None for v in drawn.series.values())  # a week without both: a gap
    assert (
        rows(world, "SELECT COUNT(*) FROM answers WHERE skip = 'private' AND value IS NULL")[0][0]
        >= 5
    )
    await world.send(alice, "/export")
    data = json.loads(json_export(world, alice).document or b"{}")
    assert data["checkin_answers"] and all(
        a["value"] == 4 or a["answer"] for a in data["checkin_answers"]
    )


async def test_only_for_me_notes_never_reach_the_partner_or_the_group(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_in_group(world, alice, bob)
    await checkin_now(world, alice)
    await world.press(alice, "3")
    note = world.last_text(alice.id)
    assert "shown to your partner" in note
    await world.press(alice, "Only for me")
    await world.send(alice, "just for me: tired of his mother")
    assert world.said(alice.id, "Note saved, only for you")
    await finish(world, alice)
    await finish(world, bob)
    assert world.said(GROUP, "Nobody went first")
    for chat in (GROUP, bob.id):
        assert "tired of his mother" not in every_text(world, chat)
    await world.send(alice, "/export")
    mine = json.loads(json_export(world, alice).document or b"{}")
    kept = [a for a in mine["checkin_answers"] if a["note"]]
    assert kept and kept[0]["only_for_you"] and "tired of his mother" in kept[0]["note"]
    await world.send(bob, "/export")
    assert b"tired of his mother" not in b"".join(
        s.document or b"" for s in world.api.sent_to(bob.id)
    )


async def test_relays_of_a_partners_words_are_protected(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict the weekend")
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    await world.send(alice, "I feel lonely on Sundays")
    await world.press(alice, "Done, over to Bob")  # her bit is passed on now
    relay = next(m for m in world.api.chats[bob.id] if "I feel lonely on Sundays" in m.text)
    assert relay.protect
    await world.send(alice, "/thanks for the soup")
    assert world.api.last(bob.id).protect
    await world.send(bob, "/conflict")  # one is open: its topic is shown, protected
    assert "the weekend" in world.last_text(bob.id) and world.api.last(bob.id).protect
    await world.send(alice, "/promise call the plumber")
    await world.send(bob, "/promises")
    assert "call the plumber" in world.last_text(bob.id) and world.api.last(bob.id).protect


async def test_erasure_takes_the_writers_held_words_and_keeps_the_partners(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/thanks for nothing, I'll make you pay for this")
    await world.send(bob, "/promise be calm though she won't let me see my friends")
    await world.press(bob, "Keep it to myself")
    await world.send(alice, "/deletedata")
    await world.press(alice, "Yes, erase everything")
    assert rows(world, "SELECT writer_id, partner_id, state FROM safety_holds") == [
        (bob.id, 0, "kept")
    ]
    await world.send(bob, "/export")
    theirs = json.loads(json_export(world, bob).document or b"{}")
    assert [h["text"] for h in theirs["words_held_back"]] == [
        "be calm though she won't let me see my friends"
    ]


async def test_the_caring_reply_comes_before_the_next_question(
    world: World, alice: Person, bob: Person
) -> None:
    """The reply to a held note is owed (a crash cannot lose it) and the next question is
    a direct reply: the edge sends both in the order the check-in made them."""
    await write_in(world, "note", alice, bob, WORDS["self_harm"])
    texts = world.texts(alice.id)
    caring = max(n for n, t in enumerate(texts) if REPLY["self_harm"] in t)
    assert "2/5" in texts[-1] and caring == len(texts) - 2


async def test_the_caring_reply_comes_first_even_behind_a_retry(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: with an older message to Alice waiting for a retry, the caring reply (owed)
    had to wait behind it, but the next question (a direct reply) went at once: the help
    lines arrived after it, at the next sweep. A reply never overtakes what its chat is
    still owed."""
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    world.api.faults.append(Fault("sendMessage", "network", chat_id=alice.id))
    await world.send(bob, "/thanks for the tea")  # to Alice: waits for a retry
    await world.press(alice, "4")
    await world.send(alice, WORDS["self_harm"])
    await world.tick()  # the retry
    texts = world.texts(alice.id)
    tea = max(n for n, t in enumerate(texts) if "for the tea" in t)
    caring = max(n for n, t in enumerate(texts) if REPLY["self_harm"] in t)
    question = max(n for n, t in enumerate(texts) if "2/5" in t)
    assert tea < caring < question
