"""Journeys that many tests start from."""

from __future__ import annotations

import re

from playground.sim import Person, World

INVITE_RE = re.compile(r"https://t\.me/\w+\?start=([A-Za-z0-9_-]{22})")


def invite_token(world: World, who: Person) -> str:
    for text in reversed(world.texts(who.id)):
        found = INVITE_RE.search(text)
        if found:
            return found.group(1)
    raise AssertionError("no invite link sent")


async def pair_by_invite(
    world: World, a: Person, b: Person, *, onboard: bool = True, zone: str = "Berlin"
) -> None:
    await world.send(a, "/start")
    token = invite_token(world, a)
    await world.send(b, f"/start {token}")
    await world.press(b, "Yes, pair us")
    if onboard:
        await world.press(a, zone)
        await world.press(a, "Keep Sunday 19:00")
