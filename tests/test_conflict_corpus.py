"""Precision over recall for the gentle start-up check, measured on a labelled corpus.

Run with `-s` to see the figures: `.venv/bin/pytest tests/test_conflict_corpus.py -s -q`.
"""

from __future__ import annotations

import content
from bot.conflict import NudgeMatcher
from tests.conflict_corpus import CORPUS


def measure() -> tuple[float, float, list[str], list[str]]:
    """(precision, recall, false alarms, misses) of "this message sounds harsh"."""
    matcher = NudgeMatcher(content.load().nudges)
    hits = alarms = misses = 0
    false_alarms: list[str] = []
    missed: list[str] = []
    for label, sentence in CORPUS:
        found = matcher.kinds(sentence)
        harsh = label != "none"
        if found and harsh:
            hits += 1
        elif found:
            alarms += 1
            false_alarms.append(sentence)
        elif harsh:
            misses += 1
            missed.append(sentence)
    precision = hits / (hits + alarms) if hits + alarms else 1.0
    recall = hits / (hits + misses) if hits + misses else 1.0
    return precision, recall, false_alarms, missed


def test_everyday_sentences_never_fire_and_recall_stays_useful() -> None:
    precision, recall, false_alarms, missed = measure()
    harsh = sum(1 for label, _ in CORPUS if label != "none")
    print(
        f"\ngentle start-up check on {len(CORPUS)} sentences ({harsh} harsh): "
        f"precision {precision:.2f}, recall {recall:.2f}; missed: {missed}"
    )
    assert false_alarms == []  # precision first: nobody is coached for an everyday sentence
    assert recall >= 0.85


def test_each_marked_sentence_is_flagged_as_its_own_kind() -> None:
    matcher = NudgeMatcher(content.load().nudges)
    wrong = [
        (label, sentence, matcher.kinds(sentence))
        for label, sentence in CORPUS
        if label != "none" and matcher.kinds(sentence) and label not in matcher.kinds(sentence)
    ]
    assert wrong == []
