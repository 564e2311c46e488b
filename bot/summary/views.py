"""What a couple reads in a summary, /summary and /history: text from numbers, no SQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from babel.dates import format_interval, format_skeleton
from babel.numbers import format_decimal

from bot import chart, schedule
from bot.core import Safe
from bot.summary.numbers import (
    Change,
    PromiseRow,
    PromiseWeek,
    Side,
    Trend,
    WeekData,
    biggest_gap,
    fmt,
    week_start,
)
from bot.summary.store import PastAnswer
from content import Content

MAX_LISTED = 5


def short_date(week: str, lang: str = "en") -> str:
    """'23 Nov', '23 nov', '23 нояб.': CLDR's short day and month."""
    return format_skeleton("MMMd", week_start(week), locale=schedule.cldr(lang))


def long_date(week: str, lang: str = "en") -> str:
    return format_skeleton("yMMMd", week_start(week), locale=schedule.cldr(lang))


def week_label(week: str, lang: str = "en") -> str:
    """The week's Monday to Sunday, as CLDR writes a range of dates in `lang`."""
    first = week_start(week)
    return format_interval(first, first + timedelta(days=6), "yMMMd", locale=schedule.cldr(lang))


@dataclass(frozen=True)
class Views:
    t: Callable[..., str]  # Core.t: a catalogue string with every value escaped
    catalogue: Callable[[], Content]  # the reader's language's content (Core.c)

    @property
    def content(self) -> Content:
        return self.catalogue()

    def number(self, value: float) -> str:
        """One decimal, as the reader's language writes it ('3.5', '3,5')."""
        rounded = Decimal(fmt(value))  # rounded as before; CLDR only writes it
        return format_decimal(rounded, "0.0", locale=schedule.cldr(self.content.lang))

    # -- the week's answers ----------------------------------------------------

    def answers(
        self,
        sides: list[Side],
        changes: dict[str, list[Change]],
        names: dict[int, str],
        users: tuple[int, int],
    ) -> list[str]:
        """Each scale question: both values, the gap as its own figure, whose change."""
        t = self.t
        a, b = users
        lines = [t("summary.answers_head")]
        for side in sides:
            q = self.content.question(side.question_id)
            theme = self.content.theme(q.theme)
            lines.append(t("summary.answer_question", emoji=theme.emoji, text=q.text))
            shown = {
                "a_name": names[a],
                "a": self._value(side.a, side.a_skip),
                "b_name": names[b],
                "b": self._value(side.b, side.b_skip),
            }
            if side.gap is None:
                lines.append(t("summary.answer_pair_one", **shown))
            else:
                gap = t("summary.apart", n=side.gap) if side.gap else t("summary.same")
                lines.append(t("summary.answer_pair", gap=gap, **shown))
            for c in changes.get(side.question_id, []):
                lines.append(
                    t(
                        "summary.change",
                        name=names[c.user],
                        before=c.before,
                        now=c.now,
                        when=short_date(c.week, self.content.lang),
                    )
                )
        return lines

    def _value(self, value: int | None, skip: str | None) -> object:
        """A value, "didn't come up", or a plain dash (declined, or no answer): no comment."""
        if value is not None:
            return value
        return self.t("summary.na") if skip == "na" else "–"

    def biggest_gap(self, sides: list[Side], week: str) -> str:
        side = biggest_gap(sides)
        if side is None:
            return self.t("summary.no_gap")
        q = self.content.question(side.question_id)
        theme = self.content.theme(q.theme)
        starter = theme.starters[week_start(week).isocalendar()[1] % len(theme.starters)]
        return self.t(f"summary.gap_{q.about}", theme=theme.name, starter=starter)

    # -- the trend ---------------------------------------------------------------

    def colours(self, users: tuple[int, int]) -> dict[int, str]:
        return {
            u: self.t(f"summary.colour_{name}")
            for u, (name, _, _) in zip(users, chart.PARTNER_COLOURS, strict=True)
        }

    def trend(self, tr: Trend, names: dict[int, str], users: tuple[int, int]) -> list[str]:
        """Each partner's own line of weeks, the gap now; nothing before three weeks."""
        t = self.t
        if not tr.shown(users):
            return [t("summary.trend_wait", n=tr.complete_weeks(users))]
        lines = [t("summary.trend_head")]
        for u in users:
            values = " → ".join("–" if v is None else self.number(v) for v in tr.series[u])
            lines.append(t("summary.trend_line", name=names[u], values=values))
        gap = tr.gap(users)[-1]
        if gap is not None:
            lines.append(t("summary.trend_gap", gap=self.number(gap)))
        colour = self.colours(users)
        a, b = users
        lines.append(
            t(
                "summary.chart_key",
                a_name=names[a],
                a_colour=colour[a],
                b_name=names[b],
                b_colour=colour[b],
            )
        )
        return lines

    def chart_lines(
        self, tr: Trend, names: dict[int, str], users: tuple[int, int]
    ) -> list[tuple[str, list[float | None]]]:
        colour = self.colours(users)
        return [
            (self.t("summary.chart_legend", name=names[u], colour=colour[u]), tr.series[u])
            for u in users
        ]

    def chart_text(self) -> chart.ChartText:
        t = self.t
        return chart.ChartText(
            title=t("summary.chart_title"),
            y_label=t("summary.chart_y"),
            low=t("summary.chart_low"),
            high=t("summary.chart_high"),
            gap=t("summary.chart_gap"),
        )

    # -- promises and thanks -------------------------------------------------------

    def promises(
        self, week: PromiseWeek, names: dict[int, str], when: Callable[[int], str]
    ) -> list[str]:
        """Followed through, to pick up again, due next, agreed: never a count of a person."""
        t = self.t
        lines = [t("summary.promises_head")]
        if not (week.kept or week.to_resume or week.due_next or week.waiting or week.agreements):
            return [*lines, t("summary.promises_none")]

        def name(p: PromiseRow) -> str:
            return names.get(p.promiser_id, "")

        for p in week.kept:
            lines.append(t("summary.kept_line", name=name(p), text=p.text))
        for p in week.to_resume:
            lines.append(t("summary.resume_line", name=name(p), text=p.text))

        def listed(head: str, found: list[PromiseRow], dated: bool) -> list[str]:
            """A heading, at most `MAX_LISTED` promises, and how many more there are."""
            if not found:
                return []
            out = [t(head)]
            for p in found[:MAX_LISTED]:
                if dated:
                    out.append(
                        t("summary.due_line", name=name(p), text=p.text, when=when(p.due_at))
                    )
                else:
                    out.append(t("summary.agreement_line", name=name(p), text=p.text))
            if len(found) > MAX_LISTED:
                out.append(t("summary.more", n=len(found) - MAX_LISTED))
            return out

        lines += listed("summary.due_head", week.due_next, dated=True)
        lines += listed("summary.waiting_head", week.waiting, dated=True)
        lines += listed("summary.agreements_head", week.agreements, dated=False)
        return lines

    def thanks(self, count: int) -> str:
        """One figure for the two of you: the summary is shared, so no one is counted."""
        return self.t("summary.thanks", n=count) if count else self.t("summary.thanks_none")

    # -- /history: the couple's own past answers -----------------------------------

    def past_answers(
        self,
        items: list[str],
        answers: list[PastAnswer],
        shown: tuple[int, ...],
        names: dict[int, str],
        hidden: int | None,
        in_group: bool,
        reader: int,
    ) -> str:
        """The answers of `shown` users to `items`, in order; `hidden` is a partner whose
        answers stay private (the week closed before both finished). Words kept "Only for
        me" (or held) are shown to their writer alone, in a private chat."""
        t = self.t
        got = {(a.user_id, a.question_id): a for a in answers}
        lines = [t("summary.past_head_group" if in_group else "summary.past_head")]
        if not any(a.user_id in shown for a in answers):
            lines.append(t("summary.past_none"))
        else:
            for qid in items:
                if not any((u, qid) in got for u in shown) or not self.content.has_question(qid):
                    continue
                lines += ["", t("summary.past_question", text=self.content.question(qid).text)]
                for u in shown:
                    a = got.get((u, qid))
                    if a is not None:
                        words = not a.private or (u == reader and not in_group)
                        lines += self._past_one(a, names[u], words)
        if hidden is not None:
            lines += ["", t("summary.past_private", name=names[hidden])]
        return "\n".join(lines)

    def _past_one(self, a: PastAnswer, name: str, words: bool) -> list[str]:
        """One answer; with `words` False its typed words (answer, note) are left out."""
        t = self.t
        if a.value is not None:
            line = t("summary.past_value", name=name, value=a.value)
        elif a.skip == "na":
            line = t("summary.past_na", name=name)
        elif a.text and words:
            line = t("summary.past_text", name=name, text=a.text)
        else:
            line = t("summary.past_skipped", name=name)
        note = [t("summary.past_note", note=a.note)] if a.note and words else []
        return [line, *note]

    def history_line(self, week: str, headline: str) -> str:
        return self.t(
            "summary.history_line", week=long_date(week, self.content.lang), headline=Safe(headline)
        )


def last_complete(history: list[WeekData], users: tuple[int, int]) -> WeekData | None:
    """The latest complete week before the last one in `history`."""
    for week in reversed(history[:-1]):
        if week.complete(users):
            return week
    return None
