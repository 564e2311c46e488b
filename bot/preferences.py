"""/settings: time zone, day, time, pause, reminders and where reveals go.

Every change recomputes the next due moment in the same transaction and is
confirmed in plain words to the one who made it, and told to the partner.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time

from bot import schedule
from bot.callbacks import cb
from bot.core import Actor, Core, Couple, Safe
from bot.db import Conn
from bot.messages import Button, Msg, Outcome, rows
from bot.pairing import COMMON_ZONES, TIME_CHOICES, Pairing

# Quiet-hour windows offered in /settings (couple-local; the first is the default).
QUIET_CHOICES = (
    ("22:00", "08:00"),
    ("21:00", "07:00"),
    ("23:00", "08:00"),
    ("22:00", "09:00"),
    ("23:00", "07:00"),
    ("00:00", "07:00"),
)


class Refused(Exception):
    """A setting that cannot be taken as asked; the message says why and what to do."""


class Preferences:
    def __init__(self, core: Core, pairing: Pairing) -> None:
        self.core = core
        self.pairing = pairing

    def _paused(self, couple: Couple) -> bool:
        return couple.paused_until is not None and couple.paused_until > self.core.now()

    def _card(self, couple: Couple, chat_id: int, note: str = "", edit: int | None = None) -> Msg:
        c = couple.id
        tz = couple.timezone or self.core.settings.default_timezone
        paused = self._paused(couple)
        nxt = (
            schedule.human(schedule.from_ts(couple.next_due_at), tz, self.core.lang)
            if couple.next_due_at
            else self.core.t("status.not_scheduled")
        )
        text = self.core.t(
            "prefs.card",
            tz=tz,
            day=schedule.day_names(self.core.lang)[couple.weekday],
            time=couple.local_time,
            reminders=self.core.t("status.on" if couple.reminders else "status.off"),
            reveal=self.core.t(
                "prefs.reveal_" + ("group" if couple.reveal_to == "group" else "private")
            ),
            next=nxt,
            quiet=self.core.quiet(couple).label(),
        )
        if paused and couple.paused_until:
            text += "\n" + self.core.t(
                "prefs.paused_until",
                when=schedule.human(schedule.from_ts(couple.paused_until), tz, self.core.lang),
            )
        if note:
            text = note + "\n\n" + text
        pause_row = (
            [Button(self.core.t("prefs.resume"), cb("st", c, "resume"))]
            if paused
            else [
                Button(self.core.t("prefs.pause", n=n), cb("st", c, "pause", n))
                for n in (1, 2, 3, 4)
            ]
        )
        buttons = rows(
            [
                Button(self.core.t("prefs.tz_button"), cb("st", c, "menu", "tz")),
                Button(self.core.t("prefs.day_button"), cb("st", c, "menu", "day")),
                Button(self.core.t("prefs.time_button"), cb("st", c, "menu", "time")),
            ],
            pause_row,
            [
                Button(self.core.t("prefs.reminders_button"), cb("st", c, "reminders")),
                Button(self.core.t("prefs.reveal_button"), cb("st", c, "reveal")),
            ],
            [Button(self.core.t("prefs.quiet_button"), cb("st", c, "menu", "quiet"))],
            [Button(self.core.t("language.group"), cb("st", c, "menu", "lang"))]
            if couple.group_chat_id is not None
            else [],
        )
        return Msg(chat_id, text, buttons, edit_message_id=edit)

    async def show(self, actor: Actor) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.paired(conn, actor, out)
            if couple is None:
                return out
            if couple.stage != "active":  # nothing to change yet: the step that waits
                out.say(Msg(actor.chat_id, self.core.t("checkin.finish_setup")))
                return out.say(await self.pairing.setup_step(conn, couple, actor.chat_id))
            return out.say(self._card(couple, actor.chat_id))

    def _menu(self, couple: Couple, chat_id: int, which: str, edit: int | None) -> Msg:
        c = couple.id
        if which == "tz":
            zones = [
                Button(z.split("/")[-1].replace("_", " "), cb("st", c, "tz", z))
                for z in COMMON_ZONES
            ]
            grid = tuple(tuple(zones[i : i + 2]) for i in range(0, len(zones), 2))
            return Msg(chat_id, self.core.t("prefs.pick_tz"), grid, edit_message_id=edit)
        if which == "day":
            days = [
                Button(d[:1].upper() + d[1:], cb("st", c, "day", n))
                for n, d in enumerate(schedule.day_names(self.core.lang, "abbreviated"))
            ]
            return Msg(
                chat_id, self.core.t("onboard.day"), rows(days[:4], days[4:]), edit_message_id=edit
            )
        if which == "lang":
            langs = [
                Button(cat.t("language.name"), cb("st", c, "glang", code))
                for code, cat in self.core.catalogues.items()
            ]
            return Msg(chat_id, self.core.t("language.group"), rows(langs), edit_message_id=edit)
        if which == "quiet":
            windows = [
                Button(f"{a}–{b}", cb("st", c, "quiet", a.replace(":", "") + b.replace(":", "")))
                for a, b in QUIET_CHOICES
            ]
            return Msg(
                chat_id,
                self.core.t("prefs.pick_quiet", quiet=self.core.quiet(couple).label()),
                rows(windows[:3], windows[3:]),
                edit_message_id=edit,
            )
        # Times inside the quiet hours are not offered: nothing fires in the night.
        quiet = self.core.quiet(couple)
        choices = [
            t for t in TIME_CHOICES if not quiet.covers_time(schedule.parse_hhmm(t) or time())
        ]
        times = [Button(t, cb("st", c, "time", t.replace(":", ""))) for t in choices]
        return Msg(
            chat_id,
            self.core.t("prefs.pick_time"),
            rows(times[:3], times[3:]),
            edit_message_id=edit,
        )

    async def press(
        self, actor: Actor, couple_id: int | None, args: list[str], message_id: int | None
    ) -> Outcome:
        out = Outcome()
        action = args[0] if args else ""
        value = args[1] if len(args) > 1 else ""
        async with self.core.db.tx() as conn:
            couple = await self.core.couple_by_id(conn, couple_id) if couple_id else None
            if couple is None or not couple.has(actor.user_id):
                out.toast, out.alert = self.core.t("common.not_yours"), True
                return out
            if action == "menu":
                if value == "time" and actor.private:  # a typed time is welcome too
                    await self.core.set_awaiting(conn, actor.user_id, f"stime:{couple.id}")
                return out.say(self._menu(couple, actor.chat_id, value, message_id))
            try:
                change = await self._apply(conn, actor, couple, action, value)
            except Refused as why:
                return out.say(self._card(couple, actor.chat_id, str(why), edit=message_id))
            if change is None:
                out.toast = self.core.t("common.nothing_changed")
                return out
            await self._changed(conn, actor, couple, change, message_id, out)
        return out

    async def timezone_command(self, actor: Actor, text: str) -> Outcome:
        """`/timezone Europe/Berlin`: works in groups, where typed replies may be invisible.
        A shared setting: a real change is told to the partner, like any in /settings."""
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.paired(conn, actor, out)
            if couple is None:
                return out
            if not text:
                return out.say(self._menu(couple, actor.chat_id, "tz", None))
            zone = schedule.valid_zone(text)
            if zone is None:
                return out.say(Msg(actor.chat_id, self.core.t("onboard.bad_zone", text=text[:40])))
            if couple.stage == "timezone":
                return await self.pairing.set_zone(conn, actor, couple, zone, None, out)
            change = await self._apply(conn, actor, couple, "tz", zone)
            if change is None:
                return out.say(Msg(actor.chat_id, self.core.t("prefs.same_zone", zone=zone)))
            await self._changed(conn, actor, couple, change, None, out)
        return out

    async def typed_time(
        self, conn: Conn, actor: Actor, arg: str, text: str, out: Outcome
    ) -> Outcome:
        """A time typed after /settings → Time, e.g. 19:30."""
        couple = await self.core.couple_by_id(conn, int(arg)) if arg.isdigit() else None
        if couple is None or not couple.has(actor.user_id):
            await self.core.set_awaiting(conn, actor.user_id, None)
            return out.say(Msg(actor.chat_id, self.core.t("common.unasked")))
        at = schedule.parse_hhmm(text)
        if at is None:
            return out.say(Msg(actor.chat_id, self.core.t("onboard.bad_time")))
        quiet = self.core.quiet(couple)
        if quiet.covers_time(at):
            return out.say(
                Msg(actor.chat_id, self.core.t("prefs.time_in_quiet", quiet=quiet.label()))
            )
        await self.core.set_awaiting(conn, actor.user_id, None)
        change = await self._apply(conn, actor, couple, "time", f"{at:%H%M}")
        if change is None:
            return out.say(Msg(actor.chat_id, self.core.t("prefs.same_time", time=f"{at:%H:%M}")))
        await self._changed(conn, actor, couple, change, None, out)
        return out

    async def _changed(
        self,
        conn: Conn,
        actor: Actor,
        couple: Couple,
        change: Callable[[], str],
        message_id: int | None,
        out: Outcome,
    ) -> None:
        """After a change: recompute the next due moment, confirm it, tell the partner."""
        if couple.stage == "active":
            await self.pairing.reschedule(conn, couple.id, actor.chat_id)
        updated = await self.core.couple_by_id(conn, couple.id)
        assert updated is not None
        tz = updated.timezone or self.core.settings.default_timezone

        def when() -> str:
            if updated.next_due_at is None:
                return self.core.t("status.not_scheduled")
            return schedule.human(schedule.from_ts(updated.next_due_at), tz, self.core.lang)

        confirm = self.core.t("settings.changed", change=Safe(change()), when=when())
        out.say(self._card(updated, actor.chat_id, confirm, edit=message_id))
        partner = couple.partner_of(actor.user_id)
        async with self.core.to(conn, partner):  # told in the partner's own language
            told = Msg(
                partner,
                self.core.t(
                    "prefs.partner_told", name=actor.first_name, change=Safe(change()), when=when()
                ),
            )
        out.queued += await self.core.queue_all(conn, [told])

    async def _apply(
        self, conn: Conn, actor: Actor, couple: Couple, action: str, value: str
    ) -> Callable[[], str] | None:
        """Write one change; return how to say it (a function: the actor and the partner
        each read it in their own language), or None if the press made no sense."""
        # A press that changes nothing (a double tap, "Sunday" -> "Sunday") says so and
        # tells nobody: the partner hears only of real changes to what they share.
        if action == "tz":
            zone = schedule.valid_zone(value)
            if zone is None or zone == couple.timezone:
                return None
            await conn.execute("UPDATE couples SET timezone = ? WHERE id = ?", (zone, couple.id))
            return lambda: self.core.t("onboard.tz_set", zone=zone)
        if action == "day" and value.isdigit() and 0 <= int(value) <= 6:
            if int(value) == couple.weekday:
                return None
            await conn.execute(
                "UPDATE couples SET weekday = ? WHERE id = ?", (int(value), couple.id)
            )
            return lambda: self.core.t(
                "onboard.day_set", day=schedule.day_names(self.core.lang)[int(value)]
            )
        if action == "time" and len(value) == 4:
            at = schedule.parse_hhmm(value[:2] + ":" + value[2:])
            if at is None or f"{at:%H:%M}" == couple.local_time:
                return None
            await conn.execute(
                "UPDATE couples SET local_time = ? WHERE id = ?", (f"{at:%H:%M}", couple.id)
            )
            return lambda: self.core.t("prefs.time_set", time=f"{at:%H:%M}")
        if action == "pause" and value in ("1", "2", "3", "4"):
            if self._paused(couple):
                return None
            until = self.core.now() + int(value) * schedule.WEEK
            await conn.execute(
                "UPDATE couples SET paused_until = ? WHERE id = ?", (until, couple.id)
            )
            return lambda: self.core.t(
                "prefs.paused", weeks=self.core.c.plural("plural.weeks", int(value))
            )
        if action == "resume":
            if not self._paused(couple):
                return None
            await conn.execute("UPDATE couples SET paused_until = NULL WHERE id = ?", (couple.id,))
            return lambda: self.core.t("prefs.resumed")
        if action == "quiet" and len(value) == 8:
            start, end = f"{value[:2]}:{value[2:4]}", f"{value[4:6]}:{value[6:]}"
            if (start, end) not in QUIET_CHOICES or (start, end) == (
                couple.quiet_start,
                couple.quiet_end,
            ):
                return None
            at = schedule.parse_hhmm(couple.local_time)
            if at is not None and schedule.Quiet.of("UTC", start, end).covers_time(at):
                raise Refused(self.core.t("prefs.quiet_covers_checkin", time=couple.local_time))
            await conn.execute(
                "UPDATE couples SET quiet_start = ?, quiet_end = ? WHERE id = ?",
                (start, end, couple.id),
            )
            return lambda: self.core.t("prefs.quiet_set", quiet=f"{start}–{end}")
        if action == "glang" and value in self.core.catalogues:
            current = couple.group_language or await self.core.lang_of(conn, couple.user_a)
            if value == current:
                return None
            await conn.execute(
                "UPDATE couples SET group_language = ? WHERE id = ?", (value, couple.id)
            )
            name = self.core.catalogues[value].t("language.name")
            return lambda: self.core.t("language.group_set", language=name)
        if action == "reminders":
            await conn.execute(
                "UPDATE couples SET reminders = 1 - reminders WHERE id = ?", (couple.id,)
            )
            return lambda: self.core.t("prefs.reminders_" + ("off" if couple.reminders else "on"))
        if action == "reveal":
            if couple.group_chat_id is None and couple.reveal_to == "private":
                return lambda: self.core.t("prefs.no_group")
            new = "private" if couple.reveal_to == "group" else "group"
            await conn.execute("UPDATE couples SET reveal_to = ? WHERE id = ?", (new, couple.id))
            return lambda: self.core.t("prefs.reveal_now_" + new)
        return None
