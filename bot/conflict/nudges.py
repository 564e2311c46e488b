"""What a /conflict message sounds like: the gentle start-up check, and request shapes.

Pure text functions (no database): `NudgeMatcher` finds criticism, insults, contempt
and defensiveness markers with precision over recall (tests/test_conflict_corpus.py);
`looks_like_request` and `as_commitment` shape the agreements of the requests step.
"""

from __future__ import annotations

import re

from content import Nudges

_QUOTES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "“": '"', "”": '"'})
_SENTENCE = re.compile(r"[.!?\n…]+")
_CLAUSE = re.compile(r"[.!?,;:\n\"()…]+|\s[-–—]\s")
_WORDS = re.compile(r"[^\w']+")
# How a label is said of the partner: "you idiot", "you're so lazy", "such a jerk".
_ADDRESS = (
    r"(?:you|you're|you are|ur|such an?|what an?)"
    r"(?: (?:so|such|a|an|being|really|just|totally|completely|a total|a complete|acting))*"
)


def normalise(text: str) -> str:
    """Lower-case, phone-keyboard apostrophes made plain, whitespace collapsed."""
    return " ".join(text.translate(_QUOTES).lower().split())


def words(text: str) -> str:
    """Only words and apostrophes, single-spaced: punctuation never hides a phrase."""
    return " ".join(_WORDS.sub(" ", normalise(text)).split())


def clauses(text: str) -> list[str]:
    return [w for w in (words(c) for c in _CLAUSE.split(normalise(text))) if w]


def sentences(text: str) -> list[str]:
    """Sentences as plain words: "Yes, but you…" is one, "Yes. But I…" are two."""
    return [w for w in (words(c) for c in _SENTENCE.split(normalise(text))) if w]


def _any(phrases: list[str]) -> str:
    return "|".join(re.escape(words(p)) for p in phrases) or r"(?!x)x"


class NudgeMatcher:
    """Finds the Four Horsemen's markers; a kind matches, or it does not."""

    KINDS = ("absolutes", "insults", "contempt", "defensiveness")

    def __init__(self, nudges: Nudges) -> None:
        self.nudges = nudges
        self._anywhere: dict[str, re.Pattern[str]] = {}
        self._alone: dict[str, set[str]] = {}
        self._unless: dict[str, re.Pattern[str]] = {}
        for kind in self.KINDS:
            rules = getattr(nudges, kind)
            # "Why do you always…" is still a reproach, though "do you always" is a question.
            self._unless[kind] = re.compile(
                rf"(?<![\w'])(?<!why )(?:{_any(rules.unless)})(?![\w'])"
            )
            parts = [rf"(?:{_any(rules.phrases)})"]
            if rules.labels:
                parts.append(rf"(?:{_ADDRESS} (?:{_any(rules.labels)}))")
            self._anywhere[kind] = re.compile(r"(?<![\w'])(?:" + "|".join(parts) + r")(?![\w'])")
            self._alone[kind] = {words(p) for p in rules.alone}

    def kinds(self, text: str) -> list[str]:
        said = sentences(text)
        parts = set(clauses(text))
        return [
            kind
            for kind in self.KINDS
            if parts & self._alone[kind]
            or any(self._anywhere[kind].search(self._unless[kind].sub(" ", s)) for s in said)
        ]

    def suggestion(self, kind: str, nudges: Nudges | None = None) -> str:
        """The suggestion for `kind`, from `nudges` (the reader's language) if given."""
        suggestion: str = getattr(nudges or self.nudges, kind).suggestion
        return suggestion

    @property
    def topic_hint(self) -> str:
        return self.nudges.topic_hint


# -- requests ------------------------------------------------------------------------

_NOT_A_REQUEST = re.compile(
    r"^(?:i will|i'll|i can|i could|i'd|i want|i wish|i need|i try|i'll try|i will try|"
    r"nothing|no|nope|none|not really|idk|dunno|i don't know|maybe|whatever)(?: |$)"
)
_VAGUE = re.compile(r"(?<![\w'])(?:be nicer|be better|try harder|change|understand me)(?![\w'])")
_ASKING = re.compile(
    r"^(?:(?:would|will|could|can) you(?: please)?(?: be willing to| be open to)?|"
    r"please|i'd like you to|i would like you to|would it be possible for you to)\s+",
    re.IGNORECASE,
)
_MINE = {
    "my": "your",
    "me": "you",
    "mine": "yours",
    "myself": "yourself",
    "i": "you",
    "i'm": "you're",
    "your": "my",
    "yours": "mine",
    "yourself": "myself",
    "you're": "I'm",
}


def looks_like_request(text: str) -> bool:
    """Concrete enough to say yes or no to: not "I will try", "nothing really", "be nicer"."""
    flat = words(text)
    return not (len(flat.split()) < 3 or _NOT_A_REQUEST.search(flat) or _VAGUE.search(flat))


def as_commitment(request: str, asking: str = "", will: str = "I will") -> str:
    """A request turned into the doer's own "I will …", to confirm or rewrite.

    "Would you be willing to call my mother on Sundays?" -> "I will call your mother on
    Sundays". Only a suggestion: the doer confirms it or writes their own.

    In another language (`asking`: its "would you be willing to"-phrases, '|'-separated,
    from the catalogue; `will`: its "I will") the asking phrase is swapped for `will` and
    the rest is kept as written ("¿Estarías dispuesto a llamar?" -> "Voy a llamar").
    """
    text = " ".join(request.translate(_QUOTES).strip().split()).rstrip("?!. ")
    if asking:
        body = text.lstrip("¿¡ ")
        for phrase in sorted((p.strip() for p in asking.split("|") if p.strip()), key=len)[::-1]:
            if body.lower().startswith(phrase.lower() + " "):
                body = body[len(phrase) + 1 :]
                break
        return f"{will} {body[:1].lower() + body[1:]}".strip()
    asked = _ASKING.match(text)
    body = text[asked.end() :] if asked else text
    body = body.removeprefix("to ")
    lowered = body[:1].lower() + body[1:]
    swapped = " ".join(_MINE.get(w.lower(), w) for w in lowered.split(" "))
    return f"{will} {swapped}".strip()
