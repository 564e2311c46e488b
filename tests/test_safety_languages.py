"""Safety markers in Spanish and Russian, matched whatever language the writer reads in."""

from __future__ import annotations

import pytest

import content
from bot.safety import SafetyMatcher
from tests.test_safety_corpus import cases

# (kind or None, sentence): held words, and everyday sentences that must pass.
SENTENCES = [
    ("self_harm", "A veces pienso que me quiero morir"),
    ("self_harm", "No quiero vivir así, estaría mejor muerta"),
    ("self_harm", "He pensado en hacerme daño otra vez"),
    ("threat", "Te voy a matar si vuelves a hacerlo"),
    ("threat", "Me las vas a pagar"),
    ("control", "Mi novio me pega cuando bebe"),
    ("control", "Revisa mi móvil todas las noches y le tengo miedo"),
    ("control", "No me deja ver a mis amigas"),
    (None, "Este trabajo me está matando, qué semana"),
    (None, "Me muero de ganas de verte el sábado"),
    (None, "Mataría por un café ahora mismo"),
    ("self_harm", "Иногда мне кажется, что я хочу умереть"),
    ("self_harm", "Я думаю о том, чтобы покончить с собой"),
    ("self_harm", "Всем будет лучше без меня"),
    ("threat", "Я тебя убью, если ты ещё раз так сделаешь"),
    ("threat", "Ты за это заплатишь"),
    ("control", "Муж бьёт меня, когда злится"),
    ("control", "Он читает мои сообщения, и я его боюсь"),
    ("control", "Она не даёт мне видеться с подругами"),
    (None, "Эта работа меня убивает, какая неделя"),
    (None, "Умираю, как хочу тебя увидеть в субботу"),
    (None, "Убью за чашку кофе"),
]


@pytest.fixture(scope="module")
def matcher() -> SafetyMatcher:
    return SafetyMatcher(content.all_safety())


@pytest.mark.parametrize(("want", "text"), SENTENCES)
def test_spanish_and_russian_markers(matcher: SafetyMatcher, want: str | None, text: str) -> None:
    assert matcher.kind(text) == want


def test_other_languages_markers_change_nothing_for_english(matcher: SafetyMatcher) -> None:
    """Every language's markers are screened together: the English corpus reads the same."""
    english = SafetyMatcher(content.load().safety)
    changed = [t for _, t, _ in cases() if matcher.kind(t) != english.kind(t)]
    assert changed == []
