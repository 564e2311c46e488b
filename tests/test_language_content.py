"""Catalogues per language: each checked against English at start-up, CLDR plurals and dates."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import content
from bot import schedule
from bot.conflict.nudges import as_commitment
from bot.promises import by_pattern, parse_when
from bot.summary.views import short_date, week_label

ROOT = Path(content.__file__).parent
MONDAY = date(2026, 11, 23)


@pytest.mark.parametrize("lang", ["es", "ru"])
def test_each_catalogue_is_complete_against_english(lang: str) -> None:
    en, cat = content.load("en"), content.load(lang)
    assert cat.strings.keys() == en.strings.keys() and cat.plurals.keys() == en.plurals.keys()
    assert [q.id for q in cat.questions] == [q.id for q in en.questions]
    for mine, english in zip(cat.questions, en.questions, strict=True):
        assert (mine.kind, mine.about, mine.event, mine.theme) == (
            english.kind,
            english.about,
            english.event,
            english.theme,
        )
        assert mine.text != english.text  # every question translated, not copied over
        assert (mine.low is None) == (english.low is None)
        assert mine.low != english.low or mine.low is None
    assert [t.id for t in cat.themes] == [t.id for t in en.themes]
    assert all(
        t.name != e.name and t.tips != e.tips for t, e in zip(cat.themes, en.themes, strict=True)
    )
    # Markers and help resources are the language's own.
    assert cat.nudges.absolutes.suggestion != en.nudges.absolutes.suggestion
    assert cat.safety.self_harm.phrases != en.safety.self_harm.phrases
    assert [c.code for c in cat.safety.resources.country] == [
        c.code for c in en.safety.resources.country
    ]
    # Strings that are not the same word in both languages differ (a forgotten copy).
    same = [k for k, v in cat.strings.items() if v == en.strings[k] and any(c.isalpha() for c in v)]
    assert len(same) < 25, same


def _fourth(tmp_path: Path, lang: str = "de", source: str = "es") -> Path:
    """A copy of the content tree with a fourth catalogue: `source`'s files under `lang`."""
    root = tmp_path / "content"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    shutil.copytree(root / source, root / lang)
    return root


def test_a_fourth_language_is_only_a_new_catalogue_the_loader_checks(tmp_path: Path) -> None:
    root = _fourth(tmp_path)
    found = content.check(root)
    assert list(found) == ["en", "de", "es", "ru"]
    # German's CLDR plural rules pick the form: 1 is 'one', 2 is 'other'.
    assert found["de"].plural("plural.weeks", 1) == "1 semana"
    assert found["de"].plural("plural.weeks", 2) == "2 semanas"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "error"),
    [
        # a missing string is a start-up error, not a silent fallback
        ("strings.toml", 'nothing_changed = "No ha cambiado nada."\n', "", "missing strings"),
        # a string English does not have
        ("strings.toml", "[common]\n", '[common]\nstray = "x"\n', "unknown"),
        # a placeholder renamed or dropped
        (
            "strings.toml",
            "Pide a {inviter} el último",
            "Pide a {persona} el último",
            "placeholders",
        ),
        # a plural form the language's CLDR rules need (Ukrainian, like Russian: one, few, many)
        ("uk:strings.toml", 'few = "{n} недели"\n', "", "lacks forms"),
        # a question left untranslated
        (
            "questions.toml",
            '[[question]]\nid = "weekly-12"',
            '[[other]]\nid = "weekly-12"',
            "weekly-12",
        ),
        # a scale label too long for its button
        ("questions.toml", 'low = "Muy difícil"', 'low = "' + "muy " * 20 + '"', "at most 24"),
        # a theme whose tips are missing
        ("themes.toml", 'id = "digital"\n', 'id = "digitales"\n', "themes"),
        # help resources for other countries than English lists
        ("safety.toml", 'code = "RU"', 'code = "UA"', "countries"),
    ],
)
def test_the_loader_refuses_a_broken_catalogue(
    tmp_path: Path, file: str, old: str, new: str, error: str
) -> None:
    lang, _, file = file.rpartition(":")
    root = _fourth(tmp_path, lang or "de", "ru" if lang == "uk" else "es")
    _edit(root / (lang or "de") / file, old, new)
    with pytest.raises(ValueError, match=error):
        content.check(root)


