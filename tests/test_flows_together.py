"""Where flows meet over time: each item here was seen to break when features ran together.

Every test drives the real application with two partners (and sometimes a second couple):
erasure then new pairings, a pause, an early /checkin, quiet hours, shared settings, long
text and the smaller things seen on the way.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from playground.sim import Person, World
from tests.helpers import checkin_now, pair_by_invite
from tests.test_checkin import answer_all
from tests.test_data_rights import couple_id, json_export, write_conversation

BERLIN = ZoneInfo("Europe/Berlin")
GROUP = -500


def count(world: World, chat: int, fragment: str) -> int:
    return sum(fragment in t for t in world.texts(chat))


async def watch(world: World, hours: float, step_minutes: int = 15) -> list[tuple[datetime, int]]:
    """Move the clock in steps, sweeping at each; return (local time, chat) of every new
    message, so a test can say when things arrived."""
    seen = {chat: len(sent) for chat, sent in world.api.chats.items()}
    arrivals: list[tuple[datetime, int]] = []
    for _ in range(int(hours * 60 // step_minutes)):
        world.clock.advance(timedelta(minutes=step_minutes))
        await world.tick()
        now = world.clock.now().astimezone(BERLIN)
        for chat, sent in world.api.chats.items():
            arrivals += [(now, chat)] * (len(sent) - seen.get(chat, 0))
            seen[chat] = len(sent)
    return arrivals


def in_quiet(moment: datetime) -> bool:
    return moment.hour >= 22 or moment.hour < 8


# -- 2. erasure never makes a later message vanish ----------


async def test_after_an_erasure_new_couples_get_every_message_exactly_once(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Seen: ids reused after /deletedata collided with old outbox keys; a re-paired couple's
    check-in went to one partner only and a reveal was never posted."""
    dan, erin = world.person(404, "Dan"), world.person(505, "Erin")
    await pair_by_invite(world, alice, bob)
    await pair_by_invite(world, carol, dan)
    for first, second in ((alice, bob), (carol, dan)):
        await checkin_now(world, first)
        await answer_all(world, first, "3")
        await answer_all(world, second, "3")
    assert count(world, carol.id, "Nobody went first") == 1
    # Dan erases: his couple's rows had the largest ids.
    await world.send(dan, "/deletedata")
    await world.press(dan, "Yes, erase everything")

    await pair_by_invite(world, carol, erin)
    await pair_by_invite(world, dan, world.person(606, "Finn"))
    before = {p.id: count(world, p.id, "1/5") for p in (carol, erin, dan)}
    await checkin_now(world, carol)
    await checkin_now(world, dan)
    for who in (carol, erin, dan):
        assert count(world, who.id, "1/5") == before[who.id] + 1, who.first_name
    await answer_all(world, carol, "4")
    await answer_all(world, erin, "2")
    assert count(world, carol.id, "Nobody went first") == 2  # the old one and this one
    assert count(world, erin.id, "Nobody went first") == 1
    # And the untouched couple's next week is whole too.
    world.clock.advance(timedelta(days=7))
    await checkin_now(world, alice)
    await answer_all(world, alice, "5")
    await answer_all(world, bob, "5")
    assert count(world, alice.id, "Nobody went first") == 2
    assert count(world, bob.id, "Nobody went first") == 2
    with sqlite3.connect(world.db_path) as conn:
        owed = conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed IS NULL"
        ).fetchone()[0]
    assert owed == 0


# -- 3. the partner keeps their own words ----------


