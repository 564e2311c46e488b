"""Nothing of a couple reaches a third person (issue 11, items 12-13), and junk presses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playground.fakeapi import Fault
from playground.sim import Person, World
from tests.helpers import checkin_now, pair_by_invite
from tests.test_checkin import answer_all
from tests.test_conflict_flow import GROUP, pair_in_group, toast
from tests.test_faults_sends import services
from tests.test_group_outbox import to_the_floor

OTHER = -600


async def service_message(world: World, chat_id: int, by: Person, **change: object) -> None:
    """A group's service message about its members, from `by`."""
    message = {
        "message_id": 9000 + len(world.api.calls),
        "date": int(world.clock.now().timestamp()),
        "chat": {"id": chat_id, "type": "group", "title": "Us"},
        "from": by.as_user(),
        **change,
    }
    await world.feed({"message": message})


async def joins(world: World, chat_id: int, by: Person, *new: Person) -> None:
    """The service message a group sends when people are added."""
    world.api.group_members.setdefault(chat_id, set()).update(p.id for p in new)
    await service_message(world, chat_id, by, new_chat_members=[p.as_user() for p in new])


async def leaves(world: World, chat_id: int, who: Person) -> None:
    """The service message a group sends when someone leaves."""
    world.api.group_members.get(chat_id, set()).discard(who.id)
    await service_message(world, chat_id, who, left_chat_member=who.as_user())


async def group_of(world: World, who: Person) -> int | None:
    core = services(world).core
    async with core.db.tx() as conn:
        couple = await core.couple_of(conn, who.id)
    return None if couple is None else couple.group_chat_id


