"""/conflict through the real application: two partners, private chats and a group."""

from __future__ import annotations

from datetime import timedelta

from playground.fakeapi import Fault
from playground.sim import Person, World
from tests.helpers import pair_by_invite

GROUP = -500


async def pair_in_group(world: World, a: Person, b: Person) -> None:
    await pair_by_invite(world, a, b)
    world.make_group(GROUP, a, b)
    # An onboarded couple links its group through the ?startgroup= link it was offered.
    _, link = world.find_button(a.id, "")
    token = link["url"].split("startgroup=")[1]
    await world.add_bot(GROUP, a)
    await world.send(a, f"/start {token}", chat_id=GROUP)
    assert "Paired: Alice and Bob" in "".join(world.texts(GROUP))


def toast(world: World) -> str:
    return str(world.api.calls_of("answerCallbackQuery")[-1].params.get("text", ""))


async def half_turn(
    world: World, speaker: Person, listener: Person, chat: dict[int, int], *, heard: str
) -> None:
    """The speaker speaks, the listener paraphrases once, the speaker confirms, no validation."""
    await world.send(
        speaker, f"I feel tired about {heard} and I need rest", chat_id=chat[speaker.id]
    )
    await world.press(speaker, "Done, over to", chat_id=chat[speaker.id])
    await world.send(listener, f"You feel tired about {heard}", chat_id=chat[listener.id])
    await world.press(speaker, "Yes, that's it", chat_id=chat[speaker.id])
    await world.press(speaker, "That's it", chat_id=chat[speaker.id])
    await world.press(listener, "Skip this step", chat_id=chat[listener.id])


