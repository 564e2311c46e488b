"""The weekly summary's numbers as pure functions over crafted weeks, and the text limits.

Expectations are computed by hand in the comments. The old summary averaged both
partners per theme: for 1/5 then 3/3 it showed "(+0.0)" and a flat line, for 4/3 then
5/2 again "(+0.0)", although in both couples the partners moved two points apart or
together.
"""

from __future__ import annotations

import pytest

import content
from bot.messages import split_message
from bot.summary.numbers import (
    MIN_TREND_WEEKS,
    Change,
    PromiseRow,
    Side,
    WeekData,
    biggest_gap,
    changes,
    felt,
    focus_theme,
    promise_week,
    side_by_side,
    trend,
    welcome_back,
)

A, B = 1, 2
USERS = (A, B)
DAY = 24 * 3600
ABOUT = {q.id: q.about for q in content.load().questions}
# expectations-01 rates yourself; boundaries-01 and support-02 your partner; support-03 us.
SELF_Q, PARTNER_Q, US_Q = "expectations-01", "boundaries-01", "support-03"


def week(name: str, a: dict[str, int] | None, b: dict[str, int] | None) -> WeekData:
    """A closed week; a partner given as None did not finish."""
    finished = frozenset(u for u, v in ((A, a), (B, b)) if v is not None)
    values = {u: v for u, v in ((A, a), (B, b)) if v is not None}
    status = "revealed" if len(finished) == 2 else "expired"
    items = tuple(dict.fromkeys([*(a or {}), *(b or {})]))
    return WeekData(name, status, finished, values, items)


def test_one_five_then_three_three_shows_each_partner_moving() -> None:
    w1 = week("2026-W45", {PARTNER_Q: 1}, {PARTNER_Q: 5})
    w2 = week("2026-W46", {PARTNER_Q: 3}, {PARTNER_Q: 3})
    assert side_by_side(w1, USERS) == [Side(PARTNER_Q, 1, 5)]
    assert side_by_side(w1, USERS)[0].gap == 4  # |1 - 5|
    assert side_by_side(w2, USERS)[0].gap == 0
    # Alice 1 -> 3 (+2), Bob 5 -> 3 (-2): not "(+0.0)"
    assert changes([w1, w2], USERS, PARTNER_Q) == [
        Change(A, "2026-W45", 1, 3),
        Change(B, "2026-W45", 5, 3),
    ]
    tr = trend([w1, w2], USERS, ABOUT, "2026-W46")
    assert tr.series == {A: [1.0, 3.0], B: [5.0, 3.0]}  # two lines, not one flat average
    assert tr.gap(USERS) == [4.0, 0.0]
    assert not tr.shown(USERS)  # two complete weeks are not a trend yet


def test_four_three_then_five_two_shows_the_gap_widening() -> None:
    w1 = week("2026-W45", {US_Q: 4}, {US_Q: 3})
    w2 = week("2026-W46", {US_Q: 5}, {US_Q: 2})
    assert [s.gap for s in side_by_side(w1, USERS)] == [1]
    assert [s.gap for s in side_by_side(w2, USERS)] == [3]
    # Alice 4 -> 5 (+1), Bob 3 -> 2 (-1); the mean 3.5 -> 3.5 hid both
    assert [(c.user, c.before, c.now) for c in changes([w1, w2], USERS, US_Q)] == [
        (A, 4, 5),
        (B, 3, 2),
    ]
    w3 = week("2026-W47", {US_Q: 5}, {US_Q: 1})
    tr = trend([w1, w2, w3], USERS, ABOUT, "2026-W47")
    assert tr.series == {A: [4.0, 5.0, 5.0], B: [3.0, 2.0, 1.0]}
    assert tr.gap(USERS) == [1.0, 3.0, 4.0]
    assert tr.shown(USERS) and MIN_TREND_WEEKS == 3


def test_change_is_only_like_for_like_and_only_across_complete_weeks() -> None:
    w1 = week("2026-W45", {PARTNER_Q: 2, SELF_Q: 5}, {PARTNER_Q: 4})
    w2 = week("2026-W46", {PARTNER_Q: 5}, None)  # Bob did not finish: never compared
    w3 = week("2026-W47", {US_Q: 4, SELF_Q: 1}, {US_Q: 4, PARTNER_Q: 3})
    history = [w1, w2, w3]
    assert changes(history, USERS, US_Q) == []  # a different question before: no change
    assert changes(history, USERS, SELF_Q) == [Change(A, "2026-W45", 5, 1)]  # whose: Alice's
    # Bob's 4 -> 3 on the same question; Alice has no value for it this week
    assert changes(history, USERS, PARTNER_Q) == [Change(B, "2026-W45", 4, 3)]
    assert changes([w1, w2], USERS, PARTNER_Q) == []  # this week incomplete: nothing shown


