"""Promises and appreciation: small commitments followed up, and thanks passed on.

Promise states (one transaction per transition, `version` bumped each time so a
stale or forged button cannot act twice):

    open --due (sweep)--> asked --Kept--> kept
      |                     |--Didn't happen--> missed
      |                     '--Not yet (first ask only)--> open, due + 3 days
      '--promiser "Done"--> kept
Only the promiser is asked and reports; the partner is told and may thank them or ask
to talk about it (one reply, `reaction`), never grade them: a controlling partner must
not get a compliance tracker. A promise is asked about at most twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import content
from bot import schedule
from bot.callbacks import cb
from bot.core import Actor, Core, Couple
from bot.db import Conn, Row, fetch_all, fetch_one
from bot.feature import Feature, TextRoute
from bot.messages import Button, Msg, Outcome, rows
from bot.safety import Safety
from content import Content

NOT_YET = 3 * 24 * 3600
DEFAULT_DAYS = 7
MONTH = 30 * 24 * 3600
MAX_TEXT = 300
MAX_ASKS = 2
DUE_AT = time(20, 0)  # a due date means that evening, local time
DOER_VERBS = ("d", "k", "n", "m")  # only the promiser says how it went
PARTNER_VERBS = ("t", "l")  # the partner may thank, or ask to talk: never grade

_BY = "promise_words.by"


def _alts(c: Content, key: str) -> list[str]:
    """A catalogue entry of '|'-separated phrases, longest first."""
    return sorted(
        (w.strip().lower() for w in c.t(key).split("|") if w.strip()), key=len, reverse=True
    )


def by_pattern(c: Content) -> re.Pattern[str]:
    """'<promise> by <when>' in the catalogue's language ('… para el viernes', '… к пятнице')."""
    words = "|".join(re.escape(w) for w in _alts(c, _BY))
    return re.compile(
        rf"^(?P<what>.+)\s+(?:{words})\s+(?P<when>[^\s].{{0,30}})$", re.IGNORECASE | re.DOTALL
    )


def parse_when(when: str, today: date, c: Content | None = None) -> date | None:
    """'Friday', 'tomorrow', 'next week', 'in 3 days', '2026-12-05', '5 Dec' -> a local date.

    The relative words come from the catalogue of `c`'s language; weekday and month names
    from CLDR (Babel), in every spelling the language uses.
    """
    c = c or content.load()
    lang = c.lang
    w = " ".join(when.lower().strip().rstrip(".!").split())

    def one_of(key: str) -> list[str]:
        return _alts(c, f"promise_words.{key}")

    for nxt in one_of("next"):
        if w.startswith(nxt + " ") and schedule.weekday_of(w[len(nxt) + 1 :], lang) is not None:
            w = w[len(nxt) + 1 :]
            break
    if w in one_of("today"):
        return today
    if w in one_of("tomorrow"):
        return today + timedelta(days=1)
    if w in one_of("next_week"):
        return today + timedelta(days=7)
    if w in one_of("weekend"):
        return today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    weekday = schedule.weekday_of(w, lang)
    if weekday is not None:
        return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)
    parts = w.split()
    if len(parts) >= 2 and parts[-2].isdigit() and len(parts[-2]) <= 2:
        lead = " ".join(parts[:-2])
        if lead in one_of("in") or not lead:
            n, unit = int(parts[-2]), parts[-1]
            if unit in one_of("weeks"):
                return today + timedelta(days=7 * n)
            if unit in one_of("days") and lead:
                return today + timedelta(days=n)
    try:
        return date.fromisoformat(w)
    except ValueError:
        pass
    months = schedule.month_words(lang)
    parts = [p for p in w.replace(",", " ").split() if p not in one_of("of")]
    if len(parts) == 2:
        day_s, month_s = (parts[0], parts[1]) if parts[0].isdigit() else (parts[1], parts[0])
        month = months.get(month_s.rstrip("."))
        if month and day_s.isdigit():
            for year in (today.year, today.year + 1):
                try:
                    candidate = date(year, month, int(day_s))
                except ValueError:
                    return None
                if candidate >= today:
                    return candidate
    return None


