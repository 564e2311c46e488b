"""/conflict keeps its promises (issue 13), through the real application, in private chats
and in the couple's group: breaks that hold, words that wait for their writer, harsh words
held for a moment, agreements in the doer's own words, one live keyboard, repair."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from playground.sim import Person, World
from tests.helpers import pair_by_invite
from tests.test_conflict_flow import GROUP, pair_in_group, toast


async def conv_state(world: World) -> str:
    async with world.app.bot_data["services"].core.db.tx() as conn:
        cur = await conn.execute("SELECT state FROM conflict_conversations ORDER BY id DESC")
        return str((await cur.fetchall())[0][0])


async def to_the_floor(world: World, a: Person, b: Person, chat: int | None = None) -> None:
    """Alice opens a talk about money, Bob agrees, Alice speaks first."""
    where = {"chat_id": chat} if chat else {}
    await world.send(a, "/conflict money", **where)
    await world.press(b, "Now is good", **where)
    await world.press(a, "Alice speaks first", **where)


# -- 1. a break is the caller's --------------------------------------------------------


async def test_only_the_caller_ends_a_break_early_in_private(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await to_the_floor(world, alice, bob)
    await world.press(alice, "Time-out")
    await world.press(alice, "In 20 minutes")
    _, back = world.find_button(alice.id, "Back now")
    await world.press_data(bob, back["callback_data"])  # forged from her button
    assert "This break is Alice's" in toast(world)
    assert await conv_state(world) == "timeout"
    assert not any(b == "Back now" for s in world.api.chats[bob.id] for b in s.button_texts())
    await world.send(bob, "/conflict")
    await world.press(bob, "Resume")
    assert "This break is Alice's" in toast(world)
    assert await conv_state(world) == "timeout"
    await world.press(bob, "Ask Alice if ready")
    assert "asks gently whether you're ready" in world.last_text(alice.id)
    await world.press(bob, "Ask Alice if ready")
    assert "asked already" in toast(world)
    assert sum("asks gently" in t for t in world.texts(alice.id)) == 1
    # one self-soothing idea, for the caller only; nobody is invited to carry on
    assert sum("For your break" in t for t in world.texts(alice.id)) == 1
    assert not world.said(bob.id, "For your break")
    assert not any("/conflict to come back" in t for w in (alice, bob) for t in world.texts(w.id))
    await world.press(bob, "Another time")
    await world.press(bob, "In 1 hour")  # later is fine
    assert "Bob proposed another time" in world.last_text(alice.id)
    world.clock.advance(timedelta(minutes=21))
    await world.tick()
    assert await conv_state(world) == "timeout"  # twenty minutes hold for Bob's proposal too
    await world.press(alice, "Back now")  # the caller may end it early
    assert "Welcome back" in world.texts(bob.id)[-2]
    assert await conv_state(world) == "speaking"


async def test_only_the_caller_ends_a_break_early_in_the_group(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_in_group(world, alice, bob)
    await to_the_floor(world, alice, bob, GROUP)
    await world.press(bob, "Time-out", chat_id=GROUP)
    await world.press(bob, "In 20 minutes", chat_id=GROUP)
    assert "For your break" in world.last_text(bob.id)  # privately, to the caller
    assert not world.said(GROUP, "For your break")
    await world.press(alice, "Back now", chat_id=GROUP)
    assert "This break is Bob's" in toast(world)
    assert await conv_state(world) == "timeout"
    await world.press(alice, "Ask Bob if ready", chat_id=GROUP)
    assert "Alice asks gently" in world.last_text(bob.id)
    world.clock.advance(timedelta(minutes=20))
    await world.tick()
    assert await conv_state(world) == "speaking"
    assert any("Welcome back" in t for t in world.texts(GROUP)[-3:])


# -- 2. words written out of turn wait for their writer ---------------------------------


async def test_out_of_turn_words_are_offered_back_privately_never_published(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await to_the_floor(world, alice, bob)
    await world.send(bob, "That's not fair, you bought a bike last month!")
    assert "kept your message just for you" in world.last_text(bob.id)
    await world.send(alice, "I feel worried about money and I need a plan")
    await world.press(alice, "Done, over to Bob")
    await world.send(bob, "You feel worried and need a plan")
    await world.press(alice, "Yes, that's it")
    await world.press(alice, "That's it")
    await world.press(bob, "Skip this step")
    assert "bike" in world.last_text(bob.id) and "Use it" in world.api.last(bob.id).button_texts()
    assert not world.said(alice.id, "bike")
    offer = world.api.last(bob.id)
    await world.press(bob, "Drop")
    assert "Alice never saw it" in world.last_text(bob.id)
    # the choice is made: the offer keeps no buttons (was: they stayed, and only toasted)
    assert [s.buttons for s in world.api.chats[bob.id] if s.message_id == offer.message_id] == [[]]
    await world.press(bob, "Done, over to Alice")
    assert "Write at least one message first" in toast(world)  # dropped: nothing said
    await world.send(bob, "I feel anxious when we talk about money")
    await world.press(bob, "Done, over to Alice")
    assert not world.said(alice.id, "bike")
    assert "<b>Bob:</b> I feel anxious when we talk about money" in world.texts(alice.id)


async def test_out_of_turn_words_in_the_group_count_only_if_used(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_in_group(world, alice, bob)
    await to_the_floor(world, alice, bob, GROUP)
    await world.send(bob, "I DID tell you!!", chat_id=GROUP)
    await world.send(alice, "I feel unsure about our budget", chat_id=GROUP)
    await world.press(alice, "Done, over to Bob", chat_id=GROUP)
    await world.send(bob, "You feel unsure", chat_id=GROUP)
    await world.press(alice, "Yes, that's it", chat_id=GROUP)
    await world.press(alice, "That's it", chat_id=GROUP)
    count = len(world.texts(GROUP))
    await world.press(bob, "Skip this step", chat_id=GROUP)
    assert not any("I DID tell you" in t for t in world.texts(GROUP)[count:])  # not re-posted
    assert "I DID tell you" in world.last_text(bob.id)  # offered to him alone
    await world.press(bob, "Edit")
    assert "Send the version you want Alice to read" in world.last_text(bob.id)
    await world.press(bob, "Done, over to Alice", chat_id=GROUP)
    assert "Write at least one message first" in toast(world)


# -- 3. harsh words are held for their writer, never blocked or edited ------------------


async def test_harsh_words_wait_for_the_writers_choice_in_private(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict you never listen, you selfish idiot")
    assert "Before I show this topic to Bob" in world.last_text(alice.id)
    assert "I feel … about …" in world.last_text(alice.id)  # the softened start-up hint
    assert not world.said(bob.id, "selfish")
    await world.press(alice, "Rewrite")
    await world.send(alice, "I feel unheard about our evenings")
    assert "“I feel unheard about our evenings”" in world.last_text(bob.id)
    await world.press(bob, "Now is good")
    await world.press(alice, "Bob speaks first")
    await world.send(bob, "I feel tired in the evenings")
    await world.press(bob, "Done, over to Alice")
    await world.send(alice, "You always exaggerate, you're so selfish")
    assert "Before I pass this on, Alice" in world.last_text(alice.id)
    assert world.api.last(alice.id).button_texts() == ["Send as it is", "Rewrite"]
    assert not world.said(bob.id, "exaggerate")
    assert await conv_state(world) == "paraphrasing"
    await world.press(alice, "Send as it is")  # her choice: it goes exactly as written
    assert "Alice heard: “You always exaggerate, you&#x27;re so selfish”" in world.last_text(bob.id)
    assert not world.said(alice.id, "went through exactly")


async def test_harsh_words_in_the_group_get_a_private_suggestion(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_in_group(world, alice, bob)
    await to_the_floor(world, alice, bob, GROUP)
    await world.send(alice, "You never help with anything", chat_id=GROUP)
    assert "Just for you, Alice, before the next step" in world.last_text(alice.id)
    assert not world.said(GROUP, "Just for you")
    await world.send(alice, "As usual we had dinner late", chat_id=GROUP)
    assert sum("Just for you" in t for t in world.texts(alice.id)) == 1


# -- 4. agreements in the doer's own words ------------------------------------------


async def to_requests(world: World, a: Person, b: Person) -> None:
    await to_the_floor(world, a, b)
    for speaker, listener in ((a, b), (b, a)):
        await world.send(speaker, "I feel tired and need rest")
        await world.press(speaker, "Done, over to")
        await world.send(listener, "You feel tired")
        await world.press(speaker, "Yes, that's it")
        await world.press(speaker, "That's it")
        await world.press(listener, "Skip this step")
    await world.press(a, "We both feel heard")
    await world.press(b, "We both feel heard")


async def test_agreements_are_the_doers_own_promise(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await to_requests(world, alice, bob)
    await world.send(alice, "I will try")  # not a request: turned back once, gently
    assert "concrete, doable" in world.last_text(alice.id)
    assert not world.said(bob.id, "I will try")
    await world.send(alice, "Would you be willing to wash up on Mondays?")
    await world.press(bob, "I'm willing")
    assert "“I will wash up on Mondays”" in world.last_text(bob.id)
    await world.send(bob, "I will wash up on Mondays and Wednesdays")
    assert "Bob will: “I will wash up on Mondays and Wednesdays”" in world.last_text(alice.id)
    await world.press(alice, "Nothing to offer")
    assert "Alice has nothing to offer" in world.last_text(bob.id)
    await world.press(bob, "I have no request")
    await world.send(bob, "I will cook on Fridays")
    await world.press(alice, "No need")
    assert "not now" in world.last_text(bob.id) and "Alice" not in world.last_text(bob.id)
    await world.press(alice, "I'm willing after all")  # changeable until the close
    assert "Press Finish" in world.last_text(alice.id)
    await world.press(alice, "Finish")
    summary = world.last_text(bob.id)
    assert "Bob: “I will wash up on Mondays and Wednesdays”" in summary
    assert "Bob: “I will cook on Fridays”" in summary
    assert "Would you be willing" not in summary and "Not now" not in summary
    await world.send(bob, "/promises")
    assert "I will wash up on Mondays and Wednesdays" in world.last_text(bob.id)
    await world.send(alice, "/promises")
    assert "Done" not in world.api.last(alice.id).button_texts()  # Bob's, not hers
    world.clock.advance(timedelta(days=7, hours=1))
    await world.tick()
    # only the doer is asked how it went, about his own words; nobody grades him
    assert world.said(bob.id, "Your promise to Alice, “I will wash up on Mondays and Wednesdays”")
    assert not world.said(alice.id, "is due now")


# -- 5. "Is there more?" ------------------------------------------------------------


async def test_is_there_more_after_a_confirmed_paraphrase(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await to_the_floor(world, alice, bob)
    assert "a sentence or two at a time" in world.last_text(alice.id)
    await world.send(alice, "I feel worried about money")
    await world.press(alice, "Done, over to Bob")
    await world.send(bob, "You feel worried")
    await world.press(alice, "Yes, that's it")
    assert "is there more you'd like Bob to hear" in world.last_text(alice.id)
    assert "deciding whether there's more" in world.last_text(bob.id)
    await world.press(alice, "More")
    assert "Go on, Alice" in world.last_text(alice.id)
    await world.send(alice, "and I need us to save together")
    await world.press(alice, "Done, over to Bob")
    assert "<b>Alice:</b> and I need us to save together" in world.texts(bob.id)
    assert "what did you hear Alice say" in world.last_text(bob.id)
    await world.send(bob, "You need us to save together")
    await world.press(alice, "Yes, that's it")
    await world.press(alice, "That's it")
    assert "It makes sense that you feel" in world.last_text(bob.id)


# -- 6. one card, one live keyboard, an exact Resume --------------------------------


async def test_rules_once_per_couple_one_live_keyboard_and_exact_resume(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict money")
    sent, _ = world.find_button(bob.id, "Now is good")
    await world.press(bob, "Now is good")
    assert sent.buttons == []  # the pressed keyboard is edited away
    assert "how this works" in world.last_text(alice.id)
    await world.press(alice, "End conversation")
    await world.press(alice, "Yes, end it")
    await world.send(alice, "/conflict chores")
    await world.press(bob, "Now is good")
    assert "how this works" not in world.last_text(alice.id)
    assert "Same as before" in world.last_text(alice.id)
    await world.press(alice, "Rules")
    assert "how this works" in world.last_text(alice.id)
    await world.press(alice, "Alice speaks first")
    await world.send(alice, "I feel tired")
    await world.send(alice, "and I need help")
    acks = [s for s in world.api.chats[alice.id] if "Noted" in s.text]
    assert len(acks) == 1  # one "Done" for the bit, not one per message


def live_keyboards(world: World, chat: int) -> list[str]:
    """Texts of the messages in `chat` that still carry conversation buttons."""
    return [
        s.text
        for s in world.api.chats[chat]
        if any(b.get("callback_data", "").startswith("cf:") for row in s.buttons for b in row)
    ]


async def test_one_live_keyboard_per_chat_at_every_step(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await to_the_floor(world, alice, bob)
    steps = [
        ("send", alice, "I feel worried about money"),
        ("send", alice, "and I need a plan"),
        ("press", alice, "Done, over to Bob"),
        ("send", bob, "You feel worried"),
        ("press", alice, "Not quite"),
        ("send", alice, "and I need a plan together"),
        ("send", bob, "You feel worried and need a plan with me"),
        ("press", alice, "Yes, that's it"),
        ("press", alice, "That's it"),
        ("send", bob, "It makes sense that you feel worried"),
    ]
    for kind, who, what in steps:
        if kind == "send":
            await world.send(who, what)
        else:
            await world.press(who, what)
        for chat in (alice.id, bob.id):
            assert len(live_keyboards(world, chat)) == 1, (what, live_keyboards(world, chat))
    assert "Bob, you have the floor" in live_keyboards(world, bob.id)[0]
    # Each spent keyboard is taken away once. Was: twice, by the press and again by the
    # next screen: a wasted call per step in a chat allowed about one a second.
    assert {m: n for m, n in keyboard_removals(world).items() if n > 1} == {}


def keyboard_removals(world: World) -> Counter[tuple[int, int]]:
    """How often each (chat, message) had its keyboard taken away."""
    return Counter(
        (int(c.params["chat_id"]), int(c.params["message_id"]))
        for c in world.api.calls_of("editMessageReplyMarkup")
        if not c.params.get("reply_markup")
    )


async def test_one_live_keyboard_in_the_group(world: World, alice: Person, bob: Person) -> None:
    await pair_in_group(world, alice, bob)
    await to_the_floor(world, alice, bob, GROUP)
    await world.send(alice, "I feel worried about money", chat_id=GROUP)
    await world.press(alice, "Done, over to Bob", chat_id=GROUP)
    await world.send(bob, "You feel worried", chat_id=GROUP)
    await world.press(alice, "Yes, that's it", chat_id=GROUP)
    assert len(live_keyboards(world, GROUP)) == 1
    assert "is there more" in live_keyboards(world, GROUP)[0]
    assert {m: n for m, n in keyboard_removals(world).items() if n > 1} == {}  # once each


async def test_resume_in_requests_shows_only_what_is_pending(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await to_requests(world, alice, bob)
    await world.send(alice, "Would you be willing to wash up on Mondays?")
    await world.send(alice, "/conflict")
    await world.press(alice, "Resume")
    assert "Now one thing you will do" in world.last_text(alice.id)
    assert "Time for solutions" not in world.last_text(alice.id)
    await world.send(bob, "/conflict")
    await world.press(bob, "Resume")  # Bob owes an answer first
    assert "Alice asks Bob: “Would you be willing to wash up" in world.last_text(bob.id)
    await world.press(bob, "I'm willing")
    await world.send(bob, "/conflict")
    await world.press(bob, "Resume")  # then his own words
    assert "in your own words" in world.last_text(bob.id)
    await world.press(bob, "Yes, that's mine")
    assert "Bob will: “I will wash up on Mondays”" in world.last_text(alice.id)


# -- 7. an invitation nobody takes up does not block for ever -------------------------


async def test_an_unstarted_conversation_closes_after_a_week(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict the holidays")
    world.clock.advance(timedelta(hours=25))
    await world.tick()
    assert "If it doesn't start within the week" in world.last_text(alice.id)
    world.clock.advance(timedelta(days=6))
    await world.tick()
    await world.tick()
    for who in (alice, bob):
        assert sum("wasn't taken up this week" in t for t in world.texts(who.id)) == 1
    assert await conv_state(world) == "ended"
    await world.send(bob, "/conflict")
    assert "What would you like to talk about" in world.last_text(bob.id)


async def test_a_conversation_never_named_is_put_aside_for_its_starter_only(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict")
    world.clock.advance(timedelta(hours=25))
    await world.tick()
    assert "never got a topic" in world.last_text(alice.id)
    assert not world.said(bob.id, "paused") and not world.said(bob.id, "“”")
    assert await conv_state(world) == "ended"


async def test_a_new_conflict_offers_to_replace_a_parked_invitation(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_in_group(world, alice, bob)
    await world.send(alice, "/conflict the holidays", chat_id=GROUP)
    world.clock.advance(timedelta(hours=25))
    await world.tick()
    await world.send(alice, "/conflict the car", chat_id=GROUP)
    assert "hasn't started yet" in world.last_text(GROUP)
    await world.press(alice, "Start a new one instead", chat_id=GROUP)
    assert any("put aside" in t for t in world.texts(GROUP)[-2:])
    assert "What would you like to talk about" in world.last_text(GROUP)


# -- 8. repair ----------------------------------------------------------------------


async def test_repair_slow_down_and_try_again_in_private(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await to_the_floor(world, alice, bob)
    assert {"Can we slow down?", "I'm sorry, let me try again"} <= set(
        world.api.last(bob.id).button_texts()
    )
    await world.press(bob, "Can we slow down?")
    assert world.last_text(alice.id) == "Bob asks: can we slow down a little?"
    await world.press(bob, "Can we slow down?")
    assert sum("slow down a little" in t for t in world.texts(alice.id)) == 1
    await world.send(alice, "I feel like money is all on me")
    await world.press(alice, "I'm sorry, let me try again")
    assert "Bob never saw it" in world.last_text(alice.id)
    await world.send(alice, "I feel worried about money")
    await world.press(alice, "Done, over to Bob")
    assert not world.said(bob.id, "all on me")
    assert "<b>Alice:</b> I feel worried about money" in world.texts(bob.id)
    await world.send(bob, "You think money is my problem")
    await world.press(bob, "I'm sorry, let me try again")
    assert "Bob takes back that summary" in world.texts(alice.id)[-2]
    assert await conv_state(world) == "paraphrasing"


async def test_repair_in_the_group(world: World, alice: Person, bob: Person) -> None:
    await pair_in_group(world, alice, bob)
    await to_the_floor(world, alice, bob, GROUP)
    await world.press(bob, "Can we slow down?", chat_id=GROUP)
    assert "Bob asks: can we slow down" in world.last_text(alice.id)  # privately
    assert not world.said(GROUP, "can we slow down a little")
    await world.send(alice, "It's all on me", chat_id=GROUP)
    await world.press(alice, "I'm sorry, let me try again", chat_id=GROUP)
    assert "Alice takes back their last message" in world.last_text(GROUP)
    await world.press(alice, "Done, over to Bob", chat_id=GROUP)
    assert "Write at least one message first" in toast(world)


async def test_the_doers_own_words_are_theirs_to_export_and_erase(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await to_requests(world, alice, bob)
    await world.send(alice, "Would you be willing to wash up on Mondays?")
    await world.press(bob, "I'm willing")
    await world.send(bob, "I will wash up on Mondays after football")
    await world.send(bob, "/export")
    assert b"after football" in (world.api.last(bob.id).document or b"")
    await world.send(alice, "/export")
    assert b"after football" not in (world.api.last(alice.id).document or b"")
    await world.send(bob, "/deletedata")
    await world.press(bob, "Yes, erase everything")
    async with world.app.bot_data["services"].core.db.tx() as conn:
        cur = await conn.execute("SELECT words FROM agreements WHERE kind = 'request'")
        assert [r[0] for r in await cur.fetchall()] == [None]