def test_russian_plural_forms_follow_cldr() -> None:
    ru = content.load("ru")
    weeks = {n: ru.plural("plural.weeks", n) for n in (0, 1, 2, 5, 21)}
    assert weeks == {0: "0 недель", 1: "1 неделю", 2: "2 недели", 5: "5 недель", 21: "21 неделю"}
    rounds = {n: ru.plural("plural.rounds", n) for n in (0, 1, 2, 5, 21)}
    assert rounds == {0: "0 раундов", 1: "1 раунд", 2: "2 раунда", 5: "5 раундов", 21: "21 раунд"}
    assert ru.t("checkin.intro", count=5).startswith("Время встречи. 5 коротких вопросов")
    assert ru.t("checkin.intro", count=2).startswith("Время встречи. 2 коротких вопроса")
    assert ru.t("summary.apart", n=21) == "разница 21 балл"
    assert (
        content.plural_category(11, "ru") == "many" and content.plural_category(22, "ru") == "few"
    )


def test_language_from_telegram_is_its_base_tag() -> None:
    assert content.base_tag("es-MX") == "es" and content.base_tag("ru") == "ru"
    assert content.base_tag("pt-BR") is None and content.base_tag(None) is None
    assert content.base_tag("EN_gb") == "en"


def test_days_months_and_dates_come_from_cldr() -> None:
    moment = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    assert schedule.human(moment, "Europe/Berlin") == "Sunday 29 November, 19:00 Europe/Berlin"
    assert schedule.human(moment, "Europe/Madrid", "es").startswith(
        "domingo, 29 de noviembre, 19:00"
    )
    assert schedule.human(moment, "Europe/Moscow", "ru").startswith("воскресенье, 29 ноября, 21:00")
    assert (
        schedule.day_names("es")[0] == "lunes"
        and schedule.day_names("ru", "abbreviated")[6] == "вс"
    )
    assert short_date("2026-W48", "ru") == "23 нояб." and short_date("2026-W48", "es") == "23 nov"
    assert week_label("2026-W48", "es") == "23–29 nov 2026"


@pytest.mark.parametrize(
    ("lang", "typed", "what", "due"),
    [
        ("es", "llamar a mamá para el viernes", "llamar a mamá", date(2026, 11, 27)),
        ("es", "cocinar el domingo para mañana", "cocinar el domingo", date(2026, 11, 24)),
        ("es", "ordenar el garaje para el 5 de diciembre", "ordenar el garaje", date(2026, 12, 5)),
        ("es", "pintar la valla para la próxima semana", None, None),
        ("ru", "позвонить маме к пятнице", "позвонить маме", date(2026, 11, 27)),
        ("ru", "починить кран до среды", "починить кран", date(2026, 11, 25)),
        ("ru", "купить цветы к 5 декабря", "купить цветы", date(2026, 12, 5)),
        ("ru", "сходить в кино в субботу", "сходить в кино", date(2026, 11, 28)),
        ("ru", "убрать в гараже через 2 недели", None, None),
        ("en", "fix the light by Friday", "fix the light", date(2026, 11, 27)),
    ],
)
def test_promise_dates_in_each_language(
    lang: str, typed: str, what: str | None, due: date | None
) -> None:
    c = content.load(lang)
    found = by_pattern(c).match(typed)
    assert found is not None
    parsed = parse_when(found.group("when"), MONDAY, c)
    if what is None:  # not a date after the last "by" word: the whole text is the promise
        return
    assert (found.group("what"), parsed) == (what, due)


def test_relative_words_per_language() -> None:
    es, ru = content.load("es"), content.load("ru")
    assert parse_when("mañana", MONDAY, es) == date(2026, 11, 24)
    assert parse_when("la semana que viene", MONDAY, es) == date(2026, 11, 30)
    assert parse_when("el fin de semana", MONDAY, es) == date(2026, 11, 28)
    assert parse_when("завтра", MONDAY, ru) == date(2026, 11, 24)
    assert parse_when("выходным", MONDAY, ru) == date(2026, 11, 28)
    assert parse_when("через 3 дня", MONDAY, ru) == date(2026, 11, 26)
    assert parse_when("пятницу", MONDAY, ru) == date(2026, 11, 27)
    assert parse_when("el próximo lunes", MONDAY, es) == date(2026, 11, 30)
    assert parse_when("когда-нибудь", MONDAY, ru) is None


@pytest.mark.parametrize(
    ("lang", "asked", "suggested"),
    [
        (
            "en",
            "Would you be willing to call my mother on Sundays?",
            "I will call your mother on Sundays",
        ),
        (
            "es",
            "¿Estarías dispuesto a llamar a mi madre los domingos?",
            "Voy a llamar a mi madre los domingos",
        ),
        (
            "ru",
            "Ты готов(а) звонить маме по воскресеньям?",
            "Я готов(а) звонить маме по воскресеньям",
        ),
    ],
)
def test_a_request_is_offered_back_as_the_doers_words_in_their_language(
    lang: str, asked: str, suggested: str
) -> None:
    c = content.load(lang)
    asking = "" if lang == "en" else c.t("commitment.asking")
    assert as_commitment(asked, asking, c.t("commitment.will")) == suggested
