"""Trellis content: themes, the question bank, nudge and safety markers, help resources and
every user-facing string.

Data lives in TOML files beside this module; `load()` reads and validates all of
it with pydantic at start-up, so a broken file stops the bot before it talks to
anyone.
"""

from __future__ import annotations

import string
import tomllib
from functools import cache
from importlib import resources
from importlib.abc import Traversable
from typing import Any, Literal

from babel import Locale
from pydantic import BaseModel, Field, PrivateAttr, field_validator, model_validator

MESSAGE_LIMIT = 4096
BUTTON_TEXT_LIMIT = 64
CALLBACK_LIMIT = 64
THEME_IDS = (
    "honesty",
    "expectations",
    "promises",
    "boundaries",
    "repair",
    "jealousy",
    "support",
    "accountability",
    "conflict",
    "digital",
)
CORE_THEMES = ("expectations", "boundaries", "support")
WEEKLY = "weekly"
MIN_PER_THEME = 6
# CLDR plural categories. A string with a number in it is a table of these forms in the
# catalogue, plus `count`, the placeholder whose number picks the form.
PLURAL_CATEGORIES = ("zero", "one", "two", "few", "many", "other")


BASE = "en"  # the reference catalogue every other language is checked against


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


def plural_category(n: float, locale: str = BASE) -> str:
    """The CLDR plural category of `n` in `locale` ('one', 'few', 'many', 'other', ...),
    from Babel's CLDR rules."""
    return str(_locale(locale).plural_form(n))


def plural_categories(locale: str) -> set[str]:
    """Every category a count can take in `locale` (CLDR's tags, plus 'other')."""
    return {*_locale(locale).plural_form.tags, "other"}


class Plural(BaseModel):
    """A message whose wording depends on a number: one text per plural category."""

    count: str
    forms: dict[str, str]

    @model_validator(mode="after")
    def _forms(self) -> Plural:
        if "other" not in self.forms or not set(self.forms) <= set(PLURAL_CATEGORIES):
            raise ValueError(f"plural forms must be CLDR categories with 'other': {self.forms}")
        other = self.forms["other"]
        if self.count not in {n for _, n, _, _ in string.Formatter().parse(other)}:
            raise ValueError(f"the 'other' form shows {{{self.count}}}: {other[:40]!r}")
        return self

    def pick(self, n: float, locale: str = BASE) -> str:
        return self.forms.get(plural_category(n, locale), self.forms["other"])


class Theme(BaseModel):
    id: str
    name: str = Field(max_length=40)
    emoji: str = Field(max_length=4)
    description: str = Field(max_length=200)
    tips: list[str] = Field(min_length=2, max_length=4)
    starters: list[str] = Field(min_length=2, max_length=4)

    @field_validator("tips", "starters")
    @classmethod
    def _short(cls, items: list[str]) -> list[str]:
        for item in items:
            if not 10 <= len(item) <= 400:
                raise ValueError(f"tip/starter length out of range: {item[:40]!r}")
        return items


class Question(BaseModel):
    id: str = Field(pattern=r"^[a-z]+-\d{2}$")
    theme: str
    kind: Literal["scale", "open"]
    # whom an answer rates: your own part, your partner's (as you experienced it), or both
    about: Literal["self", "partner", "us"]
    # presupposes something happened: offers "Didn't come up", never counted in a score
    event: bool = False
    text: str = Field(min_length=10, max_length=300)
    low: str | None = Field(default=None, max_length=24)
    high: str | None = Field(default=None, max_length=24)

    @model_validator(mode="after")
    def _labels(self) -> Question:
        if self.kind == "scale" and not (self.low and self.high):
            raise ValueError(f"{self.id}: a scale question labels both ends")
        if self.kind == "open" and (self.low or self.high):
            raise ValueError(f"{self.id}: an open question has no scale labels")
        if self.kind == "open" and self.event:
            raise ValueError(f"{self.id}: an open question can be skipped; `event` is for scales")
        return self


class NudgeSet(BaseModel):
    """`phrases` count anywhere; `alone` only as a whole sentence ("Whatever."), `labels`
    only when said of the partner ("you're so lazy", "you idiot"); `unless` are everyday
    phrases that contain a marker ("do you always", "you never know") and never count."""

    phrases: list[str] = Field(default_factory=list)
    alone: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    unless: list[str] = Field(default_factory=list)  # everyday phrases that contain a marker
    suggestion: str = Field(max_length=300)


class Nudges(BaseModel):
    absolutes: NudgeSet
    insults: NudgeSet
    contempt: NudgeSet
    defensiveness: NudgeSet
    topic_hint: str = Field(max_length=200)


class MarkerCombo(BaseModel):
    before: list[str] = Field(min_length=1)
    after: list[str] = Field(min_length=1)


