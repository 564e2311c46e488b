"""Schedule arithmetic and weekly composition: pure core, no Telegram."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta

import content
from bot import schedule
from bot.composition import NO_REPEAT_WEEKS, Past, compose, week_number


def test_spring_forward_moves_to_next_valid_minute() -> None:
    after = datetime(2026, 3, 28, tzinfo=UTC)
    due = schedule.next_due("Europe/Berlin", 6, time(2, 30), after)
    assert due == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST


def test_fall_back_takes_first_occurrence() -> None:
    after = datetime(2026, 10, 24, tzinfo=UTC)
    assert schedule.next_due("Europe/Berlin", 6, time(2, 30), after) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )  # 02:30 CEST, not CET
    after = datetime(2026, 10, 31, tzinfo=UTC)
    assert schedule.next_due("America/New_York", 6, time(1, 30), after) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )  # 01:30 EDT


def test_next_due_is_strictly_after_and_respects_pause() -> None:
    due = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    assert schedule.next_due("Europe/Berlin", 6, time(19), due) == datetime(
        2026, 12, 6, 18, 0, tzinfo=UTC
    )
    paused = datetime(2026, 12, 20, tzinfo=UTC)
    assert schedule.next_due("Europe/Berlin", 6, time(19), due, not_before=paused) == datetime(
        2026, 12, 20, 18, 0, tzinfo=UTC
    )


def test_zone_names_are_validated_case_insensitively() -> None:
    assert schedule.valid_zone("europe/berlin") == "Europe/Berlin"
    assert schedule.valid_zone("New York") is None
    assert schedule.valid_zone("America/New York") == "America/New_York"
    assert schedule.valid_zone("Mars/Base") is None


def _weeks(n: int) -> list[str]:
    first = date(2026, 11, 30)
    return ["{}-W{:02d}".format(*(first + timedelta(weeks=k)).isocalendar()[:2]) for k in range(n)]


def test_composition_covers_the_slots_and_never_repeats_within_eight_weeks() -> None:
    c = content.load()
    asked: dict[str, str] = {}
    seen_at: dict[str, int] = {}
    rotating: list[str] = []
    for n, week in enumerate(_weeks(10)):
        past = Past(dict(asked))
        items = compose(c, past, week)
        assert len(items) == 5
        themes = [c.question(q).theme for q in items]
        assert themes[:3] == ["expectations", "boundaries", "support"]
        assert themes[3] not in ("expectations", "boundaries", "support", "weekly")
        assert themes[4] == "weekly" and c.question(items[4]).kind == "open"
        for qid in items:
            if qid in seen_at:
                assert n - seen_at[qid] >= NO_REPEAT_WEEKS, qid
            seen_at[qid] = n
            asked[qid] = week
        assert compose(c, past, week) == items  # deterministic
        rotating.append(themes[3])
    assert len(set(rotating[:7])) == 7  # every other theme in seven weeks


def test_two_years_ask_every_question_and_none_within_eight_weeks() -> None:
    """104 weekly check-ins: the whole bank is asked, and no question comes back early.

    The old composer saw only the last ten weeks and asked 49 of 92 questions.
    """
    c = content.load()
    asked: dict[str, str] = {}
    at: dict[str, list[int]] = {}
    for n, week in enumerate(_weeks(104)):
        items = compose(c, Past(dict(asked)), week)
        assert compose(c, Past(dict(asked)), week) == items  # same history, same week
        for qid in items:
            at.setdefault(qid, []).append(n)
            asked[qid] = week
    assert set(at) == {q.id for q in c.questions}, sorted({q.id for q in c.questions} - set(at))
    for qid, weeks in at.items():
        assert all(b - a >= NO_REPEAT_WEEKS for a, b in itertools.pairwise(weeks)), qid


def test_weeks_off_count_as_time_passing() -> None:
    """History is by calendar week: after a long pause, nothing is held back."""
    c = content.load()
    first = compose(c, Past(), "2026-W49")
    later = compose(c, Past(dict.fromkeys(first, "2026-W49")), "2027-W10")
    assert later[:3] != first[:3]  # still least-recently asked first: fresh ones come before
    assert week_number("2027-W01") - week_number("2026-W53") == 1


def test_rotating_slot_prefers_low_or_divergent_theme_among_equals() -> None:
    c = content.load()
    low = compose(c, Past({}, {"digital": (1.5, 0.0), "honesty": (4.5, 0.0)}), "2026-W49")
    assert c.question(low[3]).theme == "digital"


def test_shipped_content_validates() -> None:
    c = content.load()
    assert len(c.questions) >= 60
    for theme in content.THEME_IDS:
        assert len([q for q in c.questions if q.theme == theme]) >= 6
        assert 2 <= len(c.theme(theme).tips) <= 3 or len(c.theme(theme).tips) == 3


def test_the_asked_table_is_filled_from_existing_check_ins() -> None:
    """An existing database keeps its history: the migration backfills last-asked weeks."""
    import sqlite3

    from bot.db import migrations

    conn = sqlite3.connect(":memory:")
    steps = migrations()
    for _, name, sql in steps:
        if "question_bank" in name:
            conn.execute("INSERT INTO users (id, first_name, created_at) VALUES (1, 'A', 0)")
            conn.execute("INSERT INTO users (id, first_name, created_at) VALUES (2, 'B', 0)")
            conn.execute("INSERT INTO couples (id, user_a, user_b, created_at) VALUES (7, 1, 2, 0)")
            for week, items in (
                ("2026-W45", '["support-01", "weekly-01"]'),
                ("2026-W47", '["support-02", "weekly-01"]'),
            ):
                conn.execute(
                    "INSERT INTO checkins (couple_id, week, items, opened_at, closes_at) "
                    "VALUES (7, ?, ?, 0, 0)",
                    (week, items),
                )
        conn.executescript(sql)
    got = dict(conn.execute("SELECT question_id, week FROM asked WHERE couple_id = 7"))
    assert got == {"support-01": "2026-W45", "support-02": "2026-W47", "weekly-01": "2026-W47"}
