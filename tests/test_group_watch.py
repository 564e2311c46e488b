"""Nothing of a couple reaches a third person (issue 11, items 12-13), and junk presses."""

from __future__ import annotations

from playground.sim import Person, World
from tests.helpers import checkin_now, pair_by_invite
from tests.test_checkin import answer_all
from tests.test_conflict_flow import GROUP, pair_in_group, toast
from tests.test_faults_sends import services

OTHER = -600


async def joins(world: World, chat_id: int, by: Person, *new: Person) -> None:
    """The service message a group sends when people are added."""
    world.api.group_members.setdefault(chat_id, set()).update(p.id for p in new)
    await world.feed(
        {
            "message": {
                "message_id": 9000 + len(world.api.calls),
                "date": int(world.clock.now().timestamp()),
                "chat": {"id": chat_id, "type": "group", "title": "Us"},
                "from": by.as_user(),
                "new_chat_members": [p.as_user() for p in new],
            }
        }
    )


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
