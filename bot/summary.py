"""The weekly summary: numbers as pure functions over check-in rows, then text and a chart.

A week is *complete* when both partners finished its check-in; only complete weeks
show scores or feed the chart, so a partner who never finished never sees the
other's answers, not even averaged. The sweep writes one `summaries` row per
couple and week (UNIQUE) with the rendered text, and queues the messages under
keys derived from it, so a duplicate sweep or a restart sends once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import fmean

import aiosqlite

from bot import chart, schedule
from bot.callbacks import cb
from bot.core import Actor, Core, Couple, Safe
from bot.db import fetch_all, fetch_one
from bot.feature import Feature
from bot.messages import CAPTION_LIMIT, Button, Msg, Outcome, split_message
from bot.promises import local_day
from bot.safety import fired_between
from content import CORE_THEMES, THEME_IDS

CATCH_UP = 3 * 24 * 3600  # a week closed longer ago than this is not summarised late
SEEN_MARGIN = 600  # re-read the last ten minutes each sweep, for late commits
SWEEP_BATCH = 100
GAP_WORTH_NAMING = 1.0
HISTORY_ROWS = 12

# -- pure numbers -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeekData:
    """One check-in week of a couple: who finished, and each one's scale answers by theme."""

    week: str
    status: str
    finished: frozenset[int]
    values: dict[int, dict[str, list[int]]] = field(default_factory=dict)

    def complete(self, users: tuple[int, int]) -> bool:
        return all(u in self.finished for u in users)


def theme_means(week: WeekData, user: int) -> dict[str, float]:
    return {t: fmean(v) for t, v in week.values.get(user, {}).items() if v}


def couple_means(week: WeekData, users: tuple[int, int]) -> dict[str, float]:
    """Per theme, the mean of both partners' means (themes both answered)."""
    a, b = theme_means(week, users[0]), theme_means(week, users[1])
    return {t: (a[t] + b[t]) / 2 for t in _ordered(a.keys() & b.keys())}


def overall(week: WeekData, users: tuple[int, int]) -> float | None:
    means = couple_means(week, users)
    return fmean(means.values()) if means else None


def changes(current: dict[str, float], previous: dict[str, float]) -> dict[str, float]:
    return {t: current[t] - previous[t] for t in current if t in previous}


def gaps(week: WeekData, users: tuple[int, int]) -> dict[str, float]:
    a, b = theme_means(week, users[0]), theme_means(week, users[1])
    return {t: abs(a[t] - b[t]) for t in _ordered(a.keys() & b.keys())}


def biggest_gap(week: WeekData, users: tuple[int, int]) -> tuple[str, float] | None:
    """The theme you saw most differently (first in display order on ties), if any."""
    found = gaps(week, users)
    if not found:
        return None
    theme = max(found, key=lambda t: (found[t], -THEME_IDS.index(t)))
    return theme, found[theme]


def focus_theme(week: WeekData | None, users: tuple[int, int]) -> str:
    """The weakest or most divergent theme: lowest mean, plus the gap, weighs most."""
    if week is None or not week.complete(users):
        return CORE_THEMES[0]
    means, found = couple_means(week, users), gaps(week, users)
    if not means:
        return CORE_THEMES[0]
    return max(means, key=lambda t: ((5 - means[t]) + found[t], -THEME_IDS.index(t)))


def previous_complete(history: list[WeekData], users: tuple[int, int]) -> WeekData | None:
    """The latest complete week before the last one in `history` (sorted by week)."""
    for week in reversed(history[:-1]):
        if week.complete(users):
            return week
    return None


def week_start(week: str) -> date:
    year, num = week.split("-W")
    return date.fromisocalendar(int(year), int(num), 1)


def welcome_back(history: list[WeekData]) -> bool:
    """This week someone took part after a week without anyone (or without a check-in)."""
    if len(history) < 2 or not history[-1].finished:
        return False
    before = history[-2]
    skipped = week_start(history[-1].week) - week_start(before.week) > timedelta(days=7)
    return skipped or not before.finished


def trend(
    history: list[WeekData], users: tuple[int, int], limit: int = 12
) -> tuple[list[str], dict[str, list[float | None]]]:
    """Complete weeks only (last `limit`): per core theme the couple mean, plus overall."""
    weeks = [w for w in history if w.complete(users)][-limit:]
    series: dict[str, list[float | None]] = {t: [] for t in CORE_THEMES}
    series["overall"] = []
    for w in weeks:
        means = couple_means(w, users)
        for t in CORE_THEMES:
            series[t].append(means.get(t))
        series["overall"].append(overall(w, users))
    return [w.week for w in weeks], series


