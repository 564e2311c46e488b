"""Encryption at rest: key handling and rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bot.crypto import Cipher
from bot.rotate import rotate
from playground.sim import Person, World
from tests.helpers import checkin_now, pair_by_invite


def test_wrong_key_is_a_clear_error() -> None:
    blob = Cipher([Fernet.generate_key()]).encrypt("secret")
    with pytest.raises(ValueError, match="DATA_ENCRYPTION_KEY"):
        Cipher([Fernet.generate_key()]).decrypt(blob)


async def test_rotation_reencrypts_everything(world: World, alice: Person, bob: Person) -> None:
    await pair_by_invite(world, alice, bob)
    await checkin_now(world, alice)
    await world.press(alice, "4")
    await world.send(alice, "rotation canary note")
    await world.stop()
    old = world.key
    new = Fernet.generate_key().decode()
    assert await rotate(world.db_path, Cipher([new.encode(), old.encode()])) > 0
    world.key = new  # only the new key from now on
    await world.start()
    await checkin_now(world, alice)
    assert "2/5" in world.last_text(alice.id)
    await world.press(alice, "Back")
    await world.press(alice, "4")  # the same score keeps its note
    await world.press(alice, "Skip")
    from tests.test_checkin import answer_all

    await answer_all(world, alice)
    await answer_all(world, bob)
    reveal = next(t for t in world.texts(bob.id) if "Nobody went first" in t)
    assert "rotation canary note" in reveal  # written under the old key, read with the new
