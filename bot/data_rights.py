"""The user's own data: /export (a JSON file of what they wrote) and /deletedata.

Erasure is one transaction. Everything the requester wrote goes (answers, notes,
progress, conversation turns and topics, requests and offers, promises, thanks,
invites, held texts), and so does everything that names them: every column that
holds a user id, found from the schema itself, so tables added later are covered.
What the other partner wrote themselves stays theirs: their answers, notes, turns,
promises and thanks remain, with the erased person replaced by user 0, "your former
partner". Weekly summaries hold both people's scores, so the erased couples' go.
The erasure's transaction records that the file owes a scrub (bot/db.py,
`Database.scrub`): a VACUUM and an emptied WAL, so no freed page or old WAL frame keeps a
readable trace. It is paid at once, or by a later sweep while another process's reader
holds old WAL frames; a restart keeps the debt.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.callbacks import cb
from bot.core import Actor, Core
from bot.db import Conn, Row, fetch_all, fetch_one
from bot.export_page import ExportPage, Talk, Turn
from bot.messages import Button, Msg, Outcome, rows
from bot.pairing import Pairing

CONFIRM_SECONDS = 15 * 60
FORMER = 0  # the placeholder user (migration 0005) who stands in for an erased partner
# Which column names the writer of a table's rows: a row the erased person wrote goes.
AUTHOR = {
    "answers": "user_id",
    "checkin_progress": "user_id",
    "conflict_turns": "user_id",
    "agreements": "author",
    "promises": "promiser_id",
    "appreciations": "from_id",
    "safety_holds": "writer_id",
}
# Tables whose rows are the other partner's record too: a column that names the erased
# person (not as writer) becomes FORMER. Any other table's rows that name them are deleted.
KEPT = frozenset(
    {
        "couples",
        "conflict_conversations",
        "agreements",
        "promises",
        "appreciations",
        "safety_holds",  # words the partner held back stay theirs
    }
)
# Words in a kept row that the erased person wrote: wiped. (table -> (writer column, columns))
WIPE = {
    "conflict_conversations": ("initiator", ("topic",)),
    "agreements": ("doer", ("words",)),  # the doer's own "I will …" for a partner's request
}
# Columns that hold a Telegram user id, across every feature's tables. Any column with a
# foreign key to users(id) is added at run time.
USER_COLUMNS = frozenset(
    {
        "user_id",
        "user_a",
        "user_b",
        "inviter_id",
        "used_by",
        "promiser_id",
        "partner_id",
        "from_id",
        "to_id",
        "initiator",
        "partner",
        "speaker",
        "listener",
        "heard_by",
        "ended_by",
        "paused_by",
        "author",
        "decider",
        "doer",
        "writer_id",
    }
)


# Turn kinds the partner saw when they were written (relayed, shown for confirming, or
# written in the couple's group); 'kept' text is shown only once it becomes a 'speak' turn.
SHOWN_TURNS = ("speak", "paraphrase", "correction", "validation")

# What /export holds beyond the profile and settings: (section, query by user id, fields).
EXPORTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    (
        "checkin_answers",
        "SELECT c.week, a.question_id, a.theme, a.value, a.text, a.note, a.words_private, "
        "a.answered_at "
        "FROM answers a JOIN checkins c ON c.id = a.checkin_id WHERE a.user_id = ? "
        # "Prefer not to say" holds nothing to export: no value, no words.
        "AND a.skip IS NULL ORDER BY c.week, a.answered_at",
        {
            "week": "week",
            "question": "question_id:question",
            "theme": "theme",
            "value": "value",
            "answer": "text:text",
            "note": "note:text",
            "only_for_you": "words_private:flag",
            "at": "answered_at:time",
        },
    ),
    (
        # Words a safety rule held back: exported only to their writer.
        "words_held_back",
        "SELECT source, state, text, created_at FROM safety_holds WHERE writer_id = ? ORDER BY id",
        {"from": "source", "state": "state", "text": "text:text", "at": "created_at:time"},
    ),
    (
        "promises_made",
        "SELECT text, source, state, created_at, due_at, resolved_at FROM promises "
        "WHERE promiser_id = ? ORDER BY created_at",
        {
            "promise": "text:text",
            "source": "source",
            "state": "state",
            "made": "created_at:time",
            "due": "due_at:time",
            "settled": "resolved_at:time",
        },
    ),
    (
        "thanks_sent",
        "SELECT text, created_at FROM appreciations WHERE from_id = ? ORDER BY created_at",
        {"text": "text:text", "at": "created_at:time"},
    ),
    (
        "conversation_topics",
        "SELECT id, topic, created_at FROM conflict_conversations WHERE initiator = ? ORDER BY id",
        {"conversation": "id", "topic": "topic:text", "at": "created_at:time"},
    ),
    (
        "conversation_turns",
        "SELECT conversation_id, round, kind, text, at FROM conflict_turns WHERE user_id = ? "
        "ORDER BY id",
        {
            "conversation": "conversation_id",
            "round": "round",
            "kind": "kind",
            "text": "text:text",
            "at": "at:time",
        },
    ),
    (
        "agreements_in_my_words",
        "SELECT conversation_id, kind, words, status, created_at FROM agreements "
        "WHERE doer = ? AND words IS NOT NULL ORDER BY id",
        {
            "conversation": "conversation_id",
            "kind": "kind",
            "text": "words:text",
            "status": "status",
            "at": "created_at:time",
        },
    ),
    (
        "agreements_proposed",
        "SELECT conversation_id, kind, text, status, created_at FROM agreements "
        "WHERE author = ? ORDER BY id",
        {
            "conversation": "conversation_id",
            "kind": "kind",
            "text": "text:text",
            "status": "status",
            "at": "created_at:time",
        },
    ),
)


def _iso(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


async def _tables(conn: Conn) -> list[str]:
    return [
        r["name"]
        for r in await fetch_all(
            conn, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]


async def user_columns(conn: Conn) -> list[tuple[str, str]]:
    """(table, column) pairs that hold a user id: by name, or by a foreign key to users."""
    found: list[tuple[str, str]] = []
    for table in await _tables(conn):
        cols = [r["name"] for r in await fetch_all(conn, f'PRAGMA table_info("{table}")')]
        refs = {
            r["from"]
            for r in await fetch_all(conn, f'PRAGMA foreign_key_list("{table}")')
            if r["table"] == "users"
        }
        for col in cols:
            if (col in USER_COLUMNS or col in refs) and not (table == "users" and col == "id"):
                found.append((table, col))
    return found


class DataRights:
    def __init__(self, core: Core, pairing: Pairing) -> None:
        self.core = core
        self.pairing = pairing

    # -- /export ---------------------------------------------------------------

    async def export(self, actor: Actor) -> Outcome:
        out = Outcome()
        if not actor.private:
            return out.say(Msg(actor.chat_id, self.core.t("common.private_only")))
        # Many rows and decryptions: one job off the loop.
        # The job runs on the database thread, whose context is not this update's: it is
        # told the reader's language, and keeps it to itself (bot/language.py).
        data, talks, partner = await self.core.db.job(self._gather, actor, self.core.lang)
        body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
        page = ExportPage(self.core).render(data, talks, partner)
        day = self.core.clock.now().date().isoformat()
        out.say(
            Msg(
                actor.chat_id,
                self.core.t("export.caption"),
                document=body,
                filename=f"trellis-export-{day}.json",
            )
        )
        return out.say(
            Msg(
                actor.chat_id,
                self.core.t("export_page.caption"),
                document=page.encode("utf-8"),
                filename=f"trellis-export-{day}.html",
            )
        )

    async def _gather(
        self, conn: Conn, actor: Actor, lang: str
    ) -> tuple[dict[str, Any], list[Talk], str]:
        with self.core.speaking(lang):
            await self.core.touch_user(conn, actor)
            data = await self.collect(conn, actor.user_id)
            talks, partner = await self.conversations(conn, actor.user_id)
        return data, talks, partner

    async def conversations(self, conn: Conn, uid: int) -> tuple[list[Talk], str]:
        """The user's conversations as they saw them (for the page), and their partner's name.

        Their own turns and proposals, and the partner's turns of the kinds that were
        shown to them when written; never the partner's kept-back text.
        """
        convs = await fetch_all(
            conn,
            "SELECT id, topic, created_at, initiator, partner FROM conflict_conversations "
            "WHERE initiator = ? OR partner = ? ORDER BY id",
            (uid, uid),
        )
        names = {
            r["id"]: r["first_name"]
            for r in await fetch_all(
                conn,
                "SELECT u.id, u.first_name FROM users u JOIN conflict_conversations c "
                "ON u.id IN (c.initiator, c.partner) WHERE c.initiator = ? OR c.partner = ?",
                (uid, uid),
            )
        }
        names[FORMER] = self.core.t("common.former_partner")  # a partner who erased their data
        unknown = self.core.t("export_page.partner")
        talks = {
            c["id"]: Talk(
                self.core.cipher.dec_opt(c["topic"]),
                c["created_at"],
                names.get(c["partner"] if c["initiator"] == uid else c["initiator"], unknown),
            )
            for c in convs
        }
        marks = ",".join("?" * len(SHOWN_TURNS))
        turns = await fetch_all(
            conn,
            "SELECT t.conversation_id, t.user_id, t.round, t.kind, t.text FROM conflict_turns t "
            "JOIN conflict_conversations c ON c.id = t.conversation_id "
            f"WHERE (c.initiator = ? OR c.partner = ?) AND (t.user_id = ? OR t.kind IN ({marks})) "
            "ORDER BY t.id",
            (uid, uid, uid, *SHOWN_TURNS),
        )
        for r in turns:
            text = self.core.cipher.decrypt(r["text"])
            talks[r["conversation_id"]].turns.append(
                Turn(r["user_id"] == uid, r["round"], r["kind"], text)
            )
        for r in await fetch_all(
            conn,
            "SELECT conversation_id, kind, text, status FROM agreements WHERE author = ? "
            "ORDER BY id",
            (uid,),
        ):
            if r["conversation_id"] in talks:
                talks[r["conversation_id"]].agreements.append(
                    (r["kind"], self.core.cipher.decrypt(r["text"]), r["status"])
                )
        couple = await self.core.couple_of(conn, uid)
        partner = await self.core.first_name(conn, couple.partner_of(uid)) if couple else unknown
        return list(talks.values()), partner

    async def collect(self, conn: Conn, uid: int) -> dict[str, Any]:
        """Everything `uid` wrote, and the couple's shared settings; nothing the partner wrote."""
        data: dict[str, Any] = {"exported_at": _iso(self.core.now())}
        me = await fetch_one(
            conn, "SELECT id, first_name, created_at FROM users WHERE id = ?", (uid,)
        )
        data["you"] = (
            {
                "telegram_id": me["id"],
                "first_name": me["first_name"],
                "since": _iso(me["created_at"]),
            }
            if me
            else None
        )
        couple = await self.core.couple_of(conn, uid)
        data["couple"] = (
            None
            if couple is None
            else {
                "shared_group": couple.group_chat_id is not None,
                "timezone": couple.timezone,
                "checkin_weekday": couple.weekday,
                "checkin_time": couple.local_time,
                "next_checkin": _iso(couple.next_due_at),
                "paused_until": _iso(couple.paused_until),
                "reminders": couple.reminders,
                "reveals_to": couple.reveal_to,
            }
        )
        for section, sql, shape in EXPORTS:
            async with conn.execute(sql, (uid,)) as cur:
                data[section] = [
                    {key: self._value(r, spec) for key, spec in shape.items()}
                    for r in await cur.fetchall()
                ]
        return data

    def _value(self, row: Row, spec: str) -> Any:
        """One exported field: 'column', or 'column:how' with how in time/text/question/flag."""
        column, _, how = spec.partition(":")
        value = row[column]
        if how == "time":
            return _iso(value)
        if how == "flag":
            return bool(value)
        if how == "text":
            return self.core.cipher.dec_opt(value)
        if how == "question":
            content = self.core.c
            return content.question(value).text if content.has_question(value) else None
        return value

    # -- /deletedata -------------------------------------------------------------

    async def delete_ask(self, actor: Actor) -> Outcome:
        out = Outcome()
        if not actor.private:
            return out.say(Msg(actor.chat_id, self.core.t("common.private_only")))
        async with self.core.db.tx() as conn:
            await self.core.touch_user(conn, actor)
            couple = await self.core.couple_of(conn, actor.user_id)
            partner = (
                None
                if couple is None
                else await self.core.first_name(conn, couple.partner_of(actor.user_id))
            )
        now = self.core.now()
        text = (
            self.core.t("delete.ask", partner=partner)
            if partner
            else self.core.t("delete.ask_unpaired")
        )
        return out.say(
            Msg(
                actor.chat_id,
                text,
                rows(
                    [Button(self.core.t("delete.yes"), cb("dd", "y", actor.user_id, now))],
                    [Button(self.core.t("delete.no"), cb("dd", "n", actor.user_id, now))],
                ),
            )
        )

    async def delete_press(
        self,
        actor: Actor,
        yes: bool,
        user_id: int | None,
        asked_at: int | None,
        message_id: int | None,
    ) -> Outcome:
        """The confirm buttons: only the user who asked, only for a while, only their own data."""
        out = Outcome()
        now = self.core.now()
        if user_id != actor.user_id:
            out.toast, out.alert = self.core.t("common.not_yours"), True
            return out
        if asked_at is None or not 0 <= now - asked_at <= CONFIRM_SECONDS or not actor.private:
            out.toast, out.alert = self.core.t("common.stale"), True
            return out
        if not yes:
            return out.say(
                Msg(actor.chat_id, self.core.t("delete.kept"), edit_message_id=message_id)
            )
        out.queued += await self.erase(actor.user_id)
        return out.say(Msg(actor.chat_id, self.core.t("delete.done"), edit_message_id=message_id))

    async def erase(self, uid: int) -> list[int]:
        """Erase everything `uid` wrote and everything naming them; the partner keeps their
        own words and is told what happened."""
        # Many tables and rows: one job off the loop, then the file is scrubbed.
        queued = await self.core.db.job(self._erase, uid)
        await self.core.db.scrub()
        return queued

    async def _erase(self, conn: Conn, uid: int) -> list[int]:
        queued: list[int] = []
        await self.core.db.owe_scrub(conn)  # committed with the erasure, or not at all
        couple = await self.core.couple_of(conn, uid)
        partner: int | None = None
        if couple is not None:
            partner = couple.partner_of(uid)
            # Unsent messages to the partner or the group may carry this user's words.
            await conn.execute(
                "DELETE FROM outbox WHERE sent_at IS NULL AND chat_id IN (?, ?)",
                (partner, couple.group_chat_id if couple.group_chat_id is not None else 0),
            )
            queued += await self.pairing.dissolve(conn, couple)
        # Rows addressed to them, and rows whose key ends in their id (e.g. a note to the
        # partner that they were unreachable: 'ci:7:unreachable:<id>').
        await conn.execute(
            "DELETE FROM outbox WHERE chat_id = ? OR key LIKE ? OR key GLOB ?",
            (uid, f"%:{uid}", f"*:{uid}#[0-9]*"),
        )
        couples = [
            r["id"]
            for r in await fetch_all(
                conn, "SELECT id FROM couples WHERE user_a = ? OR user_b = ?", (uid, uid)
            )
        ]
        if couples:  # a summary is both people's scores and names
            marks = ",".join("?" * len(couples))
            await conn.execute(f"DELETE FROM summaries WHERE couple_id IN ({marks})", couples)
        columns = [(t, c) for t, c in await user_columns(conn) if t != "users"]
        for table, col in columns:  # what they wrote, first
            if AUTHOR.get(table) == col:
                await conn.execute(f'DELETE FROM "{table}" WHERE "{col}" = ?', (uid,))
        for table, col in columns:
            if AUTHOR.get(table) == col:
                continue
            if table in WIPE and WIPE[table][0] == col:
                wiped = ", ".join(f'"{w}" = NULL' for w in WIPE[table][1])
                await conn.execute(
                    f'UPDATE "{table}" SET {wiped}, "{col}" = ? WHERE "{col}" = ?',
                    (FORMER, uid),
                )
            elif table in KEPT:
                await conn.execute(
                    f'UPDATE "{table}" SET "{col}" = ? WHERE "{col}" = ?', (FORMER, uid)
                )
            else:
                await conn.execute(f'DELETE FROM "{table}" WHERE "{col}" = ?', (uid,))
        # A couple both of whom have erased their data holds nobody's words any more.
        gone = [
            r["id"]
            for r in await fetch_all(
                conn, "SELECT id FROM couples WHERE user_a = ? AND user_b = ?", (FORMER, FORMER)
            )
        ]
        await self._delete_couples(conn, gone)
        await conn.execute("DELETE FROM users WHERE id = ?", (uid,))
        if partner is not None:
            async with self.core.to(conn, partner):  # in the partner's own language
                told = Msg(partner, self.core.t("delete.partner_told"))
            queued += await self.core.queue_all(conn, [told])
        return queued

    async def _delete_couples(self, conn: Conn, couple_ids: list[int]) -> None:
        """Delete the couples and, first, rows whose foreign key to them does not cascade."""
        if not couple_ids:
            return
        marks = ",".join("?" * len(couple_ids))
        for table in await _tables(conn):
            async with conn.execute(f'PRAGMA foreign_key_list("{table}")') as cur:
                refs = [
                    r["from"]
                    for r in await cur.fetchall()
                    if r["table"] == "couples" and r["on_delete"].upper() != "CASCADE"
                ]
            for col in refs:
                await conn.execute(f'DELETE FROM "{table}" WHERE "{col}" IN ({marks})', couple_ids)
        await conn.execute(f"DELETE FROM couples WHERE id IN ({marks})", couple_ids)
