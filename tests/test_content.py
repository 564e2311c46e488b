"""The content itself: whom each question is about, and words that are the project's own."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

import content

SEED = Path("/work/shared/seed/trust-article.txt")
SHINGLE = 6


def _words(text: str) -> list[str]:
    # Any script's letters: the rule holds for every catalogue, not only the English one.
    return re.findall(r"[^\W_]+(?:'[^\W_]+)?", text.lower().replace("’", "'"))


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def _all_content_text(lang: str = "en") -> dict[str, str]:
    c = content.load(lang)
    found: dict[str, str] = {}
    for q in c.questions:
        found[q.id] = " ".join(filter(None, (q.text, q.low, q.high)))
    for t in c.themes:
        found[f"theme.{t.id}"] = "\n".join([t.name, t.description, *t.tips, *t.starters])
    for key, value in c.strings.items():
        found[key] = value
    for key, plural in c.plurals.items():
        found[key] = "\n".join(plural.forms.values())
    return found


def test_every_question_says_whom_it_is_about() -> None:
    raw = tomllib.loads(resources.files("content").joinpath("questions.toml").read_text("utf-8"))
    missing = [q["id"] for q in raw["question"] if q.get("about") not in ("self", "partner", "us")]
    assert missing == []
    c = content.load()
    scale = [q for q in c.questions if q.kind == "scale"]
    assert {q.about for q in scale} == {"self", "partner", "us"}
    assert 15 <= sum(q.event for q in scale) <= 20  # those presupposing something happened
    assert all(not q.event for q in c.questions if q.kind == "open")


def test_reviewed_items_ask_one_thing_with_neutral_two_sided_scales() -> None:
    c = content.load()
    # one-sided "Far too little ... About right" scales are gone
    assert not [q.id for q in c.questions if q.low and "too little" in q.low.lower()]
    assert c.question("promises-06").low != "Very shaky"  # no grade of a partner's character
    assert "full picture" not in c.question("honesty-03").text
    assert "explain yourself" not in c.question("jealousy-04").text
    assert "each of you" not in c.question("accountability-03").text
    assert " or " not in c.question("digital-04").text
    # repair has a question on openness from the one who hurt trust
    repair = [q for q in c.by_theme("repair") if q.kind == "scale"]
    assert any("trust" in q.text and "open" in q.text for q in repair)


@pytest.mark.parametrize("lang", content.languages())
def test_no_six_word_run_is_copied_from_the_seed_article(lang: str) -> None:
    """Every catalogue, every string, theme, tip, starter and question."""
    assert SEED.exists(), "the seed article is the reference for the no-copy rule"
    seed = _shingles(SEED.read_text("utf-8"))
    found = _all_content_text(lang)
    assert len(found) > 500  # the whole catalogue was read
    copied = {key: [" ".join(s) for s in _shingles(text) & seed] for key, text in found.items()}
    assert {k: v for k, v in copied.items() if v} == {}


def test_plural_forms_live_in_the_catalogue_and_are_picked_by_number() -> None:
    c = content.load()
    one, three = c.plural("plural.rounds", 1), c.plural("plural.rounds", 3)
    assert "after 1 round." in c.t("conflict.ended", name="A", topic="t", rounds=one)
    assert "after 3 rounds." in c.t("conflict.ended", name="A", topic="t", rounds=three)
    assert c.t("checkin.intro", count=5).startswith("It's check-in time. 5 short questions")
    assert c.t("checkin.intro", count="1").startswith("It's check-in time. One short question")
    assert c.t("summary.thanks", n=1).endswith("1 thank-you passed between you this week.")
    assert c.t("summary.thanks", n=2).endswith("2 thank-yous passed between you this week.")
    # No glued plural markers or day-name suffixes left for a translator to untangle.
    every = [*c.strings.values(), *(f for p in c.plurals.values() for f in p.forms.values())]
    assert not [s for s in every if "(s)" in s or "{day}s" in s]
    # The categories are CLDR's, so a CLDR rule (Babel's plural_form) is a drop-in.
    assert {k for p in c.plurals.values() for k in p.forms} <= set(content.PLURAL_CATEGORIES)
    assert content.plural_category(1) == "one" and content.plural_category(0) == "other"