def local_day(at: int, zone: str, lang: str = "en") -> str:
    """'Friday 27 November' in `zone`, in `lang`."""
    return schedule.day_month(schedule.from_ts(at).astimezone(ZoneInfo(zone)), lang)


THANKS_PER_DAY = 20  # a gentle cap on thank-yous one partner sends the other in a day
DAY_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Promise:
    id: int
    couple_id: int
    promiser_id: int
    partner_id: int
    text: str
    source: str
    state: str
    version: int
    created_at: int
    due_at: int
    asks: int
    resolved_at: int | None


class Promises(Feature):
    def __init__(self, core: Core, safety: Safety | None = None) -> None:
        super().__init__(core)
        self.safety = safety or Safety(core)

    def text_routes(self) -> dict[str, TextRoute]:
        return {"prom": self._typed_promise, "thx": self._typed_thanks}

    # -- helpers -------------------------------------------------------------

    def _zone(self, couple: Couple) -> str:
        return couple.timezone or self.core.settings.default_timezone

    def when(self, couple: Couple, at: int) -> str:
        return local_day(at, self._zone(couple), self.core.lang)

    def _due_ts(self, couple: Couple, day: date) -> int:
        moment = schedule.ts(schedule.local_to_utc(day, DUE_AT, ZoneInfo(self._zone(couple))))
        return max(moment, self.core.now() + 3600)

    def _row(self, row: Row) -> Promise:
        return Promise(
            id=row["id"],
            couple_id=row["couple_id"],
            promiser_id=row["promiser_id"],
            partner_id=row["partner_id"],
            text=self.core.cipher.decrypt(row["text"]),
            source=row["source"],
            state=row["state"],
            version=row["version"],
            created_at=row["created_at"],
            due_at=row["due_at"],
            asks=row["asks"],
            resolved_at=row["resolved_at"],
        )

    async def get(self, conn: Conn, promise_id: int) -> Promise | None:
        row = await fetch_one(conn, "SELECT * FROM promises WHERE id = ?", (promise_id,))
        return self._row(row) if row else None

    async def of_couple(
        self, conn: Conn, couple_id: int, where: str = "1", params: tuple = ()
    ) -> list[Promise]:
        return [
            self._row(r)
            for r in await fetch_all(
                conn,
                f"SELECT * FROM promises WHERE couple_id = ? AND ({where}) ORDER BY due_at, id",
                (couple_id, *params),
            )
        ]

    async def _insert(
        self,
        conn: Conn,
        couple_id: int,
        promiser_id: int,
        partner_id: int,
        text: str,
        due_at: int,
        source: str,
    ) -> int:
        cur = await conn.execute(
            "INSERT INTO promises (couple_id, promiser_id, partner_id, text, source, created_at, "
            "due_at, ask_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                couple_id,
                promiser_id,
                partner_id,
                self.core.cipher.encrypt(text),
                source,
                self.core.now(),
                due_at,
                due_at,
            ),
        )
        return int(cur.lastrowid or 0)

    def _done_button(self, p: Promise) -> Button:
        short = p.text if len(p.text) <= 28 else p.text[:27] + "…"
        return Button(
            self.core.t("promise.done_button", text=short), cb("pr", "d", p.id, p.version)
        )

    # -- /promise ------------------------------------------------------------

    async def from_agreement(
        self, conn: Conn, couple_id: int, promiser_id: int, text: str, due_at: int
    ) -> int:
        """An agreement accepted in /conflict, as a promise in the caller's transaction.

        The caller tells the couple; this records it so the due ask, /promises and the
        summary follow it up like any other promise. Returns the promise id.
        """
        row = await fetch_one(conn, "SELECT user_a, user_b FROM couples WHERE id = ?", (couple_id,))
        if row is None or promiser_id not in (row["user_a"], row["user_b"]):
            raise ValueError("the promiser is not in that couple")
        partner = row["user_b"] if promiser_id == row["user_a"] else row["user_a"]
        if len(text.strip()) > MAX_TEXT:  # /conflict refuses longer requests: never cut here
            raise ValueError("an agreement longer than a promise may be")
        return await self._insert(
            conn, couple_id, promiser_id, partner, text.strip(), due_at, "conflict"
        )

    async def promise_command(self, actor: Actor, args: str) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.paired(conn, actor, out)
            if couple is None:
                return out
            if not args:
                if not actor.private:
                    return out.say(Msg(actor.chat_id, self.core.t("promise.usage")))
                await self.core.set_awaiting(conn, actor.user_id, f"prom:{couple.id}")
                return out.say(Msg(actor.chat_id, self.core.t("promise.ask_text")))
            return await self._create(conn, actor, couple, args, out)

    async def _typed_promise(
        self, conn: Conn, actor: Actor, arg: str, text: str, out: Outcome
    ) -> Outcome:
        couple = await self._asked_couple(conn, actor, arg, out)
        return out if couple is None else await self._create(conn, actor, couple, text, out)

    async def _asked_couple(
        self, conn: Conn, actor: Actor, arg: str, out: Outcome
    ) -> Couple | None:
        """The couple a typed answer is for, if the actor still belongs to it."""
        await self.core.set_awaiting(conn, actor.user_id, None)
        couple = await self.core.couple_of(conn, actor.user_id)
        if couple is None or str(couple.id) != arg:
            out.say(Msg(actor.chat_id, self.core.t("common.not_paired")))
            return None
        return couple

    async def _create(
        self, conn: Conn, actor: Actor, couple: Couple, raw: str, out: Outcome
    ) -> Outcome:
        raw = " ".join(raw.split())
        today = self.core.clock.now().astimezone(ZoneInfo(self._zone(couple))).date()
        what, day = raw, today + timedelta(days=DEFAULT_DAYS)
        found = by_pattern(self.core.c).match(raw)
        parsed = parse_when(found.group("when"), today, self.core.c) if found else None
        if found and parsed is not None:
            what, day = found.group("what").strip(), parsed
        # Otherwise "by" was part of the promise ("stop by the shop"): keep it whole, due in
        # a week; the reply names the date, and "/promise … by Friday" chooses another.
        if len(what) > MAX_TEXT:
            return out.say(Msg(actor.chat_id, self.core.t("promise.too_long", limit=MAX_TEXT)))
        if await self.safety.screen(conn, actor, what, out, source="promise"):
            return out  # held: not recorded and not told
        if day > today + timedelta(days=366):
            return out.say(Msg(actor.chat_id, self.core.t("promise.too_far")))
        due = self._due_ts(couple, day)
        partner_id = couple.partner_of(actor.user_id)
        pid = await self._insert(conn, couple.id, actor.user_id, partner_id, what, due, "own")
        p = await self.get(conn, pid)
        assert p is not None
        partner = await self.core.first_name(conn, partner_id)
        when = self.when(couple, due)
        out.say(
            Msg(
                actor.chat_id,
                self.core.t("promise.made", text=what, when=when, partner=partner),
                rows([self._done_button(p)]) if actor.private else (),
            )
        )
        if actor.private:
            async with self.core.to(conn, partner_id):  # in the partner's language
                told = Msg(
                    partner_id,
                    self.core.t(
                        "promise.told",
                        name=actor.first_name,
                        text=what,
                        when=self.when(couple, due),
                    ),
                    protect=True,
                )
            out.queued += await self.core.queue_all(conn, [told])
        return out

    # -- /promises -----------------------------------------------------------

    async def list_command(self, actor: Actor) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.paired(conn, actor, out)
            if couple is None:
                return out
            live = await self.of_couple(conn, couple.id, "state IN ('open','asked','claimed')")
            since = self.core.now() - MONTH
            settled = await self.of_couple(
                conn, couple.id, "state IN ('kept','missed') AND resolved_at >= ?", (since,)
            )
            partner = await self.core.first_name(conn, couple.partner_of(actor.user_id))
        lines = [self.core.t("promises.head")]
        if not live:
            lines.append(self.core.t("promises.none_open"))
        for p in live:
            key = "promises.mine" if p.promiser_id == actor.user_id else "promises.theirs"
            status = self.core.t(f"promises.state_{p.state}")
            lines.append(
                self.core.t(
                    key,
                    text=p.text,
                    when=self.when(couple, p.due_at),
                    partner=partner,
                    status=status,
                )
            )
        # No tally of kept against missed, here or anywhere: what matters is picking up
        # again, so the ones that slipped are named as there to come back to.
        lines.append("")
        resume = [p for p in settled if p.state == "missed"]
        if resume:
            lines.append(self.core.t("promises.come_back", n=len(resume)))
            for p in resume:
                key = (
                    "promises.resume_mine"
                    if p.promiser_id == actor.user_id
                    else "promises.resume_theirs"
                )
                lines.append(self.core.t(key, text=p.text, partner=partner))
        else:
            lines.append(self.core.t("promises.nothing_to_resume"))
        buttons = [
            [self._done_button(p)]
            for p in live
            if p.promiser_id == actor.user_id and p.state in ("open", "asked")
        ][:6]
        # Protected: the list holds the partner's promises in their own words.
        return out.say(Msg(actor.chat_id, "\n".join(lines), rows(*buttons), protect=True))

    # -- buttons -------------------------------------------------------------

    async def press(
        self,
        actor: Actor,
        verb: str,
        promise_id: int | None,
        version: int | None,
        message_id: int | None,
    ) -> Outcome:
        """The promiser reports: pr:d (done early), pr:k / pr:n / pr:m (kept, not yet,
        didn't happen). The partner never grades: pr:t (say thanks), pr:l (ask to talk)."""
        out = Outcome()
        async with self.core.db.tx() as conn:
            p = None if promise_id is None else await self.get(conn, promise_id)
            couple = None if p is None else await self.core.couple_by_id(conn, p.couple_id)
            if p is None or couple is None or not couple.has(actor.user_id):
                out.toast, out.alert = self.core.t("common.not_yours"), True
                return out
            mine = p.promiser_id == actor.user_id
            if (verb in DOER_VERBS) != mine or verb not in (*DOER_VERBS, *PARTNER_VERBS):
                out.toast, out.alert = self.core.t("common.not_yours"), True
                return out
            if verb in PARTNER_VERBS:
                return await self._react(conn, actor, p, verb, version, message_id, out)
            allowed = {"d": ("open", "asked"), "k": ("asked",), "n": ("asked",), "m": ("asked",)}
            if (
                p.version != version
                or p.state not in allowed[verb]
                or (verb == "n" and p.asks >= MAX_ASKS)
            ):
                out.toast = self.core.t("promise.stale")
                return out
            return await self._transition(conn, actor, couple, p, verb, message_id, out)

    async def _transition(
        self,
        conn: Conn,
        actor: Actor,
        couple: Couple,
        p: Promise,
        verb: str,
        message_id: int | None,
        out: Outcome,
    ) -> Outcome:
        """The promiser's own report; the partner is told, with a way to thank or talk."""
        now = self.core.now()
        other = await self.core.first_name(conn, p.partner_id)
        if verb in ("d", "k", "m"):
            state = "missed" if verb == "m" else "kept"
            await self._set(conn, p, state, ask_at=None, resolved_at=now)
            out.say(
                Msg(
                    actor.chat_id,
                    self.core.t(f"promise.you_{state}", text=p.text, name=other),
                    edit_message_id=message_id if actor.private else None,
                )
            )
            async with self.core.to(conn, p.partner_id):
                told = Msg(
                    p.partner_id,
                    self.core.t(f"promise.told_{state}", text=p.text, name=actor.first_name),
                    self._partner_buttons(p.id, p.version + 1),
                    protect=True,
                )
            out.queued += await self.core.queue_all(conn, [told])
            return out
        # Not yet: the due date moves three days and one more ask follows (at most two).
        due = now + NOT_YET
        await self._set(conn, p, "open", ask_at=due if p.asks < MAX_ASKS else None, due_at=due)
        when = self.when(couple, due)
        out.say(
            Msg(
                actor.chat_id,
                self.core.t("promise.you_not_yet", text=p.text, when=when, name=other),
                edit_message_id=message_id,
            )
        )
        told_text = self.core.t(
            "promise.told_not_yet", text=p.text, name=actor.first_name, when=when
        )
        out.queued += await self.core.queue_all(conn, [Msg(p.partner_id, told_text, protect=True)])
        return out

    async def _react(
        self,
        conn: Conn,
        actor: Actor,
        p: Promise,
        verb: str,
        version: int | None,
        message_id: int | None,
        out: Outcome,
    ) -> Outcome:
        """The partner's one reply to a report: thanks, or a wish to talk (never a grade)."""
        reacted = await fetch_one(conn, "SELECT reaction FROM promises WHERE id = ?", (p.id,))
        if p.version != version or p.state not in ("kept", "missed"):
            out.toast = self.core.t("promise.stale")
            return out
        if reacted is not None and reacted["reaction"] is not None:
            out.toast = self.core.t("promise.reacted_already")
            return out
        await conn.execute(
            "UPDATE promises SET reaction = ? WHERE id = ? AND reaction IS NULL",
            ("thanked" if verb == "t" else "talk", p.id),
        )
        promiser = await self.core.first_name(conn, p.promiser_id)
        mine, theirs = ("thank_sent", "thanked") if verb == "t" else ("talk_sent", "talk_told")
        out.say(Msg(actor.chat_id, self.core.t(f"promise.{mine}", name=promiser, text=p.text)))
        async with self.core.to(conn, p.promiser_id):
            told = Msg(
                p.promiser_id, self.core.t(f"promise.{theirs}", name=actor.first_name, text=p.text)
            )
        out.queued += await self.core.queue_all(conn, [told])
        return out

    async def _set(self, conn: Conn, p: Promise, state: str, **fields: int | None) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        await conn.execute(
            f"UPDATE promises SET state = ?, version = version + 1{', ' + sets if sets else ''} "
            "WHERE id = ? AND version = ?",
            (state, *fields.values(), p.id, p.version),
        )

    def _answer_buttons(
        self, pid: int, version: int, *, not_yet: bool
    ) -> tuple[tuple[Button, ...], ...]:
        """The promiser's own report."""
        first = [Button(self.core.t("promise.kept_button"), cb("pr", "k", pid, version))]
        if not_yet:
            first.append(Button(self.core.t("promise.not_yet_button"), cb("pr", "n", pid, version)))
        second = [Button(self.core.t("promise.missed_button"), cb("pr", "m", pid, version))]
        return rows(first, second)

    def _partner_buttons(self, pid: int, version: int) -> tuple[tuple[Button, ...], ...]:
        return rows(
            [
                Button(self.core.t("promise.thank_button"), cb("pr", "t", pid, version)),
                Button(self.core.t("promise.talk_button"), cb("pr", "l", pid, version)),
            ]
        )

    # -- due asks --------------------------------------------------------------

    async def sweep(self) -> list[int]:
        """A due promise is asked about, of its promiser only (at most twice)."""
        queued: list[int] = []
        now = self.core.now()
        async with self.core.db.tx() as conn:
            found = await fetch_all(
                conn,
                "SELECT p.*, c.timezone AS zone, c.quiet_start, c.quiet_end "
                "FROM promises p JOIN couples c ON c.id = p.couple_id "
                "WHERE p.ask_at IS NOT NULL AND p.ask_at <= ? AND p.state = 'open' "
                "AND c.stage = 'active' ORDER BY p.ask_at LIMIT 500",
                (now,),
            )
            due = []
            for r in found:
                zone = r["zone"] or self.core.settings.default_timezone
                quiet = schedule.Quiet.of(zone, r["quiet_start"], r["quiet_end"])
                if quiet.covers(self.core.clock.now()):  # a follow-up waits for the morning
                    await conn.execute(
                        "UPDATE promises SET ask_at = ? WHERE id = ?",
                        (quiet.outside_ts(now), r["id"]),
                    )
                else:
                    due.append(self._row(r))
            for p in due:
                n = p.asks + 1
                await conn.execute(
                    "UPDATE promises SET state = 'asked', asks = ?, ask_at = NULL, "
                    "version = version + 1 WHERE id = ? AND version = ?",
                    (n, p.id, p.version),
                )
                key = "promise.ask_again" if n > 1 else "promise.ask"
                async with self.core.to(conn, p.promiser_id):
                    partner = await self.core.first_name(conn, p.partner_id)
                    msg = Msg(
                        p.promiser_id,
                        self.core.t(key, partner=partner, text=p.text),
                        self._answer_buttons(p.id, p.version + 1, not_yet=n < MAX_ASKS),
                    )
                queued += await self.core.queue_all(conn, [msg], key=f"promise:{p.id}:ask:{n}")
        return queued

    # -- /thanks ---------------------------------------------------------------

    async def thanks_command(self, actor: Actor, text: str) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.paired(conn, actor, out)
            if couple is None:
                return out
            if not actor.private:
                return out.say(Msg(actor.chat_id, self.core.t("common.private_only")))
            if not text:
                await self.core.set_awaiting(conn, actor.user_id, f"thx:{couple.id}")
                partner = await self.core.first_name(conn, couple.partner_of(actor.user_id))
                return out.say(Msg(actor.chat_id, self.core.t("thanks.ask_text", partner=partner)))
            return await self._send_thanks(conn, actor, couple, text, out)

    async def _typed_thanks(
        self, conn: Conn, actor: Actor, arg: str, text: str, out: Outcome
    ) -> Outcome:
        couple = await self._asked_couple(conn, actor, arg, out)
        return out if couple is None else await self._send_thanks(conn, actor, couple, text, out)

    async def _send_thanks(
        self, conn: Conn, actor: Actor, couple: Couple, text: str, out: Outcome
    ) -> Outcome:
        text = text.strip()
        if len(text) > 1000:
            return out.say(Msg(actor.chat_id, self.core.t("thanks.too_long", limit=1000)))
        if await self.safety.screen(conn, actor, text, out, source="thanks"):
            return out  # held: not recorded and not passed on
        partner_id = couple.partner_of(actor.user_id)
        partner = await self.core.first_name(conn, partner_id)
        reach = await fetch_one(conn, "SELECT reachable FROM users WHERE id = ?", (partner_id,))
        if reach is not None and not reach["reachable"]:
            # Never "sent" to someone who blocked the bot: it would be given up unseen.
            return out.say(Msg(actor.chat_id, self.core.t("thanks.unreachable", partner=partner)))
        today = await fetch_one(
            conn,
            "SELECT COUNT(*) AS n FROM appreciations WHERE from_id = ? AND created_at > ?",
            (actor.user_id, self.core.now() - DAY_SECONDS),
        )
        if today is not None and today["n"] >= THANKS_PER_DAY:
            return out.say(
                Msg(actor.chat_id, self.core.t("thanks.cap", partner=partner, n=THANKS_PER_DAY))
            )
        cur = await conn.execute(
            "INSERT INTO appreciations (couple_id, from_id, to_id, text, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (couple.id, actor.user_id, partner_id, self.core.cipher.encrypt(text), self.core.now()),
        )
        aid = int(cur.lastrowid or 0)
        out.say(Msg(actor.chat_id, self.core.t("thanks.sent", partner=partner)))
        async with self.core.to(conn, partner_id):
            msg = Msg(
                partner_id,
                self.core.t("thanks.received", name=actor.first_name, text=text),
                rows([Button(self.core.t("thanks.react_button"), cb("ty", "r", aid))]),
                protect=True,
            )
        out.queued += await self.core.queue_all(conn, [msg])
        return out

    async def react(
        self, actor: Actor, appreciation_id: int | None, message_id: int | None
    ) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            row = None
            if appreciation_id is not None:
                row = await fetch_one(
                    conn, "SELECT * FROM appreciations WHERE id = ?", (appreciation_id,)
                )
            live = row is not None and await self.core.couple_by_id(conn, row["couple_id"])
            if row is None or row["to_id"] != actor.user_id or not live:
                out.toast, out.alert = self.core.t("common.not_yours"), True
                return out
            if row["reacted_at"] is not None:
                out.toast = self.core.t("thanks.already")
                return out
            await conn.execute(
                "UPDATE appreciations SET reacted_at = ? WHERE id = ?",
                (self.core.now(), row["id"]),
            )
            name = await self.core.first_name(conn, row["from_id"])
            text = self.core.cipher.decrypt(row["text"])
            out.toast = self.core.t("thanks.reacted_toast")
            out.say(
                Msg(
                    actor.chat_id,
                    self.core.t("thanks.received", name=name, text=text)
                    + "\n"
                    + self.core.t("thanks.reacted_mark"),
                    edit_message_id=message_id,
                )
            )
            out.queued += await self.core.queue_all(
                conn, [Msg(row["from_id"], self.core.t("thanks.heart_back", name=actor.first_name))]
            )
        return out
