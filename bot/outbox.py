"""The outbox: messages owed to chats, written with the state change that owes them.

The edge calls `claim` for the ids an operation produced, sends, then `done` or
`failed`. `pending` finds what a crash or a failure left unsent. A claim older
than `STALE_CLAIM` seconds is treated as lost and may be claimed again, so a
send is at least once; a row is sent by one claimer at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.core import Core
from bot.db import Conn, Row, fetch_all
from bot.messages import Msg

log = logging.getLogger(__name__)

STALE_CLAIM = 120
MAX_ATTEMPTS = 8
CLAIM_ON_LOOP = 50  # a claim of more rows than this runs as one job off the loop


@dataclass(frozen=True, slots=True)
class Owed:
    id: int
    msg: Msg
    attempts: int


class Outbox:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def claim(
        self, ids: list[int] | None = None, limit: int = 500, after: int = 0
    ) -> list[Owed]:
        """Claim unsent rows (the given ids, or the oldest pending ones), in id order.

        `after` skips ids up to it: a drain passes each row once, so a row released for
        retry waits for the next drain instead of being retried in a tight loop.
        """
        if ids is not None and not ids:
            return []
        now = self.core.now()
        if ids is not None and len(ids) <= CLAIM_ON_LOOP:
            async with self.core.db.tx() as conn:
                rows = await self._claim(conn, ids, limit, after, now)
        else:
            rows = await self.core.db.job(self._claim, ids, limit, after, now)
        # Rendered here, outside the transaction: a body may be a reference to content.
        claimed: list[Owed] = []
        broken: list[int] = []
        for r in rows:
            try:
                claimed.append(Owed(r["id"], self.core.read_body(r["body"]), r["attempts"] + 1))
            except Exception as exc:  # e.g. a question removed from the content since
                log.warning(
                    "outbox %s: cannot render the message (%s)", r["id"], type(exc).__name__
                )
                broken.append(r["id"])
        if broken:
            await self.core.db.execute_alone(
                "UPDATE outbox SET failed = 'unrenderable', body = NULL "
                f"WHERE id IN ({','.join('?' * len(broken))})",
                broken,
            )
        return claimed

    async def _claim(
        self, conn: Conn, ids: list[int] | None, limit: int, after: int, now: int
    ) -> list[Row]:
        # A user who blocked the bot is skipped until they come back (/start again).
        await conn.execute(
            "UPDATE outbox SET failed = 'unreachable', body = NULL "
            "WHERE sent_at IS NULL AND failed IS NULL AND chat_id > 0 "
            "AND chat_id IN (SELECT id FROM users WHERE reachable = 0)"
        )
        where = "sent_at IS NULL AND failed IS NULL AND (claimed_at IS NULL OR claimed_at < ?)"
        where += " AND id > ? AND (not_before IS NULL OR not_before <= ?)"
        params: list[object] = [now - STALE_CLAIM, after, now]
        if ids is not None:
            where += f" AND id IN ({','.join('?' * len(ids))})"
            params += ids
        rows = await fetch_all(
            conn,
            f"SELECT id, body, attempts FROM outbox WHERE {where} ORDER BY id LIMIT ?",
            (*params, limit),
        )
        await conn.executemany(
            "UPDATE outbox SET claimed_at = ?, attempts = attempts + 1 WHERE id = ?",
            [(now, r["id"]) for r in rows],
        )
        return rows

    async def done(self, ids: list[int]) -> None:
        """Mark rows sent and wipe their bodies (one statement, one round trip)."""
        if not ids:
            return
        await self.core.db.execute_alone(
            f"UPDATE outbox SET sent_at = ?, body = NULL WHERE id IN ({','.join('?' * len(ids))})",
            (self.core.now(), *ids),
        )

    async def refused(self, owed: Owed, why: str) -> None:
        """What Telegram said instead of sending, as the core's policy:

        - 'forbidden': the user blocked the bot (or left the group): given up, and the
          user is unreachable until they write to the bot again;
        - 'bad_request': Telegram will never take this message: given up;
        - 'retry' (429, network): released for the next sweep, up to MAX_ATTEMPTS.
        """
        if why == "retry":
            await self.failed(owed, why, final=False)
            return
        await self.failed(owed, why, final=True)
        if why == "forbidden" and owed.msg.chat_id > 0:
            await self.unreachable(owed.msg.chat_id)

    async def failed(self, owed: Owed, why: str, *, final: bool) -> None:
        """Give up on a row (`final`), or release it to be retried later."""
        async with self.core.db.tx() as conn:
            if final or owed.attempts >= MAX_ATTEMPTS:
                await conn.execute(
                    "UPDATE outbox SET failed = ?, body = NULL WHERE id = ?", (why, owed.id)
                )
            else:
                await conn.execute("UPDATE outbox SET claimed_at = NULL WHERE id = ?", (owed.id,))

    async def pending_count(self) -> int:
        async with (
            self.core.db.tx() as conn,
            conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed IS NULL"
            ) as cur,
        ):
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def unreachable(self, chat_id: int) -> None:
        """A private chat answered Forbidden: the user blocked the bot."""
        async with self.core.db.tx() as conn:
            await conn.execute("UPDATE users SET reachable = 0 WHERE id = ?", (chat_id,))
