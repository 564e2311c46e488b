"""In group mode too, what the other partner needs goes through the outbox (issue 11,
item 5): a kill cannot lose a prompt or leave a request without its buttons."""

from __future__ import annotations

import sqlite3

from playground.sim import Person, World
from tests.test_conflict_flow import GROUP, pair_in_group
from tests.test_faults_kill import kill_during


async def to_the_floor(world: World, alice: Person, bob: Person) -> None:
    await pair_in_group(world, alice, bob)
    await world.send(bob, "/conflict the dishes", chat_id=GROUP)
    await world.press(alice, "Now is good", chat_id=GROUP)
    await world.press(bob, "Alice speaks first", chat_id=GROUP)
    await world.send(alice, "I feel overwhelmed by the dishes", chat_id=GROUP)


async def to_requests(world: World, alice: Person, bob: Person) -> None:
    """Both speak and are heard in the group, then both say they feel heard."""
    await to_the_floor(world, alice, bob)
    await world.press(alice, "Done, over to Bob", chat_id=GROUP)
    await world.send(bob, "You feel overwhelmed", chat_id=GROUP)
    await world.press(alice, "Yes, that's it", chat_id=GROUP)
    await world.press(alice, "That's it", chat_id=GROUP)
    await world.send(bob, "It makes sense that you feel overwhelmed", chat_id=GROUP)
    await world.send(bob, "I would like more help", chat_id=GROUP)
    await world.press(bob, "Done, over to Alice", chat_id=GROUP)
    await world.send(alice, "You would like more help", chat_id=GROUP)
    await world.press(bob, "Yes, that's it", chat_id=GROUP)
    await world.press(bob, "That's it", chat_id=GROUP)
    await world.press(alice, "Skip this step", chat_id=GROUP)
    await world.press(alice, "We both feel heard", chat_id=GROUP)
    await world.press(bob, "We both feel heard", chat_id=GROUP)


async def test_a_crash_cannot_lose_the_paraphrase_prompt_in_a_group(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: sent as a direct reply in the group; a kill before it went out lost it."""
    await to_the_floor(world, alice, bob)
    await kill_during(
        world, "sendMessage", world.press(alice, "Done, over to Bob", chat_id=GROUP), GROUP
    )
    prompts = [t for t in world.texts(GROUP) if "what did you hear Alice say" in t]
    assert len(prompts) == 1  # owed, and sent by the restarted process


async def test_a_crash_cannot_leave_a_group_request_without_buttons(
    world: World, alice: Person, bob: Person
) -> None:
    await to_requests(world, alice, bob)
    assert "Time for solutions" in world.last_text(GROUP)
    # Killed while the request goes to the group: it arrives after the restart, with buttons.
    await kill_during(
        world,
        "sendMessage",
        world.send(alice, "Would you wash up on Monday?", chat_id=GROUP),
        GROUP,
    )
    asks = [s for s in world.api.sent_to(GROUP) if "Would you wash up on Monday" in s.text]
    assert len(asks) == 1 and any("I'm willing" in b for b in asks[0].button_texts())
    # Later, /conflict then Resume: the waiting request can still be answered by its buttons.
    await world.send(bob, "/conflict", chat_id=GROUP)
    await world.press(bob, "Resume", chat_id=GROUP)
    _, willing = world.find_button(GROUP, "Bob: I'm willing")
    await world.press_data(bob, willing["callback_data"], GROUP)
    assert "willing" in world.last_text(GROUP).lower() or "Bob" in world.last_text(GROUP)


async def test_resume_in_a_group_shows_the_waiting_request_with_its_buttons(
    world: World, alice: Person, bob: Person
) -> None:
    """Was: Resume in the group showed the requests screen without the request that
    waited for an answer, and as the new live keyboard it took that request's buttons."""
    await to_requests(world, alice, bob)
    await world.send(alice, "Would you wash up on Monday?", chat_id=GROUP)
    before = len(world.api.sent_to(GROUP))
    await world.send(bob, "/conflict", chat_id=GROUP)
    await world.press(bob, "Resume", chat_id=GROUP)
    screen = world.api.sent_to(GROUP)[-1]
    assert len(world.api.sent_to(GROUP)) > before
    assert "wash up on Monday" in screen.text
    assert "Bob: I'm willing" in screen.button_texts()
    _, willing = world.find_button(GROUP, "Bob: I'm willing")  # the newest: Resume's screen
    await world.press_data(bob, willing["callback_data"], GROUP, screen.message_id)
    with sqlite3.connect(world.db_path) as conn:
        status = conn.execute("SELECT status FROM agreements").fetchone()[0]
    assert status == "willing"  # the doer is now asked for their own words
    # The request's first keyboard, pressed again, changes nothing.
    await world.press_data(bob, willing["callback_data"], GROUP)
    with sqlite3.connect(world.db_path) as conn:
        assert conn.execute("SELECT COUNT(*), MAX(status) FROM agreements").fetchone() == (
            1,
            "willing",
        )
