"""The weekly summary's numbers: pure functions over a couple's closed check-in weeks.

Rules that keep the numbers honest (issue 14):
- each partner's figures stay their own; the gap between them is a figure of its own,
  never folded into an average;
- a change is shown only like for like: the same question, answered by the same person
  in two complete weeks, and it says whose it is;
- "how the weeks have felt" uses only answers about the partner and the two of you
  (`about` = partner or us): a self-rating ("how clear were you") measures something else;
- nothing is presented as a trend before `MIN_TREND_WEEKS` complete weeks;
- a week counts only when both finished: unfinished answers are never shown, not even
  averaged; a skipped answer ("Didn't come up") has no value and counts nowhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import fmean

from bot import schedule
from content import CORE_THEMES, THEME_IDS

MIN_TREND_WEEKS = 3
TREND_WEEKS = 12
FELT = ("partner", "us")  # answers that say how the week was lived, not self-ratings
GAP_WORTH_NAMING = 2  # points apart on one question, as in the reveal


def theme_of(question_id: str) -> str:
    return question_id.rsplit("-", 1)[0]


@dataclass(frozen=True, slots=True)
class WeekData:
    """One closed check-in week of a couple: who finished, and each one's scale values."""

    week: str
    status: str
    finished: frozenset[int]
    # user -> question id -> value; only answers with a value (skips are absent)
    values: dict[int, dict[str, int]] = field(default_factory=dict)
    items: tuple[str, ...] = ()  # the questions, in the order asked
    # user -> question id -> why no value: 'na' (didn't come up), 'private' (prefer not to say)
    skips: dict[int, dict[str, str]] = field(default_factory=dict)

    def complete(self, users: tuple[int, int]) -> bool:
        return all(u in self.finished for u in users)


@dataclass(frozen=True, slots=True)
class Side:
    """One scale question of a complete week: each partner's value (None: no value)."""

    question_id: str
    a: int | None
    b: int | None
    a_skip: str | None = None  # why `a` has no value, if it was skipped
    b_skip: str | None = None

    @property
    def gap(self) -> int | None:
        return None if self.a is None or self.b is None else abs(self.a - self.b)


def side_by_side(week: WeekData | None, users: tuple[int, int]) -> list[Side]:
    """The scale questions of a complete week in the order asked; nothing otherwise."""
    if week is None or not week.complete(users):
        return []
    a, b = (week.values.get(u, {}) for u in users)
    sa, sb = (week.skips.get(u, {}) for u in users)
    asked = list(week.items) or sorted(a.keys() | b.keys())
    return [
        Side(q, a.get(q), b.get(q), sa.get(q), sb.get(q))
        for q in asked
        if q in a or q in b or q in sa or q in sb
    ]


def biggest_gap(sides: list[Side]) -> Side | None:
    """The question seen furthest apart, if `GAP_WORTH_NAMING` or more (first on ties)."""
    best = max(sides, key=lambda s: s.gap or 0, default=None)
    return best if best is not None and (best.gap or 0) >= GAP_WORTH_NAMING else None


@dataclass(frozen=True, slots=True)
class Change:
    """One person's answer to the same question, then and now."""

    user: int
    week: str  # when it was last answered
    before: int
    now: int


def changes(history: list[WeekData], users: tuple[int, int], question_id: str) -> list[Change]:
    """Per partner, this week's value against their last value for the same question.

    Only complete weeks count (the last one in `history` is this week); a partner with
    no earlier value, or no value now, has no change.
    """
    if not history or not history[-1].complete(users):
        return []
    found: list[Change] = []
    for user in users:
        now = history[-1].values.get(user, {}).get(question_id)
        if now is None:
            continue
        for week in reversed(history[:-1]):
            before = week.values.get(user, {}).get(question_id)
            if week.complete(users) and before is not None:
                found.append(Change(user, week.week, before, now))
                break
    return found


def felt(week: WeekData, user: int, about: Mapping[str, str]) -> float | None:
    """How the week was for `user`: the mean of their answers about partner and couple."""
    values = [v for q, v in week.values.get(user, {}).items() if about.get(q) in FELT]
    return fmean(values) if values else None


def week_start(week: str) -> date:
    year, num = week.split("-W")
    return date.fromisocalendar(int(year), int(num), 1)


def iso_week(day: date) -> str:
    year, num, _ = day.isocalendar()
    return f"{year}-W{num:02d}"


