"""Promises and /thanks through the real application, plus the date parser and agreements."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.promises import parse_when
from bot.services import Services
from playground.sim import Person, World
from tests.helpers import pair_by_invite

MONDAY = date(2026, 11, 23)


def services(world: World) -> Services:
    assert world.app is not None
    svc: Services = world.app.bot_data["services"]
    return svc


def asks(world: World, who: Person) -> list[str]:
    """Due asks sent to `who` (counted as sends: an answered ask is edited in place)."""
    return [
        c.params["text"]
        for c in world.api.calls_of("sendMessage")
        if int(c.params["chat_id"]) == who.id and "How did it go?" in c.params["text"]
    ]


def test_parse_when() -> None:
    assert parse_when("Friday", MONDAY) == date(2026, 11, 27)
    assert parse_when("fri", MONDAY) == date(2026, 11, 27)
    assert parse_when("monday", MONDAY) == date(2026, 11, 30)  # never today: next week
    assert parse_when("tomorrow", MONDAY) == date(2026, 11, 24)
    assert parse_when("tonight", MONDAY) == MONDAY
    assert parse_when("next week", MONDAY) == date(2026, 11, 30)
    assert parse_when("in 3 days", MONDAY) == date(2026, 11, 26)
    assert parse_when("in 2 weeks", MONDAY) == date(2026, 12, 7)
    assert parse_when("2026-12-05", MONDAY) == date(2026, 12, 5)
    assert parse_when("5 Dec", MONDAY) == date(2026, 12, 5)
    assert parse_when("January 3", MONDAY) == date(2027, 1, 3)
    assert parse_when("the weekend", MONDAY) == date(2026, 11, 28)
    assert parse_when("someday", MONDAY) is None
    assert parse_when("31 Feb", MONDAY) is None


async def test_promise_kept_after_not_yet(world: World, alice: Person, bob: Person) -> None:
    """Only the promiser is asked and reports; the partner is told, never asked to grade."""
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/promise fix the <b>bike</b> light by Friday")
    made = world.last_text(alice.id)
    assert "fix the &lt;b&gt;bike&lt;/b&gt; light" in made and "Friday 27 November" in made
    told = world.api.last(bob.id)
    assert "Alice made you a promise" in told.text and told.protect

    # Friday 27 November 20:00 Berlin is 19:00 UTC
    world.clock.set(datetime(2026, 11, 27, 18, 59, tzinfo=UTC))
    await world.tick()
    assert asks(world, alice) == []
    world.clock.set(datetime(2026, 11, 27, 19, 0, tzinfo=UTC))
    await world.tick()
    await world.tick()  # a duplicate sweep sends nothing twice
    assert len(asks(world, alice)) == 1
    assert "Your promise to Bob" in world.last_text(alice.id)
    assert world.api.last(alice.id).button_texts() == ["✅ Kept", "⏳ Not yet", "Didn't happen"]
    assert not asks(world, bob)

    await world.press(alice, "Not yet")
    assert "gets until Monday 30 November" in world.last_text(alice.id)
    assert world.said(bob.id, "a little longer")
    await world.restart()
    world.clock.advance(timedelta(days=3) - timedelta(minutes=1))
    await world.tick()
    assert len(asks(world, alice)) == 1
    world.clock.advance(timedelta(minutes=1))
    await world.tick()
    assert len(asks(world, alice)) == 2
    assert "Checking in once more" in world.last_text(alice.id)
    assert world.api.last(alice.id).button_texts() == ["✅ Kept", "Didn't happen"]

    await world.press(alice, "Kept")
    told = world.api.last(bob.id)
    assert "Alice kept their promise to you" in told.text and told.protect
    assert told.button_texts() == ["💛 Say thanks", "💬 Ask to talk about it"]
    assert not any("Kept" in b for t in world.api.sent_to(bob.id) for b in t.button_texts())
    await world.press(bob, "Say thanks")
    assert world.said(alice.id, "Bob thanks you for")
    await world.press(bob, "Ask to talk")  # one reply only
    assert "already replied" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]
    await world.send(alice, "/promises")
    listing = world.last_text(alice.id)
    assert "No open promises" in listing and "Nothing from this month is waiting" in listing
    assert " of 1" not in listing  # no tally of kept against made


async def test_missed_is_framed_without_a_score(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(bob, "/promise plan a date night by tomorrow")
    world.clock.advance(timedelta(days=2))
    await world.tick()
    assert not asks(world, alice)  # the partner is never asked to grade
    kept = world.find_button(bob.id, "Kept")[1]["callback_data"]
    await world.press_data(alice, kept)  # a forged press by the partner
    assert "isn't for you" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]
    await world.press(bob, "Didn't happen")
    assert "No score is kept" in world.last_text(bob.id)
    assert world.said(alice.id, "what matters is picking it up again")
    await world.press(alice, "Ask to talk")
    assert "/conflict" in world.last_text(alice.id)
    assert world.said(bob.id, "Alice would like to talk about") and world.said(bob.id, "/conflict")
    await world.send(bob, "/promises")
    listing = world.last_text(bob.id)
    assert "One to pick up again" in listing and "“plan a date night” (yours)" in listing
    assert "kept 0" not in listing and " of 1" not in listing
    await world.press_data(bob, kept)  # the answered buttons are stale now
    assert "already moved on" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]


async def test_promiser_marks_done_and_partner_may_only_thank_or_talk(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/promise")
    assert "What would you like to promise?" in world.last_text(alice.id)
    await world.send(alice, "stop by the shop by Friday")  # the last "by" names the day
    assert "“stop by the shop”, by Friday 27 November" in world.last_text(alice.id)
    await world.send(alice, "/promise call the plumber")
    assert "Monday 30 November" in world.last_text(alice.id)  # default: a week

    done = world.find_button(alice.id, "Done")[1]["callback_data"]
    # the partner and a stranger cannot mark someone else's promise done
    await world.press_data(bob, done)
    await world.press_data(carol, done)
    answers = world.api.calls_of("answerCallbackQuery")
    assert all("isn't for you" in a.params["text"] for a in answers[-2:])

    await world.press(alice, "Done")  # the promiser's word settles it: no confirmation
    assert world.said(bob.id, "Alice kept their promise to you")
    thank = world.find_button(bob.id, "Say thanks")[1]["callback_data"]
    await world.press_data(alice, thank)  # the promiser cannot thank themselves
    assert "isn't for you" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]
    await world.press_data(alice, done)  # stale: already kept
    assert "already moved on" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]
    for verb in ("k", "m", "n"):  # the old grading buttons, forged by the partner
        await world.press_data(bob, thank.replace(":t:", f":{verb}:"))
        assert "isn't for you" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]

    await world.press(bob, "Say thanks")
    await world.redeliver()  # the same press again changes nothing
    assert sum("thanks you for" in t for t in world.texts(alice.id)) == 1
    world.clock.advance(timedelta(days=8))
    await world.tick()
    assert not any("plumber" in t for t in asks(world, bob))  # never asked of the partner


async def test_thanks_with_a_heart_back(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/thanks for the soup when I was ill")
    assert "Sent to Bob" in world.last_text(alice.id)
    received = world.api.last(bob.id)
    assert "for the soup when I was ill" in received.text
    heart = world.find_button(bob.id, "heart")[1]["callback_data"]
    await world.press_data(alice, heart)
    assert "isn't for you" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]
    await world.press(bob, "heart")
    assert world.said(alice.id, "Bob sent a ❤️ back")
    await world.press_data(bob, heart)
    assert "already sent a heart" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]

    await world.send(bob, "/thanks")
    await world.send(bob, "listening so well")
    assert world.said(alice.id, "listening so well")
    world.make_group(-500, alice, bob)
    await world.send(alice, "/thanks nope", chat_id=-500)
    assert "private chat" in world.last_text(-500)


async def test_agreement_becomes_a_promise(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    svc = services(world)
    due = int(world.clock.now().timestamp()) + 3600
    async with svc.core.db.tx() as conn:
        couple = await svc.core.couple_of(conn, alice.id)
        assert couple is not None
        pid = await svc.promises.from_agreement(conn, couple.id, bob.id, "text before 10pm", due)
        promise = await svc.promises.get(conn, pid)
    assert promise is not None and promise.partner_id == alice.id
    assert promise.source == "conflict" and promise.state == "open"
    world.clock.advance(timedelta(hours=1))
    await world.tick()
    assert "Your promise to Alice, “text before 10pm”" in world.last_text(bob.id)
    await world.send(bob, "/promises")
    assert "text before 10pm" in world.last_text(bob.id)


async def test_unpaired_and_group_promise(world: World, alice: Person, bob: Person) -> None:
    await world.send(alice, "/promise something")
    assert "aren't paired" in world.last_text(alice.id)
    await pair_by_invite(world, alice, bob)
    world.make_group(-500, alice, bob)
    # a group that is not their linked space (it may hold others) shows nothing of theirs
    await world.send(bob, "/promise water the plants by Sunday", chat_id=-500)
    assert "isn't your shared space" in world.last_text(-500)
    await world.add_bot(-500, alice)
    await world.press(alice, "I'm in", chat_id=-500)
    await world.press(bob, "I'm in", chat_id=-500)
    await world.send(bob, "/promise water the plants by Sunday", chat_id=-500)
    assert "water the plants" in world.last_text(-500)


async def test_accepted_conflict_agreements_feed_promises(
    world: World, alice: Person, bob: Person
) -> None:
    """The contract with /conflict: its accepted agreements, each recorded as the doer's promise."""
    await pair_by_invite(world, alice, bob)
    svc = services(world)
    now = svc.core.now()
    enc = svc.core.cipher.encrypt
    async with svc.core.db.tx() as conn:
        couple = await svc.core.couple_of(conn, alice.id)
        assert couple is not None
        cur = await conn.execute(
            "INSERT INTO conflict_conversations (couple_id, initiator, partner, topic, state, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, 'closed', ?, ?)",
            (couple.id, alice.id, bob.id, enc("chores"), now, now),
        )
        conv = int(cur.lastrowid or 0)
        for author, doer, kind, status, text in (
            (alice.id, bob.id, "request", "accepted", "take out the bins on Mondays"),
            (bob.id, bob.id, "offer", "declined", "cook twice a week"),
        ):
            await conn.execute(
                "INSERT INTO agreements (conversation_id, couple_id, kind, author, decider, doer, "
                "text, status, follow_up_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conv, couple.id, kind, author, alice.id, doer, enc(text), status, now + 3600, now),
            )
        for agreement in await svc.conflict.accepted_agreements(conn, conv):
            await svc.promises.from_agreement(
                conn, couple.id, agreement.doer, agreement.text, agreement.follow_up_at or now
            )
    await world.send(alice, "/promises")
    listing = world.last_text(alice.id)
    assert "Bob → you: “take out the bins on Mondays”" in listing
    assert "cook twice a week" not in listing
    world.clock.advance(timedelta(hours=1))
    await world.tick()
    assert "Your promise to Alice, “take out the bins on Mondays”" in world.last_text(bob.id)
