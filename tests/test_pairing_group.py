"""Group-first pairing and group linking, through the real application."""

from __future__ import annotations

from playground.fakeapi import Fault
from playground.sim import Person, World
from tests.helpers import checkin_now, pair_by_invite, state

GROUP = -500


def last_toast(world: World) -> str:
    return world.api.calls_of("answerCallbackQuery")[-1].params.get("text", "")


async def test_group_first_pairs_and_tracks_private_chats(
    world: World, alice: Person, bob: Person
) -> None:
    world.make_group(GROUP, alice, bob)
    await world.add_bot(GROUP, alice)
    assert "press “I'm in”" in world.last_text(GROUP)
    await world.press(alice, "I'm in", chat_id=GROUP)
    assert "Alice is in" in world.last_text(GROUP)
    await world.press(alice, "I'm in", chat_id=GROUP)
    assert "already in" in last_toast(world)
    await world.press(bob, "I'm in", chat_id=GROUP)
    assert world.said(GROUP, "Paired: Alice and Bob")
    assert world.said(GROUP, "Alice and Bob, please open a private chat")
    calls = {c.method for c in world.api.calls}
    assert {"getChatMember", "getChatMemberCount"} <= calls
    # onboarding happens in the group, with buttons; typed zones via /timezone
    assert "time zone" in world.last_text(GROUP)
    await world.send(bob, "/timezone Asia/Tokyo", chat_id=GROUP)
    await world.press(bob, "Keep Sunday 19:00", chat_id=GROUP)
    assert world.said(GROUP, "Next check-in: Sunday 29 November, 19:00 Asia/Tokyo")

    await world.send(alice, "/start")
    assert "Bob, please open a private chat" in world.last_text(GROUP)
    await world.send(bob, "/start hello")
    assert "Both of you can now hear from me privately" in world.last_text(GROUP)
    await world.send(alice, "/status")
    assert "linked" in world.last_text(alice.id)