async def test_full_conversation_in_private_chats(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict")
    assert "What would you like to talk about" in world.last_text(alice.id)
    await world.send(alice, "weekends with my family")
    assert "Bob is now a good time" not in world.last_text(bob.id)
    assert "would like to talk about “weekends with my family”" in world.last_text(bob.id)
    assert "I've asked Bob" in world.last_text(alice.id)
    await world.press(bob, "Now is good")
    assert "ground rules" in world.last_text(bob.id).lower() or "how this works" in world.last_text(
        bob.id
    )
    assert "choosing who speaks first" in world.last_text(bob.id)
    await world.press(alice, "Alice speaks first")
    assert "Alice, you have the floor" in world.last_text(alice.id)
    assert "Alice has the floor" in world.last_text(bob.id)

    await world.send(alice, "I feel lonely on Sundays")
    assert "Noted" in world.last_text(alice.id)
    assert not world.said(bob.id, "lonely")  # passed on when she presses Done
    await world.send(alice, "and I need some time with you")
    await world.press(alice, "Done, over to Bob")
    assert "<b>Alice:</b> I feel lonely on Sundays" in world.texts(bob.id)
    assert "<b>Alice:</b> and I need some time with you" in world.texts(bob.id)
    assert "what did you hear Alice say" in world.last_text(bob.id)
    await world.send(bob, "You feel lonely on Sundays")
    assert "Bob heard: “You feel lonely on Sundays”" in world.last_text(alice.id)
    await world.press(alice, "Not quite")
    assert "what did Bob miss" in world.last_text(alice.id)
    await world.send(alice, "I need time with you, not just company")
    assert "<b>Alice:</b> I need time with you, not just company" in world.texts(bob.id)
    assert "try again" in world.last_text(bob.id)
    await world.send(bob, "You feel lonely and need time with me")
    await world.press(alice, "Yes, that's it")
    await world.press(alice, "That's it")
    assert "It makes sense that you feel" in world.last_text(bob.id)
    await world.send(bob, "It makes sense that you feel lonely because I work on Sundays")
    assert "<b>Bob:</b> It makes sense" in world.texts(alice.id)[-2]
    assert "Bob, you have the floor" in world.last_text(bob.id)

    chats = {alice.id: alice.id, bob.id: bob.id}
    await world.send(bob, "I feel torn about Sundays and I need rest", chat_id=bob.id)
    await world.press(bob, "Done, over to Alice")
    await world.send(alice, "You feel torn and need rest")
    await world.press(bob, "Yes, that's it")
    await world.press(bob, "That's it")
    await world.press(alice, "Skip this step")
    assert "Round 1 is done" in world.last_text(alice.id)
    assert "Round 1 is done" in world.last_text(bob.id)

    await world.press(alice, "Another round")
    assert "Alice, you have the floor" in world.last_text(alice.id)
    await half_turn(world, alice, bob, chats, heard="the car")
    await half_turn(world, bob, alice, chats, heard="the dog")
    assert "Round 2 is done" in world.last_text(bob.id)

    await world.press(alice, "We both feel heard")
    assert "Alice feels heard" in world.last_text(bob.id)
    await world.press(alice, "We both feel heard")
    assert "Waiting for your partner" in toast(world)
    await world.press(bob, "We both feel heard")
    assert "Time for solutions" in world.last_text(alice.id)

    await world.send(alice, "Would you be willing to keep one Sunday a month for us?")
    assert "Alice asks Bob" in world.last_text(bob.id)
    assert "Now one thing you will do" in world.last_text(alice.id)
    await world.press(bob, "I'm willing")
    assert "Bob is willing" in world.last_text(alice.id)
    assert "“I will keep one Sunday a month for us”" in world.last_text(bob.id)
    await world.press(bob, "Yes, that's mine")
    assert "Bob will: “I will keep one Sunday a month for us”" in world.last_text(alice.id)
    await world.send(alice, "I will plan the visits with your family ahead")
    await world.press(bob, "Yes, please")
    await world.send(bob, "Would you be willing to ask me before inviting your mother?")
    await world.press(alice, "Not this time")
    assert "not now" in world.last_text(bob.id)
    await world.send(bob, "I will tell you on Friday what I plan")
    await world.press(alice, "Yes, please")
    assert "Press Finish" in world.last_text(bob.id)
    await world.press(bob, "Finish")
    for who in (alice, bob):
        summary = world.last_text(who.id)
        assert "You talked about “weekends with my family”: 2 rounds" in summary
        assert "Bob: “I will keep one Sunday a month for us”" in summary
        assert "Alice: “I will plan the visits" in summary
        assert "Bob: “I will tell you on Friday" in summary
        assert "Not now" in summary and "inviting your mother" in summary

    services = world.app.bot_data["services"]
    async with services.core.db.tx() as conn:
        conv = await services.conflict._one(conn, "1 = 1", ())
        accepted = await services.conflict.accepted_agreements(conn, conv.id)
        raw = (await (await conn.execute("SELECT text FROM conflict_turns")).fetchall())[0]
    assert conv.state == "closed"
    assert [(a.kind, a.doer) for a in accepted] == [
        ("request", bob.id),
        ("offer", alice.id),
        ("offer", bob.id),
    ]
    assert all(a.follow_up_at for a in accepted)
    assert b"Sunday" not in bytes(raw[0])
    await world.send(alice, "hello?")
    assert "wasn't waiting" in world.last_text(alice.id)
    # accepted agreements became promises, and are followed up a week later
    await world.send(alice, "/promises")
    listing = world.last_text(alice.id)
    assert "keep one Sunday a month" in listing and "plan the visits" in listing
    assert "inviting your mother" not in listing  # declined: recorded, not promised
    world.clock.advance(timedelta(days=7, hours=1))
    await world.tick()
    assert world.said(alice.id, "keep one Sunday a month")


async def test_full_conversation_in_group_with_out_of_turn_and_nudge(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_in_group(world, alice, bob)
    g = {alice.id: GROUP, bob.id: GROUP}
    await world.send(bob, "/conflict the dishes", chat_id=GROUP)
    assert (
        "Bob would like to talk about “the dishes”. Alice, is now a good time"
        in world.last_text(GROUP)
    )
    await world.press(bob, "Now is good", chat_id=GROUP)
    assert toast(world) == "It's not your turn for this step, so nothing changed."
    await world.press(alice, "Now is good", chat_id=GROUP)
    assert "Bob, will you speak first" in world.last_text(GROUP)
    await world.press(alice, "Alice speaks first", chat_id=GROUP)
    assert "not your turn" in toast(world)
    await world.press(bob, "Alice speaks first", chat_id=GROUP)
    assert "Alice, you have the floor" in world.last_text(GROUP)

    await world.send(bob, "But I help on weekdays!", chat_id=GROUP)
    assert "Alice has the floor right now. I've kept your message" in world.last_text(GROUP)
    await world.send(alice, "You never help with the dishes", chat_id=GROUP)
    assert "Just for you, Alice" in world.last_text(alice.id)  # private, never blocking
    await world.press(bob, "Done, over to Bob", chat_id=GROUP)
    assert "not your turn" in toast(world)
    await world.press(alice, "Done, over to Bob", chat_id=GROUP)
    await world.send(bob, "You feel overwhelmed", chat_id=GROUP)
    await world.press(alice, "Yes, that's it", chat_id=GROUP)
    await world.press(alice, "That's it", chat_id=GROUP)
    await world.send(
        bob, "It makes sense that you feel overwhelmed because you cook", chat_id=GROUP
    )
    assert "Bob, you have the floor" in world.last_text(GROUP)
    assert "I help on weekdays" in world.last_text(bob.id)  # offered to him alone
    await world.press(bob, "Use it")
    assert "Bob is starting with something written while listening" in world.texts(GROUP)[-3]
    assert "<b>Bob:</b> But I help on weekdays!" in world.texts(GROUP)[-2]
    await world.press(bob, "Done, over to Alice", chat_id=GROUP)  # the kept message counts
    await world.send(alice, "You feel unhelped on weekdays", chat_id=GROUP)
    await world.press(bob, "Yes, that's it", chat_id=GROUP)
    await world.press(bob, "That's it", chat_id=GROUP)
    await world.press(alice, "Skip this step", chat_id=GROUP)
    await world.press(alice, "We both feel heard", chat_id=GROUP)
    await world.press(bob, "We both feel heard", chat_id=GROUP)
    assert "Time for solutions" in world.last_text(GROUP)
    for who, other in ((alice, bob), (bob, alice)):
        await world.send(
            who, f"Would you be willing to wash up on Monday, {other.first_name}?", chat_id=GROUP
        )
        await world.press(other, f"{other.first_name}: I'm willing", chat_id=GROUP)
        await world.send(other, "I will wash up on Mondays", chat_id=GROUP)
        assert f"{other.first_name} will: “I will wash up on Mondays”" in world.last_text(GROUP)
        await world.send(who, "I will dry", chat_id=GROUP)
        await world.press(who, f"{other.first_name}: yes, please", chat_id=GROUP)
        assert "not your turn" in toast(world)
        await world.press(other, f"{other.first_name}: yes, please", chat_id=GROUP)
    await world.press(alice, "Finish", chat_id=GROUP)
    summary = world.last_text(GROUP)
    assert "You talked about “the dishes”: 1 round" in summary
    assert summary.count("“I will") == 4
    assert not world.said(alice.id, "You talked about")  # the group holds it
    del g


async def test_time_out_and_resume_at_the_chosen_time(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict money")
    await world.press(bob, "Now is good")
    await world.press(alice, "Bob speaks first")
    await world.send(bob, "I feel anxious about money")
    await world.press(alice, "Time-out")
    assert "When should I bring you both back" in world.last_text(alice.id)
    await world.press(alice, "In 20 minutes")
    assert "Alice asked for a break" in world.texts(alice.id)[-2]
    assert "For your break, one idea" in world.last_text(alice.id)  # the caller alone
    assert "Alice asked for a break" in world.last_text(bob.id)
    assert not world.said(bob.id, "For your break")
    await world.send(bob, "hello")
    assert "You're on a break until" in world.last_text(bob.id)
    assert "/conflict" not in world.last_text(bob.id)  # nobody is invited to go on
    await world.press(bob, "Another time")  # the other may propose another time
    await world.press(bob, "In 1 hour")
    assert "Bob proposed another time" in world.last_text(alice.id)
    world.clock.advance(timedelta(minutes=59))
    await world.tick()
    assert "Welcome back" not in world.last_text(bob.id)
    world.clock.advance(timedelta(minutes=1))
    await world.tick()
    await world.tick()
    for who in (alice, bob):
        texts = world.texts(who.id)
        assert sum("Welcome back, both" in t for t in texts) == 1
    recap = next(t for t in world.texts(bob.id) if "Welcome back" in t)
    assert "“money”, round 1: Bob had the floor" in recap
    assert "Bob, you have the floor" in world.last_text(bob.id)
    await world.press(bob, "Done, over to Alice")  # what he wrote before the break counts
    assert "what did you hear Bob say" in world.last_text(alice.id)
    await world.press(alice, "Time-out")
    await world.press(alice, "Tomorrow")
    await world.press(alice, "Back now")  # the caller may come back early
    assert "Welcome back" in world.texts(alice.id)[-2]
    assert "what did you hear Bob say" in world.last_text(alice.id)


async def test_idle_nudge_then_parking_then_resume(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict chores")
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    world.clock.advance(timedelta(minutes=31))
    await world.tick()
    await world.tick()
    assert "Whenever you're ready, Alice" in world.last_text(alice.id)
    assert sum("Whenever you're ready" in t for t in world.texts(alice.id)) == 1
    assert not world.said(bob.id, "Whenever you're ready")
    world.clock.advance(timedelta(hours=24))
    await world.tick()
    for who in (alice, bob):
        assert "I've paused it" in world.last_text(who.id)
    await world.send(bob, "/conflict")
    assert "open about “chores” (Alice had the floor)" in world.last_text(bob.id)
    await world.press(bob, "Resume")
    assert "Welcome back" in world.texts(alice.id)[-2]
    assert "Alice, you have the floor" in world.last_text(alice.id)


async def test_end_by_either_partner_with_confirm(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict holidays")
    await world.press(bob, "End conversation")
    await world.press(bob, "No, keep going")
    assert "keep going" in world.last_text(bob.id)
    await world.press(bob, "Now is good")
    sent, first = world.find_button(alice.id, "Alice speaks first")
    await world.press(bob, "End conversation")
    await world.press(bob, "Yes, end it")
    assert "Bob ended the conversation about “holidays”" in world.last_text(alice.id)
    assert sent.buttons == []  # an ended conversation leaves no live keyboard behind
    await world.press_data(alice, first["callback_data"], message_id=sent.message_id)
    assert toast(world).startswith("That button is from an earlier step. Nothing changed.")
    assert "/conflict shows where you are" in toast(world)
    # a new one can start, and the initiator can end it too
    await world.send(bob, "/conflict holidays again")
    await world.press(alice, "Now is good")
    await world.press(alice, "End conversation")
    await world.press(alice, "Yes, end it")
    assert "Alice ended the conversation" in world.last_text(bob.id)


async def test_appointment_later(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)  # Europe/Berlin; clock at 09:00 UTC = 10:00 local
    await world.send(alice, "/conflict the move")
    await world.press(bob, "Later")
    await world.press(bob, "This evening")
    assert "on Monday 23 November, 19:00 Europe/Berlin" in world.last_text(alice.id)
    world.clock.advance(timedelta(hours=8, minutes=59))
    await world.tick()
    assert "It's time" not in world.last_text(alice.id)
    world.clock.advance(timedelta(minutes=1))
    await world.tick()
    assert "It's time for your talk about “the move”" in world.texts(bob.id)[-2]
    assert "Alice, will you speak first" in world.last_text(alice.id)


async def test_forged_and_stale_presses_change_nothing(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict trust")
    sent, now_button = world.find_button(bob.id, "Now is good")
    await world.press_data(carol, now_button["callback_data"], chat_id=carol.id)
    assert "isn't for you" in toast(world)
    await world.press_data(alice, now_button["callback_data"])
    assert "not your turn" in toast(world)
    await world.press_data(bob, "cf:ap:999:0:now")
    assert "isn't for you" in toast(world)
    await world.press_data(bob, "cf:ap:1:0:soon")
    await world.press_data(bob, "cf:zz:1:0")
    await world.press_data(bob, "cf:ap:x")
    await world.press(bob, "Now is good")
    await world.press_data(bob, now_button["callback_data"], message_id=sent.message_id)
    assert "earlier step" in toast(world)
    await world.press(alice, "Alice speaks first")
    await world.press(alice, "Done, over to Bob")
    assert "Write at least one message first" in toast(world)
    await world.send(alice, "I feel unsure")
    await world.press(alice, "Done, over to Bob")
    before = world.texts(bob.id)
    await world.redeliver()  # the same press again
    assert world.texts(bob.id) == before
    await world.send(bob, "You feel unsure")
    before = world.texts(alice.id)
    await world.redeliver()  # the same paraphrase again
    assert world.texts(alice.id) == before
    assert "Bob heard" in world.last_text(alice.id)
    # another couple's conversation
    dave, erin = world.person(404, "Dave"), world.person(505, "Erin")
    await pair_by_invite(world, dave, erin)
    _, yes = world.find_button(alice.id, "Yes, that's it")
    await world.press_data(dave, yes["callback_data"], chat_id=dave.id)
    assert "isn't for you" in toast(world)
    await world.press(alice, "Yes, that's it")
    assert "is there more" in world.last_text(alice.id)


async def test_restart_at_every_step(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    steps = [
        ("send", alice, "/conflict"),
        ("send", alice, "sleep"),
        ("press", bob, "Now is good"),
        ("press", alice, "Bob speaks first"),
        ("send", bob, "I feel tired about bedtime"),
        ("send", alice, "out of turn note"),
        ("press", bob, "Done, over to Alice"),
        ("send", alice, "You feel tired"),
        ("press", bob, "Not quite"),
        ("send", bob, "and I need quiet"),
        ("send", alice, "You feel tired and need quiet"),
        ("press", bob, "Yes, that's it"),
        ("press", bob, "That's it"),
        ("send", alice, "It makes sense because I read late"),
        ("press", alice, "Use it"),  # her kept note, offered back to her alone
        ("press", alice, "Done, over to Bob"),
        ("send", bob, "You had a note"),
        ("press", alice, "Yes, that's it"),
        ("press", alice, "That's it"),
        ("press", bob, "Skip this step"),
        ("press", alice, "We both feel heard"),
        ("press", bob, "We both feel heard"),
        ("send", alice, "Would you be willing to dim the light?"),
        ("press", bob, "I'm willing"),
        ("send", bob, "I will dim the light after ten"),
        ("send", alice, "I will read in the living room"),
        ("press", bob, "Yes, please"),
        ("send", bob, "Would you be willing to come to bed at 23:00?"),
        ("press", alice, "I'm willing"),
        ("press", alice, "Yes, that's mine"),
        ("send", bob, "I will make tea"),
        ("press", alice, "Yes, please"),
    ]
    for kind, who, what in steps:
        if kind == "send":
            await world.send(who, what)
        else:
            await world.press(who, what)
        await world.restart()
    await world.press(alice, "Finish")
    assert "You talked about “sleep”: 1 round" in world.last_text(bob.id)
    assert "Alice: “I will read in the living room”" in world.last_text(alice.id)
    assert "Alice: “I will come to bed at 23:00”" in world.last_text(alice.id)
    assert "Bob: “I will dim the light after ten”" in world.last_text(alice.id)


async def test_restart_keeps_pending_deadlines(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict money")
    await world.press(bob, "Now is good")
    await world.press(bob, "Time-out")
    await world.press(bob, "In 1 hour")
    await world.restart()
    world.clock.advance(timedelta(hours=1))
    await world.restart()
    await world.tick()
    assert "Welcome back" in world.texts(alice.id)[-2]
    assert "Alice, will you speak first" in world.last_text(alice.id)


async def test_group_duplicates_and_restart_and_strangers(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    await pair_in_group(world, alice, bob)
    await world.send(alice, "/conflict screens at dinner", chat_id=GROUP)
    await world.redeliver()
    assert sum("would like to talk about" in t for t in world.texts(GROUP)) == 1
    await world.send(alice, "/conflict something else", chat_id=GROUP)
    assert "already have a conversation open about “screens at dinner”" in world.last_text(GROUP)
    await world.press(bob, "Now is good", chat_id=GROUP)
    await world.restart()
    await world.press(alice, "Alice speaks first", chat_id=GROUP)
    await world.send(alice, "I feel alone at dinner", chat_id=GROUP)
    count = len(world.texts(GROUP))
    await world.redeliver()
    assert len(world.texts(GROUP)) == count
    await world.restart()
    await world.press_data(carol, world.find_button(GROUP, "Done, over")[1]["callback_data"], GROUP)
    assert "isn't for you" in toast(world)
    await world.press(alice, "Done, over to Bob", chat_id=GROUP)
    await world.send(bob, "You feel alone at dinner", chat_id=GROUP)
    assert "Bob heard: “You feel alone at dinner”" in world.last_text(GROUP)
    async with world.app.bot_data["services"].core.db.tx() as conn:
        cur = await conn.execute("SELECT COUNT(*) FROM conflict_turns WHERE kind = 'speak'")
        assert (await cur.fetchall())[0][0] == 1


async def test_the_speaker_is_told_when_the_listener_cannot_be_reached(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: Alice's words to Bob, who had blocked the bot, were given up unseen while her
    screen said "Bob is putting into words what they heard"; nobody told her."""
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict money")
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    await world.send(alice, "I feel anxious about bills")
    world.api.blocked.add(bob.id)
    await world.press(alice, "Done, over to Bob")
    assert "can't reach Bob" in world.last_text(alice.id)
    assert "didn't reach" in world.last_text(alice.id)
    # Ended, not paused: resuming would ask Bob to repeat back words he never got.
    world.api.blocked.discard(bob.id)
    await world.send(bob, "/start")
    await world.send(bob, "/conflict")
    assert "You already have a conversation open" not in world.last_text(bob.id)


async def test_a_block_seen_as_an_update_ends_the_conversation_too(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: Telegram's own notice of a block (my_chat_member "kicked", sent at once)
    only marked Bob unreachable: his rows were given up silently and Alice was told
    "Bob is putting into words what they heard"."""
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict money")
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    await world.send(alice, "I feel anxious about bills")
    _, done = world.find_button(alice.id, "Done, over to Bob")
    world.api.blocked.add(bob.id)
    await world.bot_membership(bob.id, bob, "member", "kicked")
    assert "can't reach Bob" in world.last_text(alice.id)
    assert world.api.last(alice.id).button_texts() == []  # no live buttons are left
    await world.press_data(alice, done["callback_data"])  # the button she saw before
    assert "earlier step" in toast(world)  # the conversation is over: nothing is relayed


async def test_words_typed_before_the_step_arrived_are_handed_back(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: Bob's remark, typed while Alice's words and his prompt still waited for a
    retry, reached Alice as his paraphrase of words he had never seen. Text is taken as a
    turn only from a writer whose chat has everything the conversation owed it."""
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/conflict money")
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    await world.send(alice, "I feel anxious about bills")
    world.api.faults.append(Fault("sendMessage", "network", chat_id=bob.id))
    await world.press(alice, "Done, over to Bob")
    assert "Alice has the floor" in world.last_text(bob.id)  # all Bob has seen
    await world.send(bob, "honestly this whole thing is a waste of time")
    assert not any("waste of time" in t for t in world.texts(alice.id))
    handed_back = world.last_text(bob.id)
    assert "still on its way" in handed_back and "waste of time" in handed_back
    await world.tick()  # the retry: Alice's words and Bob's prompt arrive
    assert "what did you hear Alice say" in world.last_text(bob.id)
    await world.send(bob, "You feel anxious about the bills")
    assert world.said(alice.id, "You feel anxious about the bills")
