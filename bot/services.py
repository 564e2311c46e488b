"""Every feature of the core, built once from a `Core` and handed to the edge."""

from __future__ import annotations

import logging
import sqlite3

from bot.callbacks import cb
from bot.checkins import Checkins
from bot.conflict import Conflict
from bot.core import Actor, Core
from bot.data_rights import DataRights
from bot.db import Conn, fetch_one
from bot.feature import Feature, TextRoute
from bot.language import Languages
from bot.messages import Button, Msg, Outcome, rows
from bot.operations import Operations
from bot.outbox import Outbox
from bot.pairing import Pairing
from bot.preferences import Preferences
from bot.promises import Promises
from bot.safety import Safety
from bot.summary import Summaries

log = logging.getLogger(__name__)

OUTBOX_KEEP_SECONDS = 7 * 24 * 3600
INVITE_KEEP_SECONDS = 30 * 24 * 3600
UNPAIRED_KEEP_SECONDS = 90 * 24 * 3600
SEEN_KEEP_SECONDS = 3 * 24 * 3600  # Telegram keeps updates 24 h; three days is ample


class Services:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.outbox = Outbox(core)
        self.pairing = Pairing(core)
        self.languages = Languages(core)
        self.preferences = Preferences(core, self.pairing)
        # Every feature that accepts free text screens it here first (bot/safety.py).
        self.safety = Safety(core)
        self.checkins = Checkins(core, self.safety)
        self.promises = Promises(core, self.safety)
        self.conflict = Conflict(
            core, on_agreement=self.promises.from_agreement, safety=self.safety
        )
        # A conversation shows its step wherever the couple's group change moved it, and
        # ends (telling the other) when a partner can no longer be reached.
        self.pairing.on_group_changed = self.conflict.moved
        self.outbox.on_unreachable = self.conflict.partner_unreachable
        self.summaries = Summaries(core)
        self.data_rights = DataRights(core, self.pairing)
        self.operations = Operations(core.db, core.cipher, core.settings)
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

    async def handled_before(self, update_id: int) -> bool:
        """True if this update's handler already committed (Telegram delivered it again).

        Only a read: the mark itself is written by the handler's own transaction
        (bot/db.py, UpdateMark), so it can never outlive a rolled-back effect.
        """
        async with self.core.db.look() as conn:
            row = await fetch_one(
                conn, "SELECT 1 FROM seen_updates WHERE update_id = ?", (update_id,)
            )
        return row is not None

    async def press_problem(self, actor: Actor, data: str) -> str | None:
        """Why a press may not run where it was made (a content key), or None.

        The pairing vote belongs to groups; every other button belongs to the presser's
        private chat or their couple's own group, never a group that holds anyone else.
        """
        if data.split(":", 1)[0] == "gp":
            return "group.vote_in_group" if actor.private else None
        if actor.private:
            return None
        async with self.core.db.look() as conn:
            couple = await self.core.couple_of(conn, actor.user_id)
            if couple is not None and couple.group_chat_id == actor.chat_id:
                return None
            owner = await self.core.couple_by_group(conn, actor.chat_id)
        return "common.not_yours" if owner is not None else "common.not_this_group_press"

    async def reachable(self, user_id: int, reachable: bool) -> Outcome:
        """A private chat blocked or opened again, as Telegram reports it: the same path
        for a user gone as a send Telegram refused (`Outbox.on_unreachable`), so a flow
        waiting on them ends and whoever is left is told."""
        await self.pairing.set_reachable(user_id, reachable)
        out = Outcome()
        if not reachable:
            out.queued += await self.conflict.partner_unreachable(user_id)
        return out

    async def forget_old_updates(self) -> None:
        """What nobody needs any more, pruned on every sweep (each is a bounded delete):
        handled update ids; outbox rows sent or given up a week ago (rows with a key stay,
        bodies already wiped: the key is what stops a scheduled message being owed twice);
        invites used or expired a month ago; people who never paired, quiet for 90 days."""
        now = self.core.now()
        async with self.core.db.tx() as conn:
            await conn.execute("DELETE FROM seen_updates WHERE at < ?", (now - SEEN_KEEP_SECONDS,))
            await conn.execute(
                "DELETE FROM outbox WHERE key IS NULL AND created_at < ? "
                "AND (sent_at IS NOT NULL OR failed IS NOT NULL)",
                (now - OUTBOX_KEEP_SECONDS,),
            )
            await conn.execute(
                "DELETE FROM invites WHERE created_at < ? AND (used_at IS NOT NULL OR "
                "expires_at < ?)",
                (now - INVITE_KEEP_SECONDS, now),
            )
        try:
            async with self.core.db.tx() as conn:
                await conn.execute(
                    "DELETE FROM users WHERE id > 0 AND created_at < ? AND id NOT IN "
                    "(SELECT user_id FROM members) AND id NOT IN (SELECT user_a FROM couples) "
                    "AND id NOT IN (SELECT user_b FROM couples) "
                    "AND id NOT IN (SELECT inviter_id FROM invites)",
                    (now - UNPAIRED_KEEP_SECONDS,),
                )
        except sqlite3.IntegrityError:  # something still names them: they stay
            log.warning("kept unpaired users that other rows still name")

    async def private_text(self, actor: Actor, text: str) -> Outcome:
        """Text in a private chat goes to the flow that asked for it, visibly.

        `users.awaiting` holds the most recent explicit prompt for text (a newer prompt
        replaces an older one). A private /conflict conversation takes its partners'
        words too; when both could take this text, it is held and the writer is asked
        which it is for: a note must never reach the partner as a turn, nor a turn be
        filed (and later revealed) as a note.
        """
        out = Outcome()
        async with self.core.db.tx() as conn:
            await self.core.touch_user(conn, actor)
            awaiting = await self.core.awaiting(conn, actor.user_id)
            route = self._route(awaiting)
            if route is not None and await self.conflict.wants_text(conn, actor):
                return await self._hold(conn, actor, text, awaiting or "", out)
            if route is not None:
                _, arg, fn = route
                return await fn(conn, actor, arg, text, out)
            # Unasked text: a live conversation's words first, then features that point
            # the writer at their pending step (e.g. the buttons of a scale question).
            for feature in (self.conflict, *(f for f in self.features if f is not self.conflict)):
                taken = await feature.private_text(conn, actor, text, out)
                if taken is not None:
                    return taken
            return out.say(Msg(actor.chat_id, self.core.t("common.unasked")))

    def _route(self, awaiting: str | None) -> tuple[str, str, TextRoute] | None:
        if not awaiting:
            return None
        kind, _, arg = awaiting.partition(":")
        fn = self.text_routes.get(kind)
        return None if fn is None else (kind, arg, fn)

    def _route_label(self, kind: str, partner: str) -> str:
        key = f"route.{kind}" if self.core.c.has_string(f"route.{kind}") else "route.other"
        return self.core.t(key, partner=partner)

    async def _hold(
        self, conn: Conn, actor: Actor, text: str, awaiting: str, out: Outcome
    ) -> Outcome:
        """Keep the text (encrypted, for its writer only) and ask which flow it is for."""
        cur = await conn.execute(
            "INSERT INTO held_texts (user_id, text, route, created_at) VALUES (?, ?, ?, ?)",
            (actor.user_id, self.core.cipher.encrypt(text), awaiting, self.core.now()),
        )
        held = int(cur.lastrowid or 0)
        partner = await self._partner_name(conn, actor.user_id)
        kind = awaiting.partition(":")[0]
        buttons = rows(
            [Button(self._route_label(kind, partner), cb("ht", "a", held))],
            [Button(self.core.t("route.cf", partner=partner), cb("ht", "c", held))],
            [Button(self.core.t("route.neither"), cb("ht", "x", held))],
        )
        return out.say(Msg(actor.chat_id, self.core.t("route.which", partner=partner), buttons))

    async def _partner_name(self, conn: Conn, user_id: int) -> str:
        couple = await self.core.couple_of(conn, user_id)
        if couple is None:
            return self.core.t("common.your_partner")
        return await self.core.first_name(conn, couple.partner_of(user_id))

    async def held_press(
        self, actor: Actor, choice: str, held_id: int | None, message_id: int | None
    ) -> Outcome:
        """The writer says where a held text goes: the asked flow, the conversation, nowhere."""
        out = Outcome()
        async with self.core.db.tx() as conn:
            row = await fetch_one(
                conn,
                "SELECT text, route FROM held_texts WHERE id = ? AND user_id = ?",
                (held_id, actor.user_id),
            )
            if row is None or choice not in ("a", "c", "x"):
                out.toast, out.alert = self.core.t("common.stale"), True
                return out
            await conn.execute("DELETE FROM held_texts WHERE id = ?", (held_id,))
            text = self.core.cipher.decrypt(row["text"])
            partner = await self._partner_name(conn, actor.user_id)
            awaiting = await self.core.awaiting(conn, actor.user_id)
            route = self._route(awaiting)
            kind = row["route"].partition(":")[0]
            if choice == "x":
                return out.say(
                    Msg(actor.chat_id, self.core.t("route.dropped"), edit_message_id=message_id)
                )
            if choice == "c":
                if not await self.conflict.wants_text(conn, actor):
                    return self._gone(actor, text, message_id, out)
                label = self.core.t("route.cf", partner=partner)
                out.say(
                    Msg(
                        actor.chat_id,
                        self.core.t("route.chosen", label=label),
                        edit_message_id=message_id,
                    )
                )
                # The other prompt is set aside (not lost): its command brings it back.
                if awaiting == row["route"]:
                    await self.core.set_awaiting(conn, actor.user_id, None)
                    out.say(Msg(actor.chat_id, self.core.t(self._set_aside_key(kind))))
                taken = await self.conflict.private_text(conn, actor, text, out)
                return out if taken is None else taken
            if route is None or awaiting != row["route"]:
                return self._gone(actor, text, message_id, out)
            label = self._route_label(kind, partner)
            out.say(
                Msg(
                    actor.chat_id,
                    self.core.t("route.chosen", label=label),
                    edit_message_id=message_id,
                )
            )
            _, arg, fn = route
            return await fn(conn, actor, arg, text, out)

    def _set_aside_key(self, kind: str) -> str:
        key = f"route.set_aside_{kind}"
        return key if self.core.c.has_string(key) else "route.set_aside"

    def _gone(self, actor: Actor, text: str, message_id: int | None, out: Outcome) -> Outcome:
        """The chosen flow stopped waiting meanwhile: nothing sent, and the words handed back."""
        return out.say(
            Msg(actor.chat_id, self.core.t("route.gone", text=text), edit_message_id=message_id)
        )

    async def sweep(self) -> list[int]:
        """Everything due at the clock's now, feature by feature; returns queued outbox ids."""
        queued: list[int] = []
        for feature in self.features:
            queued += await feature.sweep()
        await self.operations.after_sweep(self.core.clock.now())
        return queued
