"""The core's shared services and the small repository every feature uses."""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

from babel.lists import format_list

import content as content_mod
from bot import schedule
from bot.clock import Clock
from bot.crypto import Cipher
from bot.db import Conn, Database, Row, fetch_all, fetch_one
from bot.messages import Msg, Outcome
from bot.settings import Settings
from content import Content

# The language the core is speaking in right now: the acting user's (set by `touch_user`),
# or a recipient's inside `Core.to(...)` / `Core.speaking(...)`. Each update and each sweep
# runs in its own asyncio task, whose copy of this variable is its own.
_SPEAKING: ContextVar[str] = ContextVar("speaking", default=content_mod.BASE)
T = TypeVar("T")
_GROUP_LANGUAGE = (
    "SELECT COALESCE(c.group_language, u.language) AS language FROM couples c "
    "JOIN users u ON u.id = c.user_a WHERE c.group_chat_id = ? AND c.stage != 'dissolved'"
)


class Safe(str):
    """Text already in Telegram HTML (built by the core from escaped parts)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who sent an update, and from where (built by the edge from the update)."""

    user_id: int
    first_name: str
    chat_id: int
    private: bool
    language: str | None = None  # Telegram's language_code, when the client sends it


@dataclass(frozen=True, slots=True)
class Couple:
    id: int
    user_a: int
    user_b: int
    group_chat_id: int | None
    stage: str
    timezone: str | None
    weekday: int
    local_time: str
    next_due_at: int | None
    paused_until: int | None
    reminders: bool
    reveal_to: str
    quiet_start: str = "22:00"
    quiet_end: str = "08:00"
    group_language: str | None = None  # None: the inviter's language

    def partner_of(self, user_id: int) -> int:
        return self.user_b if user_id == self.user_a else self.user_a

    def has(self, user_id: int) -> bool:
        return user_id in (self.user_a, self.user_b)

    @property
    def users(self) -> tuple[int, int]:
        return (self.user_a, self.user_b)

    @property
    def reveal_chats(self) -> tuple[int, ...]:
        """Where shared moments go: the group if linked and wanted, else both private chats."""
        if self.group_chat_id is not None and self.reveal_to == "group":
            return (self.group_chat_id,)
        return self.users


COUPLE_COLUMNS = (
    "id, user_a, user_b, group_chat_id, stage, timezone, weekday, local_time, "
    "next_due_at, paused_until, reminders, reveal_to, quiet_start, quiet_end, group_language"
)


def couple_from_row(row: Row) -> Couple:
    return Couple(
        id=row["id"],
        user_a=row["user_a"],
        user_b=row["user_b"],
        group_chat_id=row["group_chat_id"],
        stage=row["stage"],
        timezone=row["timezone"],
        weekday=row["weekday"],
        local_time=row["local_time"],
        next_due_at=row["next_due_at"],
        paused_until=row["paused_until"],
        reminders=bool(row["reminders"]),
        reveal_to=row["reveal_to"],
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        group_language=row["group_language"],
    )


@dataclass(frozen=True, slots=True)
class Ref:
    """A message owed by reference: ids only, rendered from content when the outbox sends it
    (`Core.renderers[render](chat_id, **args)`), so the sweep does not render thousands.
    If the content it names is gone by then, that row fails alone."""

    chat_id: int
    render: str
    args: str  # a JSON object of ids, serialised once (partners of a couple share it)

    @staticmethod
    def args_of(**args: int | str | bool) -> str:
        return json.dumps(args)

    def to_json(self) -> str:
        return (
            f'{{"ref": {json.dumps(self.render)}, "chat_id": {self.chat_id}, "args": {self.args}}}'
        )


REF_PREFIX = '{"ref": '


class ChatInspector(Protocol):
    """What the core may ask Telegram about a group; the edge implements it."""

    async def is_member(self, chat_id: int, user_id: int) -> bool: ...

    async def member_count(self, chat_id: int) -> int: ...


