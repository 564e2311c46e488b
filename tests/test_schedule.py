"""Schedule arithmetic and weekly composition: pure core, no Telegram."""

from __future__ import annotations

from datetime import UTC, datetime, time

import content
from bot import schedule
from bot.composition import NO_REPEAT_WEEKS, PastWeek, compose


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


def test_composition_covers_the_slots_and_never_repeats_within_eight_weeks() -> None:
    c = content.load()
    history: list[PastWeek] = []
    seen_at: dict[str, int] = {}
    for week in range(10):
        items = compose(c, history)
        assert len(items) == 5
        themes = [c.question(q).theme for q in items]
        assert themes[:3] == ["expectations", "boundaries", "support"]
        assert themes[3] not in ("expectations", "boundaries", "support", "weekly")
        assert themes[4] == "weekly" and c.question(items[4]).kind == "open"
        for qid in items:
            if qid in seen_at:
                assert week - seen_at[qid] >= NO_REPEAT_WEEKS, qid
            seen_at[qid] = week
        assert compose(c, history) == items  # deterministic
        history.append(PastWeek(tuple(items)))
    rotating = {c.question(q).theme for w in history[:7] for q in w.items[3:4]}
    assert len(rotating) == 7  # every other theme in seven weeks


def test_rotating_slot_prefers_low_or_divergent_theme_among_equals() -> None:
    c = content.load()
    low = compose(c, [PastWeek((), {"digital": (1.5, 0.0), "honesty": (4.5, 0.0)})])
    assert c.question(low[3]).theme == "digital"


def test_shipped_content_validates() -> None:
    c = content.load()
    assert len(c.questions) >= 60
    for theme in content.THEME_IDS:
        assert len([q for q in c.questions if q.theme == theme]) >= 6
        assert 2 <= len(c.theme(theme).tips) <= 3 or len(c.theme(theme).tips) == 3
