"""Two couples over eight weeks, several flows at once, an erasure and a new pairing,
a shared group that a stranger later joins unseen, and an hour-long outage.

What no single-feature test catches: at the end, every chat received each message owed
to it exactly once, and no private word reached anyone it was not meant for.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta

from playground.fakeapi import Fault
from playground.sim import Person, World
from tests.helpers import pair_by_invite

FIRST = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # Sunday 19:00 Berlin, after pairing
WEEKS = 8
GROUP = -900  # Alice and Bob's shared group, from the start
STRANGER_WEEK = 6  # Zoe is added to it, and the bot never sees her join
OUTAGE_WEEK = 2  # the summaries meet an hour with Telegram out of reach


def delivered(world: World) -> dict[int, list[str]]:
    """Every text or caption each chat was sent (new messages, not edits), in order;
    a call Telegram refused (an outage) delivered nothing."""
    out: dict[int, list[str]] = {}
    for call in world.api.calls:
        if call.method in ("sendMessage", "sendPhoto", "sendDocument") and not call.refused:
            text = call.params.get("text") or call.params.get("caption") or ""
            out.setdefault(int(call.params["chat_id"]), []).append(str(text))
    return out


async def answer(world: World, who: Person, score: str, note: str) -> None:
    """Answer the open check-in: each scale with `score` and `note` (marked per item), each
    open question typed; a held text (two flows could take it) is filed as the note."""
    await world.send(who, "/checkin")  # where they are (a prompt set aside comes back)
    if "Open it now" in world.api.last(who.id).button_texts():
        return  # nothing open for them this week
    for n in range(20):
        labels = world.api.last(who.id).button_texts()
        if score in labels:
            await world.press(who, score)
            await world.send(who, f"{note}/{n}")
        elif any("Only for me" in label for label in labels):  # a note prompt shown again
            await world.send(who, f"{note}/{n}")
        elif "Prefer not to say" in labels:  # an open question
            await world.send(who, f"{note}/open")
        else:
            return
        if "where does this message belong" in world.last_text(who.id):
            await world.press(who, "My check-in")
    raise AssertionError(f"the check-in did not end: {world.texts(who.id)[-4:]}")


async def test_two_couples_eight_weeks_every_message_once_nothing_private_leaks(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    dan, erin = world.person(404, "Dan"), world.person(505, "Erin")
    zoe = world.person(606, "Zoe")
    await pair_by_invite(world, alice, bob)
    await pair_by_invite(world, carol, dan)
    world.make_group(GROUP, alice, bob)  # reveals and summaries go there while it is theirs
    _, link = world.find_button(alice.id, "Add Trellis")
    await world.add_bot(GROUP, alice)
    await world.send(alice, f"/start {link['url'].split('startgroup=')[1]}", chat_id=GROUP)
    assert world.said(GROUP, "Paired: Alice and Bob")
    group_safe_until = None  # how many messages the group had when Zoe came in
    partner_in_week: dict[tuple[int, int], int] = {}  # (user, week) -> partner then
    finished: dict[int, list[int]] = {}  # week -> users whose couple both finished
    couples = [(alice, bob), (carol, dan)]

    for week in range(WEEKS):
        world.clock.set(FIRST + timedelta(weeks=week) - timedelta(minutes=5))
        await world.tick()
        world.clock.advance(timedelta(minutes=10))
        await world.tick()  # Sunday 19:05: check-ins open
        for a, b in couples:
            partner_in_week[(a.id, week)], partner_in_week[(b.id, week)] = b.id, a.id

        if week == 1:  # a private /conflict while Alice's check-in waits for a note
            await world.send(alice, "/conflict the weekend plans")
            await world.press(bob, "Now is good")
            await world.press(alice, "Alice speaks first")
            await world.press(alice, "3")  # her check-in's first scale: a note is awaited
            await world.send(alice, "TURN:alice:I feel rushed on Saturdays")
            assert "where does this message belong" in world.last_text(alice.id)
            await world.press(alice, "My words in the conversation with Bob")
            await world.press(alice, "Done, over to Bob")
            await world.send(bob, "TURN:bob:You feel rushed")
            await world.press(alice, "Yes, that's it")
            await world.press(alice, "That's it")  # "Is there more?"
            await world.press(bob, "Skip this step")
            await world.press(bob, "End")
            await world.press(bob, "Yes, end it")
        if week == 2:
            await world.send(alice, "/promise PROMISE:alice:book the train by Friday")
            await world.send(bob, "/thanks THANKS:bob:for the soup")
        if week == 3:  # Carol and Dan pause for a week, mid check-in
            await world.send(carol, "/settings")
            await world.press(carol, "1w")
        if week == 5:  # Dan erases everything; Carol pairs with Erin
            await world.send(dan, "/deletedata")
            await world.press(dan, "Yes, erase everything")
            await pair_by_invite(world, carol, erin)
            couples = [(alice, bob), (carol, erin)]
            for who in (carol, erin):
                partner_in_week[(who.id, week)] = (erin if who is carol else carol).id
            await world.send(carol, "/checkin")
            await world.press(carol, "Open it now")

        if week == STRANGER_WEEK:  # Zoe is added; her join never reaches the bot
            world.api.group_members[GROUP].add(zoe.id)
            group_safe_until = len(delivered(world).get(GROUP, []))
        if week == 4:  # paused over this Sunday's moment: nothing opened for them
            opened = [t for t in delivered(world)[carol.id] if "It's check-in time" in t]
            assert len(opened) == 4  # weeks 0 to 3 (week 3 opened before the pause)
        done_this_week = []
        for a, b in couples:
            if week in (3, 4) and a is carol:
                continue  # paused mid check-in, and the week after
            await answer(world, a, "4", f"NOTE:{a.first_name}:{week}")
            await answer(world, b, "2", f"NOTE:{b.first_name}:{week}")
            done_this_week += [a.id, b.id]
        finished[week] = done_this_week
        world.clock.advance(timedelta(hours=12))  # Monday morning: summaries go out
        if week == OUTAGE_WEEK:  # an hour of sweeps with Telegram out of reach
            world.clock.advance(timedelta(hours=1))  # 08:05 in Berlin: summaries are due
            outage = Fault("sendMessage", "network", times=10**6)
            world.api.faults.append(outage)
            for _ in range(12):
                await world.tick()
                world.clock.advance(timedelta(minutes=5))
            outage.times = 0
        await world.tick()
        world.clock.advance(timedelta(days=3))  # windows close
        await world.tick()

    sent = delivered(world)
    people = {p.id: p for p in (alice, bob, carol, dan, erin)}
    # Every owed message was delivered: nothing pending or failed in the outbox.
    with sqlite3.connect(world.db_path) as conn:
        owed = conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed IS NULL"
        ).fetchone()[0]
        failed = conn.execute("SELECT failed FROM outbox WHERE failed IS NOT NULL").fetchall()
    # Nothing given up, but what the group was owed when Zoe came in: it went privately.
    assert owed == 0 and {r[0] for r in failed} <= {"group_unlinked"}, failed

    # Each reveal and each weekly summary reached each chat exactly once.
    for chat, texts in sent.items():
        repeated = [t for t, n in Counter(texts).items() if n > 1 and "Nobody went first" in t]
        assert not repeated, (people.get(chat), repeated)

    def reveal_chat(uid: int, week: int) -> int:
        """Where `uid`'s notes of `week` were revealed: Alice and Bob's group until Zoe
        came in, the partner's private chat otherwise."""
        in_group = uid in (alice.id, bob.id) and week < STRANGER_WEEK
        return GROUP if in_group else partner_in_week[(uid, week)]

    for week, users in finished.items():
        for uid in users:
            note = f"NOTE:{people[uid].first_name}:{week}/"
            chat = reveal_chat(uid, week)
            assert sum(note in t and "Nobody went first" in t for t in sent[chat]) == 1, (
                people[uid].first_name,
                week,
                [t for t in sent[chat] if "Nobody went first" in t][:1],
            )
    summary_weeks = Counter(
        (chat, t.split("·")[1].split("<")[0].strip())
        for chat, texts in sent.items()
        for t in texts
        if "Your week together" in t
    )
    assert summary_weeks and max(summary_weeks.values()) == 1

    # No private word reached anyone it was not meant for.
    for chat, texts in sent.items():
        for t in texts:
            for marker in ("NOTE:", "TURN:", "PROMISE:", "THANKS:"):
                start = 0
                while (i := t.find(marker, start)) != -1:
                    start = i + 1
                    kind, writer, rest = t[i:].split(":", 2)
                    writer_id = next(
                        p.id for p in people.values() if p.first_name.lower() == writer.lower()
                    )
                    if kind == "NOTE" and chat != writer_id:
                        week = int(rest.split("/")[0])
                        assert "Nobody went first" in t, (chat, t[:80])  # only in a reveal
                        assert chat == reveal_chat(writer_id, week), (writer, week, chat)
                        assert writer_id in finished[week]
                    elif kind in ("TURN", "PROMISE", "THANKS") and chat != writer_id:
                        # Alice and Bob's, in their chats or (a summary's promises) their
                        # group; the group after Zoe came in is checked below.
                        their = {alice.id, bob.id, GROUP}
                        assert {writer_id, chat} <= their, (kind, writer, chat)
    # Nothing of theirs reached the group once Zoe was in it; it was unlinked, both told.
    assert group_safe_until is not None
    after = sent[GROUP][group_safe_until:]
    assert not any(m in t for t in after for m in ("NOTE:", "TURN:", "PROMISE:", "THANKS:"))
    assert not any("Your week together" in t for t in after)
    assert any("no longer linked" in t for t in after)
    for who in (alice, bob):
        assert any("Someone else joined your shared group" in t for t in sent[who.id])
    # The summaries owed through the outage arrived once, after it.
    for who in (carol, dan):
        weeks = [t for t in sent[who.id] if "Your week together" in t]
        assert len(weeks) == len(set(weeks))
    # The pause held: no reminder in the paused week, no check-in the week after.
    assert not any("gentle nudge" in t for t in sent[carol.id] + sent[dan.id])
    # The erased partner's words reached nobody after the erasure, and none reached Erin.
    assert not any("NOTE:Dan" in t for t in sent.get(erin.id, []))
    assert not any("NOTE:Dan:5" in t or "NOTE:Dan:6" in t for c in sent for t in sent[c])
    # Carol kept her own words from the pairing Dan erased.
    with sqlite3.connect(world.db_path) as conn:
        kept = conn.execute(
            "SELECT COUNT(*) FROM answers a JOIN checkins c ON c.id = a.checkin_id "
            "JOIN couples k ON k.id = c.couple_id WHERE a.user_id = ? AND k.user_b = 0",
            (carol.id,),
        ).fetchone()[0]
    assert kept > 0
