"""Every feature of the core, built once from a `Core` and handed to the edge."""

from __future__ import annotations

from bot.checkins import Checkins
from bot.conflict import Conflict
from bot.core import Actor, Core
from bot.data_rights import DataRights
from bot.feature import Feature, TextRoute
from bot.messages import Msg, Outcome
from bot.outbox import Outbox
from bot.pairing import Pairing
from bot.preferences import Preferences
from bot.promises import Promises
from bot.summary import Summaries

SEEN_KEEP_SECONDS = 3 * 24 * 3600  # Telegram keeps updates 24 h; three days is ample


class Services:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.outbox = Outbox(core)
        self.pairing = Pairing(core)
        self.preferences = Preferences(core, self.pairing)
        self.checkins = Checkins(core)
        self.promises = Promises(core)
        self.conflict = Conflict(core, on_agreement=self.promises.from_agreement)
        self.summaries = Summaries(core)
        self.data_rights = DataRights(core, self.pairing)
        # Sweep order matters: check-ins close before summaries look for closed weeks.
        self.features: list[Feature] = [self.checkins, self.conflict, self.promises, self.summaries]
        # Free text the bot asked for is routed by the prefix of `users.awaiting`.
        self.text_routes: dict[str, TextRoute] = {
            "tz": lambda conn, actor, arg, text, out: self.pairing.typed_zone(
                conn, actor, int(arg), text, out
            ),
            "time": lambda conn, actor, arg, text, out: self.pairing.typed_time(
                conn, actor, int(arg), text, out
            ),
        }
        self.text_routes["stime"] = self.preferences.typed_time
        for feature in self.features:
            self.text_routes.update(feature.text_routes())

    async def first_sight(self, update_id: int) -> bool:
        """True the first time an update id is seen; a redelivery returns False."""
        # One statement, one round trip: SQLite makes it atomic without BEGIN/COMMIT.
        inserted = await self.core.db.execute_alone(
            "INSERT INTO seen_updates (update_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (update_id, self.core.now()),
        )
        return inserted == 1

    async def forget_update(self, update_id: int) -> None:
        """A handler failed and rolled back: let a redelivery of the update be handled."""
        await self.core.db.execute_alone(
            "DELETE FROM seen_updates WHERE update_id = ?", (update_id,)
        )

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
            # A live /conflict conversation takes what its partners write first: a turn
            # must never be filed as a check-in note or a promise.
            taken = await self.conflict.private_text(conn, actor, text, out)
            if taken is not None:
                return taken
            awaiting = await self.core.awaiting(conn, actor.user_id)
            if awaiting:
                kind, _, arg = awaiting.partition(":")
                route = self.text_routes.get(kind)
                if route is not None:
                    return await route(conn, actor, arg, text, out)
            for feature in self.features:
                if feature is self.conflict:
                    continue
                taken = await feature.private_text(conn, actor, text, out)
                if taken is not None:
                    return taken
            return out.say(Msg(actor.chat_id, self.core.t("common.unasked")))

    async def sweep(self) -> list[int]:
        """Everything due at the clock's now, feature by feature; returns queued outbox ids."""
        queued: list[int] = []
        for feature in self.features:
            queued += await feature.sweep()
        return queued
