"""Pairing and onboarding: the first journey, as a state machine in the database.

States (docs/architecture.md has the diagram):
  invite:  live -> used | replaced | expired
  group:   no votes -> one vote -> linked (both members, nobody else) | refused (votes cleared)
  couple:  timezone -> day -> time -> active -> dissolved
Every transition is one transaction; every button press is re-checked against
the presser, because callback data can be forged.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import time

from bot import schedule
from bot.callbacks import cb
from bot.core import Actor, ChatInspector, Core, Couple
from bot.db import Conn, Row, fetch_all, fetch_one
from bot.messages import Button, Msg, Outcome, rows

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")
HELLO = "hello"  # deep-link payload that only opens the private chat
COMMON_ZONES = (
    "Europe/London",
    "Europe/Berlin",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
)
TIME_CHOICES = ("08:00", "12:00", "18:00", "19:00", "20:00", "21:00")


log = logging.getLogger(__name__)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# Told, in the same transaction, that a conversation moved with its couple's group
# (Services wires it to the conversation, which shows its step where it now is);
# called with the conversation's id, returns new outbox ids.
GroupChanged = Callable[[Conn, int], Awaitable[list[int]]]


class Pairing:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.on_group_changed: GroupChanged | None = None

    # -- links ---------------------------------------------------------------

    def link(self, payload: str) -> str:
        return f"https://t.me/{self.core.bot_username}?start={payload}"

    def group_link(self, payload: str) -> str:
        return f"https://t.me/{self.core.bot_username}?startgroup={payload}"

    async def _new_invite(
        self, conn: Conn, inviter: int, kind: str, couple_id: int | None = None
    ) -> str:
        """A fresh single-use token; the inviter's previous live one of this kind is replaced."""
        now = self.core.now()
        await conn.execute(
            "UPDATE invites SET used_at = ? WHERE inviter_id = ? AND kind = ? AND used_at IS NULL",
            (now, inviter, kind),
        )
        token = secrets.token_urlsafe(16)  # 128 bits, 22 URL-safe characters
        await conn.execute(
            "INSERT INTO invites (token_hash, inviter_id, kind, couple_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                token_hash(token),
                inviter,
                kind,
                couple_id,
                now,
                now + int(self.core.settings.invite_ttl.total_seconds()),
            ),
        )
        return token

    # -- /start in a private chat -------------------------------------------

    async def start(self, actor: Actor, payload: str | None) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            known = await fetch_one(
                conn, "SELECT private_chat FROM users WHERE id = ?", (actor.user_id,)
            )
            first_private = known is None or not known["private_chat"]
            await self.core.touch_user(conn, actor)
            couple = await self.core.couple_of(conn, actor.user_id)
            if payload and payload != HELLO:
                return await self._open_invite(conn, actor, payload, couple, out)
            if couple is None:
                token = await self._new_invite(conn, actor.user_id, "partner")
                link = self.link(token)
                out.say(
                    Msg(
                        actor.chat_id,
                        self.core.t(
                            "pair.welcome",
                            name=actor.first_name,
                            link=link,
                            days=self.core.settings.invite_ttl_days,
                        ),
                        rows([Button(self.core.t("pair.share_button"), share=link)]),
                    )
                )
                return out
            partner = await self.core.first_name(conn, couple.partner_of(actor.user_id))
            out.say(Msg(actor.chat_id, self.core.t("pair.welcome_back", partner=partner)))
            if first_private:  # the group hears of it once, not at every /start
                out.queued += await self._announce_private_started(conn, couple)
            if couple.stage not in ("active", "dissolved"):  # where setup stands, here too
                out.say(await self.setup_step(conn, couple, actor.chat_id))
        return out

    async def _invite_problem(
        self, conn: Conn, actor: Actor, token: str, couple: Couple | None
    ) -> tuple[str | None, Row | None]:
        """Why `token` cannot pair `actor` (a strings key), or None with the invite row."""
        if not TOKEN_RE.match(token):
            return "invite.malformed", None
        row = await fetch_one(
            conn,
            "SELECT i.*, u.first_name AS inviter_name FROM invites i "
            "JOIN users u ON u.id = i.inviter_id WHERE token_hash = ? AND kind = 'partner'",
            (token_hash(token),),
        )
        if row is None:
            return "invite.unknown", None
        if row["inviter_id"] == actor.user_id:
            return "invite.self", row
        # Who is paired comes first: an old link of your own partner's is not "replaced".
        if couple is not None and couple.has(row["inviter_id"]):
            return "invite.already_yours", row
        if couple is not None:
            return "invite.you_are_paired", row
        if row["used_by"] is not None:
            return "invite.used", row
        if await self.core.couple_of(conn, row["inviter_id"]) is not None:
            return "invite.inviter_paired", row
        if row["used_at"] is not None:
            return "invite.replaced", row
        if row["expires_at"] <= self.core.now():
            return "invite.expired", row
        return None, row

    async def _open_invite(
        self,
        conn: Conn,
        actor: Actor,
        token: str,
        couple: Couple | None,
        out: Outcome,
    ) -> Outcome:
        problem, row = await self._invite_problem(conn, actor, token, couple)
        inviter = row["inviter_name"] if row else ""
        if problem:
            partner = ""
            if couple is not None:
                partner = await self.core.first_name(conn, couple.partner_of(actor.user_id))
            return out.say(
                Msg(actor.chat_id, self.core.t(problem, inviter=inviter, partner=partner))
            )
        return out.say(
            Msg(
                actor.chat_id,
                self.core.t("invite.confirm", inviter=inviter, name=actor.first_name),
                rows(
                    [
                        Button(self.core.t("invite.yes"), cb("inv", "ok", token)),
                        Button(self.core.t("invite.no"), cb("inv", "no", token)),
                    ]
                ),
            )
        )

    async def confirm_invite(self, actor: Actor, token: str, message_id: int | None) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            await self.core.touch_user(conn, actor)
            couple = await self.core.couple_of(conn, actor.user_id)
            problem, row = await self._invite_problem(conn, actor, token, couple)
            if problem or row is None:
                inviter = row["inviter_name"] if row else ""
                partner = ""
                if couple is not None:
                    partner = await self.core.first_name(conn, couple.partner_of(actor.user_id))
                out.toast = self.core.t("common.nothing_changed")
                return out.say(
                    Msg(
                        actor.chat_id,
                        self.core.t(problem or "invite.unknown", inviter=inviter, partner=partner),
                    )
                )
            now = self.core.now()
            await conn.execute(
                "UPDATE invites SET used_at = ?, used_by = ? WHERE token_hash = ?",
                (now, actor.user_id, token_hash(token)),
            )
            # The invitee may hold a live invite of their own: it is no longer needed.
            await conn.execute(
                "UPDATE invites SET used_at = ? WHERE inviter_id = ? AND used_at IS NULL",
                (now, actor.user_id),
            )
            couple = await self._create_couple(conn, row["inviter_id"], actor.user_id, None)
            inviter = row["inviter_name"]
            out.say(
                Msg(
                    actor.chat_id,
                    self.core.t("pair.done_invitee", partner=inviter),
                    edit_message_id=message_id,
                )
            )
            async with self.core.to(conn, couple.user_a):  # the inviter's own language
                told = [
                    Msg(couple.user_a, self.core.t("pair.done_inviter", partner=actor.first_name)),
                    await self.setup_step(conn, couple, couple.user_a),
                ]
            out.queued += await self.core.queue_all(conn, told)
        return out

    async def decline_invite(self, actor: Actor, message_id: int | None) -> Outcome:
        out = Outcome(toast=self.core.t("common.nothing_changed"))
        return out.say(
            Msg(actor.chat_id, self.core.t("invite.declined"), edit_message_id=message_id)
        )

    async def _create_couple(
        self, conn: Conn, user_a: int, user_b: int, group_chat_id: int | None
    ) -> Couple:
        cur = await conn.execute(
            "INSERT INTO couples (user_a, user_b, group_chat_id, timezone, created_at) "
            "VALUES (?, ?, ?, NULL, ?)",
            (user_a, user_b, group_chat_id, self.core.now()),
        )
        couple_id = cur.lastrowid
        await conn.executemany(
            "INSERT INTO members (user_id, couple_id) VALUES (?, ?)",
            [(user_a, couple_id), (user_b, couple_id)],
        )
        await self.core.set_awaiting(conn, user_a, f"tz:{couple_id}")
        couple = await self.core.couple_by_id(conn, int(couple_id or 0))
        assert couple is not None
        return couple

    # -- onboarding: time zone, day, time -----------------------------------

    async def setup_step(self, conn: Conn, couple: Couple, chat_id: int) -> Msg:
        """The setup step that waits, for `chat_id` (wherever someone asks where setup
        stands: /start, /settings, a button from a step already answered). In a private
        chat a step that takes typed text (a zone's name, a time) is armed for it, since
        the prompt says so."""
        c = couple.id
        typed = {"timezone": f"tz:{c}", "time": f"time:{c}"}.get(couple.stage)
        if chat_id > 0 and typed is not None:
            await self.core.set_awaiting(conn, chat_id, typed)
        if couple.stage == "timezone":
            zone_buttons = [
                Button(z.split("/")[-1].replace("_", " "), cb("ob", "tz", c, z))
                for z in COMMON_ZONES
            ]
            # In a group the bot may not see typed replies: point at /timezone there.
            return Msg(
                chat_id,
                self.core.t("onboard.timezone" if chat_id > 0 else "onboard.timezone_group"),
                tuple(tuple(zone_buttons[i : i + 2]) for i in range(0, len(zone_buttons), 2)),
            )
        if couple.stage == "day":
            days = [
                Button(d[:1].upper() + d[1:], cb("ob", "day", c, n))
                for n, d in enumerate(schedule.day_names(self.core.lang, "abbreviated"))
            ]
            return Msg(
                chat_id,
                self.core.t("onboard.day"),
                rows(
                    days[:4],
                    days[4:],
                    [Button(self.core.t("onboard.keep_default"), cb("ob", "keep", c))],
                ),
            )
        times = [Button(t, cb("ob", "time", c, t.replace(":", ""))) for t in TIME_CHOICES]
        key = "onboard.time" if chat_id > 0 else "onboard.time_group"
        return Msg(chat_id, self.core.t(key), rows(times[:3], times[3:]))

    async def _couple_for_press(
        self, conn: Conn, actor: Actor, couple_id: int | None
    ) -> Couple | None:
        if couple_id is None:
            return None
        couple = await self.core.couple_by_id(conn, couple_id)
        if couple is None or not couple.has(actor.user_id):
            return None
        return couple

    async def onboarding_press(
        self, actor: Actor, step: str, couple_id: int | None, value: str, message_id: int | None
    ) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self._couple_for_press(conn, actor, couple_id)
            if couple is None:
                out.toast, out.alert = self.core.t("common.not_yours"), True
                return out
            expected = {"tz": "timezone", "day": "day", "keep": "day", "time": "time"}.get(step)
            if expected is None or couple.stage != expected:
                if couple.stage in ("active", "dissolved"):
                    out.toast = self.core.t("onboard.stale")
                    return out
                # Setup goes on, a step further than this button (its answer may never
                # have arrived, lost with a crashed process): show the step that waits.
                out.toast = self.core.t("onboard.stale_next")
                return out.say(await self.setup_step(conn, couple, actor.chat_id))
            if step == "tz":
                zone = schedule.valid_zone(value)
                if zone is None:
                    out.toast = self.core.t("common.nothing_changed")
                    return out
                return await self.set_zone(conn, actor, couple, zone, message_id, out)
            if step == "keep":
                return await self._finish(conn, actor, couple, 6, "19:00", message_id, out)
            if step == "day":
                try:
                    day = int(value)
                except ValueError:
                    day = -1
                if not 0 <= day <= 6:
                    out.toast = self.core.t("common.nothing_changed")
                    return out
                await conn.execute(
                    "UPDATE couples SET weekday = ?, stage = 'time' WHERE id = ?", (day, couple.id)
                )
                await self.core.set_awaiting(conn, actor.user_id, f"time:{couple.id}")
                couple = await self.core.couple_by_id(conn, couple.id)
                assert couple is not None
                out.say(
                    Msg(
                        actor.chat_id,
                        self.core.t("onboard.day_set", day=schedule.day_names(self.core.lang)[day]),
                        edit_message_id=message_id,
                    )
                )
                out.say(await self.setup_step(conn, couple, actor.chat_id))
                return out
            parsed = schedule.parse_hhmm(value[:2] + ":" + value[2:]) if len(value) == 4 else None
            if parsed is None:
                out.toast = self.core.t("common.nothing_changed")
                return out
            return await self._finish(
                conn, actor, couple, couple.weekday, f"{parsed:%H:%M}", message_id, out
            )

    async def set_zone(
        self,
        conn: Conn,
        actor: Actor,
        couple: Couple,
        zone: str,
        message_id: int | None,
        out: Outcome,
    ) -> Outcome:
        await conn.execute(
            "UPDATE couples SET timezone = ?, stage = 'day' WHERE id = ?", (zone, couple.id)
        )
        await self.core.set_awaiting(conn, actor.user_id, None)
        updated = await self.core.couple_by_id(conn, couple.id)
        assert updated is not None
        out.say(
            Msg(actor.chat_id, self.core.t("onboard.tz_set", zone=zone), edit_message_id=message_id)
        )
        out.say(await self.setup_step(conn, updated, actor.chat_id))
        return out

    async def _finish(
        self,
        conn: Conn,
        actor: Actor,
        couple: Couple,
        weekday: int,
        local_time: str,
        message_id: int | None,
        out: Outcome,
    ) -> Outcome:
        tz = couple.timezone or self.core.settings.default_timezone
        at = schedule.parse_hhmm(local_time)
        assert at is not None
        due = schedule.next_due(tz, weekday, at, self.core.clock.now())
        await conn.execute(
            "UPDATE couples SET weekday = ?, local_time = ?, stage = 'active', next_due_at = ? "
            "WHERE id = ?",
            (weekday, local_time, schedule.ts(due), couple.id),
        )
        await self.core.set_awaiting(conn, actor.user_id, None)
        when = schedule.human(due, tz, self.core.lang)
        out.say(
            Msg(actor.chat_id, self.core.t("onboard.done", when=when), edit_message_id=message_id)
        )
        partner = couple.partner_of(actor.user_id)
        if actor.private:
            async with self.core.to(conn, partner):
                told = Msg(
                    partner,
                    self.core.t(
                        "onboard.done_partner",
                        name=actor.first_name,
                        when=schedule.human(due, tz, self.core.lang),
                    ),
                )
            out.queued += await self.core.queue_all(conn, [told])
        if couple.group_chat_id is None:
            token = await self._new_invite(conn, couple.user_a, "group", couple.id)
            offer = Msg(
                actor.chat_id,
                self.core.t("group.offer"),
                rows([Button(self.core.t("group.offer_button"), url=self.group_link(token))]),
            )
            out.say(offer)
        return out

    async def typed_zone(
        self, conn: Conn, actor: Actor, couple_id: int, text: str, out: Outcome
    ) -> Outcome:
        couple = await self._couple_for_press(conn, actor, couple_id)
        if couple is None or couple.stage != "timezone":
            await self.core.set_awaiting(conn, actor.user_id, None)
            return out.say(Msg(actor.chat_id, self.core.t("common.unasked")))
        zone = schedule.valid_zone(text)
        if zone is None:
            return out.say(Msg(actor.chat_id, self.core.t("onboard.bad_zone", text=text[:40])))
        return await self.set_zone(conn, actor, couple, zone, None, out)

    async def typed_time(
        self, conn: Conn, actor: Actor, couple_id: int, text: str, out: Outcome
    ) -> Outcome:
        couple = await self._couple_for_press(conn, actor, couple_id)
        if couple is None or couple.stage != "time":
            await self.core.set_awaiting(conn, actor.user_id, None)
            return out.say(Msg(actor.chat_id, self.core.t("common.unasked")))
        parsed = schedule.parse_hhmm(text)
        if parsed is None:
            return out.say(Msg(actor.chat_id, self.core.t("onboard.bad_time")))
        return await self._finish(conn, actor, couple, couple.weekday, f"{parsed:%H:%M}", None, out)

    async def reschedule(self, conn: Conn, couple_id: int, chat_id: int) -> Msg:
        """Recompute the next due moment after any schedule change and say it plainly."""
        couple = await self.core.couple_by_id(conn, couple_id)
        assert couple is not None
        tz = couple.timezone or self.core.settings.default_timezone
        at = schedule.parse_hhmm(couple.local_time)
        assert at is not None
        not_before = schedule.from_ts(couple.paused_until) if couple.paused_until else None
        due = schedule.next_due(
            tz, couple.weekday, at, self.core.clock.now(), not_before=not_before
        )
        await conn.execute(
            "UPDATE couples SET next_due_at = ? WHERE id = ?", (schedule.ts(due), couple_id)
        )
        return Msg(
            chat_id, self.core.t("settings.next", when=schedule.human(due, tz, self.core.lang))
        )

    # -- group-first ----------------------------------------------------------

    async def group_hello(self, actor: Actor) -> Outcome:
        """The bot was added to a group, or someone sent /pair there."""
        out = Outcome()
        async with self.core.db.tx() as conn:
            await self.core.touch_user(conn, actor)
            linked = await self.core.couple_by_group(conn, actor.chat_id)
            if linked is not None:
                a = await self.core.first_name(conn, linked.user_a)
                b = await self.core.first_name(conn, linked.user_b)
                return out.say(Msg(actor.chat_id, self.core.t("group.already_linked", a=a, b=b)))
            await conn.execute("DELETE FROM group_votes WHERE chat_id = ?", (actor.chat_id,))
        return out.say(
            Msg(
                actor.chat_id,
                self.core.t("group.hello"),
                rows([Button(self.core.t("group.im_in"), cb("gp", "in"))]),
            )
        )

    async def group_vote(self, actor: Actor, inspector: ChatInspector) -> Outcome:
        """A press on "I'm in". The second distinct press runs the membership checks.

        Telegram is asked about the members before the one transaction that records the
        vote and, with the second, links the group: a vote is never committed (with the
        update's mark) while its link is still to come, which a kill in between once
        left undone for good, every later press answering "you're already in"."""
        out = Outcome()
        chat = actor.chat_id
        async with self.core.db.look() as conn:  # reads only: no mark yet
            refused, voters = await self._vote_state(conn, actor, out)
        if refused:
            return out
        checks = await self._members(chat, voters[0], actor.user_id, inspector) if voters else None
        async with self.core.db.tx() as conn:
            await self.core.touch_user(conn, actor)
            # Updates of one chat run in order (handlers/processor.py), so what was read
            # above still holds; read again all the same, inside the transaction.
            refused, now = await self._vote_state(conn, actor, out)
            if refused:
                return out
            if not now:
                await conn.execute(
                    "INSERT INTO group_votes (chat_id, user_id, at) VALUES (?, ?, ?)",
                    (chat, actor.user_id, self.core.now()),
                )
                out.toast = self.core.t("group.in_waiting")
                return out.say(Msg(chat, self.core.t("group.first_in", name=actor.first_name)))
            if checks is None or now[0] != voters[0]:  # cannot happen (see above): say so
                out.toast, out.alert = self.core.t("common.stale"), True
                return out
            return await self._link_in(conn, chat, now[0], actor.user_id, checks, out)

    async def _vote_state(self, conn: Conn, actor: Actor, out: Outcome) -> tuple[bool, list[int]]:
        """(refused, the earlier voters) for a press on "I'm in"; a refusal's toast is set."""
        chat = actor.chat_id
        linked = await self.core.couple_by_group(conn, chat)
        if linked is not None:
            key = "group.you_are_linked" if linked.has(actor.user_id) else "group.not_for_you"
            out.toast, out.alert = self.core.t(key), True
            return True, []
        voters = [
            r["user_id"]
            for r in await fetch_all(
                conn,
                "SELECT user_id FROM group_votes WHERE chat_id = ? ORDER BY at, rowid",
                (chat,),
            )
        ]
        if actor.user_id in voters:
            out.toast = self.core.t("group.already_in")
            return True, voters
        own = await self.core.couple_of(conn, actor.user_id)
        # Already paired: fine if the other voter (if any yet) is the partner.
        if own is not None and voters and not own.has(voters[0]):
            partner = await self.core.first_name(conn, own.partner_of(actor.user_id))
            out.toast, out.alert = self.core.t("group.paired_elsewhere", partner=partner), True
            return True, voters
        return False, voters

    async def group_start(self, actor: Actor, token: str, inspector: ChatInspector) -> Outcome:
        """`/start <token>` in a group: the bot was added through a `?startgroup=` link.
        As with the votes, Telegram is asked first and the link is one transaction."""
        out = Outcome()
        async with self.core.db.look() as conn:  # reads only: no mark yet
            couple = await self._group_invite(conn, actor, token)
        if couple is None:
            return out.say(Msg(actor.chat_id, self.core.t("group.bad_link")))
        checks = await self._members(actor.chat_id, couple.user_a, couple.user_b, inspector)
        async with self.core.db.tx() as conn:
            await self.core.touch_user(conn, actor)
            if await self._group_invite(conn, actor, token) is None:
                return out.say(Msg(actor.chat_id, self.core.t("group.bad_link")))
            return await self._link_in(
                conn, actor.chat_id, couple.user_a, couple.user_b, checks, out
            )

    async def _group_invite(self, conn: Conn, actor: Actor, token: str) -> Couple | None:
        """The couple a group link is for, if it is valid and `actor` is one of them."""
        if not TOKEN_RE.match(token):
            return None
        row = await fetch_one(
            conn,
            "SELECT couple_id FROM invites WHERE token_hash = ? AND kind = 'group' "
            "AND used_at IS NULL AND expires_at > ?",
            (token_hash(token), self.core.now()),
        )
        couple = await self.core.couple_by_id(conn, row["couple_id"]) if row else None
        return couple if couple is not None and couple.has(actor.user_id) else None

    @staticmethod
    async def _members(
        chat: int, first: int, second: int, inspector: ChatInspector
    ) -> tuple[list[bool], int]:
        """What Telegram says of the group: are both in it, and how many are there. Asked
        outside any transaction: the database is never held across the network."""
        members_ok = [await inspector.is_member(chat, u) for u in (first, second)]
        return members_ok, await inspector.member_count(chat)

    async def _link_in(
        self,
        conn: Conn,
        chat: int,
        first: int,
        second: int,
        checks: tuple[list[bool], int],
        out: Outcome,
    ) -> Outcome:
        """Link `chat` to the pair of `first` and `second` (a new couple, or theirs), in
        the caller's transaction, or say why not; the group's votes are spent either way."""
        members_ok, count = checks
        names = [await self.core.first_name(conn, u) for u in (first, second)]
        problem = None
        if not all(members_ok):
            missing = [n for n, ok in zip(names, members_ok, strict=True) if not ok]
            problem = self.core.t("group.partner_missing", names=self.core.and_list(missing))
        elif count != 3:
            problem = self.core.t("group.stranger", count=count)
        couples = [await self.core.couple_of(conn, u) for u in (first, second)]
        if problem is None:
            for name, c in zip(names, couples, strict=True):
                if c is not None and not (c.has(first) and c.has(second)):
                    problem = self.core.t("group.someone_paired_elsewhere", name=name)
        if problem is None and await self.core.couple_by_group(conn, chat) is not None:
            problem = self.core.t("group.not_for_you")
        await conn.execute("DELETE FROM group_votes WHERE chat_id = ?", (chat,))
        if problem is not None:
            return out.say(Msg(chat, problem + "\n\n" + self.core.t("common.nothing_changed")))
        couple = couples[0]
        if couple is None:
            couple = await self._create_couple(conn, first, second, chat)
        else:
            out.queued += await self._set_group(conn, couple, chat, "group_changed")
            await conn.execute(
                "UPDATE invites SET used_at = ? WHERE couple_id = ? AND kind = 'group' "
                "AND used_at IS NULL",
                (self.core.now(), couple.id),
            )
            couple = await self.core.couple_by_id(conn, couple.id)
            assert couple is not None
        out.say(Msg(chat, self.core.t("group.linked", a=names[0], b=names[1])))
        waiting = await self._private_status(conn, couple)
        if waiting is not None:
            out.say(waiting)
        if couple.stage != "active":
            out.say(await self.setup_step(conn, couple, chat))
        return out

    async def _private_status(self, conn: Conn, couple: Couple) -> Msg | None:
        """In the group: who still has to open a private chat with the bot."""
        assert couple.group_chat_id is not None
        missing = [
            r["first_name"]
            for r in await fetch_all(
                conn,
                "SELECT first_name FROM users WHERE id IN (?, ?) AND private_chat = 0 ORDER BY id",
                couple.users,
            )
        ]
        if not missing:
            return None
        return Msg(
            couple.group_chat_id,
            self.core.t("group.open_private", names=self.core.and_list(missing)),
            rows([Button(self.core.t("group.open_private_button"), url=self.link(HELLO))]),
        )

    async def _announce_private_started(self, conn: Conn, couple: Couple) -> list[int]:
        if couple.group_chat_id is None:
            return []
        async with self.core.to(conn, couple.group_chat_id):
            waiting = await self._private_status(conn, couple)
            msg = waiting or Msg(couple.group_chat_id, self.core.t("group.all_private"))
        return await self.core.queue_all(conn, [msg])

    async def bot_left_group(self, chat_id: int) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            await conn.execute("DELETE FROM group_votes WHERE chat_id = ?", (chat_id,))
            couple = await self.core.couple_by_group(conn, chat_id)
            if couple is None:
                return out
            out.queued += await self._set_group(conn, couple, None, "bot_removed")
            told = []
            for u in couple.users:
                async with self.core.to(conn, u):
                    told.append(Msg(u, self.core.t("group.removed")))
            out.queued += await self.core.queue_all(conn, told)
        return out

    async def members_joined(self, chat_id: int, user_ids: list[int]) -> Outcome:
        """People joined a group: anyone but the two partners unlinks the couple's group."""
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.couple_by_group(conn, chat_id)
            if couple is None or all(couple.has(u) for u in user_ids):
                return out
            out.queued += await self._unlink_shared(conn, couple, chat_id, "stranger")
        return out

    async def member_left(self, chat_id: int, user_id: int) -> Outcome:
        """Someone left a group: a partner leaving ends its use as the couple's group."""
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.couple_by_group(conn, chat_id)
            if couple is None or not couple.has(user_id):
                return out
            out.queued += await self._unlink_shared(conn, couple, chat_id, "partner_left")
        return out

    async def group_partners(self, chat_id: int) -> tuple[int, int] | None:
        """The two partners whose linked group this is (None: not a couple's group)."""
        async with self.core.db.look() as conn:
            couple = await self.core.couple_by_group(conn, chat_id)
        return None if couple is None else couple.users

    async def group_checked(
        self, chat_id: int, member_count: int, partners_present: bool
    ) -> list[int] | None:
        """Before anything goes to a couple's group: None if it may (exactly the two
        partners and the bot in it); else the group is unlinked at once and what it was
        owed goes privately (the new outbox ids). The count alone is not enough: once a
        partner has left, one stranger makes three again."""
        if member_count == 3 and partners_present:
            return None
        why = "stranger" if member_count > 3 or partners_present else "partner_left"
        async with self.core.db.tx() as conn:
            couple = await self.core.couple_by_group(conn, chat_id)
            if couple is None:
                return None
            return await self._unlink_shared(conn, couple, chat_id, why)

    async def _set_group(self, conn: Conn, couple: Couple, chat: int | None, why: str) -> list[int]:
        """The one place a couple's group changes (a new group, or none). An open
        conversation held in the old group follows (to the new group, or to both private
        chats), and what the old group was still owed goes to both private chats instead:
        nothing of theirs may reach a group that is no longer theirs. Returns the new
        outbox ids."""
        old = couple.group_chat_id
        await conn.execute("UPDATE couples SET group_chat_id = ? WHERE id = ?", (chat, couple.id))
        if old is None or old == chat:
            return []
        held_there = await fetch_all(
            conn,
            "SELECT id FROM conflict_conversations WHERE couple_id = ? AND group_chat_id = ? "
            "AND state NOT IN ('closed', 'ended')",
            (couple.id, old),
        )
        await conn.executemany(
            "UPDATE conflict_conversations SET group_chat_id = ?, live_initiator = NULL, "
            "live_partner = NULL WHERE id = ?",
            [(chat, r["id"]) for r in held_there],
        )
        queued = await self.core.reroute_owed(conn, old, couple.users, why)
        if self.on_group_changed is not None:
            for r in held_there:
                queued += await self.on_group_changed(conn, r["id"])
        return queued

    async def _unlink_shared(self, conn: Conn, couple: Couple, chat_id: int, why: str) -> list[int]:
        """The couple's group holds someone else, or lacks one of them: nothing of theirs
        may reach it any more. `why`: 'stranger' or 'partner_left'."""
        log.info(
            "couple %s: group %s is no longer theirs alone (%s); unlinked", couple.id, chat_id, why
        )
        private, public = (
            ("group.stranger_unlinked", "group.unlinked_public")
            if why == "stranger"
            else ("group.partner_left_unlinked", "group.left_public")
        )
        queued: list[int] = []
        for user in couple.users:  # each partner reads it in their own language
            async with self.core.to(conn, user):
                told = Msg(user, self.core.t(private))
            queued += await self.core.queue_all(conn, [told])
        queued += await self._set_group(conn, couple, None, "group_unlinked")
        async with self.core.to(conn, chat_id):
            notice = Msg(chat_id, self.core.t(public))
        queued += await self.core.queue_all(conn, [notice])
        return queued

    async def set_reachable(self, user_id: int, reachable: bool) -> None:
        async with self.core.db.tx() as conn:
            await conn.execute(
                "UPDATE users SET reachable = ? WHERE id = ?", (int(reachable), user_id)
            )

    # -- /status, /unpair ---------------------------------------------------

    async def status(self, actor: Actor) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.paired(conn, actor, out, unpaired="status.unpaired")
            # The language this chat reads in (yours in private, the group's in the group).
            language = self.core.t("language.status", language=self.core.c.t("language.name"))
            if couple is None:
                if out.reply and out.reply[-1].chat_id == actor.chat_id and actor.private:
                    last = out.unsay()
                    out.say(Msg(actor.chat_id, f"{last.text}\n\n{language}"))
                return out
            partner = await self.core.first_name(conn, couple.partner_of(actor.user_id))
            tz = couple.timezone or self.core.t("status.not_set")
            if couple.next_due_at:
                nxt = schedule.human(
                    schedule.from_ts(couple.next_due_at),
                    couple.timezone or self.core.settings.default_timezone,
                    self.core.lang,
                )
            else:
                nxt = self.core.t("status.not_scheduled")
            group = self.core.t("status.group_yes" if couple.group_chat_id else "status.group_no")
            at = schedule.parse_hhmm(couple.local_time) or time(19)
            text = self.core.t(
                "status.paired",
                partner=partner,
                group=group,
                tz=tz,
                day=schedule.day_names(self.core.lang)[couple.weekday],
                time=f"{at:%H:%M}",
                next=nxt,
                quiet=self.core.quiet(couple).label(),
                reminders=self.core.t("status.on" if couple.reminders else "status.off"),
            )
            if self.core.paused(couple):
                assert couple.paused_until is not None
                until = schedule.human(
                    schedule.from_ts(couple.paused_until), self.core.zone(couple), self.core.lang
                )
                text += "\n" + self.core.t("status.paused", until=until)
            out.say(Msg(actor.chat_id, f"{text}\n{language}"))
        return out

    async def unpair_ask(self, actor: Actor) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.paired(conn, actor, out)
            if couple is None:
                return out
            partner = await self.core.first_name(conn, couple.partner_of(actor.user_id))
        return out.say(
            Msg(
                actor.chat_id,
                self.core.t("unpair.ask", partner=partner),
                rows(
                    [
                        Button(self.core.t("unpair.yes"), cb("up", "yes", couple.id)),
                        Button(self.core.t("unpair.no"), cb("up", "no", couple.id)),
                    ]
                ),
            )
        )

    async def unpair_press(
        self, actor: Actor, yes: bool, couple_id: int | None, message_id: int | None
    ) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self._couple_for_press(conn, actor, couple_id)
            if couple is None:
                out.toast, out.alert = self.core.t("common.stale"), True
                return out
            if not yes:
                return out.say(
                    Msg(actor.chat_id, self.core.t("unpair.kept"), edit_message_id=message_id)
                )
            out.queued += await self.dissolve(conn, couple)
            out.say(Msg(actor.chat_id, self.core.t("unpair.done"), edit_message_id=message_id))
            partner = couple.partner_of(actor.user_id)
            async with self.core.to(conn, partner):
                told = Msg(partner, self.core.t("unpair.partner_told", name=actor.first_name))
            out.queued += await self.core.queue_all(conn, [told])
        return out

    async def dissolve(self, conn: Conn, couple: Couple) -> list[int]:
        """The pair ends: every flow of theirs with it. What their group was still owed
        goes to both private chats (returned: the new outbox ids), never to a group that
        is nobody's now."""
        now = self.core.now()
        await conn.execute(
            "UPDATE couples SET stage = 'dissolved', dissolved_at = ?, next_due_at = NULL "
            "WHERE id = ?",
            (now, couple.id),
        )
        await conn.execute("DELETE FROM members WHERE couple_id = ?", (couple.id,))
        # Flows of two people end with the pair: nothing of them may go on or nudge anyone.
        await conn.execute(
            "UPDATE checkins SET status = 'expired', closed_at = ?, remind_at = NULL "
            "WHERE couple_id = ? AND status = 'open'",
            (now, couple.id),
        )
        await conn.execute(
            "UPDATE conflict_conversations SET state = 'ended', closed_at = ?, resume_at = NULL, "
            "idle_nudge_at = NULL, park_at = NULL "
            "WHERE couple_id = ? AND state NOT IN ('closed', 'ended')",
            (now, couple.id),
        )
        await conn.execute(
            "UPDATE invites SET used_at = ? WHERE couple_id = ? AND used_at IS NULL",
            (now, couple.id),
        )
        await conn.executemany(
            "UPDATE users SET awaiting = NULL WHERE id = ?", [(u,) for u in couple.users]
        )
        # Last: with their flows ended, nothing of them is shown anywhere again.
        return await self._set_group(conn, couple, None, "unpaired")