async def test_erasure_keeps_the_partners_words_from_every_pairing(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await write_conversation(world, await couple_id(world, bob), bob.id, alice.id, "bob-turn")
    await world.send(bob, "/promise water the plants by Friday")
    await world.send(bob, "/thanks for the soup")
    await checkin_now(world, alice)
    await answer_all(world, alice, "4", note="alice's own words")
    await answer_all(world, bob, "4", note="bob's own words")
    await world.send(bob, "/unpair")
    await world.press(bob, "Yes, unpair")
    await pair_by_invite(world, alice, carol)  # Alice moves on; then erases everything

    await world.send(alice, "/deletedata")
    await world.press(alice, "Yes, erase everything")
    told = world.last_text(carol.id)
    assert "erased their data" in told and "/export" in told and "/deletedata" in told

    await world.send(bob, "/export")
    raw = json_export(world, bob).document or b""
    for mine in (b"bob's own words", b"water the plants", b"for the soup"):
        assert mine in raw
    assert b"alice's own words" not in raw and b"Alice" not in raw
    page = next(
        x for x in reversed(world.api.sent_to(bob.id)) if (x.filename or "").endswith("html")
    )
    html = (page.document or b"").decode()
    assert "bob-turn" in html and "Alice" not in html


# -- 4. a pause holds ----------


async def test_a_pause_holds_for_both_and_status_shows_it(
    world: World, alice: Person, bob: Person
) -> None:
    """Seen: after a 2-week pause, the partner's /checkin opened a check-in for both, and a
    reminder followed; /status never showed the pause."""
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/settings")
    await world.press(alice, "2w")
    assert world.said(bob.id, "paused for 2 weeks")
    await world.send(bob, "/checkin")
    assert "paused until" in world.last_text(bob.id)
    assert any("Resume check-ins" in b for b in world.api.last(bob.id).button_texts())
    assert count(world, alice.id, "1/5") == 0 and count(world, bob.id, "1/5") == 0
    await world.send(bob, "/status")
    assert "Paused</b> until" in world.last_text(bob.id)
    arrivals = await watch(world, 24 * 13, step_minutes=120)
    assert count(world, alice.id, "1/5") == 0 and not world.said(bob.id, "gentle nudge")
    assert arrivals == []
    await world.press(bob, "Resume check-ins")
    assert world.said(alice.id, "Bob changed your shared settings: Check-ins are back on.")
    await checkin_now(world, bob)
    assert count(world, alice.id, "1/5") == 1


async def test_a_pause_during_an_open_checkin_stops_its_reminder(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    world.clock.set(datetime(2026, 11, 29, 18, 0, tzinfo=UTC))  # Sunday 19:00 Berlin
    await world.tick()
    await world.send(alice, "/settings")
    await world.press(alice, "1w")
    await watch(world, 30, step_minutes=60)
    assert not world.said(alice.id, "gentle nudge") and not world.said(bob.id, "gentle nudge")


# -- 5. an early /checkin tells the truth about the week ----------


async def test_an_early_checkin_says_what_it_replaces_and_the_week_stays_true(
    world: World, alice: Person, bob: Person
) -> None:
    """Seen: an early /checkin silently used up the Sunday one; afterwards /checkin said
    "This week's check-in is done" although it had closed unfinished."""
    await pair_by_invite(world, alice, bob)  # Monday 23 Nov; Sunday 19:00 is scheduled
    await world.send(alice, "/checkin")
    offer = world.last_text(alice.id)
    assert "replaces the one scheduled for Sunday 29 November, 19:00" in offer
    assert count(world, alice.id, "1/5") == 0  # nothing opens before the choice
    await world.press(alice, "Wait for the scheduled one")
    assert "nothing opened" in world.last_text(alice.id)
    await world.send(alice, "/checkin")
    await world.press(alice, "Open it now")
    assert world.said(bob.id, "Alice opened this week's check-in early")
    assert world.said(bob.id, "Next scheduled check-in: Sunday 6 December")
    await world.send(bob, "/status")
    assert "Sunday 6 December" in world.last_text(bob.id)
    await answer_all(world, alice, "3")  # Bob never finishes
    await watch(world, 24 * 4, step_minutes=120)  # Friday: the 72-hour window has closed
    await world.send(alice, "/checkin")
    assert "closed before you had both finished" in world.last_text(alice.id)
    assert "done" not in world.last_text(alice.id)
    await watch(world, 24 * 3, step_minutes=120)  # Sunday 19:00 passes
    with sqlite3.connect(world.db_path) as conn:  # only the early one: Sunday's was replaced
        assert conn.execute("SELECT COUNT(*), SUM(early) FROM checkins").fetchone() == (1, 1)


# -- 6. quiet hours ----------


async def test_nothing_scheduled_arrives_in_quiet_hours(
    world: World, alice: Person, bob: Person
) -> None:
    """Seen: "This evening" at 21:01 meant 00:01; the conversation, its rules and a promise
    follow-up arrived after midnight; a break ended at 01:06."""
    await pair_by_invite(world, alice, bob)
    world.clock.set(datetime(2026, 11, 24, 20, 1, tzinfo=UTC))  # Tuesday 21:01 Berlin
    await world.send(alice, "/promise call the bank by tonight")
    await world.send(alice, "/conflict the holidays")
    await world.press(bob, "Later…")
    labels = world.api.last(bob.id).button_texts()
    assert "This evening" not in labels and "In 1 hour" not in labels
    assert "Tomorrow morning" in labels
    await world.press(bob, "Tomorrow morning")
    arrivals = await watch(world, 14)
    night = [(t, chat) for t, chat in arrivals if in_quiet(t)]
    assert night == []
    assert any(chat == alice.id for _, chat in arrivals)  # the appointment came, at 08:00
    assert min(t for t, _ in arrivals).hour == 8


async def test_a_time_out_late_in_the_evening_ends_in_the_morning(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    world.clock.set(datetime(2026, 11, 24, 20, 50, tzinfo=UTC))  # 21:50 Berlin
    await world.send(alice, "/conflict chores")
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    await world.press(alice, "Time-out")
    labels = world.api.last(alice.id).button_texts()
    assert labels and "In 20 minutes" not in labels and "This evening" not in labels
    await world.press(alice, "Tomorrow morning")
    arrivals = await watch(world, 12)
    assert [a for a in arrivals if in_quiet(a[0])] == []
    assert arrivals  # they were brought back, in the morning


async def test_quiet_hours_are_a_shared_setting_and_limit_the_checkin_time(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/settings")
    assert "Quiet hours: 22:00–08:00" in world.last_text(alice.id)
    await world.press(alice, "Quiet hours")
    await world.press(alice, "21:00–07:00")
    assert world.said(bob.id, "Alice changed your shared settings: Quiet hours: 21:00–07:00")
    await world.press(alice, "⏰ Time")
    assert "21:00" not in world.api.last(alice.id).button_texts()  # not offered
    await world.send(alice, "21:30")
    assert "falls in your quiet hours" in world.last_text(alice.id)


# -- 7. shared settings ----------


async def test_shared_settings_tell_the_partner_once_and_only_of_real_changes(
    world: World, alice: Person, bob: Person
) -> None:
    """Seen: /timezone changed the couple's zone silently; a double tap sent two notices;
    "Sunday" -> "Sunday" notified; the card was headed "Your settings"."""
    await pair_by_invite(world, alice, bob)
    before = len(world.texts(bob.id))
    await world.send(alice, "/timezone America/Denver")
    assert world.said(bob.id, "Alice changed your shared settings: Time zone: America/Denver")
    await world.send(alice, "/timezone America/Denver")
    assert "already America/Denver" in world.last_text(alice.id)
    await world.send(alice, "/settings")
    assert "shared settings" in world.last_text(alice.id)
    await world.press(alice, "Day")
    await world.press(alice, "Sun")  # unchanged
    await world.press(alice, "Day")
    await world.press(alice, "Tue")
    await world.press(alice, "Tue")  # a double tap on the same button
    assert len(world.texts(bob.id)) == before + 2  # the zone, then Tuesday, each once
    await world.send(alice, "/timezone")
    assert "Pick your shared time zone" in world.last_text(alice.id)
    assert "“”" not in world.last_text(alice.id)


# -- 8. nothing is cut without the writer knowing ----------


async def test_long_text_is_refused_kindly_never_cut(
    world: World, alice: Person, bob: Person
) -> None:
    """Seen: a 5,000-character turn reached the partner as its first 3,000 while the writer
    read "Noted."; topics were cut mid-word."""
    await pair_by_invite(world, alice, bob)
    long_topic = "the way we share the chores " * 10
    await world.send(alice, f"/conflict {long_topic}")
    assert "a topic can hold 200" in world.last_text(alice.id)
    assert not world.said(bob.id, "the way we share")
    await world.send(alice, "/conflict chores")
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    turn = ("I feel worn out. " * 300).strip()
    await world.send(alice, turn)
    assert "one turn can hold 3000" in world.last_text(alice.id)
    assert not world.said(bob.id, "worn out")
    await world.send(alice, "I feel worn out.")
    await world.press(alice, "Done, over to Bob")  # a bit is passed on whole, on Done
    assert world.said(bob.id, "I feel worn out.")


# -- 9. smaller ones seen on the way ----------


async def test_smaller_truths(world: World, alice: Person, bob: Person) -> None:
    await world.send(bob, "/start")  # Bob's own invite, never used
    bob_link = world.texts(bob.id)[-1]
    await pair_by_invite(world, alice, bob)
    token = bob_link.split("start=")[1].split()[0].strip("<>\"')")
    await world.send(alice, f"/start {token[:22]}")
    assert "replaced" not in world.last_text(alice.id)
    assert "already paired with Bob" in world.last_text(alice.id)

    await world.send(alice, "/foo")
    assert "don't know that command" in world.last_text(alice.id)
    world.make_group(GROUP, alice, bob)
    await world.send(alice, "/foo", chat_id=GROUP)
    assert world.texts(GROUP) == []  # maybe meant for another bot
    await world.send(alice, "/foo@TrellisBot", chat_id=GROUP)
    assert "don't know that command" in world.last_text(GROUP)

    await world.send(alice, "/conflict chores")
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    await world.press(alice, "End")
    await world.press(alice, "Yes, end it")
    assert world.said(alice.id, "after 0 rounds") and not world.said(alice.id, "round(s)")

    await checkin_now(world, alice)
    await world.press(alice, "3")
    await world.send(alice, "a note I mean to keep")
    await world.press(alice, "Back")
    await world.press(alice, "3")
    assert "a note I mean to keep" in world.last_text(alice.id)  # shown, with Keep / Remove
    await world.press(alice, "Keep note")
    with sqlite3.connect(world.db_path) as conn:
        notes = conn.execute("SELECT COUNT(*) FROM answers WHERE note IS NOT NULL").fetchone()[0]
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM checkin_progress WHERE user_id = 1"
        ).fetchall()
    assert notes == 1
    assert "checkin_progress_user" in str(plan)


async def test_the_group_hears_both_can_be_reached_privately_once(
    world: World, alice: Person, bob: Person
) -> None:
    from tests.test_conflict_flow import pair_in_group

    await pair_in_group(world, alice, bob)
    await world.send(alice, "/start")
    await world.send(bob, "/start")
    await world.send(alice, "/start")
    assert count(world, GROUP, "can now hear from me privately") <= 1
