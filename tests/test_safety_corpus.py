"""The safety markers against a labelled corpus: precision and recall, printed.

Run `pytest tests/test_safety_corpus.py -s -q` to read the figures; the test also fails
if any everyday exaggeration is held or if recall or precision falls below the bar.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import content
from bot.safety import KINDS, SafetyMatcher, normalise

CORPUS = Path(__file__).with_name("safety_corpus.toml")
MIN_RECALL = 0.9  # crisis words missed are the costly error
MIN_PRECISION = 0.9  # a false hold costs one tap ("Share it"), but must stay rare


def cases() -> list[tuple[str, str, bool]]:
    data = tomllib.loads(CORPUS.read_text("utf-8"))
    return [
        (group["kind"], text, bool(group.get("everyday", False)))
        for group in data["case"]
        for text in group["texts"]
    ]


def test_normalise_folds_accents_case_spacing_and_punctuation() -> None:
    assert normalise("  I Don’t   want\tto  BE here—anymore!! ") == "i dont want to be here anymore"
    assert normalise("Suïcide, sélf-härm") == "suicide self harm"
    assert normalise("kill_myself") == "kill myself"


def test_corpus_precision_and_recall(capsys: pytest.CaptureFixture[str]) -> None:
    matcher = SafetyMatcher(content.load().safety)
    found = [(want, matcher.kind(text), text, everyday) for want, text, everyday in cases()]
    lines = [f"safety corpus: {len(found)} sentences"]
    for kind in KINDS:
        tp = sum(w == kind and g == kind for w, g, _, _ in found)
        fp = sum(w != kind and g == kind for w, g, _, _ in found)
        fn = sum(w == kind and g != kind for w, g, _, _ in found)
        lines.append(
            f"  {kind:<10} precision {tp / max(tp + fp, 1):.2f} ({tp}/{tp + fp})"
            f"  recall {tp / max(tp + fn, 1):.2f} ({tp}/{tp + fn})"
        )
    # "held at all" is what protects the partner from an automatic relay.
    tp = sum(w != "none" and g is not None for w, g, _, _ in found)
    fp = sum(w == "none" and g is not None for w, g, _, _ in found)
    fn = sum(w != "none" and g is None for w, g, _, _ in found)
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    lines.append(
        f"  any hold   precision {precision:.2f} ({tp}/{tp + fp})"
        f"  recall {recall:.2f} ({tp}/{tp + fn})"
    )
    wrong = [
        f"    want {w}, got {g}: {t!r}" for w, g, t, _ in found if (w == "none") != (g is None)
    ]
    if wrong:
        lines.append("  misses and false holds:")
        lines += wrong
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    everyday_held = [t for w, g, t, e in found if e and g is not None]
    assert not everyday_held, f"everyday phrases held: {everyday_held}"
    assert recall >= MIN_RECALL and precision >= MIN_PRECISION
