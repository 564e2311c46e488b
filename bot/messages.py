"""What the core wants said: plain data the Telegram edge renders.

A screen is a pure function of data; the core builds `Msg`s and the handlers
turn them into Bot API calls. `Msg` round-trips through JSON so the outbox can
hold it across a restart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MESSAGE_LIMIT = 4096  # Telegram's limit on a message's text
CAPTION_LIMIT = 1024  # and on a photo's or document's caption


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    data: str | None = None  # callback data (built with bot.callbacks.cb)
    url: str | None = None
    share: str | None = None  # text for a share-link button (t.me/share/url)


@dataclass(frozen=True, slots=True)
class Msg:
    chat_id: int
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    protect: bool = False
    edit_message_id: int | None = None  # edit this message instead of sending
    photo: bytes | None = None  # PNG; `text` becomes the caption
    document: bytes | None = None
    filename: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        # Hand-written rather than dataclasses.asdict: this is on the sweep's hot path,
        # and asdict deep-copies every button (about ten times slower).
        data = {
            "chat_id": self.chat_id,
            "text": self.text,
            "buttons": [
                [{"text": b.text, "data": b.data, "url": b.url, "share": b.share} for b in row]
                for row in self.buttons
            ],
            "protect": self.protect,
            "edit_message_id": self.edit_message_id,
            "photo": None if self.photo is None else self.photo.hex(),
            "document": None if self.document is None else self.document.hex(),
            "filename": self.filename,
            "extra": self.extra,
        }
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Msg:
        data = json.loads(raw)
        for key in ("photo", "document"):
            if data.get(key) is not None:
                data[key] = bytes.fromhex(data[key])
        data["buttons"] = tuple(tuple(Button(**b) for b in row) for row in data.get("buttons", ()))
        return cls(**data)


def rows(*rows: list[Button] | tuple[Button, ...]) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(r) for r in rows if r)


@dataclass(slots=True)
class Outcome:
    """What one core operation produced.

    `reply` goes to the chat the update came from (sent directly: if the process
    dies first, the update is lost anyway). `queued` are outbox ids committed
    with the state change, flushed right after by the edge, re-sent after a
    restart if they were not. `toast` answers a button press.
    """

    reply: list[Msg] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)
    toast: str | None = None
    alert: bool = False
    clear_markup: bool = False  # a press whose keyboard is spent: the edge removes it
    # For each reply, how many queued ids the operation had made before it: the edge
    # sends both in the order they were made (the caring reply a held note is owed comes
    # before the next question; "that's all" before the reveal it leads to).
    reply_after: list[int] = field(default_factory=list)

    def say(self, *msgs: Msg) -> Outcome:
        for msg in msgs:
            self.reply.append(msg)
            self.reply_after.append(len(self.queued))
        return self

    def unsay(self) -> Msg:
        """Take back the last reply (to say it again, amended)."""
        self.reply_after.pop()
        return self.reply.pop()


TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*>")
# A tag, an entity, a space, a run of anything else: never cut inside the first two.
_TOKEN = re.compile(r"<[^>]*>|&#?\w+;| |[^<& ]+|[<&]")


def _after(stack: list[tuple[str, str]], text: str) -> list[tuple[str, str]]:
    """The tags still open after `text`, given those open before it: (name, opening tag)."""
    stack = list(stack)
    for found in TAG.finditer(text):
        name = found.group(2).lower()
        if not found.group(1):
            stack.append((name, found.group(0)))
            continue
        for n in range(len(stack) - 1, -1, -1):
            if stack[n][0] == name:
                del stack[n:]
                break
    return stack


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the basic plane
    is two). Counted on the markup, which is never shorter than what is shown."""
    return len(text.encode("utf-16-le")) // 2


def _prefix(word: str, budget: int) -> int:
    """How many characters of `word` fit in `budget` units (at least one)."""
    if units(word) == len(word):  # no character outside the basic plane
        return max(1, budget)
    size = 0
    for n, char in enumerate(word):
        size += 2 if ord(char) > 0xFFFF else 1
        if size > budget:
            return max(1, n)
    return len(word)


def _line_pieces(line: str, budget: int) -> list[tuple[str, str]]:
    """A line longer than `budget` units as (joiner, piece) pairs of at most `budget`,
    cut at spaces, never inside a tag or an entity; a longer word is cut where it must
    be. The joiner is what the cut took out: " " for a space, "" inside a word, so two
    pieces that fit one part again are joined back exactly as they were written."""
    pieces: list[tuple[str, str]] = []
    current: list[str] = []
    size = 0
    joiner = ""  # what goes back before the piece being built

    def hand_over(tokens: list[str], after: str) -> None:
        nonlocal joiner
        if tokens:
            pieces.append((joiner, "".join(tokens)))
        joiner = after

    for token in _TOKEN.findall(line):
        n = units(token)
        # Make room: cut at the last space of what is pending, or hand all of it over.
        while current and size + n > budget:
            cut = max((k for k, tok in enumerate(current) if tok == " "), default=-1)
            if cut > 0:
                hand_over(current[:cut], " ")
                current = current[cut + 1 :]
            else:
                hand_over(current, "")
                current = []
            size = sum(units(tok) for tok in current)
        # A word longer than a whole piece is cut (never a tag or an entity).
        while n > budget and token[0] not in "<&":
            k = _prefix(token, budget)
            hand_over([token[:k]], "")
            token = token[k:]
            n = units(token)
        if token == " " and not current:
            joiner = " "
            continue
        current.append(token)
        size += n
    hand_over(current, "")
    return pieces


def _opening(stack: list[tuple[str, str]]) -> str:
    return "".join(tag for _, tag in stack)


def _closing(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Chunks of at most `limit` UTF-16 units (Telegram's measure), cut only at line ends
    (a longer line is cut at a space), never inside a tag or an entity. A cut inside
    formatting closes the open tags at the end of one chunk and reopens them at the start
    of the next, so every chunk is valid Telegram HTML on its own."""
    budget = max(limit - 256, limit // 2)  # room for the tags closed and reopened at a cut
    pieces: list[tuple[str, str]] = []  # (joiner to the previous piece, piece)
    for line in text.split("\n"):
        if units(line) <= budget:
            pieces.append(("\n", line))
            continue
        for n, (joiner, piece) in enumerate(_line_pieces(line, budget)):
            pieces.append(("\n" if n == 0 else joiner, piece))
    chunks: list[str] = []
    open_at_start: list[tuple[str, str]] = []
    body = ""
    open_now: list[tuple[str, str]] = []

    def emit() -> None:
        inner = body.strip("\n")
        if inner.strip() and TAG.sub("", inner).strip():
            chunks.append(_opening(open_at_start) + inner + _closing(open_now))

    for joiner, piece in pieces:
        after = _after(open_now, piece)
        candidate = f"{body}{joiner}{piece}" if body else piece
        if body and units(_opening(open_at_start) + candidate + _closing(after)) > limit:
            emit()
            open_at_start = open_now
            body, open_now = piece, after
            continue
        body, open_now = candidate, after
    emit()
    return chunks
