"""The weekly check-in through the real application: schedule, answers, reveal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playground.sim import Person, World
from tests.helpers import checkin_now, pair_by_invite, state

GROUP = -500


async def answer_all(world: World, who: Person, score: str = "4", note: str | None = None) -> None:
    """Answer every item of the open check-in: scale items with `score`, open ones typed."""
    for _ in range(10):
        last = world.api.last(who.id)
        labels = last.button_texts()
        if "5" in labels:
            await world.press(who, score)
            if note:
                await world.send(who, note)
            else:
                await world.press(who, "Skip")
        elif "Prefer not to say" in labels:
            await world.send(who, "A walk together on Saturday")
        else:
            return
    raise AssertionError("check-in did not end")


async def test_full_week_opens_on_time_reminds_and_reveals(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)  # Europe/Berlin, Sunday 19:00
    # Sunday 29 November 2026, 19:00 in Berlin is 18:00 UTC
    world.clock.set(datetime(2026, 11, 29, 17, 59, tzinfo=UTC))
    await world.tick()
    assert not world.said(alice.id, "It's check-in time")
    world.clock.set(datetime(2026, 11, 29, 18, 0, tzinfo=UTC))
    await world.tick()
    assert world.said(alice.id, "It's check-in time") and world.said(bob.id, "It's check-in time")
    assert "1/5" in world.last_text(alice.id)

    await answer_all(world, alice, "5", note="Felt close this week")
    assert "as soon as your partner has finished" in world.last_text(alice.id)
    assert not any("Nobody went first" in t for t in world.texts(alice.id))

    world.clock.advance(timedelta(hours=24))
    await world.tick()
    assert world.said(bob.id, "gentle nudge") and not world.said(alice.id, "gentle nudge")
    world.clock.advance(timedelta(hours=1))
    await world.tick()
    assert sum("gentle nudge" in t for t in world.texts(bob.id)) == 1

    await answer_all(world, bob, "2")
    for chat in (alice.id, bob.id):
        reveal = [s for s in world.api.sent_to(chat) if "Nobody went first" in s.text]
        assert len(reveal) == 1 and reveal[0].protect
        text = reveal[0].text
        assert "Alice: <b>5</b>/5" in text and "Bob: <b>2</b>/5" in text
        assert "Felt close this week" in text
        assert "You rated yourselves differently" in text
    # the next one is scheduled a week later
    await world.send(alice, "/status")
    assert "Sunday 6 December, 19:00" in world.last_text(alice.id)


async def test_reveal_goes_to_the_group(world: World, alice: Person, bob: Person) -> None:
    world.make_group(GROUP, alice, bob)
    await pair_by_invite(world, alice, bob)
    await world.add_bot(GROUP, alice)
    await world.press(alice, "I'm in", chat_id=GROUP)
    await world.press(bob, "I'm in", chat_id=GROUP)
    await checkin_now(world, alice, chat_id=GROUP)
    assert "in your private chats" in world.last_text(GROUP)
    await answer_all(world, alice)
    await answer_all(world, bob)
    assert world.said(GROUP, "Nobody went first")
    assert not any("Nobody went first" in t for t in world.texts(alice.id))


async def test_back_changes_an_answer_until_finished(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    await world.press(alice, "1")
    await world.press(alice, "Skip")
    assert "2/5" in world.last_text(alice.id)
    await world.press(alice, "Back")
    assert "1/5" in world.last_text(alice.id)
    await world.press(alice, "3")
    await world.press(alice, "Skip")
    await answer_all(world, alice, "3")
    await answer_all(world, bob, "3")
    reveal = next(t for t in world.texts(bob.id) if "Nobody went first" in t)
    assert "Alice: <b>1</b>/5" not in reveal
    assert reveal.count("Alice: <b>3</b>/5") == 4


async def test_restart_mid_answering_continues(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    await world.press(alice, "4")
    await world.restart()
    await world.send(alice, "A note typed after a restart")
    assert "2/5" in world.last_text(alice.id)
    await world.restart()
    await checkin_now(world, alice)
    assert "2/5" in world.last_text(alice.id)
    await answer_all(world, alice)
    await answer_all(world, bob)
    assert world.said(alice.id, "A note typed after a restart")


async def test_stale_double_and_forged_presses(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    dave = world.person(404, "Dave")
    await pair_by_invite(world, alice, bob)
    await pair_by_invite(world, carol, dave)
    await checkin_now(world, alice)
    _, four = world.find_button(alice.id, "4")
    await world.press(alice, "4")
    # the same button again: already answered, nothing changes
    before = state(world)
    await world.press_data(alice, four["callback_data"])
    assert "already answered" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]
    # Carol forges a press naming Alice's check-in
    await world.press_data(carol, four["callback_data"].replace(":4", ":1"))
    assert "isn't yours" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]
    assert state(world) == before
    # a duplicate delivery of a press is dropped before any handler
    await world.press(alice, "Skip")
    before = len(world.api.calls)
    await world.redeliver()
    assert len(world.api.calls) == before
    await answer_all(world, alice, "2")
    await answer_all(world, bob, "2")
    reveal = next(t for t in world.texts(alice.id) if "Nobody went first" in t)
    assert reveal.count("Alice: <b>2</b>/5") == 3 and "Alice: <b>4</b>/5" in reveal


async def test_text_without_a_question_gets_help(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    await world.send(alice, "five!")
    assert "buttons 1 to 5" in world.texts(alice.id)[-2]
    await answer_all(world, alice)
    await world.send(alice, "anything else?")
    assert "/help" in world.last_text(alice.id)


async def test_one_partner_never_finishes(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    await answer_all(world, alice, "5", note="private canary words")
    await world.press(bob, "1")
    world.clock.advance(timedelta(hours=72))
    await world.tick()
    assert world.said(alice.id, "didn't get to finish")
    assert world.said(bob.id, "closed before you finished")
    for chat in (alice.id, bob.id):
        assert not any("canary" in t and "Alice:" in t for t in world.texts(chat))
        assert not any("Nobody went first" in t for t in world.texts(chat))
    # a late press on the closed check-in changes nothing
    await world.press(bob, "Skip")
    assert "has closed" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]


async def test_blocked_partner_is_reported_once(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    world.api.blocked.add(bob.id)
    calls_before = len(world.api.calls)
    await checkin_now(world, alice)
    await world.tick()
    await world.tick()
    notes = [t for t in world.texts(alice.id) if "can't reach Bob" in t]
    assert len(notes) == 1
    sends_to_bob = [c for c in world.api.calls[calls_before:] if c.params.get("chat_id") == bob.id]
    assert len(sends_to_bob) == 1  # one refused attempt, no retry loop


async def onboard_at(world: World, a: Person, b: Person, zone: str, day: str, at: str) -> None:
    await pair_by_invite(world, a, b, onboard=False)
    await world.send(a, zone)
    await world.press(a, day)
    await world.send(a, at)


async def count_opened(world: World, who: Person) -> int:
    return sum("It's check-in time" in t for t in world.texts(who.id))


async def sweep_through(world: World, start: datetime, hours: int, step_minutes: int = 10) -> None:
    world.clock.set(start)
    for _ in range(hours * 60 // step_minutes):
        world.clock.advance(timedelta(minutes=step_minutes))
        await world.tick()


async def test_opens_at_the_right_utc_moment_in_several_zones(world: World) -> None:
    couples = [  # Sunday 19:00 local, in UTC, earliest first
        ("Australia/Sydney", datetime(2026, 11, 29, 8, 0, tzinfo=UTC)),
        ("Asia/Tokyo", datetime(2026, 11, 29, 10, 0, tzinfo=UTC)),
        ("America/Los_Angeles", datetime(2026, 11, 30, 3, 0, tzinfo=UTC)),
    ]
    people = []
    for n, (zone, _) in enumerate(couples):
        a, b = world.person(1000 + n, f"A{n}"), world.person(2000 + n, f"B{n}")
        await onboard_at(world, a, b, zone, "Sun", "19:00")
        people.append(a)
    for (_, moment), a in zip(couples, people, strict=True):
        world.clock.set(moment - timedelta(minutes=1))
        await world.tick()
        assert await count_opened(world, a) == 0
        world.clock.set(moment)
        await world.tick()
        assert await count_opened(world, a) == 1


async def test_dst_weeks_open_exactly_once(world: World) -> None:
    cases = [
        ("Europe/Berlin", "02:30", datetime(2026, 3, 28, 20, 0, tzinfo=UTC)),
        ("Europe/Berlin", "02:30", datetime(2026, 10, 24, 20, 0, tzinfo=UTC)),
        ("America/New_York", "01:30", datetime(2026, 10, 31, 20, 0, tzinfo=UTC)),
    ]
    for n, (zone, at, start) in enumerate(cases):
        a, b = world.person(3000 + n, f"A{n}"), world.person(4000 + n, f"B{n}")
        world.clock.set(start - timedelta(days=1))
        await onboard_at(world, a, b, zone, "Sun", at)
        await sweep_through(world, start, 14)
        assert await count_opened(world, a) == 1, zone


async def test_downtime_across_the_due_moment_opens_once(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.stop()
    world.clock.set(datetime(2026, 11, 29, 23, 0, tzinfo=UTC))  # down over 18:00 UTC
    await world.start()
    await world.tick()
    await world.tick()
    assert await count_opened(world, alice) == 1
    # down across a whole window: that week is skipped, the next one comes
    await world.stop()
    world.clock.set(datetime(2026, 12, 10, 12, 0, tzinfo=UTC))
    await world.start()
    await world.tick()
    assert await count_opened(world, alice) == 1
    await world.send(alice, "/status")
    assert "Sunday 13 December" in world.last_text(alice.id)


async def test_settings_change_recomputes_and_pause_skips(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/settings")
    await world.press(alice, "Day")
    await world.press(alice, "Tue")
    assert "Next check-in: Tuesday 24 November, 19:00 Europe/Berlin" in world.last_text(alice.id)
    assert world.said(bob.id, "Alice changed your shared settings")
    await world.press(alice, "⏰ Time")
    await world.send(alice, "7:45")  # inside the quiet hours: refused, kindly
    assert "falls in your quiet hours (22:00–08:00)" in world.last_text(alice.id)
    await world.send(alice, "8:45")
    assert "Next check-in: Tuesday 24 November, 08:45 Europe/Berlin" in world.texts(alice.id)[-1]
    await world.press(alice, "2w")
    assert "Tuesday 8 December" in world.last_text(alice.id)
    await sweep_through(world, world.clock.now(), 24 * 14 - 24, step_minutes=360)
    assert await count_opened(world, alice) == 0
    await world.press(alice, "Reminders")
    assert "Reminders are off" in world.last_text(alice.id)
    await checkin_now(world, alice)
    world.clock.advance(timedelta(hours=30))
    await world.tick()
    assert not world.said(bob.id, "gentle nudge")


async def test_reveal_words_a_gap_by_whom_the_question_is_about_and_na_counts_nothing(
    world: World, alice: Person, bob: Person
) -> None:
    """A fresh couple's first items: expectations-01 rates yourself, boundaries-01 your
    partner, support-01 presupposes a hard moment (so it offers "Didn't come up")."""
    await pair_by_invite(world, alice, bob)
    world.clock.set(datetime(2026, 11, 29, 18, 0, tzinfo=UTC))
    await world.tick()
    for who, first, second in ((alice, "5", "5"), (bob, "2", "2")):
        await world.press(who, first)  # expectations-01 (self)
        await world.press(who, "Skip")
        assert "Didn't come up" not in world.api.last(who.id).button_texts()
        await world.press(who, second)  # boundaries-01 (partner)
        await world.press(who, "Skip")
        assert "Didn't come up" in world.api.last(who.id).button_texts()  # support-01
    await world.press(alice, "Didn't come up")
    assert "didn't come up this week. It won't count in any score" in world.texts(alice.id)[-2]
    await answer_all(world, alice, "4")
    await world.press(bob, "3")
    await world.press(bob, "Skip")
    await answer_all(world, bob, "4")
    reveal = next(s.text for s in world.api.sent_to(alice.id) if "Nobody went first" in s.text)
    expectations, boundaries, support = reveal.split("\n\n")[1:4]
    assert "You rated yourselves differently" in expectations
    assert "You experienced this differently" in boundaries
    assert "Alice: <i>didn't come up</i>" in support and "Bob: <b>3</b>/5" in support
    assert "differently" not in support  # a skipped answer is no gap
    assert "You see this one differently" not in reveal
    rows = [r for r in state(world)["answers"] if r[2] == "support-01"]
    by_user = {r[1]: r for r in rows}
    assert by_user[alice.id][4] is None and by_user[alice.id][8] == "na"  # value, skip
    assert by_user[bob.id][4] == 3 and by_user[bob.id][8] is None


async def test_reveal_gap_wording_for_each_about(world: World, alice: Person, bob: Person) -> None:
    """Unit level: one reveal item per kind of question, rendered by the real feature."""
    await pair_by_invite(world, alice, bob)
    assert world.app is not None
    services = world.app.bot_data["services"]
    async with services.core.db.tx() as conn:
        couple = await services.core.couple_of(conn, alice.id)
    names = {alice.id: "Alice", bob.id: "Bob"}

    def item(qid: str, a: int | None, b: int | None, skip: str | None = None) -> str:
        got = {
            (alice.id, qid): {
                "value": a,
                "text": None,
                "note": None,
                "skip": skip,
                "words_private": 0,
            },
            (bob.id, qid): {
                "value": b,
                "text": None,
                "note": None,
                "skip": None,
                "words_private": 0,
            },
        }
        return str(services.checkins._reveal_item(couple, names, got, qid, 0))

    content = services.core.content
    assert content.question("expectations-01").about == "self"
    assert content.question("boundaries-01").about == "partner"
    assert content.question("support-03").about == "us"
    assert "You rated yourselves differently" in item("expectations-01", 5, 2)
    assert "You experienced this differently" in item("boundaries-01", 5, 2)
    assert "You experienced this differently" in item("support-03", 1, 4)
    assert "differently" not in item("support-03", 4, 3)  # one point apart: no gap named
    na = item("support-01", None, 1, skip="na")
    assert "Alice: <i>didn't come up</i>" in na and "differently" not in na
