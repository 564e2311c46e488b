"""Drive the real Trellis `Application` as two partners would, against `FakeBotAPI`.

`World` owns the database path, the clock and the fake API, and can build,
start, stop and restart the application on them, the way a real restart would
keep Telegram's side and the database file but nothing in memory.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from telegram import Update
from telegram.ext import AIORateLimiter, Application

from bot.app import build_application, tick
from bot.clock import ManualClock
from bot.settings import Settings
from playground.fakeapi import BOT_ID, FakeBotAPI, Sent

TEST_TOKEN = "123456789:TEST-token-never-real"


@dataclass
class Person:
    id: int
    first_name: str
    language_code: str | None = None  # what the Telegram client reports, e.g. "es-MX"

    def as_user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            user["language_code"] = self.language_code
        return user


class HandlerFailed(AssertionError):
    pass


@dataclass
class World:
    db_path: Path
    clock: ManualClock = field(
        default_factory=lambda: ManualClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    )
    api: FakeBotAPI = field(default_factory=FakeBotAPI)
    key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    raise_errors: bool = True
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    # None: Telegram's limits off (a test would wait minutes); tests of limits pass their own.
    rate_limiter: Any = None
    app: Application | None = None
    errors: list[BaseException] = field(default_factory=list)
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(1000))
    _message_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    last_update: Update | None = None

    def settings(self) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": TEST_TOKEN,
            "database_path": self.db_path,
            "data_encryption_key": self.key,
            "default_timezone": "Europe/London",
            **self.settings_overrides,
        }
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> Application:
        app = build_application(
            self.settings(),
            clock=self.clock,
            request=self.api,
            # Telegram's real limits would make a test wait minutes; 0 turns a limit off.
            rate_limiter=self.rate_limiter
            or AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=3),
            start_jobs=False,
        )

        async def record(update: object, context: Any) -> None:
            self.errors.append(context.error)

        app.add_error_handler(record)
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)
        self.app = app
        return app

    async def stop(self) -> None:
        if self.app is None:
            return
        app, self.app = self.app, None
        if app.post_shutdown is not None:
            await app.post_shutdown(app)
        await app.shutdown()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def check_errors(self) -> None:
        if self.errors:
            errors, self.errors = self.errors, []
            raise HandlerFailed(f"handler raised: {errors!r}") from errors[0]

    # -- people and chats ------------------------------------------------------

    def person(self, user_id: int, first_name: str, language_code: str | None = None) -> Person:
        self.api.users[user_id] = {"first_name": first_name}
        return Person(user_id, first_name, language_code)

    def make_group(self, chat_id: int, *members: Person, title: str = "Us") -> int:
        self.api.group_members[chat_id] = {m.id for m in members}
        self.api.group_titles[chat_id] = title
        return chat_id

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id < 0:
            return {
                "id": chat_id,
                "type": "group",
                "title": self.api.group_titles.get(chat_id, "Us"),
            }
        return {
            "id": chat_id,
            "type": "private",
            "first_name": self.api.users[chat_id]["first_name"],
        }

    # -- sending updates -------------------------------------------------------

    async def feed(self, data: dict[str, Any]) -> Update:
        assert self.app is not None, "start() the world first"
        data = {"update_id": next(self._update_ids), **data}
        update = Update.de_json(data, self.app.bot)
        self.last_update = update
        await self.app.process_update(update)
        if self.raise_errors:
            self.check_errors()
        return update

    async def redeliver(self) -> None:
        """The same update again, as Telegram may send it."""
        assert self.app is not None and self.last_update is not None
        await self.app.process_update(self.last_update)
        if self.raise_errors:
            self.check_errors()

    async def send(self, who: Person, text: str, chat_id: int | None = None) -> Update:
        chat_id = who.id if chat_id is None else chat_id
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(self.clock.now().timestamp()),
            "chat": self._chat(chat_id),
            "from": who.as_user(),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return await self.feed({"message": message})

    def find_button(self, chat_id: int, label: str) -> tuple[Sent, dict[str, Any]]:
        """The newest message in the chat with a button whose text contains `label`."""
        for sent in reversed(self.api.chats[chat_id]):
            for row in sent.buttons:
                for button in row:
                    if label.lower() in button["text"].lower():
                        return sent, button
        shown = [s.button_texts() for s in self.api.chats[chat_id][-3:]]
        raise AssertionError(f"no button {label!r} in chat {chat_id}; last buttons: {shown}")

    async def press(self, who: Person, label: str, chat_id: int | None = None) -> Update:
        chat_id = who.id if chat_id is None else chat_id
        sent, button = self.find_button(chat_id, label)
        assert "callback_data" in button, f"{label!r} is a link button"
        return await self.press_data(who, button["callback_data"], chat_id, sent.message_id)

    async def press_data(
        self, who: Person, data: str, chat_id: int | None = None, message_id: int | None = None
    ) -> Update:
        """A press with arbitrary callback data (forged presses, stale buttons)."""
        chat_id = who.id if chat_id is None else chat_id
        if message_id is None:
            message_id = self.api.chats[chat_id][-1].message_id if self.api.chats[chat_id] else 1
        return await self.feed(
            {
                "callback_query": {
                    "id": str(next(self._update_ids)),
                    "from": who.as_user(),
                    "chat_instance": str(chat_id),
                    "data": data,
                    "message": {
                        "message_id": message_id,
                        "date": int(self.clock.now().timestamp()),
                        "chat": self._chat(chat_id),
                        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Trellis"},
                        "text": "…",
                    },
                }
            }
        )

    async def bot_membership(self, chat_id: int, by: Person, old: str, new: str) -> Update:
        bot_user = {"id": BOT_ID, "is_bot": True, "first_name": "Trellis", "username": "TrellisBot"}
        date = int(self.clock.now().timestamp())
        return await self.feed(
            {
                "my_chat_member": {
                    "chat": self._chat(chat_id),
                    "from": by.as_user(),
                    "date": date,
                    "old_chat_member": _member(old, bot_user),
                    "new_chat_member": _member(new, bot_user),
                }
            }
        )

    async def add_bot(self, chat_id: int, by: Person) -> Update:
        return await self.bot_membership(chat_id, by, "left", "member")

    async def remove_bot(self, chat_id: int, by: Person) -> Update:
        return await self.bot_membership(chat_id, by, "member", "left")

    async def tick(self) -> None:
        """One scheduler sweep at the current (moved) clock."""
        assert self.app is not None
        await tick(self.app)
        if self.raise_errors:
            self.check_errors()

    # -- reading what the bot said ---------------------------------------------

    def texts(self, chat_id: int) -> list[str]:
        return self.api.texts(chat_id)

    def last_text(self, chat_id: int) -> str:
        return self.api.last(chat_id).text

    def said(self, chat_id: int, fragment: str) -> bool:
        return any(fragment.lower() in t.lower() for t in self.texts(chat_id))


def _member(status: str, user: dict[str, Any]) -> dict[str, Any]:
    member: dict[str, Any] = {"status": status, "user": user}
    if status == "kicked":
        member["until_date"] = 0  # banned for ever, as Telegram reports a blocked bot
    return member
