"""Weeks lived through the real application, each ending in one weekly summary."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from bot import chart
from playground.fakeapi import Sent
from playground.sim import Person, World
from tests.helpers import pair_by_invite
from tests.test_checkin import answer_all

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Sunday 29 November 2026, 19:00 Europe/Berlin: the first check-in after pairing.
FIRST = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def finish_checkin(world: World, who: Person, score: str) -> None:
    """Answer the open check-in: every scale with `score`, every note and open item skipped."""
    if score not in world.api.last(who.id).button_texts():
        await world.send(who, "/checkin")  # another message came last: show the question again
    for _ in range(20):
        labels = world.api.last(who.id).button_texts()
        if score in labels:
            await world.press(who, score)
        elif "Skip" in labels:  # a note
            await world.press(who, "Skip")
        elif "Prefer not to say" in labels:  # an open question
            await world.press(who, "Prefer not to say")
        else:
            return
    raise AssertionError("the check-in did not end")


async def open_week(world: World, n: int) -> None:
    world.clock.set(FIRST + timedelta(weeks=n))
    await world.tick()


def summaries(world: World, chat: int) -> list[Sent]:
    return [s for s in world.api.sent_to(chat) if "Your week together" in s.text]


def photos(world: World, chat: int) -> list[Sent]:
    return [s for s in world.api.sent_to(chat) if s.photo is not None]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_weeks_end_in_summaries_with_a_chart(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)

    # Week 1: both finish, the reveal closes the check-in, the next sweep sends the summary.
    await open_week(world, 0)
    await finish_checkin(world, alice, "5")
    await finish_checkin(world, bob, "2")
    assert world.said(alice.id, "Nobody went first")
    await world.tick()
    await world.tick()
    for chat in (alice.id, bob.id):
        sent = summaries(world, chat)
        assert len(sent) == 1 and sent[0].protect
        text = sent[0].text
        assert "Alice 5 · Bob 2 · 3 points apart" in text
        assert "first check-in together" in text and "A focus for the coming week" in text
        assert "You rated yourselves furthest apart on <b>Expectations</b>" in text
        assert "A trend needs three weeks you've both finished. So far there is 1." in text
        assert not photos(world, chat)  # one week is too little for a trend

    # During week 2: a promise kept, thanks both ways.
    world.clock.advance(timedelta(days=1))
    await world.send(alice, "/promise plan Saturday by Thursday")
    await world.send(bob, "/thanks for dinner")
    await world.send(alice, "/thanks for listening")
    await world.send(alice, "/thanks for the tea")
    await world.press(alice, "Done")  # only the promiser reports
    await world.send(bob, "/promise call the bank by next week")

    await open_week(world, 1)
    await finish_checkin(world, alice, "4")
    await finish_checkin(world, bob, "4")
    await world.tick()
    text = summaries(world, alice.id)[-1].text
    assert "Alice followed through: “plan Saturday”" in text
    assert "Kept" not in text and "kept" not in text  # no tally, no score
    assert "call the bank" in text  # due in the coming week
    assert "3 thank-yous passed between you this week" in text
    assert "Alice sent" not in text  # the shared summary counts no one
    assert "for dinner" not in text  # thanks are counted, never shown
    assert not photos(world, alice.id)  # two complete weeks are still no trend

    await open_week(world, 2)
    await finish_checkin(world, alice, "3")
    await finish_checkin(world, bob, "5")
    await world.tick()
    await world.restart()
    await world.tick()  # a restart and a second sweep send nothing twice
    for chat in (alice.id, bob.id):
        assert len(summaries(world, chat)) == 3
        pictures = photos(world, chat)
        assert len(pictures) == 1 and pictures[0].protect
        assert pictures[0].photo is not None
        width, height = png_size(pictures[0].photo)
        assert 400 <= width <= 2000 and 300 <= height <= 2000
        assert len(pictures[0].text) <= 1024
    text = summaries(world, alice.id)[-1].text
    assert "Alice: 5.0 → 4.0 → 3.0" in text and "Bob: 2.0 → 4.0 → 5.0" in text
    assert "The gap between you this week: 2.0" in text
    assert "Alice's line is blue and Bob's is orange" in text

    # /summary shows it again, /history lists both weeks and opens one.
    await world.send(bob, "/summary")
    assert world.api.last(bob.id).photo is not None or "Your week together" in world.last_text(
        bob.id
    )
    assert any("Alice: 5.0 → 4.0" in s.text for s in world.api.sent_to(bob.id)[-3:])
    await world.send(alice, "/history")
    listing = world.api.last(alice.id)
    assert listing.protect and len(listing.button_texts()) == 3
    assert "both took part" in listing.text and "overall" not in listing.text


async def test_one_sided_and_missed_weeks_are_framed_kindly(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await open_week(world, 0)
    await finish_checkin(world, alice, "4")
    world.clock.advance(timedelta(hours=72))
    await world.tick()  # the window runs out: expired
    await world.tick()
    sent = summaries(world, bob.id)
    assert len(sent) == 1
    assert "Only one of you finished" in sent[0].text and "4.0" not in sent[0].text

    await open_week(world, 1)
    world.clock.advance(timedelta(hours=72))
    await world.tick()
    await world.tick()
    assert "Neither of you got to the check-in" in summaries(world, alice.id)[-1].text

    await open_week(world, 2)
    await finish_checkin(world, alice, "3")
    await finish_checkin(world, bob, "3")
    await world.tick()
    latest = summaries(world, alice.id)[-1].text
    assert "Welcome back" in latest and "first check-in together" in latest
    assert not photos(world, alice.id)  # still only one complete week

    # A stranger cannot open the couple's summary; /summary mid-week shows the week so far.
    await world.send(alice, "/history")
    data = world.find_button(alice.id, "7 Dec")[1]["callback_data"]
    await world.press_data(carol, data, chat_id=carol.id)
    assert world.api.calls_of("answerCallbackQuery")[-1].params["show_alert"]
    await open_week(world, 3)
    await world.send(bob, "/summary")
    assert "This week so far" in world.last_text(bob.id)


async def test_summary_goes_to_the_linked_group(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    world.make_group(-500, alice, bob)
    await world.add_bot(-500, alice)
    await world.press(alice, "I'm in", chat_id=-500)
    await world.press(bob, "I'm in", chat_id=-500)
    for n in range(3):
        await open_week(world, n)
        await finish_checkin(world, alice, "4")
        await finish_checkin(world, bob, "3")
        await world.tick()
    assert len(summaries(world, -500)) == 3 and not summaries(world, alice.id)
    assert len(photos(world, -500)) == 1  # from the third complete week on


async def test_chart_of_a_divergent_couple_draws_each_partner_and_leaves_gaps(
    world: World, alice: Person, bob: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice answers 5 and Bob 1 every week; in the third week Bob does not finish.

    The old chart averaged both into one line at 3.0, flat, as if all were well.
    """
    drawn: list[Figure] = []
    original = chart.figure

    def keep(*args: Any, **kwargs: Any) -> Figure:
        fig = original(*args, **kwargs)
        drawn.append(fig)
        return fig

    monkeypatch.setattr(chart, "figure", keep)
    await pair_by_invite(world, alice, bob)
    for n in range(4):
        await open_week(world, n)
        await finish_checkin(world, alice, "5")
        if n != 2:
            await finish_checkin(world, bob, "1")
        else:
            world.clock.advance(timedelta(hours=72))  # Bob never finishes: the week expires
        await world.tick()
        await world.tick()
    assert len(drawn) == 1  # only from the third complete week
    (ax,) = drawn[0].axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"Alice (blue)", "Bob (orange)"}
    alice_y = [float(y) for y in lines["Alice (blue)"].get_ydata()]
    bob_y = [float(y) for y in lines["Bob (orange)"].get_ydata()]
    assert alice_y[:2] == [5.0, 5.0] and alice_y[3] == 5.0 and math.isnan(alice_y[2])
    assert bob_y[:2] == [1.0, 1.0] and bob_y[3] == 1.0 and math.isnan(bob_y[2])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["23 Nov", "30 Nov", "7 Dec", "14 Dec"]
    assert "1 hard" in ax.get_yticklabels()[0].get_text()
    assert "5 good" in ax.get_yticklabels()[-1].get_text()
    assert ax.get_ylabel() == "How the week felt"
    # the gap is shaded where both answered, and the legend names it, outside the data
    assert [c.get_label() for c in ax.collections] == ["gap between you", "_gap_rules"]
    rules = ax.collections[1].get_segments()  # one rule per week both answered, 5 down to 1
    assert [(float(s[0][0]), float(s[0][1]), float(s[1][1])) for s in rules] == [
        (0.0, 5.0, 1.0),
        (1.0, 5.0, 1.0),
        (3.0, 5.0, 1.0),
    ]
    assert ax.get_legend() is None and len(drawn[0].legends) == 1
    drawn[0].canvas.draw()
    legend_box = drawn[0].legends[0].get_window_extent()
    assert not legend_box.overlaps(ax.get_window_extent())
    text = summaries(world, alice.id)[-1].text
    assert "Alice: 5.0 → 5.0 → – → 5.0" in text and "Bob: 1.0 → 1.0 → – → 1.0" in text
    assert "The gap between you this week: 4.0" in text