@dataclass(frozen=True, slots=True)
class PromiseRow:
    promiser_id: int
    text: str
    source: str
    state: str
    created_at: int
    due_at: int
    resolved_at: int | None


@dataclass(frozen=True, slots=True)
class PromiseCounts:
    kept: int
    missed: int
    open: int
    due_next: list[PromiseRow]
    agreements: list[PromiseRow]


def promise_counts(rows: list[PromiseRow], start: int, end: int) -> PromiseCounts:
    """Settled within [start, end), open at `end`, due in the week after, agreed this week."""
    settled = [p for p in rows if p.resolved_at is not None and start <= p.resolved_at < end]
    live = [
        p for p in rows if p.created_at < end and (p.resolved_at is None or p.resolved_at >= end)
    ]
    return PromiseCounts(
        kept=sum(p.state == "kept" for p in settled),
        missed=sum(p.state == "missed" for p in settled),
        open=len(live),
        due_next=sorted(
            (p for p in live if p.due_at < end + schedule.WEEK), key=lambda p: p.due_at
        ),
        agreements=[p for p in rows if p.source == "conflict" and start <= p.created_at < end],
    )


def _ordered(themes: object) -> list[str]:
    return [t for t in THEME_IDS if t in themes]  # type: ignore[operator]


def fmt(value: float) -> str:
    return f"{value:.1f}"


# -- the feature --------------------------------------------------------------


@dataclass
class Rendered:
    text: str
    headline: str
    chart_weeks: list[str]
    series: dict[str, list[float | None]]


