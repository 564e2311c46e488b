"""The SQL of /conflict: conversations, turns and agreements (text encrypted at rest)."""

from __future__ import annotations

from typing import Any

from bot import schedule
from bot.conflict.machine import (
    FLOOR,
    IDLE_NUDGE_AFTER,
    PARK_AFTER,
    Agreement,
    Conv,
    Move,
    apply,
    deadlines,
)
from bot.core import Core
from bot.db import Conn, Row, fetch_all, fetch_one

CONV_COLUMNS = (
    "id",
    "couple_id",
    "initiator",
    "partner",
    "group_chat_id",
    "topic",
    "state",
    "paused_state",
    "speaker",
    "listener",
    "round",
    "half",
    "attempt",
    "rounds_done",
    "heard_by",
    "version",
    "resume_at",
    "idle_nudge_at",
    "park_at",
    "paused_by",
    "rules_shown",
)
# What a transition may change: everything but identity, place, state and version.
_FIXED = {"id", "couple_id", "initiator", "partner", "group_chat_id", "state", "version"}
_MOVABLE = frozenset(CONV_COLUMNS) - _FIXED | {"closed_at", "ended_by"}
_FLOOR_SQL = ", ".join(f"'{s}'" for s in FLOOR)


class Store:
    def __init__(self, core: Core) -> None:
        self.core = core

    # -- conversations ---------------------------------------------------------------

    def _row(self, row: Row) -> Conv:
        data: dict[str, Any] = dict(row)
        data["topic"] = self.core.cipher.decrypt(data["topic"]) if data["topic"] else ""
        return Conv(**data)

    async def one(self, conn: Conn, where: str, params: tuple) -> Conv | None:
        row = await fetch_one(
            conn,
            f"SELECT {', '.join('c.' + c for c in CONV_COLUMNS)} "
            "FROM conflict_conversations c JOIN couples ON couples.id = c.couple_id "
            f"WHERE couples.stage != 'dissolved' AND {where}",
            params,
        )
        return self._row(row) if row else None

    async def load(self, conn: Conn, conversation_id: int) -> Conv | None:
        return await self.one(conn, "c.id = ?", (conversation_id,))

    async def open_for_couple(self, conn: Conn, couple_id: int) -> Conv | None:
        return await self.one(
            conn, "c.couple_id = ? AND c.state NOT IN ('closed', 'ended')", (couple_id,)
        )

    async def open_for_user(self, conn: Conn, user_id: int) -> Conv | None:
        return await self.one(
            conn,
            "(c.initiator = ? OR c.partner = ?) AND c.state NOT IN ('closed', 'ended')",
            (user_id, user_id),
        )

    async def create(
        self,
        conn: Conn,
        couple_id: int,
        initiator: int,
        partner: int,
        group: int | None,
    ) -> Conv:
        """A new conversation, waiting for its topic (`Conflict._on_text` takes it)."""
        now = self.core.now()
        cur = await conn.execute(
            "INSERT INTO conflict_conversations (couple_id, initiator, partner, group_chat_id, "
            "topic, state, created_at, updated_at, park_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                couple_id,
                initiator,
                partner,
                group,
                None,
                "topic",
                now,
                now,
                deadlines("topic", now)["park_at"],
            ),
        )
        conv = await self.load(conn, int(cur.lastrowid or 0))
        assert conv is not None
        return conv

    async def created_at(self, conn: Conn, conv: Conv) -> int:
        row = await fetch_one(
            conn, "SELECT created_at FROM conflict_conversations WHERE id = ?", (conv.id,)
        )
        return int(row["created_at"]) if row else self.core.now()

    async def couple_saw_rules(self, conn: Conn, conv: Conv) -> bool:
        """The full rules card was shown to this couple before (here or in another talk)."""
        row = await fetch_one(
            conn,
            "SELECT 1 FROM conflict_conversations WHERE couple_id = ? AND rules_shown = 1 LIMIT 1",
            (conv.couple_id,),
        )
        return row is not None

    async def move(self, conn: Conn, conv: Conv, move: Move) -> Conv:
        """The one way a conversation changes state: bump the version, reset the deadlines."""
        now = self.core.now()
        fields = dict(move.fields)
        for key, value in deadlines(move.state, now).items():
            fields.setdefault(key, value)
        if fields.get("idle_nudge_at") or fields.get("park_at"):
            quiet = await self.quiet(conn, conv)  # no nudge, pause or close in quiet hours
            for key in ("idle_nudge_at", "park_at"):
                if fields.get(key):
                    fields[key] = quiet.outside_ts(fields[key])
        if move.state not in ("timeout", "scheduled"):
            fields.setdefault("resume_at", None)
        if move.state != "timeout":
            fields.setdefault("paused_by", None)
        unknown = set(fields) - _MOVABLE
        if unknown:
            raise ValueError(f"not a movable column: {unknown}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        stored = {k: self.core.cipher.encrypt(v) if k == "topic" else v for k, v in fields.items()}
        cur = await conn.execute(
            f"UPDATE conflict_conversations SET state = ?, version = version + 1, updated_at = ?, "
            f"{sets} WHERE id = ? AND version = ?",
            (move.state, now, *stored.values(), conv.id, conv.version),
        )
        if cur.rowcount != 1:
            raise RuntimeError("conversation changed under a transition")
        return apply(conv, Move(move.state, fields))

    async def set_columns(self, conn: Conn, conv: Conv, **fields: Any) -> None:
        """Bookkeeping within a step (no new version): heard_by, rules_shown, a cleared nudge."""
        unknown = set(fields) - _MOVABLE
        if unknown:
            raise ValueError(f"not a movable column: {unknown}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        await conn.execute(
            f"UPDATE conflict_conversations SET {sets} WHERE id = ?", (*fields.values(), conv.id)
        )

    async def keyboard_shown(
        self, conn: Conn, conv: Conv, chat_id: int, message_id: int
    ) -> int | None:
        """Remember the chat's live keyboard; return the one it replaces (to take away)."""
        column = _live_column(conv, chat_id)
        row = await fetch_one(
            conn, f"SELECT {column} AS live FROM conflict_conversations WHERE id = ?", (conv.id,)
        )
        await conn.execute(
            f"UPDATE conflict_conversations SET {column} = ? WHERE id = ?", (message_id, conv.id)
        )
        old = row["live"] if row else None
        return old if old is not None and old != message_id else None

    async def keyboard_spent(self, conn: Conn, conv: Conv, chat_id: int, message_id: int) -> None:
        """The edge takes away the keyboard just pressed: if it was the chat's live one, the
        next screen has none left to replace (so it is not taken away a second time)."""
        column = _live_column(conv, chat_id)
        await conn.execute(
            f"UPDATE conflict_conversations SET {column} = NULL WHERE id = ? AND {column} = ?",
            (conv.id, message_id),
        )

    async def live_keyboards(self, conn: Conn, conv: Conv) -> list[tuple[int, int]]:
        """(chat, message id) of every live keyboard the conversation still shows."""
        row = await fetch_one(
            conn,
            "SELECT live_initiator, live_partner FROM conflict_conversations WHERE id = ?",
            (conv.id,),
        )
        if row is None:
            return []
        chats = conv.chats
        found = [(chats[0], row["live_initiator"])]
        if not conv.in_group:
            found.append((chats[1], row["live_partner"]))
        await conn.execute(
            "UPDATE conflict_conversations SET live_initiator = NULL, live_partner = NULL "
            "WHERE id = ?",
            (conv.id,),
        )
        return [(chat, mid) for chat, mid in found if mid is not None]

    async def touch(self, conn: Conn, conv: Conv) -> None:
        """Activity within a step: push the idle nudge and parking back (out of quiet hours)."""
        now = self.core.now()
        quiet = await self.quiet(conn, conv)
        await conn.execute(
            "UPDATE conflict_conversations SET updated_at = ?, park_at = ?, "
            f"idle_nudge_at = CASE WHEN state IN ({_FLOOR_SQL}) THEN ? ELSE NULL END "
            "WHERE id = ?",
            (
                now,
                quiet.outside_ts(now + PARK_AFTER),
                quiet.outside_ts(now + IDLE_NUDGE_AFTER),
                conv.id,
            ),
        )

    async def quiet(self, conn: Conn, conv: Conv) -> schedule.Quiet:
        """The couple's quiet hours: no break or appointment ends, no nudge comes, in them."""
        couple = await self.core.couple_by_id(conn, conv.couple_id)
        if couple is None:  # dissolved meanwhile: nothing of it is scheduled any more
            return schedule.Quiet.of(self.core.settings.default_timezone, "00:00", "00:00")
        return self.core.quiet(couple)

    async def due(self, column: str, states: tuple[str, ...]) -> list[int]:
        async with self.core.db.tx() as conn:
            marks = ",".join("?" * len(states))
            return [
                r[0]
                for r in await fetch_all(
                    conn,
                    "SELECT c.id FROM conflict_conversations c "
                    "JOIN couples ON couples.id = c.couple_id"
                    f" WHERE c.{column} <= ? AND c.state IN ({marks}) "
                    "AND couples.stage != 'dissolved' "
                    f"ORDER BY c.{column}",
                    (self.core.now(), *states),
                )
            ]

    # -- turns ---------------------------------------------------------------------

    async def add_turn(self, conn: Conn, conv: Conv, user_id: int, kind: str, text: str) -> int:
        cur = await conn.execute(
            "INSERT INTO conflict_turns (conversation_id, user_id, round, kind, text, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (conv.id, user_id, conv.round, kind, self.core.cipher.encrypt(text), self.core.now()),
        )
        return int(cur.lastrowid or 0)

    async def turns(
        self,
        conn: Conn,
        conv: Conv,
        user_id: int,
        kind: str,
        after: int = 0,
    ) -> list[tuple[int, str]]:
        """(id, text) of `user_id`'s turns of `kind`, oldest first, with ids above `after`."""
        found = await fetch_all(
            conn,
            "SELECT id, text FROM conflict_turns WHERE conversation_id = ? AND user_id = ? "
            "AND kind = ? AND id > ? ORDER BY id",
            (conv.id, user_id, kind, after),
        )
        return [(r["id"], self.core.cipher.decrypt(r["text"])) for r in found]

    async def last_turn_id(self, conn: Conn, conv: Conv, kind: str) -> int:
        row = await fetch_one(
            conn,
            "SELECT MAX(id) AS last FROM conflict_turns WHERE conversation_id = ? AND kind = ?",
            (conv.id, kind),
        )
        return int(row["last"] or 0) if row else 0

    async def last_turn(self, conn: Conn, conv: Conv, kind: str) -> str:
        row = await fetch_one(
            conn,
            "SELECT text FROM conflict_turns WHERE conversation_id = ? AND kind = ? "
            "ORDER BY id DESC LIMIT 1",
            (conv.id, kind),
        )
        return self.core.cipher.decrypt(row["text"]) if row else ""

    async def set_kind(self, conn: Conn, ids: list[int], kind: str, round_: int) -> None:
        if ids:
            await conn.execute(
                f"UPDATE conflict_turns SET kind = ?, round = ? WHERE id IN "
                f"({','.join('?' * len(ids))})",
                (kind, round_, *ids),
            )

    async def delete_turns(self, conn: Conn, ids: list[int]) -> None:
        if ids:
            await conn.execute(
                f"DELETE FROM conflict_turns WHERE id IN ({','.join('?' * len(ids))})", ids
            )

    # -- agreements ----------------------------------------------------------------

    async def agreements(
        self, conn: Conn, conversation_id: int, where: str = "", params: tuple = ()
    ) -> list[Agreement]:
        found = await fetch_all(
            conn,
            "SELECT id, conversation_id, couple_id, kind, author, decider, doer, text, words, "
            f"status, follow_up_at FROM agreements WHERE conversation_id = ? {where} ORDER BY id",
            (conversation_id, *params),
        )
        return [
            Agreement(
                id=r["id"],
                conversation_id=r["conversation_id"],
                couple_id=r["couple_id"],
                kind=r["kind"],
                author=r["author"],
                decider=r["decider"],
                doer=r["doer"],
                text=self.core.cipher.decrypt(r["text"]),
                status=r["status"],
                follow_up_at=r["follow_up_at"],
                words=self.core.cipher.decrypt(r["words"]) if r["words"] else "",
            )
            for r in found
        ]

    async def add_agreement(
        self,
        conn: Conn,
        conv: Conv,
        kind: str,
        author: int,
        text: str,
        status: str = "proposed",
    ) -> int:
        partner = conv.other(author)
        doer = partner if kind == "request" else author
        cur = await conn.execute(
            "INSERT INTO agreements (conversation_id, couple_id, kind, author, decider, doer, text,"
            " words, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conv.id,
                conv.couple_id,
                kind,
                author,
                partner,
                doer,
                self.core.cipher.encrypt(text),
                self.core.cipher.encrypt(text) if kind == "offer" and text else None,
                status,
                self.core.now(),
            ),
        )
        return int(cur.lastrowid or 0)

    async def set_agreement(
        self,
        conn: Conn,
        agreement_id: int,
        status: str,
        *,
        words: str | None = None,
        follow_up_at: int | None = None,
    ) -> None:
        await conn.execute(
            "UPDATE agreements SET status = ?, decided_at = ?, follow_up_at = ?, "
            "words = COALESCE(?, words) WHERE id = ?",
            (
                status,
                self.core.now(),
                follow_up_at,
                self.core.cipher.encrypt(words) if words is not None else None,
                agreement_id,
            ),
        )


def _live_column(conv: Conv, chat_id: int) -> str:
    """Where a chat's live keyboard is remembered: the partner's private chat has its own
    column; the initiator's, or the group's in group mode, the other."""
    return "live_partner" if chat_id == conv.partner and not conv.in_group else "live_initiator"