def test_felt_leaves_self_ratings_out_and_skips_count_nowhere() -> None:
    # Alice rates herself 1 (self) and the week 5 (us): how the week felt to her is 5.
    w = week("2026-W45", {SELF_Q: 1, US_Q: 5}, {SELF_Q: 5, US_Q: 3, PARTNER_Q: 4})
    assert felt(w, A, ABOUT) == 5.0
    assert felt(w, B, ABOUT) == pytest.approx(3.5)  # (3 + 4) / 2
    # "Didn't come up" is stored without a value, so it is simply absent here.
    skipped = week("2026-W46", {SELF_Q: 3}, {SELF_Q: 3})
    assert felt(skipped, A, ABOUT) is None


def test_trend_has_a_gap_for_every_week_without_both() -> None:
    w1 = week("2026-W45", {US_Q: 4}, {US_Q: 2})
    w2 = week("2026-W46", {US_Q: 5}, None)  # one-sided: a gap for both lines
    # 2026-W47: no check-in at all (a pause): a gap too
    w4 = week("2026-W48", {US_Q: 3}, {US_Q: 3})
    w5 = week("2026-W49", {US_Q: 2}, {US_Q: 4})
    tr = trend([w1, w2, w4, w5], USERS, ABOUT, "2026-W49")
    assert tr.weeks == ["2026-W45", "2026-W46", "2026-W47", "2026-W48", "2026-W49"]
    assert tr.series[A] == [4.0, None, None, 3.0, 2.0]
    assert tr.series[B] == [2.0, None, None, 3.0, 4.0]
    assert tr.complete_weeks(USERS) == 3 and tr.shown(USERS)


def test_trend_keeps_the_last_twelve_weeks() -> None:
    history = [week(f"2026-W{n:02d}", {US_Q: n % 5 + 1}, {US_Q: 3}) for n in range(1, 16)]
    tr = trend(history, USERS, ABOUT, "2026-W15")
    assert tr.weeks[0] == "2026-W04" and tr.weeks[-1] == "2026-W15" and len(tr.weeks) == 12


def test_one_sided_week_shows_nothing() -> None:
    one = week("2026-W47", {"expectations-02": 5}, None)
    assert side_by_side(one, USERS) == []
    assert focus_theme(one, USERS) == "expectations"  # a core theme, no data used


def test_biggest_gap_and_focus_use_each_partners_own_figures() -> None:
    w = week(
        "2026-W48",
        {"expectations-02": 3, PARTNER_Q: 4, "jealousy-01": 2},
        {"expectations-02": 3, PARTNER_Q: 2, "jealousy-01": 1},
    )
    assert biggest_gap(side_by_side(w, USERS)) == Side(PARTNER_Q, 4, 2)
    # jealousy: lower of the two is 1, gap 1 -> 5; boundaries: 2 and gap 2 -> 5; first wins
    assert focus_theme(w, USERS) == "boundaries"
    calm = week("2026-W49", {US_Q: 4}, {US_Q: 3})
    assert biggest_gap(side_by_side(calm, USERS)) is None  # one point is not named
    assert focus_theme(None, USERS) == "expectations"


def test_welcome_back_after_a_missed_or_skipped_week() -> None:
    w45 = week("2026-W45", {US_Q: 4}, {US_Q: 4})
    missed = week("2026-W46", None, None)
    one = week("2026-W47", {US_Q: 5}, None)
    w48 = week("2026-W48", {US_Q: 4}, {US_Q: 4})
    assert welcome_back([w45, missed, w48])
    assert welcome_back([w45, w48])  # weeks without a check-in at all
    assert not welcome_back([w45, missed])
    assert welcome_back([missed, one])
    assert not welcome_back([one, w48])


def promise(
    state: str, created: int, due: int, resolved: int | None, src: str = "own"
) -> PromiseRow:
    return PromiseRow(A, f"{state}@{due // DAY}", src, state, created, due, resolved)


def test_promise_week_names_no_tally_and_lists_only_future_open_ones() -> None:
    start, end, now = 100 * DAY, 107 * DAY, 107 * DAY + 3600
    rows = [
        promise("kept", 90 * DAY, 101 * DAY, 102 * DAY),
        promise("missed", 95 * DAY, 103 * DAY, 104 * DAY),
        promise("kept", 80 * DAY, 85 * DAY, 86 * DAY),  # settled the week before
        promise("open", 101 * DAY, 110 * DAY, None),  # due next week
        promise("asked", 99 * DAY, 106 * DAY, None, src="conflict"),  # overdue: not "coming"
        promise("open", 101 * DAY, 130 * DAY, None, src="conflict"),  # later than next week
        promise("kept", 102 * DAY, 108 * DAY, 107 * DAY + 60),  # confirmed kept by now
        promise("claimed", 103 * DAY, 109 * DAY, None),
    ]
    w = promise_week(rows, start, end, now)
    assert [p.due_at for p in w.kept] == [101 * DAY]
    assert [p.due_at for p in w.to_resume] == [103 * DAY]
    assert [p.due_at for p in w.due_next] == [109 * DAY, 110 * DAY]
    assert [p.due_at for p in w.waiting] == [106 * DAY]  # overdue, still open: not dropped
    assert len(w.agreements) == 1  # the conflict agreement made within the week
    empty = promise_week([], start, end, now)
    assert (empty.kept, empty.to_resume, empty.due_next) == ([], [], [])


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