@dataclass
class Core:
    db: Database
    clock: Clock
    content: Content
    cipher: Cipher
    settings: Settings
    bot_username: str = "TrellisBot"
    # What a `Ref` names: a feature registers its renderers when it is built.
    renderers: dict[str, Callable[..., Msg]] = field(default_factory=dict)
    catalogues: dict[str, Content] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.catalogues:
            self.catalogues = dict(content_mod.catalogues())
        self.catalogues.setdefault(self.content.lang, self.content)

    # -- language ------------------------------------------------------------

    @property
    def lang(self) -> str:
        """The language being spoken right now."""
        return _SPEAKING.get()

    @property
    def c(self) -> Content:
        """The content of the language being spoken right now."""
        return self.catalogues.get(self.lang, self.content)

    @contextmanager
    def speaking(self, lang: str) -> Iterator[None]:
        """Render everything inside in `lang` (e.g. a message owed to the partner)."""
        token = _SPEAKING.set(lang if lang in self.catalogues else content_mod.BASE)
        try:
            yield
        finally:
            _SPEAKING.reset(token)

    @asynccontextmanager
    async def to(self, conn: Conn, chat_id: int) -> AsyncIterator[None]:
        """Render everything inside for the reader(s) of `chat_id` (a user or a group)."""
        with self.speaking(await self.lang_of(conn, chat_id)):
            yield

    def and_list(self, items: list[str]) -> str:
        """'Alice and Bob', 'Alice y Bob', 'Alice и Bob': CLDR's list pattern."""
        return format_list(items, locale=self.lang)

    async def speak_to(
        self, user_id: int | None, chat_id: int | None, client_language: str | None
    ) -> str:
        """Set the language of everything this update says: a private chat's user's (their
        client's language if they are new), a couple's group's own. Called once per update
        before any handler; an update is handled in one task, so this stays with it."""
        lang = content_mod.base_tag(client_language) or content_mod.BASE
        row = None
        async with self.db.look() as conn:  # two reads on the loop; never the update's mark
            if chat_id is not None and chat_id < 0:
                row = await fetch_one(conn, _GROUP_LANGUAGE, (chat_id,))
            if row is None and user_id is not None:
                row = await fetch_one(conn, "SELECT language FROM users WHERE id = ?", (user_id,))
        if row is not None and row["language"] in self.catalogues:
            lang = row["language"]
        _SPEAKING.set(lang)
        return lang

    async def langs(self, conn: Conn, user_ids: list[int]) -> dict[int, str]:
        """Many users' languages in one query (the sweep's path); unknown users read English."""
        found = {u: content_mod.BASE for u in user_ids}
        for start in range(0, len(user_ids), 500):
            chunk = user_ids[start : start + 500]
            for r in await fetch_all(
                conn,
                f"SELECT id, language FROM users WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                found[r["id"]] = r["language"]
        return found

    async def render(self, conn: Conn, chat_id: int, build: Callable[[], T]) -> T:
        """`build()` in the language of `chat_id`'s reader(s): a message owed to the partner
        or the group is written for them, not in the language of whoever acted."""
        async with self.to(conn, chat_id):
            return build()

    async def lang_of(self, conn: Conn, chat_id: int) -> str:
        """A private chat reads its user's language; a couple's group its group language
        (the inviter's unless changed in /settings)."""
        if chat_id > 0:
            row = await fetch_one(conn, "SELECT language FROM users WHERE id = ?", (chat_id,))
        else:
            row = await fetch_one(conn, _GROUP_LANGUAGE, (chat_id,))
        return row["language"] if row else content_mod.BASE

    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def zone(self, couple: Couple) -> str:
        return couple.timezone or self.settings.default_timezone

    def quiet(self, couple: Couple) -> schedule.Quiet:
        """The couple's quiet hours: nothing scheduled for them fires inside these."""
        return schedule.Quiet.of(self.zone(couple), couple.quiet_start, couple.quiet_end)

    def paused(self, couple: Couple) -> bool:
        return couple.paused_until is not None and couple.paused_until > self.now()

    def t(self, key: str, /, **values: object) -> str:
        """A content string with every value HTML-escaped (names and text come from users)."""
        return self.c.t(
            key, **{k: v if isinstance(v, Safe) else html.escape(str(v)) for k, v in values.items()}
        )

    # -- users ---------------------------------------------------------------

    async def touch_user(self, conn: Conn, actor: Actor) -> None:
        """Create or refresh the user; a private message proves the private chat exists.

        A new user's language is their Telegram client's (its base tag, if we have a
        catalogue for it; else English); after that only /language changes it. From here
        on the core speaks the actor's language.
        """
        first = content_mod.base_tag(actor.language) or content_mod.BASE
        # fetch_all: a RETURNING statement is stepped to its end, never left half-read.
        rows = await fetch_all(
            conn,
            "INSERT INTO users (id, first_name, private_chat, created_at, language) "
            "VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET first_name = excluded.first_name, "
            "private_chat = MAX(users.private_chat, excluded.private_chat), "
            "reachable = CASE WHEN excluded.private_chat = 1 THEN 1 ELSE users.reachable END "
            "RETURNING language",
            (actor.user_id, actor.first_name[:64], int(actor.private), self.now(), first),
        )
        row = rows[0] if rows else None
        mine = row["language"] if row and row["language"] in self.catalogues else first
        if not actor.private:  # a group reads its own language, once it is a couple's
            group = await fetch_one(conn, _GROUP_LANGUAGE, (actor.chat_id,))
            mine = group["language"] if group else mine
        _SPEAKING.set(mine)

    async def set_language(self, conn: Conn, user_id: int, lang: str) -> None:
        await conn.execute("UPDATE users SET language = ? WHERE id = ?", (lang, user_id))
        _SPEAKING.set(lang)

    async def first_name(self, conn: Conn, user_id: int) -> str:
        row = await fetch_one(conn, "SELECT first_name FROM users WHERE id = ?", (user_id,))
        if row is None or user_id == 0:  # 0: a partner who erased their data
            return self.t("common.former_partner")
        return row["first_name"]

    async def set_awaiting(self, conn: Conn, user_id: int, what: str | None) -> None:
        await conn.execute("UPDATE users SET awaiting = ? WHERE id = ?", (what, user_id))

    async def awaiting(self, conn: Conn, user_id: int) -> str | None:
        row = await fetch_one(conn, "SELECT awaiting FROM users WHERE id = ?", (user_id,))
        return row["awaiting"] if row else None

    # -- couples -------------------------------------------------------------

    async def couple_of(self, conn: Conn, user_id: int) -> Couple | None:
        row = await fetch_one(
            conn,
            f"SELECT {COUPLE_COLUMNS} FROM couples JOIN members ON members.couple_id = couples.id "
            "WHERE members.user_id = ?",
            (user_id,),
        )
        return couple_from_row(row) if row else None

    async def paired(
        self,
        conn: Conn,
        actor: Actor,
        out: Outcome,
        unpaired: str = "common.not_paired",
    ) -> Couple | None:
        """The actor's couple, if this chat may see it; otherwise None with a kind reply.

        A private chat may; a group only if it is the couple's own linked group: nothing
        of a couple is ever shown in a group that holds anyone else.
        """
        await self.touch_user(conn, actor)
        couple = await self.couple_of(conn, actor.user_id)
        if couple is None:
            out.say(Msg(actor.chat_id, self.t(unpaired)))
            return None
        if not actor.private and couple.group_chat_id != actor.chat_id:
            out.say(Msg(actor.chat_id, self.t("common.not_this_group")))
            return None
        return couple

    async def couple_by_id(self, conn: Conn, couple_id: int) -> Couple | None:
        row = await fetch_one(
            conn,
            f"SELECT {COUPLE_COLUMNS} FROM couples WHERE id = ? AND stage != 'dissolved'",
            (couple_id,),
        )
        return couple_from_row(row) if row else None

    async def couple_by_group(self, conn: Conn, chat_id: int) -> Couple | None:
        row = await fetch_one(
            conn,
            f"SELECT {COUPLE_COLUMNS} FROM couples "
            "WHERE group_chat_id = ? AND stage != 'dissolved'",
            (chat_id,),
        )
        return couple_from_row(row) if row else None

    # -- outbox --------------------------------------------------------------

    async def queue(
        self,
        conn: Conn,
        msg: Msg,
        key: str | None = None,
        *,
        not_before: int | None = None,
    ) -> int | None:
        """Owe `msg` to its chat, in the caller's transaction. A known `key` is a no-op.

        `not_before`: a scheduled message waits until then (e.g. the end of quiet hours).
        """
        cur = await conn.execute(
            "INSERT INTO outbox (key, chat_id, body, created_at, not_before) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
            (key, msg.chat_id, self.cipher.encrypt(msg.to_json()), self.now(), not_before),
        )
        return cur.lastrowid if cur.rowcount == 1 else None

    async def queue_many(
        self,
        conn: Conn,
        owed: list[tuple[str, Msg | Ref]],
        *,
        encrypt: bool = True,
    ) -> list[int]:
        """Owe many keyed messages in one statement (the sweep's path); returns the new ids.

        `encrypt=False` is only for messages built from content alone (no text a user
        wrote, no names): they are stored as plain JSON, which the outbox tells apart.
        A `Ref` holds only ids and is always stored as plain JSON.
        """
        if not owed:
            return []
        now = self.now()
        marker = await fetch_one(conn, "SELECT COALESCE(MAX(id), 0) FROM outbox")
        await conn.executemany(
            "INSERT INTO outbox (key, chat_id, body, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(key) DO NOTHING",
            [(key, m.chat_id, self._body(m, encrypt), now) for key, m in owed],
        )
        # Ids only grow inside our write transaction, so the new rows are those above the mark.
        rows = await fetch_all(
            conn, "SELECT id FROM outbox WHERE id > ? ORDER BY id", (marker[0] if marker else 0,)
        )
        return [r["id"] for r in rows]

    def _body(self, msg: Msg | Ref, encrypt: bool) -> bytes:
        raw = msg.to_json()
        if isinstance(msg, Ref):
            return raw.encode("utf-8")
        return self.cipher.encrypt(raw) if encrypt else raw.encode("utf-8")

    def read_body(self, body: bytes) -> Msg:
        """The inverse of `_body`: plain JSON starts with '{', Fernet tokens never do; a
        `Ref` is rendered now (it raises if what it names is gone)."""
        raw = body.decode("utf-8") if body[:1] == b"{" else self.cipher.decrypt(body)
        if raw.startswith(REF_PREFIX):
            data = json.loads(raw)
            args = data["args"]
            # Rendered in the language its reader had when it was owed.
            with self.speaking(args.pop("lang", content_mod.BASE)):
                return self.renderers[data["ref"]](data["chat_id"], **args)
        return Msg.from_json(raw)

    async def owed_to(self, conn: Conn, chat_id: int) -> bool:
        """Whether `chat_id` is still owed something due now: its reader has not seen
        everything yet (a row waiting for a retry, or still on its way)."""
        row = await fetch_one(
            conn,
            "SELECT 1 FROM outbox WHERE chat_id = ? AND sent_at IS NULL AND failed IS NULL "
            "AND (not_before IS NULL OR not_before <= ?) LIMIT 1",
            (chat_id, self.now()),
        )
        return row is not None

    async def reroute_owed(
        self, conn: Conn, from_chat: int, to_chats: tuple[int, ...], why: str
    ) -> list[int]:
        """What is still owed to `from_chat` goes to each of `to_chats` instead (in order,
        and no sooner than it was due: a row held for after quiet hours stays held); the
        original rows are given up with `why`. Used when a group stops being theirs.

        Left out: edits of the group's own messages (a keyboard taken away means nothing
        elsewhere) and a conversation's step screens, which the conversation shows again
        where it now is (`Conflict.moved`)."""
        rows = await fetch_all(
            conn,
            "SELECT id, body, not_before FROM outbox WHERE chat_id = ? AND sent_at IS NULL "
            "AND failed IS NULL ORDER BY id",
            (from_chat,),
        )
        ids: list[int] = []
        for row in rows:
            try:
                msg = self.read_body(row["body"])
            except ValueError:
                continue  # unreadable: the drain marks it failed
            if msg.edit_message_id is not None or "live" in msg.extra:
                continue
            for chat in to_chats:
                moved = replace(msg, chat_id=chat, edit_message_id=None)
                new = await self.queue(conn, moved, not_before=row["not_before"])
                if new is not None:
                    ids.append(new)
        if rows:
            await conn.execute(
                f"UPDATE outbox SET failed = ?, body = NULL WHERE id IN "
                f"({','.join('?' * len(rows))})",
                (why, *(r["id"] for r in rows)),
            )
        return ids

    async def queue_all(
        self,
        conn: Conn,
        msgs: list[Msg],
        key: str | None = None,
        *,
        not_before: int | None = None,
    ) -> list[int]:
        ids = []
        for n, msg in enumerate(msgs):
            new = await self.queue(
                conn, msg, None if key is None else f"{key}#{n}", not_before=not_before
            )
            if new is not None:
                ids.append(new)
        return ids