class MarkerSet(BaseModel):
    phrases: list[str] = Field(min_length=1)
    combos: list[MarkerCombo] = Field(default_factory=list)


class Country(BaseModel):
    code: str = Field(pattern=r"^[A-Z]{2}$")
    name: str
    languages: list[str] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    lines: list[str] = Field(min_length=1)


class Resources(BaseModel):
    directory: str
    emergency: str
    country: list[Country] = Field(default_factory=list)


class SafetyContent(BaseModel):
    """Reviewed marker lists (self-harm, threats, coercive control) and help resources."""

    negations: list[str]
    self_harm: MarkerSet
    threat: MarkerSet
    control: MarkerSet
    resources: Resources


class Content(BaseModel):
    lang: str = BASE
    themes: list[Theme]
    questions: list[Question]
    nudges: Nudges
    safety: SafetyContent
    strings: dict[str, str]
    plurals: dict[str, Plural] = Field(default_factory=dict)
    _themes: dict[str, Theme] = PrivateAttr(default_factory=dict)
    _questions: dict[str, Question] = PrivateAttr(default_factory=dict)
    _by_theme: dict[str, list[Question]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Content:
        ids = [t.id for t in self.themes]
        if tuple(ids) != THEME_IDS:
            raise ValueError(f"themes must be exactly {THEME_IDS}, got {ids}")
        qids = [q.id for q in self.questions]
        dupes = {q for q in qids if qids.count(q) > 1}
        if dupes:
            raise ValueError(f"duplicate question ids: {sorted(dupes)}")
        for q in self.questions:
            if q.theme not in (*THEME_IDS, WEEKLY):
                raise ValueError(f"{q.id}: unknown theme {q.theme!r}")
            if not q.id.startswith(q.theme + "-"):
                raise ValueError(f"{q.id}: id must start with its theme")
            if q.theme == WEEKLY and q.kind != "open":
                raise ValueError(f"{q.id}: weekly questions are open")
        for theme in THEME_IDS:
            scale = [q for q in self.questions if q.theme == theme and q.kind == "scale"]
            if len([q for q in self.questions if q.theme == theme]) < MIN_PER_THEME:
                raise ValueError(f"theme {theme} has fewer than {MIN_PER_THEME} questions")
            if len(scale) < 4:
                raise ValueError(f"theme {theme} needs at least 4 scale questions")
        if len([q for q in self.questions if q.theme == WEEKLY]) < 8:
            raise ValueError("the weekly open pool needs at least 8 questions")
        both = self.strings.keys() & self.plurals.keys()
        if both:
            raise ValueError(f"keys both plain and plural: {sorted(both)}")
        texts = [(k, v) for k, v in self.strings.items()]
        texts += [(k, v) for k, p in self.plurals.items() for v in p.forms.values()]
        for key, text in texts:
            if len(text) > MESSAGE_LIMIT:
                raise ValueError(f"string {key} is longer than a Telegram message")
            # Every placeholder must be a plain name, so format() cannot reach attributes.
            for _, name, _, _ in string.Formatter().parse(text):
                if name is not None and not name.isidentifier():
                    raise ValueError(f"string {key}: bad placeholder {{{name}}}")
        for q in self.questions:
            for label in (q.low, q.high):
                if label and len(f"5 · {label}") > BUTTON_TEXT_LIMIT:
                    raise ValueError(f"{q.id}: scale label too long for a button")
        return self

    # -- lookups -------------------------------------------------------------

    def t(self, key: str, /, **values: object) -> str:
        """The string `key`, formatted. A missing key is a bug: it raises.

        A plural key picks its form by the number in its `count` placeholder.
        """
        plural = self.plurals.get(key)
        if plural is not None:
            return plural.pick(float(str(values[plural.count])), self.lang).format(**values)
        return self.strings[key].format(**values)

    def plural(self, key: str, n: int) -> str:
        """`n` with the form of `key` its number takes ('1 week', '2 weeks'): a plural
        table in the catalogue whose `count` is `n`."""
        return self.t(key, n=n)

    def has_string(self, key: str) -> bool:
        return key in self.strings

    # The lookups read pydantic's documented store of private attributes directly:
    # `self._questions` goes through BaseModel.__getattr__ (~2 µs, 30× a dict lookup), and
    # the sweep composes a week for thousands of couples from these.

    def _private(self) -> dict[str, Any]:
        private = self.__pydantic_private__
        assert private is not None  # set by model_post_init
        return private

    def theme(self, theme_id: str) -> Theme:
        themes: dict[str, Theme] = self._private()["_themes"]
        return themes[theme_id]

    def question(self, question_id: str) -> Question:
        questions: dict[str, Question] = self._private()["_questions"]
        return questions[question_id]

    def by_theme(self, theme_id: str) -> list[Question]:
        by_theme: dict[str, list[Question]] = self._private()["_by_theme"]
        return by_theme.get(theme_id, [])

    def has_question(self, question_id: str) -> bool:
        return question_id in self._private()["_questions"]

    def model_post_init(self, __context: object) -> None:
        self._themes = {t.id: t for t in self.themes}
        self._questions = {q.id: q for q in self.questions}
        for q in sorted(self.questions, key=lambda q: (q.kind != "scale", q.id)):
            self._by_theme.setdefault(q.theme, []).append(q)


def _dir(lang: str, root: Traversable | None = None) -> Traversable:
    root = root or resources.files("content")
    return root if lang == BASE else root.joinpath(lang)


def _read(name: str, lang: str = BASE, root: Traversable | None = None) -> dict:
    return tomllib.loads(_dir(lang, root).joinpath(name).read_text("utf-8"))


def _is_plural(table: dict) -> bool:
    return "count" in table and "other" in table and set(table) <= {"count", *PLURAL_CATEGORIES}


def _flatten(table: dict, prefix: str = "") -> dict[str, str | dict[str, str]]:
    out: dict[str, str | dict[str, str]] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and _is_plural(value):
            out[full] = {k: str(v).strip("\n") for k, v in value.items()}
        elif isinstance(value, dict):
            out.update(_flatten(value, full + "."))
        else:
            out[full] = str(value).strip("\n") if isinstance(value, str) else str(value)
    return out


def _strings(lang: str = BASE, root: Traversable | None = None) -> dict[str, str | dict[str, str]]:
    """strings.toml plus one strings_<feature>.toml per feature; a key may appear once."""
    merged: dict[str, str | dict[str, str]] = {}
    names = sorted(
        e.name
        for e in _dir(lang, root).iterdir()
        if e.name.startswith("strings") and e.name.endswith(".toml")
    )
    for name in names:
        for key, value in _flatten(_read(name, lang, root)).items():
            if key in merged:
                raise ValueError(f"{lang}: string {key} is defined twice ({name})")
            merged[key] = value
    return merged


def languages(root: Traversable | None = None) -> tuple[str, ...]:
    """English first, then every folder of `content/` that holds a catalogue."""
    found = sorted(
        e.name
        for e in (root or resources.files("content")).iterdir()
        if e.is_dir() and e.joinpath("strings.toml").is_file()
    )
    return (BASE, *found)


def _placeholders(text: str) -> set[str]:
    return {n for _, n, _, _ in string.Formatter().parse(text) if n is not None}


def _merged_questions(base: list[dict], texts: list[dict], lang: str) -> list[dict]:
    """English structure (theme, kind, about, event) with the language's words."""
    by_id = {q["id"]: q for q in texts}
    out = []
    for q in base:
        t = by_id.pop(q["id"], None)
        if t is None:
            raise ValueError(f"{lang}: question {q['id']} is not translated")
        for key in ("low", "high"):
            if (key in q) != (key in t):
                raise ValueError(f"{lang}: question {q['id']}: `{key}` must match English")
        out.append({**q, **{k: t[k] for k in ("text", "low", "high") if k in t}})
    if by_id:
        raise ValueError(f"{lang}: questions not in English: {sorted(by_id)}")
    return out


def _merged_themes(base: list[dict], texts: list[dict], lang: str) -> list[dict]:
    by_id = {t["id"]: t for t in texts}
    if set(by_id) != {t["id"] for t in base}:
        raise ValueError(f"{lang}: themes must be exactly English's")
    keys = ("name", "description", "tips", "starters")
    return [{**t, **{k: by_id[t["id"]][k] for k in keys}} for t in base]


def _check_strings(
    base: dict[str, str | dict[str, str]], cat: dict[str, str | dict[str, str]], lang: str
) -> None:
    """Same keys, same placeholders, and every plural category the language needs."""
    missing, extra = base.keys() - cat.keys(), cat.keys() - base.keys()
    if missing or extra:
        raise ValueError(f"{lang}: missing strings {sorted(missing)}, unknown {sorted(extra)}")
    need = plural_categories(lang)
    for key, value in base.items():
        mine = cat[key]
        if isinstance(value, dict) != isinstance(mine, dict):
            raise ValueError(f"{lang}: {key} must be plural exactly when English's is")
        if isinstance(value, dict) and isinstance(mine, dict):
            if mine.get("count") != value["count"]:
                raise ValueError(f"{lang}: plural {key} counts {{{value['count']}}}")
            lacking = need - mine.keys()
            if lacking:
                raise ValueError(f"{lang}: plural {key} lacks forms {sorted(lacking)}")
            want = _placeholders(value["other"])
            for form, text in mine.items():
                if form != "count" and _placeholders(text) - want:
                    raise ValueError(f"{lang}: {key}.{form} has placeholders English lacks")
            if _placeholders(mine["other"]) != want:
                raise ValueError(f"{lang}: {key} placeholders differ from English")
        elif (
            isinstance(value, str)
            and isinstance(mine, str)
            and _placeholders(mine) != _placeholders(value)
        ):
            raise ValueError(
                f"{lang}: {key} has placeholders {sorted(_placeholders(mine))}, "
                f"English {sorted(_placeholders(value))}"
            )


def _check_safety(base: dict, cat: dict, lang: str) -> None:
    codes = [c["code"] for c in base["resources"].get("country", [])]
    mine = [c["code"] for c in cat.get("resources", {}).get("country", [])]
    if codes != mine:
        raise ValueError(f"{lang}: help resources must list the countries {codes}, got {mine}")


def _build(lang: str, root: Traversable | None = None) -> Content:
    def read(name: str, of: str = lang) -> dict:
        return _read(name, of, root)

    catalogue = _strings(lang, root)
    themes, questions, safety = (
        read("themes.toml")["theme"],
        read("questions.toml"),
        read("safety.toml"),
    )
    if lang != BASE:
        _check_strings(_strings(BASE, root), catalogue, lang)
        english_themes = read("themes.toml", BASE)["theme"]
        themes = _merged_themes(english_themes, themes, lang)
        for theme, english in zip(themes, english_themes, strict=True):
            theme["emoji"] = english["emoji"]
        english_questions = read("questions.toml", BASE)["question"]
        questions = {"question": _merged_questions(english_questions, questions["question"], lang)}
        _check_safety(read("safety.toml", BASE), safety, lang)
    try:
        return Content.model_validate(
            {
                "lang": lang,
                "themes": themes,
                "questions": questions["question"],
                "nudges": read("nudges.toml"),
                "safety": safety,
                "strings": {k: v for k, v in catalogue.items() if isinstance(v, str)},
                "plurals": {
                    k: {"count": v["count"], "forms": {f: t for f, t in v.items() if f != "count"}}
                    for k, v in catalogue.items()
                    if isinstance(v, dict)
                },
            }
        )
    except ValueError as exc:  # name the catalogue that broke a limit
        raise ValueError(f"{lang}: {exc}") from exc


def check(root: Traversable | None = None) -> dict[str, Content]:
    """Every language's content under `root` (the `content` package by default), each
    checked against English: same string keys and placeholders, every plural form the
    language's CLDR rules need, every theme and question translated, the same help
    countries, and every limit of the model (button and message lengths). Raises on the
    first problem. Adding a language is adding a folder that passes this."""
    return {lang: _build(lang, root) for lang in languages(root)}


@cache
def catalogues() -> dict[str, Content]:
    """Every language's content, checked at start-up (cached: content never changes at
    run time). A missing or broken string is a start-up error, never a silent fallback."""
    return check()


def load(lang: str = BASE) -> Content:
    """One language's content (English by default)."""
    return catalogues()[lang]


def base_tag(code: str | None) -> str | None:
    """The language of a Telegram `language_code` ('es' from 'es-MX'), if we speak it."""
    if not code:
        return None
    tag = code.replace("_", "-").split("-")[0].lower()
    return tag if tag in languages() else None


def all_safety() -> SafetyContent:
    """Every language's marker lists in one (words are screened whatever the reader's
    language); the resources are English's."""
    cats = list(catalogues().values())
    first = cats[0].safety

    def union(kind: str) -> MarkerSet:
        sets = [getattr(c.safety, kind) for c in cats]
        return MarkerSet(
            phrases=[p for m in sets for p in m.phrases], combos=[x for m in sets for x in m.combos]
        )

    return SafetyContent(
        negations=[n for c in cats for n in c.safety.negations],
        self_harm=union("self_harm"),
        threat=union("threat"),
        control=union("control"),
        resources=first.resources,
    )


def all_nudges() -> Nudges:
    """Every language's nudge markers in one (what a partner writes is checked whatever
    language the bot speaks to them); suggestions are picked per reader."""
    cats = list(catalogues().values())

    def union(kind: str) -> NudgeSet:
        sets = [getattr(c.nudges, kind) for c in cats]
        return NudgeSet(
            phrases=[p for m in sets for p in m.phrases],
            alone=[p for m in sets for p in m.alone],
            labels=[p for m in sets for p in m.labels],
            unless=[p for m in sets for p in m.unless],
            suggestion=sets[0].suggestion,
        )

    return Nudges(
        absolutes=union("absolutes"),
        insults=union("insults"),
        contempt=union("contempt"),
        defensiveness=union("defensiveness"),
        topic_hint=cats[0].nudges.topic_hint,
    )