async def test_stranger_in_group_is_refused(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    world.make_group(GROUP, alice, bob, carol)
    await world.send(alice, "/pair", chat_id=GROUP)
    await world.press(alice, "I'm in", chat_id=GROUP)
    before = state(world)
    await world.press(bob, "I'm in", chat_id=GROUP)
    assert "has 4 members" in world.last_text(GROUP)
    after = state(world)
    assert after["couples"] == before["couples"] == [] and after["group_votes"] == []
    assert "Nothing has changed" in world.last_text(GROUP)
    await world.send(alice, "/status", chat_id=GROUP)
    assert "aren't paired" in world.last_text(GROUP)


async def test_third_person_cannot_press_im_in(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    world.make_group(GROUP, alice, bob)
    await world.add_bot(GROUP, alice)
    await world.press(alice, "I'm in", chat_id=GROUP)
    await world.press(bob, "I'm in", chat_id=GROUP)
    before = state(world)
    await world.press(carol, "I'm in", chat_id=GROUP)
    assert "already belongs to a pair" in last_toast(world)
    assert state(world) == before


async def test_partner_missing_from_group(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    world.make_group(GROUP, alice)  # Bob is not a member (e.g. left)
    await world.add_bot(GROUP, alice)
    await world.press(alice, "I'm in", chat_id=GROUP)
    await world.press(bob, "I'm in", chat_id=GROUP)
    assert "can't see Bob" in world.last_text(GROUP)


async def test_partner_paired_elsewhere(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    await pair_by_invite(world, alice, carol)
    world.make_group(GROUP, alice, bob)
    await world.add_bot(GROUP, bob)
    await world.press(bob, "I'm in", chat_id=GROUP)
    await world.press(alice, "I'm in", chat_id=GROUP)
    assert "paired with Carol already" in last_toast(world)


async def test_startgroup_link_links_paired_couple_and_removal_falls_back(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    url = world.api.last(alice.id).buttons[0][0]["url"]
    token = url.split("startgroup=")[1]
    world.make_group(GROUP, alice, bob)
    await world.add_bot(GROUP, alice)
    await world.send(alice, f"/start {token}", chat_id=GROUP)
    assert world.said(GROUP, "Paired: Alice and Bob")
    # the link is single use
    await world.send(alice, f"/start {token}", chat_id=GROUP)
    assert "already the shared space" in world.last_text(GROUP) or "isn't valid" in world.last_text(
        GROUP
    )
    await world.remove_bot(GROUP, alice)
    assert world.said(alice.id, "removed from your shared group")
    assert world.said(bob.id, "removed from your shared group")
    await world.send(alice, "/status")
    assert "none (private chats)" in world.last_text(alice.id)


async def test_already_paired_couple_links_group_with_im_in(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    world.make_group(GROUP, alice, bob)
    await world.add_bot(GROUP, alice)
    await world.press(alice, "I'm in", chat_id=GROUP)
    await world.press(bob, "I'm in", chat_id=GROUP)
    assert world.said(GROUP, "Paired: Alice and Bob")
    assert not world.said(GROUP, "time zone")  # already onboarded


async def test_restart_between_votes_keeps_the_first(
    world: World, alice: Person, bob: Person
) -> None:
    world.make_group(GROUP, alice, bob)
    await world.add_bot(GROUP, alice)
    await world.press(alice, "I'm in", chat_id=GROUP)
    await world.restart()
    await world.press(bob, "I'm in", chat_id=GROUP)
    assert world.said(GROUP, "Paired: Alice and Bob")


async def test_blocking_in_private_marks_unreachable(
    world: World, alice: Person, bob: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.bot_membership(bob.id, bob, "member", "kicked")
    before = len(world.api.calls)
    await checkin_now(world, alice)
    await world.tick()
    assert not any(c.params.get("chat_id") == bob.id for c in world.api.calls[before:])
    assert world.said(alice.id, "can't reach Bob")
    await world.send(bob, "/start")  # coming back makes him reachable again
    await checkin_now(world, bob)
    assert "1/5" in world.last_text(bob.id)


async def test_a_kill_while_linking_loses_neither_the_vote_nor_the_link(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: Bob's vote committed (with the update's mark) before Telegram was asked about
    the members, and the link in a second transaction: killed between, the redelivery
    was dropped as handled, every later press said "you're already in", and the group
    was never linked."""
    from tests.test_faults_kill import kill_during
    from tests.test_group_watch import group_of

    await pair_by_invite(world, alice, bob)
    world.make_group(GROUP, alice, bob)
    await world.add_bot(GROUP, alice)
    await world.press(alice, "I'm in", chat_id=GROUP)
    await kill_during(world, "getChatMember", world.press(bob, "I'm in", chat_id=GROUP))
    await world.redeliver()  # Telegram's redelivery of the press it never saw confirmed
    assert await group_of(world, alice) == GROUP
    assert world.said(GROUP, "Alice and Bob")


async def test_a_failed_link_says_nothing_was_saved_and_a_second_press_links(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: "That was saved, no need to send it again" while the group stayed unlinked,
    and every later press answered "you're already in"."""
    from tests.test_group_watch import group_of

    await pair_by_invite(world, alice, bob)
    world.make_group(GROUP, alice, bob)
    await world.add_bot(GROUP, alice)
    await world.press(alice, "I'm in", chat_id=GROUP)
    world.raise_errors = False
    world.api.faults.append(Fault("getChatMember", "network"))
    await world.press(bob, "I'm in", chat_id=GROUP)
    world.errors.clear()
    world.raise_errors = True
    assert "nothing was saved" in last_toast(world)
    await world.press(bob, "I'm in", chat_id=GROUP)
    assert await group_of(world, alice) == GROUP


async def test_a_kill_while_linking_by_link_loses_nothing(
    world: World, alice: Person, bob: Person
) -> None:
    """The same for `/start <token>` in a group (a ?startgroup= link)."""
    from tests.test_faults_kill import kill_during
    from tests.test_group_watch import group_of

    await pair_by_invite(world, alice, bob)
    await world.send(alice, "/status")
    _, button = world.find_button(alice.id, "Add Trellis")
    token = button["url"].split("startgroup=")[1]
    world.make_group(GROUP, alice, bob)
    await kill_during(world, "getChatMember", world.send(alice, f"/start {token}", GROUP))
    await world.redeliver()
    assert await group_of(world, alice) == GROUP
