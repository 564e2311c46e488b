"""Journeys that many tests start from."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playground.sim import Person, World


@asynccontextmanager
async def started(world: World) -> AsyncIterator[World]:
    """The world running for the block; stopped after, then any handler error raised."""
    await world.start()
    try:
        yield world
    finally:
        await world.stop()
    world.check_errors()


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


STATE_TABLES = (
    "couples",
    "members",
    "invites",
    "group_votes",
    "checkins",
    "checkin_progress",
    "answers",
    "conflict_conversations",
    "agreements",
    "promises",
)


def state(world: World) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables that hold the product's state, read from the file itself."""
    conn = sqlite3.connect(world.db_path)
    try:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in STATE_TABLES
        }
    finally:
        conn.close()


async def checkin_now(world: World, who: Person, chat_id: int | None = None) -> None:
    """/checkin, confirming "Open it now" when the bot offers to open this week's early."""
    chat = who.id if chat_id is None else chat_id
    before = len(world.api.chats[chat])
    await world.send(who, "/checkin", chat_id=chat_id)
    for sent in world.api.chats[chat][before:]:
        if any("Open it now" in b["text"] for row in sent.buttons for b in row):
            await world.press(who, "Open it now", chat_id=chat_id)
            return
