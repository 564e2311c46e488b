"""Which five items a couple gets this week: a pure function of their whole history.

Slots: one item each from expectations, boundaries and support; one from the
rotating themes (the least recently asked theme; ties go to the theme whose last
scores were lowest or furthest apart, then to the bank's order); one open question
from the weekly pool.

Within a slot, a question asked less than `NO_REPEAT_WEEKS` weeks ago is avoided
while the bank allows; among the rest the least recently asked wins (never asked
first), then scale before open, then the bank's order. So every question of a theme
comes round in turn, open ones included, and none returns within eight weeks.

The history the composer needs is compact and complete: the week each question was
last asked (the `asked` table keeps one row per couple and question), never a window
of recent check-ins, which made rotating themes alternate between two questions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from content import CORE_THEMES, THEME_IDS, WEEKLY, Content, Question

NO_REPEAT_WEEKS = 8
ROTATING = tuple(t for t in THEME_IDS if t not in CORE_THEMES)
_EPOCH = date(1970, 1, 5)  # a Monday: week numbers count whole weeks from it


@lru_cache(maxsize=4096)  # a few hundred distinct weeks in any run: parse each once
def week_number(iso_week: str) -> int:
    """'2026-W48' -> a count of weeks, so two weeks' distance is a subtraction."""
    year, num = iso_week.split("-W")
    return (date.fromisocalendar(int(year), int(num), 1) - _EPOCH).days // 7


@dataclass(frozen=True)
class Past:
    """All the composer needs to know of a couple's earlier check-ins."""

    # question id -> the ISO week ('2026-W48') it was last asked in
    last_asked: Mapping[str, str] = field(default_factory=dict)
    # theme -> (mean score, absolute gap between partners) in the last check-in both answered
    scores: Mapping[str, tuple[float, float]] = field(default_factory=dict)


def compose(content: Content, past: Past, week: str) -> list[str]:
    now = week_number(week)
    ages = {qid: now - week_number(w) for qid, w in past.last_asked.items()}
    theme_age: dict[str, int] = {}
    for qid, age in ages.items():
        theme = qid.rpartition("-")[0]  # ids start with their theme (content checks it)
        theme_age[theme] = min(age, theme_age.get(theme, age))

    def pick(theme: str) -> str:
        def key(q: Question) -> tuple[int, int, int, int, str]:
            age = ages.get(q.id)
            recent = age is not None and age < NO_REPEAT_WEEKS
            return (
                int(recent),  # out of the no-repeat window first,
                int(age is not None),  # never asked before asked,
                -(age or 0),  # longest ago first,
                int(q.kind != "scale"),  # scale before open,
                q.id,  # then the bank's order
            )

        pool = content.by_theme(theme)  # sorted: scale before open, then by id
        # The common case, cheaply and with the same result: the key's minimum is the
        # first never-asked question in the pool's order, if there is one.
        for q in pool:
            if q.id not in ages:
                return q.id
        return min(pool, key=key).id

    def rotating_key(theme: str) -> tuple[int, int, float, float, int]:
        age = theme_age.get(theme)
        mean, gap = past.scores.get(theme, (5.0, 0.0))
        return (
            int(age is not None),  # never asked first,
            -(age or 0),  # then the longest ago
            mean,  # lower scores first
            -gap,  # then the widest gap
            ROTATING.index(theme),
        )

    rotating = min(ROTATING, key=rotating_key)
    return [pick("expectations"), pick("boundaries"), pick("support"), pick(rotating), pick(WEEKLY)]
