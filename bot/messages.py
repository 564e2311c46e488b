"""What the core wants said: plain data the Telegram edge renders.

A screen is a pure function of data; the core builds `Msg`s and the handlers
turn them into Bot API calls. `Msg` round-trips through JSON so the outbox can
hold it across a restart.
"""

from __future__ import annotations

import json
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

    def say(self, msg: Msg) -> Outcome:
        self.reply.append(msg)
        return self


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Chunks of at most `limit` characters, cut only at line ends (a longer line is cut
    at its last space before the limit)."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:cut])
            line = line[cut:].lstrip(" ")
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        chunks.append(current)
    return [c.strip("\n") for c in chunks if c.strip()]