async def test_a_stranger_joining_unlinks_the_group_at_once(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Was: Carol, added after linking, received their reveals with private notes."""
    await pair_in_group(world, alice, bob)
    await joins(world, GROUP, alice, carol)
    assert await group_of(world, alice) is None
    for who in (alice, bob):
        assert world.said(who.id, "Someone else joined your shared group")
    assert world.said(GROUP, "no longer linked")
    await checkin_now(world, alice)
    await answer_all(world, alice, "4", note="only for us two")
    await checkin_now(world, bob)
    await answer_all(world, bob, "4")
    assert not any("only for us two" in t for t in world.texts(GROUP))
    assert any("only for us two" in t for t in world.texts(bob.id))


async def test_membership_is_rechecked_before_a_group_send(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Joins can go unseen (no admin rights, an update lost): the send itself checks."""
    await pair_in_group(world, alice, bob)
    await checkin_now(world, alice)
    await answer_all(world, alice, "4", note="a note for Bob only")
    world.api.group_members[GROUP].add(carol.id)  # nobody told the bot
    await checkin_now(world, bob)
    await answer_all(world, bob, "4")
    assert not any("a note for Bob only" in t for t in world.texts(GROUP))
    assert any("a note for Bob only" in t for t in world.texts(bob.id))
    assert any("a note for Bob only" in t for t in world.texts(alice.id))
    assert await group_of(world, alice) is None


async def test_a_couples_button_pressed_in_another_group_does_nothing(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Was: the settings card, a promise's text or the conversation's status posted there."""
    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/settings")
    _, button = world.find_button(alice.id, "")
    world.make_group(OTHER, alice, carol)
    before = len(world.texts(OTHER))
    await world.press_data(alice, button["callback_data"], OTHER)
    assert "did nothing here" in toast(world)
    assert len(world.texts(OTHER)) == before


async def test_junk_presses_are_refused_kindly(world: World, alice: Person, bob: Person) -> None:
    """Was: a 20-digit number raised OverflowError; "I'm in" in private wrote a group vote."""
    await pair_by_invite(world, alice, bob)
    await world.press_data(alice, "cf:rs:12345678901234567890:1")
    assert toast(world)  # a kind refusal, no traceback (world raises on handler errors)
    await world.press_data(alice, "gp:in")
    assert "group" in toast(world)
    core = services(world).core
    async with core.db.tx() as conn:
        cur = await conn.execute("SELECT COUNT(*) FROM group_votes")
        row = await cur.fetchone()
    assert row is not None and row[0] == 0


async def test_thanks_is_not_sent_to_a_partner_who_blocked_the_bot(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: "Sent to Bob 💛" while Bob had blocked the bot and it was given up unseen."""
    await pair_by_invite(world, alice, bob)
    world.api.blocked.add(bob.id)
    await world.send(alice, "/thanks for the tea")  # finds out: Bob is unreachable
    await world.send(alice, "/thanks for the walk")
    assert "can't reach Bob" in world.last_text(alice.id)
    assert not any("Sent to Bob" in t for t in world.texts(alice.id)[-1:])


async def test_thanks_are_capped_gently(world: World, alice: Person, bob: Person) -> None:
    """Was: /thanks x100 sent 100 messages to the partner."""
    await pair_by_invite(world, alice, bob)
    for n in range(21):
        await world.send(alice, f"/thanks number {n}")
    assert "holding this one back" in world.last_text(alice.id)
    assert sum("number" in t for t in world.texts(bob.id)) == 20


async def test_a_reply_in_the_group_rechecks_membership_too(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Was: only owed sends re-checked; a command's direct reply in the couple's group
    (this week's summary, with their promises) reached a stranger whose join the bot
    never saw (no admin rights, or its update lost with a crashed process)."""
    await pair_in_group(world, alice, bob)
    await world.send(alice, "/promise call the plumber by Friday")
    assert "call the plumber" in world.last_text(alice.id)
    world.api.group_members[GROUP].add(carol.id)  # nobody told the bot
    before = len(world.texts(GROUP))
    await world.send(alice, "/summary", chat_id=GROUP)
    group_saw = world.texts(GROUP)[before:]
    assert not any("plumber" in t or "Promises" in t for t in group_saw), group_saw
    assert any("no longer linked" in t for t in group_saw)
    assert await group_of(world, alice) is None
    for who in (alice, bob):
        assert world.said(who.id, "Someone else joined your shared group")
    await world.send(alice, "/summary")  # privately, it is all still there
    assert "plumber" in world.last_text(alice.id)


NOTE = "a note for Bob only"


async def a_reveal_owed_to_the_group(world: World, alice: Person, bob: Person) -> None:
    """Both answered with the couple's group linked; the reveal to the group is still
    owed (the network failed it once), as it is for a moment after any reveal."""
    await pair_in_group(world, alice, bob)
    await checkin_now(world, alice)
    await answer_all(world, alice, "4", note=NOTE)
    await checkin_now(world, bob)
    world.api.faults.append(Fault("sendMessage", "network", chat_id=GROUP))
    await answer_all(world, bob, "4")
    assert not any(NOTE in t for t in world.texts(GROUP))


async def the_note_reaches_only_the_partners(world: World, bob: Person) -> None:
    """After the next sweep: the reveal owed to the group reached Bob privately, and
    nothing of it the group."""
    world.clock.advance(timedelta(minutes=5))
    await world.tick()
    assert not any(NOTE in t for t in world.texts(GROUP))
    assert any(NOTE in t for t in world.texts(bob.id))


async def test_a_partner_gone_and_a_stranger_unseen_count_three_too(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Was: the send checked only that at most three were in the group; Alice, Carol and
    the bot are three too, once Bob has left and Carol's join went unseen."""
    await pair_in_group(world, alice, bob)
    await checkin_now(world, alice)
    await answer_all(world, alice, "4", note=NOTE)
    world.api.group_members[GROUP].discard(bob.id)  # Bob left the group
    world.api.group_members[GROUP].add(carol.id)  # Carol's join was never seen
    await checkin_now(world, bob)
    await answer_all(world, bob, "4")
    assert not any(NOTE in t for t in world.texts(GROUP))
    assert any(NOTE in t for t in world.texts(bob.id))  # it came privately instead
    assert await group_of(world, alice) is None
    assert world.said(alice.id, "no longer in your shared group")


async def test_a_group_the_bot_was_removed_from_gets_nothing_it_was_owed(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Was: removing the bot unlinked the group but left its owed rows owed; a stranger
    who added the bot back received the reveal with Alice's note."""
    await a_reveal_owed_to_the_group(world, alice, bob)
    await world.remove_bot(GROUP, alice)
    world.api.group_members[GROUP].add(carol.id)
    await world.add_bot(GROUP, carol)
    await the_note_reaches_only_the_partners(world, bob)


async def test_after_unpairing_their_group_gets_nothing_it_was_owed(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Was: /unpair left the group's owed rows owed, and a group that is nobody's was
    never checked: the reveal reached Carol though her join was seen."""
    await a_reveal_owed_to_the_group(world, alice, bob)
    await world.send(alice, "/unpair")
    await world.press(alice, "Yes")
    await joins(world, GROUP, alice, carol)
    await the_note_reaches_only_the_partners(world, bob)


async def test_a_conversation_follows_the_couple_to_their_new_group(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Was: linking a new group left the open conversation in the old one, which was
    nobody's: Carol, joining it, read Bob's paraphrase of Alice."""
    await to_the_floor(world, alice, bob)  # Alice has spoken in their group
    await world.press(alice, "Done, over to Bob", chat_id=GROUP)
    await world.send(bob, "You feel overwhelmed by the dishes", chat_id=GROUP)
    new = world.make_group(-700, alice, bob)
    await world.add_bot(new, alice)
    await world.press(alice, "I'm in", chat_id=new)
    await world.press(bob, "I'm in", chat_id=new)
    assert await group_of(world, alice) == new
    await joins(world, GROUP, alice, carol)
    before = len(world.texts(GROUP))
    await world.send(alice, "/conflict")  # in private: where does it stand?
    await world.press(alice, "Resume")
    assert not any("overwhelmed" in t for t in world.texts(GROUP)[before:])
    assert world.said(new, "overwhelmed")  # the step is shown where the couple now are


async def test_a_partner_leaving_unlinks_the_group_at_once(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_in_group(world, alice, bob)
    await leaves(world, GROUP, bob)
    assert await group_of(world, alice) is None
    for who in (alice, bob):
        assert world.said(who.id, "no longer in your shared group")
    assert world.said(GROUP, "no longer linked")
    await checkin_now(world, alice)
    await answer_all(world, alice, "4", note=NOTE)
    await checkin_now(world, bob)
    await answer_all(world, bob, "4")
    assert not any(NOTE in t for t in world.texts(GROUP))
    assert any(NOTE in t for t in world.texts(bob.id))


async def test_a_summary_held_for_the_morning_stays_held_when_rerouted(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: rerouting what an unlinked group was owed dropped each row's `not_before`,
    so a summary held for 08:00 arrived at 00:30, in quiet hours."""
    await pair_in_group(world, alice, bob)
    world.clock.set(datetime(2026, 11, 23, 22, 30, tzinfo=UTC))  # 23:30 in Berlin
    await checkin_now(world, alice)
    await answer_all(world, alice, "4")
    await checkin_now(world, bob)
    await answer_all(world, bob, "2")
    await world.tick()  # the summary is queued for 08:00
    world.clock.advance(timedelta(hours=1))
    await leaves(world, GROUP, bob)
    await world.tick()
    assert not world.said(alice.id, "Your week together")  # 00:30: quiet hours
    world.clock.set(datetime(2026, 11, 24, 7, 5, tzinfo=UTC))  # 08:05 in Berlin
    await world.tick()
    for who in (alice, bob):
        assert world.said(who.id, "Your week together")


async def test_a_reveal_refused_by_a_group_the_bot_left_goes_privately(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: Telegram's Forbidden from a group (the bot removed, its my_chat_member not yet
    handled) gave up everything owed there as if a user had blocked the bot: this week's
    reveal never reached anyone. A group that refuses the bot is unlinked instead, and
    what it was owed goes privately."""
    await pair_in_group(world, alice, bob)
    await checkin_now(world, alice)
    await answer_all(world, alice, "4", note=NOTE)
    await checkin_now(world, bob)
    world.api.blocked.add(GROUP)  # the bot was removed; Telegram says Forbidden
    await answer_all(world, bob, "4")
    await world.remove_bot(GROUP, alice)
    await world.tick()
    for who in (alice, bob):
        assert world.said(who.id, "Nobody went first")
    assert any(NOTE in t for t in world.texts(bob.id))
    assert await group_of(world, alice) is None


async def test_a_conversation_moved_out_of_an_unlinked_group_shows_its_step(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Was: both were told that conversations now come privately, but nothing showed
    Bob the step that waited for him (and his paraphrase typed in the old group was
    dropped): only /conflict and Resume brought it back."""
    await to_the_floor(world, alice, bob)  # Alice has spoken in their group
    await world.press(alice, "Done, over to Bob", chat_id=GROUP)
    await joins(world, GROUP, alice, carol)
    assert world.said(bob.id, "what did you hear Alice say")
    await world.send(bob, "You feel overwhelmed by the dishes")
    assert world.said(alice.id, "You feel overwhelmed by the dishes")


async def test_a_row_claimed_before_the_group_was_unlinked_never_goes_there(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Was: a row claimed for the group, waiting for its turn to send, went out after a
    stranger's join had unlinked the group and rerouted it: once unlinked, the group was
    nobody's, and a group that is nobody's was sent to unchecked."""
    from handlers.common import _Drain, _send_owed
    from tests.test_faults_sends import owe

    await pair_in_group(world, alice, bob)
    await owe(world, GROUP, "for-the-two-of-you")
    svc = services(world)
    [owed] = [o for o in await svc.outbox.claim() if o.msg.chat_id == GROUP]
    await joins(world, GROUP, alice, carol)  # unlinked; its rows go privately
    assert world.app is not None
    await _send_owed(world.app.bot, svc, owed, [], _Drain())  # its turn comes
    assert not world.said(GROUP, "for-the-two-of-you")
    await world.tick()
    for who in (alice, bob):
        assert world.said(who.id, "for-the-two-of-you")


async def test_only_the_conversation_that_moved_is_shown_again(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    """Was: any open conversation of the couple was announced as moved and shown again
    when their group changed, one held in private chats all along included."""
    await pair_in_group(world, alice, bob)
    await world.send(alice, "/conflict money")  # in private
    await world.press(bob, "Now is good")
    await world.press(alice, "Alice speaks first")
    await joins(world, GROUP, alice, carol)
    assert not world.said(alice.id, "goes on here now")


async def test_a_conversation_not_yet_named_moves_without_a_word_to_the_partner(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: Bob was told 'Your conversation about “” goes on here now' about one he had
    never been asked into; only Alice, who is naming it, is shown where it stands."""
    await pair_in_group(world, alice, bob)
    await world.send(alice, "/conflict", chat_id=GROUP)
    await leaves(world, GROUP, bob)
    assert not world.said(bob.id, "goes on here now")
    assert "What would you like to talk about" in world.last_text(alice.id)


async def test_who_is_in_a_group_is_read_once_per_drain(
    world: World, alice: Person, bob: Person
) -> None:
    """Three reads (a count, both partners) before every row to the group: once a drain
    has found the group safe, its later rows go without asking again."""
    from tests.test_faults_sends import owe

    await pair_in_group(world, alice, bob)
    for n in range(3):
        await owe(world, GROUP, f"part {n}")
    before = len(world.api.calls_of("getChatMemberCount"))
    await world.tick()
    assert [t for t in world.texts(GROUP) if t.startswith("owed part")] == [
        "owed part 0",
        "owed part 1",
        "owed part 2",
    ]
    assert len(world.api.calls_of("getChatMemberCount")) - before == 1