class Summaries(Feature):
    def __init__(self, core: Core) -> None:
        super().__init__(core)
        # Check-ins closed before this were all looked at (in memory: a restart looks back
        # CATCH_UP again, which the UNIQUE summaries row makes harmless).
        self._seen_until: int | None = None

    # -- reading rows ----------------------------------------------------------

    async def history(
        self, conn: aiosqlite.Connection, couple_id: int, up_to: str, limit: int = 13
    ) -> list[WeekData]:
        """Closed check-in weeks up to and including `up_to`, oldest first (three queries)."""
        checkins = list(
            await conn.execute_fetchall(
                "SELECT id, week, status FROM checkins WHERE couple_id = ? AND week <= ? "
                "AND status IN ('revealed', 'expired') ORDER BY week DESC LIMIT ?",
                (couple_id, up_to, limit),
            )
        )
        if not checkins:
            return []
        ids = [c["id"] for c in checkins]
        marks = ",".join("?" * len(ids))
        finished: dict[int, set[int]] = {i: set() for i in ids}
        for r in await conn.execute_fetchall(
            f"SELECT checkin_id, user_id FROM checkin_progress WHERE checkin_id IN ({marks}) "
            "AND (stage = 'done' OR finished_at IS NOT NULL)",
            ids,
        ):
            finished[r["checkin_id"]].add(r["user_id"])
        values: dict[int, dict[int, dict[str, list[int]]]] = {i: {} for i in ids}
        for r in await conn.execute_fetchall(
            f"SELECT checkin_id, user_id, theme, value FROM answers WHERE checkin_id IN ({marks}) "
            "AND value IS NOT NULL",
            ids,
        ):
            per_user = values[r["checkin_id"]].setdefault(r["user_id"], {})
            per_user.setdefault(r["theme"], []).append(int(r["value"]))
        out: list[WeekData] = []
        for c in reversed(checkins):
            done = finished[c["id"]]
            if c["status"] == "revealed" and not done:
                done = set(values[c["id"]])  # a reveal means both finished
            kept = {u: v for u, v in values[c["id"]].items() if u in done}
            out.append(WeekData(c["week"], c["status"], frozenset(done), kept))
        return out

    async def promise_rows(self, conn: aiosqlite.Connection, couple_id: int) -> list[PromiseRow]:
        async with conn.execute(
            "SELECT promiser_id, text, source, state, created_at, due_at, resolved_at "
            "FROM promises WHERE couple_id = ? ORDER BY due_at, id",
            (couple_id,),
        ) as cur:
            return [
                PromiseRow(
                    r["promiser_id"],
                    self.core.cipher.decrypt(r["text"]),
                    r["source"],
                    r["state"],
                    r["created_at"],
                    r["due_at"],
                    r["resolved_at"],
                )
                for r in await cur.fetchall()
            ]

    async def thanks_counts(
        self, conn: aiosqlite.Connection, couple_id: int, start: int, end: int
    ) -> dict[int, int]:
        return {
            r["from_id"]: r["n"]
            for r in await fetch_all(
                conn,
                "SELECT from_id, COUNT(*) AS n FROM appreciations WHERE couple_id = ? "
                "AND created_at >= ? AND created_at < ? GROUP BY from_id",
                (couple_id, start, end),
            )
        }

    # -- rendering -------------------------------------------------------------

    async def render(
        self, conn: aiosqlite.Connection, couple: Couple, week: str, end: int
    ) -> Rendered:
        t = self.core.t
        users = couple.users
        names = {u: await self.core.first_name(conn, u) for u in users}
        a, b = users
        history = await self.history(conn, couple.id, week)
        this = history[-1] if history and history[-1].week == week else None
        first, last = week_start(week), week_start(week) + timedelta(days=6)
        label = f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
        lines = [t("summary.title", week=label), ""]
        headline = t("summary.headline_none")
        if this is not None and this.complete(users):
            prev = previous_complete(history, users)
            cur_means = couple_means(this, users)
            delta = changes(cur_means, couple_means(prev, users) if prev else {})
            ma, mb = theme_means(this, a), theme_means(this, b)
            lines.append(t("summary.scores_head"))
            for theme in cur_means:
                th = self.core.content.theme(theme)
                change = ""
                if theme in delta:
                    d = delta[theme]
                    change = t("summary.change", sign="+" if d >= 0 else "−", delta=fmt(abs(d)))
                lines.append(
                    t(
                        "summary.score_line",
                        emoji=th.emoji,
                        theme=th.name,
                        a_name=names[a],
                        a=fmt(ma[theme]),
                        b_name=names[b],
                        b=fmt(mb[theme]),
                        change=change,
                    )
                )
            if prev is None:
                lines.append(t("summary.first_week"))
            gap = biggest_gap(this, users)
            if gap is not None and gap[1] >= GAP_WORTH_NAMING:
                th = self.core.content.theme(gap[0])
                starter = th.starters[week_start(week).isocalendar()[1] % len(th.starters)]
                lines.append("")
                lines.append(
                    t(
                        "summary.gap",
                        theme=th.name,
                        a_name=names[a],
                        a=fmt(ma[gap[0]]),
                        b_name=names[b],
                        b=fmt(mb[gap[0]]),
                        starter=starter,
                    )
                )
            else:
                lines.append(t("summary.no_gap"))
            total = overall(this, users)
            headline = t("summary.headline_both", overall=fmt(total) if total else "–")
        elif this is not None and this.finished:
            lines.append(t("summary.one_sided"))
            headline = t("summary.headline_one")
        else:
            lines.append(t("summary.none_answered"))
        promises = await self.promise_rows(conn, couple.id)
        lines += ["", *self._promise_lines(promises, names, couple, end)]
        thanks = await self.thanks_counts(conn, couple.id, end - schedule.WEEK, end)
        lines.append("")
        if thanks:
            lines.append(
                t(
                    "summary.thanks_line",
                    a_name=names[a],
                    a=thanks.get(a, 0),
                    b_name=names[b],
                    b=thanks.get(b, 0),
                )
            )
        else:
            lines.append(t("summary.thanks_none"))
        if welcome_back(history):
            lines += ["", t("summary.welcome_back")]
        elif this is not None and this.complete(users):
            lines += ["", t("summary.together")]
        if await fired_between(conn, couple.id, end - schedule.WEEK, end):
            # Someone's words were held this week (crisis, fear, control): no advice to
            # speak up or confront, for either of them; the same neutral line for both.
            lines += ["", t("summary.focus_neutral")]
        else:
            focus = self.core.content.theme(focus_theme(this, users))
            tip = focus.tips[week_start(week).isocalendar()[1] % len(focus.tips)]
            lines += ["", t("summary.focus", emoji=focus.emoji, theme=focus.name, tip=tip)]
        weeks, series = trend(history, users)
        return Rendered("\n".join(lines).strip(), headline, weeks, series)

    def _promise_lines(
        self, rows: list[PromiseRow], names: dict[int, str], couple: Couple, end: int
    ) -> list[str]:
        t = self.core.t
        counts = promise_counts(rows, end - schedule.WEEK, end)
        lines = [t("summary.promises_head")]
        if not (counts.kept or counts.missed or counts.open):
            return [*lines, t("summary.promises_none")]
        lines.append(
            t("summary.promises_line", kept=counts.kept, missed=counts.missed, open=counts.open)
        )
        when = self._when
        if counts.due_next:
            lines.append(t("summary.due_head"))
            for p in counts.due_next[:5]:
                lines.append(
                    t(
                        "summary.due_line",
                        name=names.get(p.promiser_id, ""),
                        text=p.text,
                        when=when(couple, p.due_at),
                    )
                )
        if counts.agreements:
            lines.append(t("summary.agreements_head"))
            for p in counts.agreements[:5]:
                lines.append(
                    t("summary.agreement_line", name=names.get(p.promiser_id, ""), text=p.text)
                )
        return lines

    def _when(self, couple: Couple, at: int) -> str:
        return local_day(at, couple.timezone or self.core.settings.default_timezone)

    async def chart_for(self, rendered: Rendered) -> bytes | None:
        """The trend picture, only once there are two complete weeks to compare."""
        if len(rendered.chart_weeks) < 2:
            return None
        names = {t: self.core.content.theme(t).name for t in CORE_THEMES}
        overall_name = self.core.t("summary.chart_overall")
        series = {
            (overall_name if k == "overall" else names[k]): v for k, v in rendered.series.items()
        }
        labels = [f"{week_start(w).day} {week_start(w):%b}" for w in rendered.chart_weeks]
        return await chart.render(labels, series, self.core.t("summary.chart_title"), overall_name)

    def messages(self, chat_id: int, text: str, png: bytes | None) -> list[Msg]:
        """Text within Telegram's limits; the chart as a protected photo."""
        if png is not None and len(text) <= CAPTION_LIMIT:
            return [Msg(chat_id, text, photo=png, protect=True)]
        msgs = [Msg(chat_id, part, protect=True) for part in split_message(text)]
        if png is not None:
            msgs.append(Msg(chat_id, self.core.t("summary.chart_caption"), photo=png, protect=True))
        return msgs

    # -- the weekly send -------------------------------------------------------

    async def sweep(self) -> list[int]:
        """Summarise closed weeks that have none. After the first full look back, only
        check-ins closed since the previous sweep (less a margin) are read again."""
        now = self.core.now()
        since = now - CATCH_UP
        if self._seen_until is not None and since < self._seen_until <= now:
            since = self._seen_until
        async with (
            self.core.db.tx() as conn,
            conn.execute(
                "SELECT c.id, c.couple_id, c.week, c.closed_at AS ended "
                "FROM checkins c JOIN couples k ON k.id = c.couple_id "
                "LEFT JOIN summaries s ON s.couple_id = c.couple_id AND s.week = c.week "
                "WHERE c.status IN ('revealed', 'expired') AND c.closed_at >= ? "
                "AND s.id IS NULL AND k.stage = 'active' "
                "ORDER BY c.closed_at LIMIT ?",
                (since, SWEEP_BATCH),
            ) as cur,
        ):
            due = list(await cur.fetchall())
        queued: list[int] = []
        for row in due:
            queued += await self._summarise(row["couple_id"], row["week"], row["id"], row["ended"])
        if len(due) < SWEEP_BATCH:
            self._seen_until = now - SEEN_MARGIN
        return queued

    async def _summarise(self, couple_id: int, week: str, checkin_id: int, end: int) -> list[int]:
        async with self.core.db.tx() as conn:
            couple = await self.core.couple_by_id(conn, couple_id)
            if couple is None:
                return []
            rendered = await self.render(conn, couple, week, end)
        # Drawn outside the transaction and off the loop; the insert below decides who sends.
        png = await self.chart_for(rendered)
        enc = self.core.cipher.encrypt
        async with self.core.db.tx() as conn:
            cur = await conn.execute(
                "INSERT INTO summaries (couple_id, week, checkin_id, headline, text, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (couple_id, week) DO NOTHING",
                (
                    couple_id,
                    week,
                    checkin_id,
                    enc(rendered.headline),
                    enc(rendered.text),
                    self.core.now(),
                ),
            )
            if cur.rowcount != 1:
                return []
            queued: list[int] = []
            for chat in couple.reveal_chats:
                msgs = self.messages(chat, rendered.text, png)
                queued += await self.core.queue_all(
                    conn,
                    msgs,
                    key=f"summary:{couple_id}:{week}:{chat}",
                    # Scheduled, so never in the night: held until their quiet hours end.
                    not_before=self.core.quiet(couple).outside_ts(self.core.now()),
                )
            return queued

    # -- /summary, /history ----------------------------------------------------

    async def _stored(
        self, conn: aiosqlite.Connection, couple_id: int, summary_id: int | None = None
    ) -> aiosqlite.Row | None:
        sql = "SELECT * FROM summaries WHERE couple_id = ? "
        params: tuple = (couple_id,)
        if summary_id is not None:
            sql += "AND id = ? "
            params += (summary_id,)
        return await fetch_one(conn, sql + "ORDER BY week DESC LIMIT 1", params)

    async def _show(
        self, conn: aiosqlite.Connection, couple: Couple, row: aiosqlite.Row
    ) -> tuple[str, Rendered]:
        """The stored text, and the chart data up to that week (drawn again on request)."""
        weeks, series = trend(await self.history(conn, couple.id, row["week"]), couple.users)
        text = self.core.cipher.decrypt(row["text"])
        return text, Rendered(text, "", weeks, series)

    async def summary_command(self, actor: Actor) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.paired(conn, actor, out)
            if couple is None:
                return out
            open_week = await fetch_one(
                conn,
                "SELECT c.week FROM checkins c LEFT JOIN summaries s ON s.couple_id = c.couple_id "
                "AND s.week = c.week WHERE c.couple_id = ? AND s.id IS NULL "
                "AND c.status = 'open' ORDER BY c.week DESC LIMIT 1",
                (couple.id,),
            )
            row = await self._stored(conn, couple.id)
            if open_week is not None or row is None:
                if row is None and open_week is None:
                    return out.say(Msg(actor.chat_id, self.core.t("summary.none_yet")))
                return out.say(Msg(actor.chat_id, await self._so_far(conn, couple), protect=True))
            text, rendered = await self._show(conn, couple, row)
        png = await self.chart_for(rendered)
        out.reply += self.messages(actor.chat_id, text, png)
        return out

    async def _so_far(self, conn: aiosqlite.Connection, couple: Couple) -> str:
        end = self.core.now()
        names = {u: await self.core.first_name(conn, u) for u in couple.users}
        lines = [self.core.t("summary.so_far"), ""]
        lines += self._promise_lines(await self.promise_rows(conn, couple.id), names, couple, end)
        thanks = await self.thanks_counts(conn, couple.id, end - schedule.WEEK, end)
        a, b = couple.users
        lines += [
            "",
            self.core.t(
                "summary.thanks_line",
                a_name=names[a],
                a=thanks.get(a, 0),
                b_name=names[b],
                b=thanks.get(b, 0),
            )
            if thanks
            else self.core.t("summary.thanks_none"),
            "",
            self.core.t("summary.so_far_note"),
        ]
        return "\n".join(lines)

    async def history_command(self, actor: Actor) -> Outcome:
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.paired(conn, actor, out)
            if couple is None:
                return out
            found = await fetch_all(
                conn,
                "SELECT id, week, headline FROM summaries WHERE couple_id = ? "
                "ORDER BY week DESC LIMIT ?",
                (couple.id, HISTORY_ROWS),
            )
        if not found:
            return out.say(Msg(actor.chat_id, self.core.t("summary.none_yet")))
        lines = [self.core.t("summary.history_head")]
        buttons = []
        for r in found:
            first = week_start(r["week"])
            label = f"{first.day} {first:%b %Y}"
            lines.append(
                self.core.t(
                    "summary.history_line",
                    week=label,
                    headline=Safe(self.core.cipher.decrypt(r["headline"])),
                )
            )
            buttons.append(Button(label, cb("sm", "w", r["id"])))
        grid = tuple(tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3))
        return out.say(Msg(actor.chat_id, "\n".join(lines), grid, protect=True))

    async def open_week(self, actor: Actor, summary_id: int | None) -> Outcome:
        """A /history button: the presser must belong to the couple the summary is for."""
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.couple_of(conn, actor.user_id)
            row = None
            if couple is not None and summary_id is not None:
                row = await self._stored(conn, couple.id, summary_id)
            if couple is None or row is None:
                out.toast, out.alert = self.core.t("summary.not_found"), True
                return out
            text, rendered = await self._show(conn, couple, row)
        png = await self.chart_for(rendered)
        out.reply += self.messages(actor.chat_id, text, png)
        return out
