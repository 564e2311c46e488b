"""Invite-first pairing, onboarding and every bad invite, through the real application."""

from __future__ import annotations

from datetime import timedelta

from playground.sim import Person, World
from tests.helpers import invite_token, pair_by_invite, state


async def test_invite_first_pairs_and_onboards(world: World, alice: Person, bob: Person) -> None:
    await world.send(alice, "/start")
    welcome = world.last_text(alice.id)
    assert "not therapy" in welcome
    token = invite_token(world, alice)
    assert len(token) == 22
    assert any("share" in b.get("url", "") for b in world.api.last(alice.id).buttons[0])

    await world.send(bob, f"/start {token}")
    assert "Alice invited you" in world.last_text(bob.id)
    await world.press(bob, "Yes, pair us")
    assert "You're paired with Alice" in world.last_text(bob.id)
    assert world.said(alice.id, "Bob accepted your invite")
    assert "time zone" in world.last_text(alice.id)

    await world.press(alice, "Berlin")
    assert world.said(alice.id, "Time zone: Europe/Berlin")
    await world.press(alice, "Wed")
    await world.send(alice, "20:30")
    assert world.said(alice.id, "Next check-in: Wednesday 25 November, 20:30 Europe/Berlin")
    assert world.said(bob.id, "Alice set up your check-ins")
    assert "startgroup=" in world.api.last(alice.id).buttons[0][0]["url"]

    await world.send(bob, "/status")
    status = world.last_text(bob.id)
    assert "Alice" in status and "Europe/Berlin" in status and "Wednesday" in status


async def test_typed_zone_is_validated(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob, onboard=False)
    await world.send(alice, "Mars/Olympus")
    assert "don't know the time zone" in world.last_text(alice.id)
    await world.send(alice, "america/denver")
    assert world.said(alice.id, "Time zone: America/Denver")


async def test_bad_invites_change_nothing(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    await world.send(bob, "/start not-a-token")
    assert "looks incomplete" in world.last_text(bob.id)
    await world.send(bob, "/start " + "A" * 22)
    assert "don't recognise" in world.last_text(bob.id)

    await world.send(alice, "/start")
    token = invite_token(world, alice)
    await world.send(alice, f"/start {token}")
    assert "your own invite" in world.last_text(alice.id)

    await world.send(bob, f"/start {token}")
    await world.press(bob, "Yes, pair us")
    before = state(world)
    await world.send(carol, f"/start {token}")
    assert "already been used" in world.last_text(carol.id)
    # a forged confirm from the third person changes nothing
    await world.press_data(carol, f"inv:ok:{token}")
    assert "already been used" in world.last_text(carol.id)
    assert state(world) == before
    await world.send(carol, "/status")
    assert "aren't paired" in world.last_text(carol.id)

    await world.send(bob, f"/start {token}")
    assert "already paired with Alice" in world.last_text(bob.id)


async def test_expired_and_replaced_invites(world: World, alice: Person, bob: Person) -> None:
    await world.send(alice, "/start")
    old = invite_token(world, alice)
    await world.send(alice, "/start")
    new = invite_token(world, alice)
    assert old != new
    await world.send(bob, f"/start {old}")
    assert "replaced by a newer one" in world.last_text(bob.id)
    world.clock.advance(timedelta(days=7, seconds=1))
    await world.send(bob, f"/start {new}")
    assert "has expired" in world.last_text(bob.id)


async def test_paired_person_cannot_pair_again(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(carol, "/start")
    token = invite_token(world, carol)
    await world.send(bob, f"/start {token}")
    assert "already paired with Alice" in world.last_text(bob.id)


async def test_invitee_confirm_after_inviter_paired_elsewhere(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    await world.send(alice, "/start")
    token = invite_token(world, alice)
    await world.send(bob, f"/start {token}")
    # meanwhile Alice pairs with Carol by Carol's invite
    await world.send(carol, "/start")
    await world.send(alice, f"/start {invite_token(world, carol)}")
    await world.press(alice, "Yes, pair us")
    await world.press(bob, "Yes, pair us")
    assert "already paired" in world.last_text(bob.id)


async def test_someone_elses_onboarding_button(
    world: World, alice: Person, bob: Person, carol: Person
) -> None:
    await pair_by_invite(world, alice, bob, onboard=False)
    _, button = world.find_button(alice.id, "Berlin")
    await world.press_data(carol, button["callback_data"])
    assert (
        world.api.calls_of("answerCallbackQuery")[-1].params["text"].startswith("That button isn't")
    )
    await world.send(alice, "/status")
    assert "not set yet" in world.last_text(alice.id)


async def test_unpair_tells_both(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    await world.send(bob, "/unpair")
    await world.press(bob, "Keep us paired")
    assert "nothing changed" in world.last_text(bob.id)
    await world.send(bob, "/unpair")
    _, yes = world.find_button(bob.id, "Yes, unpair")
    await world.press(bob, "Yes, unpair")
    assert "no longer paired" in world.last_text(bob.id)
    assert world.said(alice.id, "Bob ended your pairing")
    await world.send(alice, "/status")
    assert "aren't paired" in world.last_text(alice.id)
    # a second press on the old confirm button is stale
    await world.press_data(bob, yes["callback_data"])
    assert "out of date" in world.api.calls_of("answerCallbackQuery")[-1].params["text"]


async def test_unasked_text_gets_help(world: World, alice: Person) -> None:
    await world.send(alice, "hello?")
    assert "/help" in world.last_text(alice.id)
    await world.send(alice, "/nonsense")
    assert "/help" in world.last_text(alice.id)


async def test_restart_mid_pairing_and_onboarding(world: World, alice: Person, bob: Person) -> None:
    await world.send(alice, "/start")
    token = invite_token(world, alice)
    await world.restart()
    await world.send(bob, f"/start {token}")
    await world.restart()
    await world.press(bob, "Yes, pair us")
    await world.press(alice, "Berlin")
    await world.restart()
    await world.press(alice, "Fri")
    await world.restart()
    await world.send(alice, "07:15")
    assert world.said(alice.id, "Friday 27 November, 07:15 Europe/Berlin")


async def test_duplicate_update_changes_nothing(world: World, alice: Person, bob: Person) -> None:
    await world.send(alice, "/start")
    token = invite_token(world, alice)
    await world.send(bob, f"/start {token}")
    await world.press(bob, "Yes, pair us")
    before = len(world.api.calls)
    await world.redeliver()
    assert len(world.api.calls) == before
    assert sum("accepted your invite" in t for t in world.texts(alice.id)) == 1


async def test_help_privacy_and_command_menus(world: World, alice: Person) -> None:
    await world.send(alice, "/help")
    assert "/conflict" in world.last_text(alice.id) and "/privacy" in world.last_text(alice.id)
    await world.send(alice, "/privacy")
    assert "encrypted" in world.last_text(alice.id)
    calls = world.api.calls_of("setMyCommands")
    scopes = [c.params["scope"]["type"] for c in calls]
    assert scopes == ["all_private_chats", "all_group_chats"] * 3
    # One menu per catalogue language: English as the default, then Spanish and Russian.
    assert [c.params.get("language_code") for c in calls] == [None, None, "es", "es", "ru", "ru"]
    menus = {c.params.get("language_code"): str(c.params["commands"]) for c in calls[::2]}
    assert "Elegir tu idioma" in menus["es"] and "Выбрать язык" in menus["ru"]
