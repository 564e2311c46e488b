"""Which five items a couple gets this week: a pure function of their history.

Slots: one scale item each from expectations, boundaries and support; one from
the rotating themes (the least recently asked theme; ties go to the theme whose
last scores were lowest or furthest apart, then to the bank's order); one open
question from the weekly pool. Within a slot a question asked in the last
`NO_REPEAT_WEEKS` check-ins is avoided while the bank allows, scale questions
are preferred, and the least recently asked wins (never-asked first, by id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from content import CORE_THEMES, THEME_IDS, WEEKLY, Content, Question

NO_REPEAT_WEEKS = 8
ROTATING = tuple(t for t in THEME_IDS if t not in CORE_THEMES)


@dataclass(frozen=True)
class PastWeek:
    """One earlier check-in of the couple, oldest first in the history list."""

    items: tuple[str, ...]
    # theme -> (mean score, absolute gap between partners); only themes answered by both
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)


def compose(content: Content, history: Sequence[PastWeek]) -> list[str]:
    last_asked: dict[str, int] = {}
    for age, week in enumerate(reversed(history)):  # age 0 = last week
        for qid in week.items:
            last_asked.setdefault(qid, age)
    theme_age: dict[str, int] = {}
    for age, week in enumerate(reversed(history)):
        for qid in week.items:
            if content.has_question(qid):
                theme_age.setdefault(content.question(qid).theme, age)

    def pick(theme: str) -> str:
        pool = content.by_theme(theme)  # scale questions first, then by id
        for q in pool:
            # The common case, cheaply: a never-asked question in preference order wins.
            if q.id not in last_asked and (q.kind == "scale" or theme == WEEKLY):
                return q.id

        def key(q: Question) -> tuple[int, int, int, int, str]:
            age = last_asked.get(q.id)
            recent = age is not None and age < NO_REPEAT_WEEKS - 1
            # fresh before recent; scale before open; never-asked, then longest ago
            return (
                int(recent),
                int(q.kind != "scale") if theme != WEEKLY else 0,
                int(age is not None),
                -(age or 0),
                q.id,
            )

        return min(pool, key=key).id

    last = history[-1].scores if history else {}

    def rotating_key(theme: str) -> tuple[int, int, float, float, int]:
        age = theme_age.get(theme)
        mean, gap = last.get(theme, (5.0, 0.0))
        return (
            int(age is not None),  # never asked first,
            -(age or 0),  # then the longest ago
            mean,  # lower scores first
            -gap,  # then the widest gap
            ROTATING.index(theme),
        )

    rotating = min(ROTATING, key=rotating_key)
    return [pick("expectations"), pick("boundaries"), pick("support"), pick(rotating), pick(WEEKLY)]