@dataclass(frozen=True, slots=True)
class Trend:
    """Calendar weeks, oldest first, and per partner how each felt (None: a gap)."""

    weeks: list[str]
    series: dict[int, list[float | None]]
    users: tuple[int, int]

    def gap(self, users: tuple[int, int]) -> list[float | None]:
        a, b = (self.series[u] for u in users)
        return [None if x is None or y is None else abs(x - y) for x, y in zip(a, b, strict=True)]

    def complete_weeks(self, users: tuple[int, int]) -> int:
        return sum(g is not None for g in self.gap(users))

    def shown(self, users: tuple[int, int]) -> bool:
        return self.complete_weeks(users) >= MIN_TREND_WEEKS


def trend(
    history: list[WeekData],
    users: tuple[int, int],
    about: Mapping[str, str],
    up_to: str,
    limit: int = TREND_WEEKS,
) -> Trend:
    """Every calendar week up to `up_to` (at most `limit`, from the first check-in shown).

    A week without a check-in, with one partner unfinished, or without an answer from
    both about how it felt (a decline, say) is None for both: a gap, never bridged.
    """
    last = week_start(up_to)
    known = {w.week: w for w in history}
    weeks = [iso_week(last - timedelta(weeks=k)) for k in reversed(range(limit))]
    firsts = [w for w in weeks if w in known]
    weeks = weeks[weeks.index(firsts[0]) :] if firsts else [up_to]
    series: dict[int, list[float | None]] = {u: [] for u in users}
    for name in weeks:
        w = known.get(name)
        got = [felt(w, u, about) if w is not None and w.complete(users) else None for u in users]
        for u, value in zip(users, got, strict=True):
            series[u].append(value if None not in got else None)
    return Trend(weeks, series, users)


def theme_means(week: WeekData, user: int) -> dict[str, float]:
    per: dict[str, list[int]] = {}
    for q, v in week.values.get(user, {}).items():
        per.setdefault(theme_of(q), []).append(v)
    return {t: fmean(v) for t, v in per.items()}


def focus_theme(week: WeekData | None, users: tuple[int, int]) -> str:
    """Where to look next week: the theme lowest for either partner, or furthest apart.

    Uses each partner's own figures (the lower one and the gap), never their average.
    """
    if week is None or not week.complete(users):
        return CORE_THEMES[0]
    a, b = theme_means(week, users[0]), theme_means(week, users[1])
    both = [t for t in THEME_IDS if t in a and t in b]
    if not both:
        return CORE_THEMES[0]
    return max(both, key=lambda t: ((5 - min(a[t], b[t])) + abs(a[t] - b[t]), -THEME_IDS.index(t)))


def welcome_back(history: list[WeekData]) -> bool:
    """This week someone took part after a week without anyone (or without a check-in)."""
    if len(history) < 2 or not history[-1].finished:
        return False
    before = history[-2]
    skipped = week_start(history[-1].week) - week_start(before.week) > timedelta(days=7)
    return skipped or not before.finished


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
class PromiseWeek:
    """A week of promises, framed as following through and picking up again: no tally."""

    kept: list[PromiseRow]  # followed through within the week
    to_resume: list[PromiseRow]  # didn't happen within the week: there to pick up again
    due_next: list[PromiseRow]  # still open now and due in the coming week, soonest first
    waiting: list[PromiseRow]  # still open now though their day has passed: not forgotten
    agreements: list[PromiseRow]  # agreed in /conflict within the week


LIVE = ("open", "asked", "claimed")


def promise_week(rows: list[PromiseRow], start: int, end: int, now: int) -> PromiseWeek:
    """Settled within [start, end); due between `now` and a week after `end`, still open now.

    `now` is when the summary is drawn (at or after `end`): a promise confirmed kept or
    past its date by then is not "due in the coming week".
    """
    settled = [p for p in rows if p.resolved_at is not None and start <= p.resolved_at < end]
    return PromiseWeek(
        kept=[p for p in settled if p.state == "kept"],
        to_resume=[p for p in settled if p.state == "missed"],
        due_next=sorted(
            (
                p
                for p in rows
                if p.state in LIVE and max(end, now) <= p.due_at < end + schedule.WEEK
            ),
            key=lambda p: p.due_at,
        ),
        waiting=[p for p in rows if p.state in LIVE and p.due_at < max(end, now)],
        agreements=[p for p in rows if p.source == "conflict" and start <= p.created_at < end],
    )


def fmt(value: float) -> str:
    return f"{value:.1f}"
