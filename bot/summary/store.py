"""The summary's SQL: reading weeks, promises, thanks and past answers; storing summaries."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.crypto import Cipher
from bot.db import Conn, Row, fetch_all, fetch_one
from bot.summary.numbers import PromiseRow, WeekData

HISTORY_ROWS = 12


async def history(conn: Conn, couple_id: int, up_to: str, limit: int = 13) -> list[WeekData]:
    """Closed check-in weeks up to and including `up_to`, oldest first (three queries)."""
    checkins = await fetch_all(
        conn,
        "SELECT id, week, status, items FROM checkins WHERE couple_id = ? AND week <= ? "
        "AND status IN ('revealed', 'expired') ORDER BY week DESC LIMIT ?",
        (couple_id, up_to, limit),
    )
    if not checkins:
        return []
    ids = [c["id"] for c in checkins]
    marks = ",".join("?" * len(ids))
    finished: dict[int, set[int]] = {i: set() for i in ids}
    for r in await fetch_all(
        conn,
        f"SELECT checkin_id, user_id FROM checkin_progress WHERE checkin_id IN ({marks}) "
        "AND (stage = 'done' OR finished_at IS NOT NULL)",
        tuple(ids),
    ):
        finished[r["checkin_id"]].add(r["user_id"])
    values: dict[int, dict[int, dict[str, int]]] = {i: {} for i in ids}
    skips: dict[int, dict[int, dict[str, str]]] = {i: {} for i in ids}
    for r in await fetch_all(
        conn,
        f"SELECT checkin_id, user_id, question_id, value, skip FROM answers "
        f"WHERE checkin_id IN ({marks}) AND (value IS NOT NULL OR skip IS NOT NULL)",
        tuple(ids),
    ):
        if r["value"] is not None:
            values[r["checkin_id"]].setdefault(r["user_id"], {})[r["question_id"]] = r["value"]
        else:
            skips[r["checkin_id"]].setdefault(r["user_id"], {})[r["question_id"]] = r["skip"]
    out: list[WeekData] = []
    for c in reversed(checkins):
        done = finished[c["id"]]
        if c["status"] == "revealed" and not done:
            done = set(values[c["id"]])  # a reveal means both finished
        kept = {u: v for u, v in values[c["id"]].items() if u in done}
        skipped = {u: v for u, v in skips[c["id"]].items() if u in done}
        items = tuple(json.loads(c["items"]))
        out.append(WeekData(c["week"], c["status"], frozenset(done), kept, items, skipped))
    return out


async def promise_rows(conn: Conn, cipher: Cipher, couple_id: int) -> list[PromiseRow]:
    return [
        PromiseRow(
            r["promiser_id"],
            cipher.decrypt(r["text"]),
            r["source"],
            r["state"],
            r["created_at"],
            r["due_at"],
            r["resolved_at"],
        )
        for r in await fetch_all(
            conn,
            "SELECT promiser_id, text, source, state, created_at, due_at, resolved_at "
            "FROM promises WHERE couple_id = ? ORDER BY due_at, id",
            (couple_id,),
        )
    ]


async def thanks_count(conn: Conn, couple_id: int, start: int, end: int) -> int:
    """Thanks passed between the two in [start, end): one figure, never per person."""
    row = await fetch_one(
        conn,
        "SELECT COUNT(*) FROM appreciations WHERE couple_id = ? "
        "AND created_at >= ? AND created_at < ?",
        (couple_id, start, end),
    )
    return int(row[0]) if row else 0


async def stored(conn: Conn, couple_id: int, summary_id: int | None = None) -> Row | None:
    """The couple's latest summary, or the one with `summary_id` if it is theirs."""
    sql = "SELECT * FROM summaries WHERE couple_id = ? "
    params: tuple = (couple_id,)
    if summary_id is not None:
        sql += "AND id = ? "
        params += (summary_id,)
    return await fetch_one(conn, sql + "ORDER BY week DESC LIMIT 1", params)


def summary_data(cipher: Cipher, stored: bytes) -> dict | None:
    """A summary row's data ({'end', 'at'}), or None for one stored as text (older rows)."""
    if stored[:1] == b"{":
        data: dict = json.loads(stored)
        return data
    return None


async def listing(conn: Conn, couple_id: int) -> list[Row]:
    return await fetch_all(
        conn,
        "SELECT id, week, headline FROM summaries WHERE couple_id = ? ORDER BY week DESC LIMIT ?",
        (couple_id, HISTORY_ROWS),
    )


async def insert(
    conn: Conn,
    couple_id: int,
    week: str,
    checkin_id: int,
    headline: bytes,
    text: bytes,
    now: int,
) -> bool:
    """Store a week's summary; False if one exists (then someone else sends it). `text`
    holds the data it is rendered from (JSON), `headline` the same (kept for old rows)."""
    cur = await conn.execute(
        "INSERT INTO summaries (couple_id, week, checkin_id, headline, text, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (couple_id, week) DO NOTHING",
        (couple_id, week, checkin_id, headline, text, now),
    )
    return cur.rowcount == 1


async def open_week(conn: Conn, couple_id: int) -> str | None:
    row = await fetch_one(
        conn,
        "SELECT week FROM checkins WHERE couple_id = ? AND status = 'open' "
        "ORDER BY week DESC LIMIT 1",
        (couple_id,),
    )
    return row["week"] if row else None


@dataclass(frozen=True, slots=True)
class PastAnswer:
    user_id: int
    question_id: str
    value: int | None
    skip: str | None
    text: str | None
    note: str | None
    private: bool  # "Only for me", or held by a safety rule: the writer's alone


async def past_answers(
    conn: Conn, cipher: Cipher, checkin_id: int, users: tuple[int, ...]
) -> tuple[str | None, list[str], list[PastAnswer]]:
    """A check-in's status, items and the given users' answers (decrypted), for /history."""
    row = await fetch_one(conn, "SELECT status, items FROM checkins WHERE id = ?", (checkin_id,))
    if row is None or not users:
        return None, [], []
    found = await fetch_all(
        conn,
        "SELECT user_id, question_id, value, skip, text, note, words_private FROM answers "
        f"WHERE checkin_id = ? AND user_id IN ({','.join('?' * len(users))})",
        (checkin_id, *users),
    )
    return (
        row["status"],
        list(json.loads(row["items"])),
        [
            PastAnswer(
                r["user_id"],
                r["question_id"],
                r["value"],
                r["skip"],
                cipher.dec_opt(r["text"]),
                cipher.dec_opt(r["note"]),
                bool(r["words_private"]),
            )
            for r in found
        ],
    )
