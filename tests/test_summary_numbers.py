"""The weekly summary's numbers as pure functions over crafted weeks, and the text limits."""

from __future__ import annotations

import pytest

from bot.messages import split_message
from bot.summary import (
    PromiseRow,
    WeekData,
    biggest_gap,
    changes,
    couple_means,
    focus_theme,
    overall,
    previous_complete,
    promise_counts,
    theme_means,
    trend,
    welcome_back,
)

A, B = 1, 2
USERS = (A, B)
DAY = 24 * 3600


def week(name: str, a: dict[str, list[int]] | None, b: dict[str, list[int]] | None) -> WeekData:
    """A closed week; a partner given as None did not finish."""
    finished = frozenset(u for u, v in ((A, a), (B, b)) if v is not None)
    values = {u: v for u, v in ((A, a), (B, b)) if v is not None}
    status = "revealed" if len(finished) == 2 else "expired"
    return WeekData(name, status, finished, values)


W45 = week(
    "2026-W45",
    {"expectations": [4, 4], "boundaries": [3], "support": [5]},
    {"expectations": [2], "boundaries": [3], "support": [4]},
)
W46_MISSED = week("2026-W46", None, None)
W47_ONE_SIDED = week("2026-W47", {"expectations": [5], "support": [5]}, None)
W48 = week(
    "2026-W48",
    {"expectations": [3], "boundaries": [4], "support": [4], "jealousy": [2]},
    {"expectations": [3], "boundaries": [2], "support": [5], "jealousy": [1]},
)


def test_first_week_has_means_but_nothing_to_compare() -> None:
    assert theme_means(W45, A) == {"expectations": 4.0, "boundaries": 3.0, "support": 5.0}
    means = couple_means(W45, USERS)
    assert means == {"expectations": 3.0, "boundaries": 3.0, "support": 4.5}
    assert list(means) == ["expectations", "boundaries", "support"]  # display order
    assert overall(W45, USERS) == pytest.approx(3.5)
    assert previous_complete([W45], USERS) is None
    assert changes(means, {}) == {}
    assert biggest_gap(W45, USERS) == ("expectations", 2.0)
    assert not welcome_back([W45])
    weeks, _ = trend([W45], USERS)
    assert weeks == ["2026-W45"]  # one week: too little for a chart


def test_missed_and_one_sided_weeks_compare_with_the_last_complete_one() -> None:
    history = [W45, W46_MISSED, W47_ONE_SIDED, W48]
    prev = previous_complete(history, USERS)
    assert prev is W45
    delta = changes(couple_means(W48, USERS), couple_means(W45, USERS))
    assert delta == {"expectations": 0.0, "boundaries": 0.0, "support": pytest.approx(0.0)}
    assert "jealousy" not in delta  # not asked before: no change to show
    weeks, series = trend(history, USERS)
    assert weeks == ["2026-W45", "2026-W48"]  # only weeks both finished
    assert series["support"] == [4.5, 4.5]
    assert series["overall"] == [pytest.approx(3.5), pytest.approx(3.0)]


def test_one_sided_week_shows_no_scores() -> None:
    assert not W47_ONE_SIDED.complete(USERS)
    assert couple_means(W47_ONE_SIDED, USERS) == {}
    assert overall(W47_ONE_SIDED, USERS) is None
    assert biggest_gap(W47_ONE_SIDED, USERS) is None
    assert focus_theme(W47_ONE_SIDED, USERS) == "expectations"  # a core theme, no data used


def test_welcome_back_after_a_missed_or_skipped_week() -> None:
    assert welcome_back([W45, W46_MISSED, W48])  # a week nobody finished
    assert welcome_back([W45, W48])  # weeks without a check-in at all
    assert not welcome_back([W45, W46_MISSED])  # still away: nothing to welcome
    assert welcome_back([W46_MISSED, W47_ONE_SIDED])  # one came back: welcome, no streak
    assert not welcome_back([W47_ONE_SIDED, W48])


def test_gap_and_focus() -> None:
    assert biggest_gap(W48, USERS) == ("boundaries", 2.0)
    # jealousy is the weakest (1.5, gap 1); boundaries 3.0 with gap 2: 3.5 vs 4.5
    assert focus_theme(W48, USERS) == "jealousy"
    tie = week("2026-W49", {"support": [4], "boundaries": [4]}, {"support": [4], "boundaries": [4]})
    assert biggest_gap(tie, USERS) == ("boundaries", 0.0)  # first in display order
    assert focus_theme(tie, USERS) == "boundaries"
    assert focus_theme(None, USERS) == "expectations"


def test_trend_keeps_the_last_twelve_complete_weeks() -> None:
    history = [
        week(f"2026-W{n:02d}", {"support": [n % 5 + 1]}, {"support": [3]}) for n in range(1, 16)
    ]
    weeks, series = trend(history, USERS)
    assert weeks[0] == "2026-W04" and weeks[-1] == "2026-W15" and len(weeks) == 12
    assert series["expectations"] == [None] * 12  # not asked: a gap in the line


def promise(
    state: str, created: int, due: int, resolved: int | None, src: str = "own"
) -> PromiseRow:
    return PromiseRow(A, "x", src, state, created, due, resolved)


def test_promise_counts() -> None:
    start, end = 100 * DAY, 107 * DAY
    rows = [
        promise("kept", 90 * DAY, 101 * DAY, 102 * DAY),
        promise("missed", 95 * DAY, 103 * DAY, 104 * DAY),
        promise("kept", 80 * DAY, 85 * DAY, 86 * DAY),  # settled the week before
        promise("open", 101 * DAY, 110 * DAY, None),  # due next week
        promise("asked", 99 * DAY, 106 * DAY, None, src="conflict"),
        promise("open", 101 * DAY, 130 * DAY, None, src="conflict"),
        promise("open", 108 * DAY, 109 * DAY, None),  # made after the week closed
        promise("kept", 102 * DAY, 104 * DAY, 108 * DAY),  # settled after the close: open then
    ]
    counts = promise_counts(rows, start, end)
    assert (counts.kept, counts.missed, counts.open) == (1, 1, 4)
    assert [p.due_at for p in counts.due_next] == [104 * DAY, 106 * DAY, 110 * DAY]
    assert len(counts.agreements) == 1  # the conflict agreement made within the week
    empty = promise_counts([], start, end)
    assert (empty.kept, empty.missed, empty.open, empty.due_next) == (0, 0, 0, [])


def test_split_message_on_line_boundaries() -> None:
    lines = [f"line {n} " + "x" * 90 for n in range(120)]
    text = "\n".join(lines)
    parts = split_message(text)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert "\n".join(parts) == text  # nothing lost, every cut at a line end
    assert split_message("short") == ["short"]
    long_line = "word " * 1000
    parts = split_message(long_line.strip())
    assert all(len(p) <= 4096 for p in parts) and " ".join(parts).split() == long_line.split()
