"""Group-first pairing and group linking, through the real application."""

from __future__ import annotations

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
