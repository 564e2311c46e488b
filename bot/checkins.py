"""The weekly check-in: private answers, a simultaneous reveal, durable scheduling.

A check-in is a row per couple and couple-local ISO week (UNIQUE), so a second
sweep, a DST fall-back double hour, a restart or a second process cannot open
it twice. Each partner's progress is a row too: `position` and `stage`
('answer' -> 'note' -> next item ... -> 'done'), written as each answer comes,
so a restart continues where they were. States of a check-in:

    open --both finished--> revealed
    open --window ran out--> expired   (nobody's answers are shown)
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
from dataclasses import dataclass

from bot import schedule
from bot.callbacks import cb
from bot.composition import Past, compose
from bot.core import COUPLE_COLUMNS, Actor, Core, Couple, Ref, Safe, couple_from_row
from bot.db import Conn, Row, fetch_all, fetch_one
from bot.feature import Feature, TextRoute
from bot.messages import Button, Msg, Outcome, rows, split_message
from bot.safety import Hold, Safety

SWEEP_BATCH = 1000
OPEN_CHUNK = 50  # due couples opened per transaction: keeps each lock hold short
MAX_TYPED = 600  # a note or open answer; keeps every reveal item far below 4096 characters
GAP = 2  # a difference of two points or more is pointed out
QUESTION_REF = "checkin.question"  # a question owed by reference (see `Ref`)


@dataclass(frozen=True, slots=True)
class Progress:
    checkin_id: int
    couple_id: int
    items: tuple[str, ...]
    status: str
    position: int
    stage: str


class Checkins(Feature):
    def __init__(self, core: Core, safety: Safety | None = None) -> None:
        super().__init__(core)
        self.safety = safety or Safety(core)
        # A held note or open answer, shared before the reveal, is shown in it.
        self.safety.releasers["note"] = self._release_held
        self.safety.releasers["answer"] = self._release_held
        core.renderers[QUESTION_REF] = self._question_by_id

    # -- opening -----------------------------------------------------------------

    async def _pasts(
        self, conn: Conn, couple_ids: list[int]
    ) -> tuple[dict[int, Past], set[tuple[int, str]]]:
        """Each couple's `Past` and the (couple, week) check-ins that exist, in three queries."""
        if not couple_ids:
            return {}, set()
        marks = ",".join("?" * len(couple_ids))
        asked: dict[int, dict[str, str]] = {c: {} for c in couple_ids}
        for r in await fetch_all(
            conn,
            f"SELECT couple_id, question_id, week FROM asked WHERE couple_id IN ({marks})",
            tuple(couple_ids),
        ):
            asked[r["couple_id"]][r["question_id"]] = r["week"]
        latest = await fetch_all(
            conn,
            "SELECT couple_id, MAX(id) AS id, MAX(week) AS week FROM checkins "
            f"WHERE couple_id IN ({marks}) GROUP BY couple_id",
            tuple(couple_ids),
        )
        weeks = {(r["couple_id"], r["week"]) for r in latest}
        by_checkin = {r["id"]: r["couple_id"] for r in latest}
        per: dict[int, dict[str, list[float]]] = {}
        if by_checkin:
            for r in await fetch_all(
                conn,
                "SELECT checkin_id, theme, AVG(value) AS v FROM answers "
                f"WHERE checkin_id IN ({','.join('?' * len(by_checkin))}) AND value IS NOT NULL "
                "GROUP BY checkin_id, theme, user_id",
                tuple(by_checkin),
            ):
                per.setdefault(by_checkin[r["checkin_id"]], {}).setdefault(r["theme"], []).append(
                    float(r["v"])
                )
        pasts = {
            c: Past(
                asked[c],
                {
                    t: (sum(v) / len(v), abs(v[0] - v[1]))
                    for t, v in per.get(c, {}).items()
                    if len(v) == 2
                },
            )
            for c in couple_ids
        }
        return pasts, weeks

    async def _open_many(
        self, conn: Conn, wanted: list[tuple[Couple, str]], *, early: bool = False
    ) -> list[int]:
        """Open each couple's check-in for its week unless it exists; queue the first items.

        A constant number of statements for any number of couples: this is the sweep's
        hot path when thousands of couples chose the same minute.
        """
        if not wanted:
            return []
        now = self.core.now()
        pasts, existing = await self._pasts(conn, [c.id for c, _ in wanted])
        window = int(self.core.settings.checkin_window.total_seconds())
        remind = int(self.core.settings.reminder_after.total_seconds())
        plans: dict[int, tuple[Couple, str, list[str]]] = {}
        for couple, week in wanted:
            if (couple.id, week) in existing or couple.id in plans:
                continue  # opened already (a second sweep, a DST double hour, /checkin)
            items = compose(self.core.content, pasts[couple.id], week)
            plans[couple.id] = (couple, week, items)
        if not plans:
            return []
        await conn.executemany(
            "INSERT INTO checkins "
            "(couple_id, week, items, opened_at, remind_at, closes_at, early) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(couple_id, week) DO NOTHING",
            [
                (
                    c.id,
                    week,
                    json.dumps(items),
                    now,
                    # Nothing scheduled lands in the couple's quiet hours.
                    quiet.outside_ts(now + remind) if c.reminders and remind < window else None,
                    quiet.outside_ts(now + window),
                    int(early),
                )
                for c, week, items in plans.values()
                for quiet in (self.core.quiet(c),)
            ],
        )
        opened = await fetch_all(
            conn,
            f"SELECT id, couple_id, week FROM checkins WHERE opened_at = ? "
            f"AND couple_id IN ({','.join('?' * len(plans))})",
            (now, *plans),
        )
        new = [
            (r["id"], plans[r["couple_id"]])
            for r in opened
            if plans[r["couple_id"]][1] == r["week"]
        ]
        await conn.executemany(
            "INSERT INTO asked (couple_id, question_id, week) VALUES (?, ?, ?) "
            "ON CONFLICT (couple_id, question_id) DO UPDATE SET week = excluded.week "
            "WHERE excluded.week > asked.week",
            [(c.id, qid, week) for _, (c, week, items) in new for qid in items],
        )
        await conn.executemany(
            "INSERT INTO checkin_progress (checkin_id, user_id) VALUES (?, ?) "
            "ON CONFLICT DO NOTHING",
            [(cid, u) for cid, (c, _, _) in new for u in c.users],
        )
        # A first question that asks for typed words is the most recent prompt for text.
        await conn.executemany(
            "UPDATE users SET awaiting = ? WHERE id = ?",
            [
                (f"ans:{cid}:0", u)
                for cid, (c, _, items) in new
                if self.core.c.question(items[0]).kind == "open"
                for u in c.users
            ],
        )
        owed: list[tuple[str, Msg | Ref]] = []
        langs = await self.core.langs(conn, [u for _, (c, _, _) in new for u in c.users])
        for cid, (c, _, items) in new:
            # Ids only: the outbox renders the question when it sends it, in the language
            # of its reader (`lang`, read now: one JSON per language the couple reads).
            args: dict[str, str] = {}
            for user in c.users:
                lang = langs[user]
                if lang not in args:
                    args[lang] = Ref.args_of(
                        checkin_id=cid, qid=items[0], pos=0, total=len(items), intro=True, lang=lang
                    )
                owed.append((f"ci:{cid}:open:{user}", Ref(user, QUESTION_REF, args[lang])))
        return await self.core.queue_many(conn, owed)

    async def open_now(self, actor: Actor) -> Outcome:
        """/checkin: continue the open check-in, or offer to open this week's early."""
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.paired(conn, actor, out)
            if couple is None:
                return out
            if couple.stage != "active":
                return out.say(Msg(actor.chat_id, self.core.t("checkin.finish_setup")))
            tz = self.core.zone(couple)
            week = schedule.iso_week(self.core.clock.now(), tz)
            # An open check-in (even last week's, still in its window) comes first.
            row = await fetch_one(
                conn,
                "SELECT id, status FROM checkins WHERE couple_id = ? "
                "AND (status = 'open' OR week = ?) ORDER BY status = 'open' DESC LIMIT 1",
                (couple.id, week),
            )
            if row is None:
                if self.core.paused(couple):
                    return out.say(self._paused_msg(couple, actor.chat_id))
                return out.say(self._offer_early(couple, actor.chat_id, week))
            if row["status"] != "open":
                nxt = self._next_text(couple)
                key = (
                    "checkin.week_revealed"
                    if row["status"] == "revealed"
                    else "checkin.week_expired"
                )
                return out.say(Msg(actor.chat_id, self.core.t(key, next=nxt)))
            progress = await self._progress(conn, actor.user_id, row["id"])
            if progress is None or progress.stage == "done":
                return out.say(Msg(actor.chat_id, self.core.t("checkin.waiting_partner")))
            if not actor.private:  # the question goes to their private chat, in their language
                async with self.core.to(conn, actor.user_id):
                    current = self._current(actor.user_id, progress)
                out.queued += await self.core.queue_all(conn, [current])
                return out.say(Msg(actor.chat_id, self.core.t("checkin.continue_private")))
            # Shown again, the step's prompt for text is the most recent one.
            await self.core.set_awaiting(conn, actor.user_id, self._awaiting_at(progress))
            out.say(self._current(actor.user_id, progress))
        return out

    async def _week_exists(self, conn: Conn, couple_id: int, week: str) -> bool:
        row = await fetch_one(
            conn, "SELECT 1 FROM checkins WHERE couple_id = ? AND week = ?", (couple_id, week)
        )
        return row is not None

    def _next_text(self, couple: Couple) -> str:
        if couple.next_due_at is None:
            return self.core.t("status.not_scheduled")
        return schedule.human(
            schedule.from_ts(couple.next_due_at), self.core.zone(couple), self.core.lang
        )

    def _paused_msg(self, couple: Couple, chat_id: int) -> Msg:
        assert couple.paused_until is not None
        until = schedule.human(
            schedule.from_ts(couple.paused_until), self.core.zone(couple), self.core.lang
        )
        return Msg(
            chat_id,
            self.core.t("checkin.paused", until=until),
            rows([Button(self.core.t("prefs.resume"), cb("st", couple.id, "resume"))]),
        )

    def _replaces(self, couple: Couple, week: str) -> bool:
        """Whether this week's scheduled check-in is still to come (so opening replaces it)."""
        return couple.next_due_at is not None and week == schedule.iso_week(
            schedule.from_ts(couple.next_due_at), self.core.zone(couple)
        )

    def _offer_early(self, couple: Couple, chat_id: int, week: str) -> Msg:
        """Say, before anything opens, that this replaces the week's scheduled check-in."""
        key = "checkin.early_replaces" if self._replaces(couple, week) else "checkin.early_ask"
        return Msg(
            chat_id,
            self.core.t(key, when=self._next_text(couple)),
            rows(
                [Button(self.core.t("checkin.early_yes"), cb("ck", "open", couple.id, week))],
                [Button(self.core.t("checkin.early_no"), cb("ck", "wait", couple.id, week))],
            ),
        )

    async def early_press(
        self, actor: Actor, choice: str, couple_id: int | None, week: str, message_id: int | None
    ) -> Outcome:
        """Open this week's check-in now (the scheduled one for this week then does not come)."""
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.couple_by_id(conn, couple_id) if couple_id else None
            if couple is None or not couple.has(actor.user_id) or couple.stage != "active":
                out.toast, out.alert = self.core.t("common.not_yours"), True
                return out
            if choice != "open":
                return out.say(
                    Msg(
                        actor.chat_id,
                        self.core.t("checkin.early_kept", when=self._next_text(couple)),
                        edit_message_id=message_id,
                    )
                )
            now_week = schedule.iso_week(self.core.clock.now(), self.core.zone(couple))
            if week != now_week or self.core.paused(couple):
                out.toast, out.alert = self.core.t("common.stale"), True
                return out
            if await self._week_exists(conn, couple.id, week):
                out.toast = self.core.t("checkin.already_open")
                return out
            if self._replaces(couple, week):  # the week's slot is used: the schedule moves on
                assert couple.next_due_at is not None
                at = schedule.parse_hhmm(couple.local_time)
                assert at is not None
                nxt = schedule.next_due(
                    self.core.zone(couple), couple.weekday, at, schedule.from_ts(couple.next_due_at)
                )
                await conn.execute(
                    "UPDATE couples SET next_due_at = ? WHERE id = ?", (schedule.ts(nxt), couple.id)
                )
                couple = dataclasses.replace(couple, next_due_at=schedule.ts(nxt))
            nxt_text = self._next_text(couple)
            text = self.core.t("checkin.early_opened", name=actor.first_name, next=nxt_text)
            out.say(Msg(actor.chat_id, text, edit_message_id=message_id))
            # The partner hears why a check-in arrives off schedule before its first question.
            other = couple.partner_of(actor.user_id)
            async with self.core.to(conn, other):
                text = self.core.t(
                    "checkin.early_opened", name=actor.first_name, next=self._next_text(couple)
                )
            out.queued += await self.core.queue_all(conn, [Msg(other, text)])
            out.queued += await self._open_many(conn, [(couple, week)], early=True)
        return out

    # -- rendering ---------------------------------------------------------------

    def _question(
        self, chat: int, checkin_id: int, items: tuple[str, ...], pos: int, *, intro: bool = False
    ) -> Msg:
        return self._question_by_id(chat, checkin_id, items[pos], pos, len(items), intro)

    def _question_by_id(
        self, chat: int, checkin_id: int, qid: str, pos: int, total: int, intro: bool = False
    ) -> Msg:
        """A question screen from ids alone (also what a `Ref` in the outbox renders)."""
        q = self.core.c.question(qid)
        text = self._question_text(q.id, pos, total, intro, self.core.lang)
        back = (
            [Button(self.core.t("checkin.back"), cb("ci", checkin_id, pos, "back"))] if pos else []
        )
        # Every question can be declined: "Prefer not to say" is never counted or pointed out.
        decline = [Button(self.core.t("checkin.decline"), cb("ci", checkin_id, pos, "skip"))]
        if q.kind == "scale":
            scale = [Button(str(v), cb("ci", checkin_id, pos, v)) for v in range(1, 6)]
            if q.event:  # presupposes something happened: a way out that scores nothing
                na = [Button(self.core.t("checkin.na"), cb("ci", checkin_id, pos, "na"))]
                return Msg(chat, text, rows(scale, na + decline, back))
            return Msg(chat, text, rows(scale, decline + back))
        return Msg(chat, text, rows(decline + back))

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - content never changes; one per process
    def _question_text(self, qid: str, pos: int, total: int, intro: bool, lang: str) -> str:
        """A question's text depends only on content and the reader's language (`lang`, the
        one being spoken: part of the cache key), so the sweep renders each once."""
        q = self.core.c.question(qid)
        theme = self.core.c.theme(q.theme).name if q.theme != "weekly" else ""
        head = Safe(self.core.t("checkin.progress", n=pos + 1, total=total, theme=theme))
        if q.kind == "scale":
            text = self.core.t("checkin.scale", head=head, text=q.text, low=q.low, high=q.high)
        else:
            text = self.core.t("checkin.open", head=head, text=q.text)
        if intro:
            text = self.core.t("checkin.intro", count=total) + "\n\n" + text
        return text

    def _note_prompt(
        self, chat: int, checkin_id: int, pos: int, note: str | None = None, dropped: bool = False
    ) -> Msg:
        """Asks for a note and says where it goes; a note already written is shown with
        Keep / Remove, so going Back never loses or keeps one without the writer knowing."""
        change = Button(self.core.t("checkin.change"), cb("cn", checkin_id, pos, "back"))
        if note:
            return Msg(
                chat,
                self.core.t("checkin.note_existing", note=note),
                rows(
                    [
                        Button(self.core.t("checkin.keep_note"), cb("cn", checkin_id, pos, "skip")),
                        Button(
                            self.core.t("checkin.remove_note"), cb("cn", checkin_id, pos, "del")
                        ),
                    ],
                    [change],
                ),
            )
        text = self.core.t("checkin.note")
        if dropped:
            text = self.core.t("checkin.note_dropped") + "\n\n" + text
        return Msg(
            chat,
            text,
            rows(
                [Button(self.core.t("checkin.only_me"), cb("cn", checkin_id, pos, "me"))],
                [Button(self.core.t("checkin.skip"), cb("cn", checkin_id, pos, "skip")), change],
            ),
        )

    async def _stored(self, conn: Conn, p: Progress, user: int, qid: str) -> Row | None:
        return await fetch_one(
            conn,
            "SELECT value, text, note FROM answers "
            "WHERE checkin_id = ? AND user_id = ? AND question_id = ?",
            (p.checkin_id, user, qid),
        )

    def _current(self, chat: int, p: Progress) -> Msg:
        if p.stage == "note":  # (a note already written is shown when the score is pressed)
            return self._note_prompt(chat, p.checkin_id, p.position)
        return self._question(chat, p.checkin_id, p.items, p.position)

    # -- answering -----------------------------------------------------------------

    async def _progress(
        self, conn: Conn, user_id: int, checkin_id: int | None = None
    ) -> Progress | None:
        """The user's progress in the given check-in, or in their couple's open one."""
        sql = (
            "SELECT c.id, c.couple_id, c.items, c.status, p.position, p.stage "
            "FROM checkin_progress p JOIN checkins c ON c.id = p.checkin_id "
            "WHERE p.user_id = ? "
        )
        args: tuple[int, ...] = (user_id,)
        if checkin_id is not None:
            sql += "AND c.id = ?"
            args += (checkin_id,)
        else:
            sql += "AND c.status = 'open' ORDER BY c.id DESC LIMIT 1"
        r = await fetch_one(conn, sql, args)
        if r is None:
            return None
        return Progress(
            r["id"],
            r["couple_id"],
            tuple(json.loads(r["items"])),
            r["status"],
            r["position"],
            r["stage"],
        )

    async def press(
        self,
        actor: Actor,
        kind: str,
        checkin_id: int | None,
        pos: int | None,
        value: str,
        message_id: int | None,
    ) -> Outcome:
        """A scale button, Skip, Back (kind 'ci'), or the note's Skip / Change (kind 'cn')."""
        out = Outcome()
        async with self.core.db.tx() as conn:
            p = await self._progress(conn, actor.user_id, checkin_id) if checkin_id else None
            if p is None or pos is None:
                out.toast, out.alert = self.core.t("checkin.not_yours"), True
                return out
            if p.status != "open":
                out.toast = self.core.t("checkin.closed")
                return out
            expected_stage = "note" if kind == "cn" else "answer"
            if value == "back" and kind == "ci" and pos == p.position and p.stage == "answer":
                return await self._go_back(conn, actor, p, message_id, out)
            if pos != p.position or p.stage != expected_stage:
                out.toast = self.core.t("checkin.already")
                return out
            q = self.core.c.question(p.items[pos])
            if kind == "cn":
                if value == "back":
                    await self._set_stage(conn, p, actor.user_id, pos, "answer")
                    return out.say(self._question(actor.chat_id, p.checkin_id, p.items, pos))
                if value == "me":  # the note that follows stays in the writer's own record
                    await conn.execute(
                        "UPDATE answers SET words_private = 1 "
                        "WHERE checkin_id = ? AND user_id = ? AND question_id = ?",
                        (p.checkin_id, actor.user_id, q.id),
                    )
                    text = self.core.t("checkin.only_me_prompt")
                    return out.say(Msg(actor.chat_id, text, edit_message_id=message_id))
                await self.core.set_awaiting(conn, actor.user_id, None)
                stored = await self._stored(conn, p, actor.user_id, q.id)
                note = stored["note"] if stored is not None else None
                if value == "del" and note is not None:
                    await conn.execute(
                        "UPDATE answers SET note = NULL "
                        "WHERE checkin_id = ? AND user_id = ? AND question_id = ?",
                        (p.checkin_id, actor.user_id, q.id),
                    )
                    said = "checkin.note_removed"
                else:
                    said = "checkin.note_kept" if note is not None else "checkin.no_note"
                out.say(Msg(actor.chat_id, self.core.t(said), edit_message_id=message_id))
                return await self._advance(conn, actor, p, out)
            if value == "skip":  # "Prefer not to say": no value, no note, no comment
                await self._store(conn, p, actor.user_id, q.id, q.theme, skip="private")
                await self.core.set_awaiting(conn, actor.user_id, None)
                out.say(
                    Msg(actor.chat_id, self.core.t("checkin.declined"), edit_message_id=message_id)
                )
                return await self._advance(conn, actor, p, out)
            if q.kind == "scale" and value == "na" and q.event:
                await self._store(conn, p, actor.user_id, q.id, q.theme, skip="na")
                await self.core.set_awaiting(conn, actor.user_id, None)
                chosen = self.core.t("checkin.na_chosen", text=q.text)
                out.say(Msg(actor.chat_id, chosen, edit_message_id=message_id))
                return await self._advance(conn, actor, p, out)
            if q.kind == "scale":
                try:
                    score = int(value)
                except ValueError:
                    score = 0
                if not 1 <= score <= 5:
                    out.toast = self.core.t("common.nothing_changed")
                    return out
                before = await self._stored(conn, p, actor.user_id, q.id)
                await self._store(conn, p, actor.user_id, q.id, q.theme, value=score)
                after = await self._stored(conn, p, actor.user_id, q.id)
                await self._set_stage(conn, p, actor.user_id, pos, "note")
                await self.core.set_awaiting(conn, actor.user_id, f"note:{p.checkin_id}:{pos}")
                label = q.low if score == 1 else q.high if score == 5 else ""
                chosen = self.core.t("checkin.chosen", text=q.text, value=score, label=label)
                out.say(Msg(actor.chat_id, chosen, edit_message_id=message_id))
                note = self.core.cipher.dec_opt(after["note"]) if after is not None else None
                # A note written for another score went with it: the writer is told.
                dropped = before is not None and before["note"] is not None and note is None
                return out.say(self._note_prompt(actor.chat_id, p.checkin_id, pos, note, dropped))
            if value == "keep":  # an open question shown again after Back: keep the answer
                stored = await self._stored(conn, p, actor.user_id, q.id)
                if stored is None or stored["text"] is None:
                    out.toast = self.core.t("checkin.type_answer")
                    return out
                await self.core.set_awaiting(conn, actor.user_id, None)
                out.say(
                    Msg(
                        actor.chat_id,
                        self.core.t("checkin.answer_kept"),
                        edit_message_id=message_id,
                    )
                )
                return await self._advance(conn, actor, p, out)
            out.toast = self.core.t("checkin.type_answer")
            return out

    async def _go_back(
        self,
        conn: Conn,
        actor: Actor,
        p: Progress,
        message_id: int | None,
        out: Outcome,
    ) -> Outcome:
        pos = max(p.position - 1, 0)
        await self._set_stage(conn, p, actor.user_id, pos, "answer")
        await self.core.set_awaiting(conn, actor.user_id, self._awaiting_for(p, pos))
        out.say(Msg(actor.chat_id, self.core.t("checkin.went_back"), edit_message_id=message_id))
        question = self._question(actor.chat_id, p.checkin_id, p.items, pos)
        q = self.core.c.question(p.items[pos])
        stored = await self._stored(conn, p, actor.user_id, q.id) if q.kind == "open" else None
        if stored is not None and stored["text"] is not None:
            # Skip would remove what they wrote: show it, and offer to keep it as it is.
            written = self.core.cipher.decrypt(stored["text"])
            keep = Button(self.core.t("checkin.keep_answer"), cb("ci", p.checkin_id, pos, "keep"))
            question = dataclasses.replace(
                question,
                text=question.text + "\n\n" + self.core.t("checkin.answer_existing", text=written),
                buttons=((keep,), *question.buttons),
            )
        return out.say(question)

    def _awaiting_at(self, p: Progress) -> str | None:
        """The typed text the user's current step waits for, as `users.awaiting`."""
        if p.stage == "note":
            return f"note:{p.checkin_id}:{p.position}"
        return self._awaiting_for(p, p.position)

    def _awaiting_for(self, p: Progress, pos: int) -> str | None:
        q = self.core.c.question(p.items[pos])
        return f"ans:{p.checkin_id}:{pos}" if q.kind == "open" else None

    async def _set_stage(self, conn: Conn, p: Progress, user: int, pos: int, stage: str) -> None:
        await conn.execute(
            "UPDATE checkin_progress SET position = ?, stage = ? "
            "WHERE checkin_id = ? AND user_id = ?",
            (pos, stage, p.checkin_id, user),
        )

    async def _store(
        self,
        conn: Conn,
        p: Progress,
        user: int,
        qid: str,
        theme: str,
        *,
        value: int | None = None,
        text: str | None = None,
        skip: str | None = None,
        private: bool = False,
    ) -> None:
        """One answer: a value, a typed text, or a skip with its reason ('na': didn't come up)."""
        await conn.execute(
            "INSERT INTO answers (checkin_id, user_id, question_id, theme, value, text, skip, "
            "words_private, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(checkin_id, user_id, question_id) DO UPDATE"
            " SET value = excluded.value, text = excluded.text, skip = excluded.skip,"
            " answered_at = excluded.answered_at,"
            # a note (and whether it is private) belongs to the answer it was written for
            " note = CASE WHEN answers.value IS excluded.value AND excluded.skip IS NULL"
            " THEN answers.note ELSE NULL END,"
            " words_private = CASE WHEN excluded.text IS NOT NULL THEN excluded.words_private"
            " WHEN answers.value IS excluded.value AND excluded.skip IS NULL"
            " THEN answers.words_private ELSE 0 END",
            (
                p.checkin_id,
                user,
                qid,
                theme,
                value,
                self.core.cipher.enc_opt(text),
                skip,
                int(private),
                self.core.now(),
            ),
        )

    async def _advance(self, conn: Conn, actor: Actor, p: Progress, out: Outcome) -> Outcome:
        nxt = p.position + 1
        if nxt < len(p.items):
            await self._set_stage(conn, p, actor.user_id, nxt, "answer")
            await self.core.set_awaiting(conn, actor.user_id, self._awaiting_for(p, nxt))
            return out.say(self._question(actor.chat_id, p.checkin_id, p.items, nxt))
        await conn.execute(
            "UPDATE checkin_progress SET position = ?, stage = 'done', finished_at = ? "
            "WHERE checkin_id = ? AND user_id = ?",
            (nxt, self.core.now(), p.checkin_id, actor.user_id),
        )
        await self.core.set_awaiting(conn, actor.user_id, None)
        row = await fetch_one(
            conn,
            "SELECT COUNT(*) FROM checkin_progress WHERE checkin_id = ? AND stage = 'done'",
            (p.checkin_id,),
        )
        if row is not None and row[0] == 2:
            out.say(Msg(actor.chat_id, self.core.t("checkin.finished_both")))
            out.queued += await self._reveal(conn, p.checkin_id)
        else:
            out.say(Msg(actor.chat_id, self.core.t("checkin.finished_first")))
        return out

    async def typed(
        self,
        conn: Conn,
        actor: Actor,
        arg: str,
        text: str,
        out: Outcome,
        *,
        note: bool,
    ) -> Outcome:
        """A typed note (after a scale answer) or a typed open answer."""
        checkin_s, _, pos_s = arg.partition(":")
        p = await self._progress(conn, actor.user_id, int(checkin_s))
        stage = "note" if note else "answer"
        if p is None or p.status != "open" or p.position != int(pos_s) or p.stage != stage:
            await self.core.set_awaiting(conn, actor.user_id, None)
            return out.say(Msg(actor.chat_id, self.core.t("checkin.nothing_waiting")))
        text = text.strip()
        if len(text) > MAX_TYPED:
            # Refused, not cut: the writer keeps their words and can shorten them.
            return out.say(Msg(actor.chat_id, self.core.t("checkin.too_long", limit=MAX_TYPED)))
        q = self.core.c.question(p.items[p.position])
        # Held words are stored as the writer's own until they choose to share them.
        held = await self.safety.screen(
            conn,
            actor,
            text,
            out,
            source="note" if note else "answer",
            ref=f"{p.checkin_id}:{q.id}",
        )
        if note:
            await conn.execute(
                "UPDATE answers SET note = ?, words_private = MAX(words_private, ?) "
                "WHERE checkin_id = ? AND user_id = ? AND question_id = ?",
                (
                    self.core.cipher.encrypt(text),
                    int(held is not None),
                    p.checkin_id,
                    actor.user_id,
                    q.id,
                ),
            )
            if held is None:
                row = await fetch_one(
                    conn,
                    "SELECT words_private FROM answers "
                    "WHERE checkin_id = ? AND user_id = ? AND question_id = ?",
                    (p.checkin_id, actor.user_id, q.id),
                )
                key = "checkin.note_saved_me" if row and row[0] else "checkin.note_saved"
                out.say(Msg(actor.chat_id, self.core.t(key)))
        else:
            await self._store(
                conn, p, actor.user_id, q.id, q.theme, text=text, private=held is not None
            )
            if held is None:
                out.say(Msg(actor.chat_id, self.core.t("checkin.answer_saved")))
        await self.core.set_awaiting(conn, actor.user_id, None)
        return await self._advance(conn, actor, p, out)

    async def _release_held(self, conn: Conn, hold: Hold) -> bool:
        """Held words the writer chose to share: shown in the reveal if it is still to come
        (nobody goes first); after it, the safety layer sends them on directly."""
        checkin_s, _, qid = (hold.ref or "").partition(":")
        if not checkin_s.isdigit():
            return False
        cur = await conn.execute(
            "UPDATE answers SET words_private = 0 WHERE checkin_id = ? AND user_id = ? "
            "AND question_id = ? AND checkin_id IN (SELECT id FROM checkins WHERE status = 'open')",
            (int(checkin_s), hold.writer_id, qid),
        )
        return cur.rowcount == 1

    def text_routes(self) -> dict[str, TextRoute]:
        async def note(conn: Conn, actor: Actor, arg: str, text: str, out: Outcome) -> Outcome:
            return await self.typed(conn, actor, arg, text, out, note=True)

        async def answer(conn: Conn, actor: Actor, arg: str, text: str, out: Outcome) -> Outcome:
            return await self.typed(conn, actor, arg, text, out, note=False)

        return {"note": note, "ans": answer}

    async def private_text(
        self, conn: Conn, actor: Actor, text: str, out: Outcome
    ) -> Outcome | None:
        """Unasked text while a question waits. An open question asked for typed words, so
        they are its answer (a reminder showed it again without re-arming the prompt); a
        scale question points at its buttons rather than stay silent."""
        p = await self._progress(conn, actor.user_id)
        if p is None or p.stage != "answer":
            return None
        if self.core.c.question(p.items[p.position]).kind == "open":
            arg = f"{p.checkin_id}:{p.position}"
            return await self.typed(conn, actor, arg, text, out, note=False)
        out.say(Msg(actor.chat_id, self.core.t("checkin.use_buttons")))
        return out.say(self._current(actor.chat_id, p))

    # -- reveal --------------------------------------------------------------------

    async def _reveal(self, conn: Conn, checkin_id: int) -> list[int]:
        """Both finished: show both sets at the same moment, once."""
        cur = await conn.execute(
            "UPDATE checkins SET status = 'revealed', closed_at = ? "
            "WHERE id = ? AND status = 'open'",
            (self.core.now(), checkin_id),
        )
        if cur.rowcount != 1:
            return []
        async with conn.execute(
            "SELECT couple_id, items FROM checkins WHERE id = ?", (checkin_id,)
        ) as c:
            row = await c.fetchone()
        assert row is not None
        couple = await self.core.couple_by_id(conn, row["couple_id"])
        if couple is None:
            return []
        names = {u: await self.core.first_name(conn, u) for u in couple.users}
        async with conn.execute(
            "SELECT user_id, question_id, value, text, note, skip, words_private FROM answers "
            "WHERE checkin_id = ?",
            (checkin_id,),
        ) as c:
            got = {(r["user_id"], r["question_id"]): r for r in await c.fetchall()}
        msgs = []
        for chat in couple.reveal_chats:  # rendered once per reader, in their language
            async with self.core.to(conn, chat):
                parts = [self.core.t("checkin.reveal_head")]
                for n, qid in enumerate(json.loads(row["items"])):
                    parts.append(self._reveal_item(couple, names, got, qid, checkin_id + n))
                parts.append(self.core.t("checkin.reveal_foot"))
            text = "\n\n".join(parts)
            msgs += [Msg(chat, chunk, protect=True) for chunk in split_message(text)]
        return await self.core.queue_all(conn, msgs, key=f"ci:{checkin_id}:reveal")

    def _reveal_item(
        self, couple: Couple, names: dict[int, str], got: dict, qid: str, seed: int
    ) -> str:
        q = self.core.c.question(qid)
        lines = [f"<b>{_esc(q.text)}</b>"]
        values: list[int] = []
        for user in couple.users:
            r = got.get((user, qid))
            # Words kept "Only for me" or held by a safety rule are never part of a reveal.
            shareable = r is not None and not r["words_private"]
            if q.kind == "scale":
                value = r["value"] if r is not None else None
                if value is None and r is not None and r["skip"] == "na":
                    lines.append(self.core.t("checkin.reveal_na", name=names[user]))
                elif value is None:  # declined or missing: a plain dash, no comment
                    lines.append(f"{_esc(names[user])}: —")
                else:
                    values.append(value)
                    lines.append(f"{_esc(names[user])}: <b>{value}</b>/5")
            else:
                answer = self.core.cipher.dec_opt(r["text"]) if shareable and r else None
                lines.append(f"{_esc(names[user])}: {_esc(answer) if answer else '—'}")
            note = self.core.cipher.dec_opt(r["note"]) if shareable and r else None
            if note:
                lines.append(f"   <i>{_esc(note)}</i>")
        if len(values) == 2 and abs(values[0] - values[1]) >= GAP:
            theme = self.core.c.theme(q.theme)
            starter = theme.starters[seed % len(theme.starters)]
            # A gap in self-ratings is two people judging themselves; in the others, two
            # people living the same thing differently. The words say which.
            lines.append(self.core.t(f"checkin.gap_{q.about}", starter=starter))
        return "\n".join(lines)

    # -- the sweep: open, remind, close ------------------------------------------------

    async def sweep(self) -> list[int]:
        """Off the loop, in short transactions: due couples a chunk at a time (each chunk
        opens its check-ins and moves their next due moment together), then the rest."""
        queued: list[int] = []
        now = self.core.now()
        for _ in range(0, SWEEP_BATCH, OPEN_CHUNK):
            opened, full = await self.core.db.job(self._open_due, now)
            queued += opened
            if not full:
                break
        queued += await self.core.db.job(self._sweep_open, now)
        return queued

    async def _sweep_open(self, conn: Conn, now: int) -> list[int]:
        queued = await self._remind(conn, now)
        queued += await self._tell_unreachable(conn)
        queued += await self._close_expired(conn, now)
        return queued

    async def _open_due(self, conn: Conn, now: int) -> tuple[list[int], bool]:
        """Up to OPEN_CHUNK due couples; also whether there may be more."""
        due = [
            couple_from_row(r)
            for r in await fetch_all(
                conn,
                f"SELECT {COUPLE_COLUMNS} FROM couples WHERE next_due_at <= ? AND stage = 'active' "
                "ORDER BY next_due_at LIMIT ?",
                (now, OPEN_CHUNK),
            )
        ]
        window = int(self.core.settings.checkin_window.total_seconds())
        wanted: list[tuple[Couple, str]] = []
        moves = []
        for couple in due:
            assert couple.next_due_at is not None
            tz = couple.timezone or self.core.settings.default_timezone
            due_at = couple.next_due_at
            paused = couple.paused_until is not None and couple.paused_until > due_at
            # Late after downtime: open once, if the week's window is still open.
            if not paused and due_at + window > now:
                wanted.append((couple, schedule.iso_week(schedule.from_ts(due_at), tz)))
            at = schedule.parse_hhmm(couple.local_time)
            assert at is not None
            not_before = schedule.from_ts(couple.paused_until) if couple.paused_until else None
            nxt = schedule.next_due(
                tz,
                couple.weekday,
                at,
                max(schedule.from_ts(due_at), self.core.clock.now()),
                not_before=not_before,
            )
            moves.append((schedule.ts(nxt), couple.id))
        queued = await self._open_many(conn, wanted)
        await conn.executemany("UPDATE couples SET next_due_at = ? WHERE id = ?", moves)
        return queued, len(due) == OPEN_CHUNK

    async def _remind(self, conn: Conn, now: int) -> list[int]:
        rows_ = await fetch_all(
            conn,
            "SELECT c.id, p.user_id, p.position, p.stage, c.items FROM checkins c "
            "JOIN checkin_progress p ON p.checkin_id = c.id "
            "JOIN couples k ON k.id = c.couple_id JOIN users u ON u.id = p.user_id "
            "WHERE c.status = 'open' AND c.remind_at <= ? AND p.stage != 'done' "
            "AND k.reminders = 1 AND u.reachable = 1 AND k.stage = 'active' "
            "AND (k.paused_until IS NULL OR k.paused_until <= ?)",  # a pause holds
            (now, now),
        )
        queued: list[int] = []
        langs = await self.core.langs(conn, [r["user_id"] for r in rows_])
        for r in rows_:
            p = Progress(
                r["id"], 0, tuple(json.loads(r["items"])), "open", r["position"], r["stage"]
            )
            with self.core.speaking(langs[r["user_id"]]):
                msgs = [
                    Msg(r["user_id"], self.core.t("checkin.reminder")),
                    self._current(r["user_id"], p),
                ]
            queued += await self.core.queue_all(
                conn, msgs, key=f"ci:{r['id']}:remind:{r['user_id']}"
            )
        await conn.execute(
            "UPDATE checkins SET remind_at = NULL WHERE status = 'open' AND remind_at <= ?", (now,)
        )
        return queued

    async def _tell_unreachable(self, conn: Conn) -> list[int]:
        """A partner who blocked the bot: the other is told once per check-in, never a loop."""
        rows_ = await fetch_all(
            conn,
            "SELECT c.id, p.user_id, k.user_a, k.user_b FROM checkins c "
            "JOIN checkin_progress p ON p.checkin_id = c.id JOIN users u ON u.id = p.user_id "
            "JOIN couples k ON k.id = c.couple_id "
            "WHERE c.status = 'open' AND u.reachable = 0 AND p.stage != 'done' "
            "AND k.stage = 'active'",
        )
        queued: list[int] = []
        for r in rows_:
            other = r["user_b"] if r["user_id"] == r["user_a"] else r["user_a"]
            async with self.core.to(conn, other):
                name = await self.core.first_name(conn, r["user_id"])
                msg = Msg(other, self.core.t("checkin.partner_unreachable", name=name))
            new = await self.core.queue(conn, msg, key=f"ci:{r['id']}:unreachable:{r['user_id']}")
            if new is not None:
                queued.append(new)
        return queued

    async def _close_expired(self, conn: Conn, now: int) -> list[int]:
        expired = await fetch_all(
            conn,
            "SELECT c.id, c.couple_id FROM checkins c WHERE c.status = 'open' AND c.closes_at <= ?",
            (now,),
        )
        queued: list[int] = []
        for r in expired:
            await conn.execute(
                "UPDATE checkins SET status = 'expired', closed_at = ? WHERE id = ?", (now, r["id"])
            )
            couple = await self.core.couple_by_id(conn, r["couple_id"])
            if couple is None:
                continue
            done = {
                p["user_id"]: p["stage"] == "done"
                for p in await fetch_all(
                    conn,
                    "SELECT user_id, stage FROM checkin_progress WHERE checkin_id = ?",
                    (r["id"],),
                )
            }
            msgs = []
            for user in couple.users:
                await conn.execute(
                    "UPDATE users SET awaiting = NULL WHERE id = ? AND "
                    "(awaiting LIKE 'note:%' OR awaiting LIKE 'ans:%')",
                    (user,),
                )
                key = "checkin.closed_you_done" if done.get(user) else "checkin.closed_unfinished"
                async with self.core.to(conn, user):
                    msgs.append(Msg(user, self.core.t(key)))
            queued += await self.core.queue_all(conn, msgs, key=f"ci:{r['id']}:expired")
        return queued


def _esc(text: str) -> str:
    return html.escape(text)