async def test_history_shows_your_own_answers_and_the_partners_only_once_revealed(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await open_week(world, 0)
    await answer_all(world, alice, "4", note="Felt close")
    await answer_all(world, bob, "2", note="Busy week")
    await world.tick()
    await open_week(world, 1)
    await answer_all(world, alice, "5", note="Lovely walk")
    await world.press(bob, "3")  # Bob answers one question, then the week runs out
    await world.send(bob, "A secret draft")
    world.clock.advance(timedelta(hours=72))
    await world.tick()
    await world.tick()

    await world.send(alice, "/history")
    await world.press(alice, "30 Nov")
    mine = world.api.sent_to(alice.id)[-1]
    assert mine.protect and "Your answers that week" in mine.text
    assert "You: 5/5" in mine.text and "Lovely walk" in mine.text
    assert "Bob's answers from that week stay private" in mine.text
    assert "Bob: 3/5" not in mine.text and "A secret draft" not in mine.text

    await world.send(bob, "/history")
    await world.press(bob, "30 Nov")
    his = world.api.sent_to(bob.id)[-1].text
    assert "You: 3/5" in his and "A secret draft" in his and "Lovely walk" not in his
    await world.press(bob, "23 Nov")
    revealed = world.api.sent_to(bob.id)[-1].text
    assert "You: 2/5" in revealed and "Busy week" in revealed
    assert "Alice: 4/5" in revealed and "Felt close" in revealed


async def test_summary_before_the_first_check_in_shows_the_week_so_far(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    world.clock.set(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))  # Tuesday, before any check-in
    for n in range(7):
        await world.send(alice, f"/promise small thing {n} by Friday")
    await world.send(bob, "/thanks for the tea")
    await world.send(alice, "/summary")
    text = world.last_text(alice.id)
    assert "There's no weekly summary yet" not in text
    assert "This week so far" in text and "small thing 0" in text
    assert "small thing 5" not in text and "…and 2 more" in text
    assert "1 thank-you passed between you this week" in text and "Bob sent" not in text
    assert "first full summary comes when your first check-in closes" in text


async def test_history_shows_no_grade_even_for_summaries_stored_with_one(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await open_week(world, 0)
    await finish_checkin(world, alice, "4")
    await finish_checkin(world, bob, "3")
    await world.tick()
    assert world.app is not None
    core = world.app.bot_data["services"].core
    async with core.db.tx() as conn:  # a row as the old summary wrote it
        await conn.execute(
            "UPDATE summaries SET headline = ?",
            (core.cipher.encrypt("both took part, overall 3.5"),),
        )
    await world.send(alice, "/history")
    listing = world.last_text(alice.id)
    assert "23 Nov 2026: both took part" in listing and "overall" not in listing


async def test_history_keeps_only_for_me_notes_with_their_writer(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await open_week(world, 0)
    await world.press(alice, "3")
    await world.press(alice, "Only for me")
    await world.send(alice, "just for me: a long week")
    await finish_checkin(world, alice, "4")
    await finish_checkin(world, bob, "4")
    await world.tick()
    await world.send(bob, "/history")
    await world.press(bob, "23 Nov")
    his = world.api.sent_to(bob.id)[-1].text
    assert "Alice: 3/5" in his and "a long week" not in his
    await world.send(alice, "/history")
    await world.press(alice, "23 Nov")
    mine = world.api.sent_to(alice.id)[-1].text
    assert "You: 3/5" in mine and "just for me: a long week" in mine
