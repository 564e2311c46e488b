"""Every feature of the core, built once from a `Core` and handed to the edge."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiosqlite

from bot.core import Actor, Core
from bot.messages import Msg, Outcome
from bot.outbox import Outbox
from bot.pairing import Pairing

SEEN_KEEP_SECONDS = 3 * 24 * 3600  # Telegram keeps updates 24 h; three days is ample

TextRoute = Callable[[aiosqlite.Connection, Actor, str, str, Outcome], Awaitable[Outcome]]


class Services:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.outbox = Outbox(core)
        self.pairing = Pairing(core)
        # Free text the bot asked for is routed by the prefix of `users.awaiting`.
        self.text_routes: dict[str, TextRoute] = {
            "tz": lambda conn, actor, arg, text, out: self.pairing.typed_zone(
                conn, actor, int(arg), text, out
            ),
            "time": lambda conn, actor, arg, text, out: self.pairing.typed_time(
                conn, actor, int(arg), text, out
            ),
        }

    async def first_sight(self, update_id: int) -> bool:
        """True the first time an update id is seen; a redelivery returns False."""
        async with self.core.db.tx() as conn:
            cur = await conn.execute(
                "INSERT INTO seen_updates (update_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (update_id, self.core.now()),
            )
            return cur.rowcount == 1

    async def forget_old_updates(self) -> None:
        async with self.core.db.tx() as conn:
            await conn.execute(
                "DELETE FROM seen_updates WHERE at < ?", (self.core.now() - SEEN_KEEP_SECONDS,)
            )

    async def private_text(self, actor: Actor, text: str) -> Outcome:
        """Text in a private chat: an answer the bot asked for, or a kind pointer to /help."""
        out = Outcome()
        async with self.core.db.tx() as conn:
            await self.core.touch_user(conn, actor)
            awaiting = await self.core.awaiting(conn, actor.user_id)
            if awaiting:
                kind, _, arg = awaiting.partition(":")
                route = self.text_routes.get(kind)
                if route is not None:
                    return await route(conn, actor, arg, text, out)
            return out.say(Msg(actor.chat_id, self.core.t("common.unasked")))
