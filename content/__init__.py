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
from typing import Any, Literal

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


def plural_category(n: float, locale: str = "en") -> str:
    """The CLDR plural category of `n` in `locale` ('one', 'other', ...).

    English rules only, for now. Babel's `Locale.parse(locale).plural_form(n)` returns the
    same category names, so plugging CLDR's rules for every language in is this one line.
    """
    del locale
    return "one" if n == 1 else "other"


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

    def pick(self, n: float, locale: str = "en") -> str:
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
            return plural.pick(float(str(values[plural.count]))).format(**values)
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


def _read(name: str) -> dict:
    return tomllib.loads(resources.files("content").joinpath(name).read_text("utf-8"))


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


def _strings() -> dict[str, str | dict[str, str]]:
    """strings.toml plus one strings_<feature>.toml per feature; a key may appear once."""
    merged: dict[str, str | dict[str, str]] = {}
    names = sorted(
        e.name
        for e in resources.files("content").iterdir()
        if e.name.startswith("strings") and e.name.endswith(".toml")
    )
    for name in names:
        for key, value in _flatten(_read(name)).items():
            if key in merged:
                raise ValueError(f"string {key} is defined twice ({name})")
            merged[key] = value
    return merged


@cache
def load() -> Content:
    """Read and validate every content file (cached: content never changes at run time)."""
    catalogue = _strings()
    return Content.model_validate(
        {
            "themes": _read("themes.toml")["theme"],
            "questions": _read("questions.toml")["question"],
            "nudges": _read("nudges.toml"),
            "safety": _read("safety.toml"),
            "strings": {k: v for k, v in catalogue.items() if isinstance(v, str)},
            "plurals": {
                k: {"count": v.pop("count"), "forms": v}
                for k, v in catalogue.items()
                if isinstance(v, dict)
            },
        }
    )
