"""The outbox: messages owed to chats, written with the state change that owes them.

The edge calls `claim`, sends each row, then `done` or `refused`. What holds
(docs/architecture.md, "Delivery guarantees"):

- Order per chat lives in the claim query: only a chat's *oldest* owed row can be
  claimed, so row N+1 is never sent while row N is owed (in flight, waiting for a
  retry, or claimed by a process that died). A row stops being owed when it is sent
  or given up (`failed` says why).
- Each row is read, sent and marked alone: one that cannot be decrypted is marked
  failed ('unreadable') and the chat's next row goes on.
- A claim is the live process's promise that a send is under way: its sender always
  ends it (sent, refused, or released; those writes wait out another process's lock),
  and while a sender holds it (`in_flight`) it never lapses, which once sent a slow
  send twice. Only a claim whose end could not be written and that nobody holds lapses,
  after CLAIM_LAPSE. `release_claims` runs at start: the process holds the single-
  instance lock (bot/instance.py), so any claim left in the file belongs to a process
  that died, and its rows go out at once.
- `gate` bounds the sends in flight in the whole process (`outbox_parallel_sends`,
  default 1): a crash can repeat at most that many messages, since Telegram has no
  idempotency key and a send is marked the moment Telegram confirms it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.core import Core
from bot.db import Conn, Row, fetch_all
from bot.messages import Msg

log = logging.getLogger(__name__)

# A row Telegram refuses for a passing reason (429, the network, Telegram down) is tried
# again on every sweep, however often, until it is this old: an outage of minutes or
# hours loses nothing. Only past this is it given up, so one row that never gets
# through cannot hold its chat back for ever.
RETRY_FOR = timedelta(days=2)
# A claim no sender in this process holds (`Outbox.in_flight`) and older than this is
# taken for lost: only a failure to write that a claim ended (a disk error, a bug) leaves
# one, and it must not hold its chat back until the next restart.
CLAIM_LAPSE = 300
ERROR_TRIES = 5  # tries a row gets when sending it fails in an unexpected way (a bug)
CLAIM_BATCH = 50  # rows claimed per round: at most one per chat, so order is kept

PENDING = "sent_at IS NULL AND failed IS NULL"


@dataclass(frozen=True, slots=True)
class Owed:
    id: int
    msg: Msg
    attempts: int
    due_at: int  # when it was first owed: written, or its `not_before` if later


# Told that a user cannot be reached (they blocked the bot): a feature whose flow was
# waiting on them tells whoever is left waiting (Services wires it); returns new ids.
Unreachable = Callable[[int], Awaitable[list[int]]]


class Outbox:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.gate = asyncio.Semaphore(max(1, core.settings.outbox_parallel_sends))
        self.on_unreachable: Unreachable | None = None
        # Rows whose claim a sender in this process holds (so a claim never lapses under
        # a send still in flight, which once sent a slow message twice).
        self.in_flight: set[int] = set()

    async def claim(
        self, ids: list[int] | None = None, limit: int = CLAIM_BATCH, skip: Collection[int] = ()
    ) -> list[Owed]:
        """Claim the head row of each chat (the given ids only, if any), oldest first.

        `skip` holds rows this drain already tried: one released for a retry waits for
        the next drain, and holds back its chat's later rows meanwhile.
        """
        if ids is not None and not ids:
            return []
        now = self.core.now()
        # An operation's own few rows are claimed on the loop; a drain's search for each
        # chat's oldest owed row may read many rows, so it runs off the loop.
        held = sorted(self.in_flight)  # read here: a job runs on the database thread
        if ids is not None:
            async with self.core.db.tx() as conn:
                rows = await self._claim(conn, ids, limit, list(skip), held, now)
        else:
            rows = await self.core.db.job(self._claim, ids, limit, list(skip), held, now)
        # Each row is read alone, outside the transaction (a body may be a reference to
        # content, rendered now): one that cannot be read fails alone, with its reason.
        owed: list[Owed] = []
        broken: list[tuple[str, int]] = []
        for r in rows:
            try:
                msg = self.core.read_body(r["body"])
            except Exception as exc:
                log.warning("outbox %s: cannot read the message (%s)", r["id"], type(exc).__name__)
                # ValueError: it does not decrypt; anything else: what it names is gone.
                broken.append(
                    ("unreadable" if isinstance(exc, ValueError) else "unrenderable", r["id"])
                )
                continue
            # The row's chat wins over the body's: a group that moved keeps its messages.
            if msg.chat_id != r["chat_id"]:
                msg = dataclasses.replace(msg, chat_id=r["chat_id"])
            due = max(r["created_at"], r["not_before"] or 0)
            owed.append(Owed(r["id"], msg, r["attempts"] + 1, due))
            self.in_flight.add(r["id"])  # until its sender ends the claim (handlers/common)
        if broken:
            async with self.core.db.tx() as conn:
                await conn.executemany(
                    "UPDATE outbox SET failed = ?, body = NULL WHERE id = ?", broken
                )
        return owed

    async def _claim(
        self,
        conn: Conn,
        ids: list[int] | None,
        limit: int,
        skip: list[int],
        held: list[int],
        now: int,
    ) -> list[Row]:
        # A user who blocked the bot is skipped until they come back (/start again).
        await conn.execute(
            f"UPDATE outbox SET failed = 'unreachable', body = NULL WHERE {PENDING} "
            "AND chat_id > 0 AND chat_id IN (SELECT id FROM users WHERE reachable = 0)"
        )
        # Only a chat's oldest owed row: N+1 never goes while N is owed. A row held for
        # later (`not_before`, e.g. quiet hours) is not owed yet: it neither goes out nor
        # holds back its chat's rows until its time comes.
        where = (
            "o.sent_at IS NULL AND o.failed IS NULL "
            "AND (o.claimed_at IS NULL OR o.claimed_at < ?) "
            "AND (o.not_before IS NULL OR o.not_before <= ?) "
            "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.chat_id = o.chat_id "
            "AND p.id < o.id AND p.sent_at IS NULL AND p.failed IS NULL "
            "AND (p.not_before IS NULL OR p.not_before <= ?))"
        )
        params: list[object] = [now - CLAIM_LAPSE, now, now]
        if held:
            where += f" AND o.id NOT IN ({','.join('?' * len(held))})"
            params += held
        if ids is not None:
            where += f" AND o.id IN ({','.join('?' * len(ids))})"
            params += ids
        if skip:
            where += f" AND o.id NOT IN ({','.join('?' * len(skip))})"
            params += skip
        # Across chats, rows that failed least go first: a chat whose head keeps failing
        # is tried after the others, so a drain that stops for an outage (handlers/
        # common.flush) never leaves healthy chats behind it. Within a chat only the
        # head is claimable, so this changes no chat's order.
        rows = await fetch_all(
            conn,
            f"SELECT o.id, o.chat_id, o.body, o.attempts, o.created_at, o.not_before "
            f"FROM outbox o WHERE {where} "
            "ORDER BY o.attempts, o.id LIMIT ?",
            (*params, limit),
        )
        await conn.executemany(
            "UPDATE outbox SET claimed_at = ?, attempts = attempts + 1 WHERE id = ?",
            [(now, r["id"]) for r in rows],
        )
        return rows

    async def behind(self, msg: Msg, before: Sequence[int]) -> int | None:
        """A direct reply whose operation owed its chat something first (`before`: those
        rows, flushed already) that could not go yet (it waits behind an older row's
        retry): the reply is owed too, behind them (the new id), so it never overtakes
        them. None: nothing of `before` waits for its chat, the reply may go at once."""
        if not before:
            return None
        async with self.core.db.tx() as conn:
            waiting = await conn.fetch_one(
                f"SELECT 1 FROM outbox WHERE chat_id = ? AND {PENDING} "
                f"AND id IN ({','.join('?' * len(before))}) LIMIT 1",
                (msg.chat_id, *before),
            )
            return None if waiting is None else await self.core.queue(conn, msg)

    async def still_owed(self, row_id: int) -> bool:
        """Right before a claimed group row is sent: it may have been settled while it
        waited for its turn (rerouted when its group was unlinked)."""
        async with self.core.db.look() as conn:
            row = await conn.fetch_one(
                f"SELECT 1 FROM outbox WHERE id = ? AND {PENDING}", (row_id,)
            )
        return row is not None

    async def release_claims(self) -> int:
        """At start: claims in the file are a dead process's (we hold the instance lock)."""
        return await self.core.db.execute_alone(
            f"UPDATE outbox SET claimed_at = NULL WHERE {PENDING} AND claimed_at IS NOT NULL"
        )

    async def done(self, ids: list[int]) -> None:
        """Mark rows sent and wipe their bodies (one statement, one round trip). Patient,
        like every write that ends a claim: another process's brief write lock (a backup)
        must not leave a sent row owed, to go again, or a claim that never ends."""
        if not ids:
            return
        await self.core.db.execute_alone(
            f"UPDATE outbox SET sent_at = ?, body = NULL WHERE id IN ({','.join('?' * len(ids))})",
            (self.core.now(), *ids),
            patient=True,
        )

    async def refused(self, owed: Owed, why: str) -> list[int]:
        """What Telegram said instead of sending, as the core's policy:

        - 'forbidden': the user blocked the bot (or it left the group): this row and
          every other owed to the chat are given up, and a user is unreachable until
          they write to the bot again;
        - 'bad_request': Telegram will never take this message, even plainly: given up;
        - 'retry' (429, network): released for the next sweep, until it is RETRY_FOR old;
        - 'error' (sending it failed in a way nobody foresaw): released, ERROR_TRIES times.

        Returns what was queued in answer (a partner told that a user cannot be reached).
        """
        if why in ("retry", "error"):
            await self.failed(owed, why, final=why == "error" and owed.attempts >= ERROR_TRIES)
            return []
        if why == "forbidden":
            async with self.core.db.tx(patient=True) as conn:
                await conn.execute(
                    f"UPDATE outbox SET failed = 'forbidden', body = NULL "
                    f"WHERE chat_id = ? AND {PENDING}",
                    (owed.msg.chat_id,),
                )
                if owed.msg.chat_id > 0:
                    await conn.execute(
                        "UPDATE users SET reachable = 0 WHERE id = ?", (owed.msg.chat_id,)
                    )
            if owed.msg.chat_id > 0 and self.on_unreachable is not None:
                return await self.on_unreachable(owed.msg.chat_id)
            return []
        await self.failed(owed, why, final=True)
        return []

    async def failed(self, owed: Owed, why: str, *, final: bool) -> None:
        """Give up on a row (`final`, or retried for RETRY_FOR already), or release it to
        be tried again by the next drain (it still holds its chat's later rows back)."""
        too_old = self.core.now() - owed.due_at >= RETRY_FOR.total_seconds()
        if too_old and not final:
            log.error(
                "outbox %s: given up after %s attempts over %s (chat %s)",
                owed.id,
                owed.attempts,
                RETRY_FOR,
                owed.msg.chat_id,
            )
        async with self.core.db.tx(patient=True) as conn:
            if final or too_old:
                await conn.execute(
                    "UPDATE outbox SET failed = ?, body = NULL WHERE id = ?", (why, owed.id)
                )
            else:
                await conn.execute("UPDATE outbox SET claimed_at = NULL WHERE id = ?", (owed.id,))

    async def release(self, owed: Owed) -> None:
        """Put a claimed row back untried (its drain ended first): owed as before."""
        await self.core.db.execute_alone(
            "UPDATE outbox SET claimed_at = NULL, attempts = attempts - 1 WHERE id = ?",
            (owed.id,),
            patient=True,
        )

    async def moved(self, old_chat: int, new_chat: int) -> None:
        """A group became a supergroup: what it was owed, and the couple's link, follow it."""
        async with self.core.db.tx() as conn:
            await conn.execute(
                f"UPDATE outbox SET chat_id = ? WHERE chat_id = ? AND {PENDING}",
                (new_chat, old_chat),
            )
            await conn.execute(
                "UPDATE couples SET group_chat_id = ? WHERE group_chat_id = ?", (new_chat, old_chat)
            )
            await conn.execute(
                "UPDATE conflict_conversations SET group_chat_id = ? WHERE group_chat_id = ?",
                (new_chat, old_chat),
            )
            await conn.execute(
                "UPDATE OR IGNORE group_votes SET chat_id = ? WHERE chat_id = ?",
                (new_chat, old_chat),
            )
        log.info("group %s moved to supergroup %s", old_chat, new_chat)

    async def pending_count(self) -> int:
        async with (
            self.core.db.tx() as conn,
            conn.execute(f"SELECT COUNT(*) FROM outbox WHERE {PENDING}") as cur,
        ):
            row = await cur.fetchone()
        return int(row[0]) if row else 0
