"""/conflict: a guided, turn-taking conversation, as a state machine in the database.

States (docs/conflict.md has the diagram):
  topic -> appointment -> [scheduled ->] rules -> speaking -> paraphrasing -> confirming
  confirming -> correcting -> paraphrasing ("Not quite")  |  confirming -> validating
  validating -> speaking (roles swap)  |  validating -> round_menu (after both halves)
  round_menu -> speaking (another round)  |  round_menu -> requests (both feel heard)
  requests -> closed (every request and offer answered)
  any active state -> timeout -> back (at the chosen time) ; -> parked (24 h idle) -> back
  any open state -> ended (End, confirmed)
Every transition is one transaction and bumps `version`, which every step's buttons
carry, so a press on an older message is refused. Who may press is re-checked on
every press (callback data can be forged). The conversation lives in the couple's
group if it was started there; otherwise the bot relays between the private chats.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite

from bot import schedule
from bot.callbacks import cb
from bot.core import Actor, Core, Safe
from bot.db import fetch_all, fetch_one
from bot.feature import Feature
from bot.messages import Button, Msg, Outcome, rows
from bot.safety import Safety
from content import Nudges

FLOOR = ("speaking", "paraphrasing", "confirming", "correcting", "validating")
ACTIVE = ("topic", "appointment", "rules", *FLOOR, "round_menu", "requests")
WAITING = ("scheduled", "timeout", "parked")
OPEN = (*ACTIVE, *WAITING)
FINAL = ("closed", "ended")
BREAKABLE = tuple(s for s in ACTIVE if s != "topic")

IDLE_NUDGE_AFTER = 30 * 60
PARK_AFTER = 24 * 3600
MIN_BREAK = 20 * 60
MAX_BREAK = 24 * 3600
FOLLOW_UP_AFTER = 7 * 24 * 3600
# Limits on what a partner writes. Text over a limit is never cut: the writer is told the
# limit and asked to shorten it, and nothing is sent or saved meanwhile.
TOPIC_MAX = 200
AGREEMENT_MAX = 300  # becomes a promise, whose limit is the same (Promises.MAX_TEXT)
TEXT_MAX = 3000  # leaves room for the name and quotes within Telegram's 4096
EVENING = time(19)

# Which step's button each action is, and who may press it.
RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "ap": (("appointment",), "partner"),
    "fs": (("rules",), "initiator"),
    "dn": (("speaking",), "speaker"),
    "ok": (("confirming",), "speaker"),
    "nq": (("confirming",), "speaker"),
    "sk": (("validating",), "listener"),
    "rm": (("round_menu",), "either"),
    "to": ((*BREAKABLE, "timeout"), "either"),  # during a break: propose another time
    "tt": ((*BREAKABLE, "timeout"), "either"),
    "en": (OPEN, "either"),
    "ey": (OPEN, "either"),
    "ek": (OPEN, "either"),
    "rs": (OPEN, "either"),
}
LATER_CHOICES = ("60", "180", "eve", "mor", "tmr")
BREAK_CHOICES = ("20", "60", "eve", "mor", "tmr")
CHOICE_LABELS = {
    "20": "conflict.b_in20",
    "60": "conflict.b_in1h",
    "180": "conflict.b_in3h",
    "eve": "conflict.b_evening",
    "tmr": "conflict.b_tomorrow",
    "mor": "conflict.b_morning",
}

CONV_COLUMNS = (
    "id, couple_id, initiator, partner, group_chat_id, topic, state, paused_state, speaker, "
    "listener, round, half, attempt, rounds_done, heard_by, version, resume_at, idle_nudge_at, "
    "park_at"
)
_MOVABLE = frozenset(
    {
        "topic",
        "paused_state",
        "speaker",
        "listener",
        "round",
        "half",
        "attempt",
        "rounds_done",
        "heard_by",
        "resume_at",
        "idle_nudge_at",
        "park_at",
        "closed_at",
        "ended_by",
    }
)


# -- gentle start-up nudges ---------------------------------------------------

_QUOTES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "“": '"', "”": '"'})


def normalise(text: str) -> str:
    """Lower-case, phone-keyboard apostrophes made plain, whitespace collapsed."""
    return " ".join(text.translate(_QUOTES).lower().split())


class NudgeMatcher:
    """Finds absolutes, name-calling and contempt markers on word boundaries."""

    KINDS = ("absolutes", "insults", "contempt")

    def __init__(self, nudges: Nudges) -> None:
        self.nudges = nudges
        self._patterns = {
            kind: re.compile(
                r"(?<!\w)(?:"
                + "|".join(re.escape(normalise(p)) for p in getattr(nudges, kind).phrases)
                + r")(?!\w)"
            )
            for kind in self.KINDS
        }

    def kinds(self, text: str) -> list[str]:
        norm = normalise(text)
        return [kind for kind, pattern in self._patterns.items() if pattern.search(norm)]

    def suggestion(self, kind: str) -> str:
        suggestion: str = getattr(self.nudges, kind).suggestion
        return suggestion


# -- the record -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conv:
    id: int
    couple_id: int
    initiator: int
    partner: int
    group_chat_id: int | None
    topic: str
    state: str
    paused_state: str | None
    speaker: int | None
    listener: int | None
    round: int
    half: int
    attempt: int
    rounds_done: int
    heard_by: int | None
    version: int
    resume_at: int | None
    idle_nudge_at: int | None
    park_at: int | None

    def has(self, user_id: int) -> bool:
        return user_id in (self.initiator, self.partner)

    def other(self, user_id: int) -> int:
        return self.partner if user_id == self.initiator else self.initiator

    @property
    def chats(self) -> tuple[int, ...]:
        """Where the conversation is shown: the group, or both private chats."""
        if self.group_chat_id is not None:
            return (self.group_chat_id,)
        return (self.initiator, self.partner)

    def turn_holder(self) -> int | None:
        """Whose move the current step waits for (None: either, or nobody)."""
        if self.state in ("topic", "rules"):
            return self.initiator
        if self.state == "appointment":
            return self.partner
        if self.state in ("speaking", "confirming", "correcting"):
            return self.speaker
        if self.state in ("paraphrasing", "validating"):
            return self.listener
        return None

    def may(self, user_id: int, role: str) -> bool:
        if role == "either":
            return self.has(user_id)
        holder = {
            "initiator": self.initiator,
            "partner": self.partner,
            "speaker": self.speaker,
            "listener": self.listener,
        }[role]
        return user_id == holder


def refusal(conv: Conv, user_id: int, action: str, version: int | None) -> str | None:
    """Why `user_id` may not press `action` on version `version` (a strings key), or None."""
    if not conv.has(user_id):
        return "common.not_yours"
    rule = RULES.get(action)
    if rule is None or version != conv.version or conv.state not in rule[0]:
        return "conflict.stale"
    if not conv.may(user_id, rule[1]):
        return "conflict.not_your_turn"
    return None


@dataclass(frozen=True, slots=True)
class Agreement:
    """A request or offer; `doer` does it, `decider` said yes or no to it."""

    id: int
    conversation_id: int
    couple_id: int
    kind: str
    author: int
    decider: int
    doer: int
    text: str
    status: str
    follow_up_at: int | None


def break_until(code: str, now: datetime, quiet: schedule.Quiet) -> datetime | None:
    """When a break or a later appointment chosen as `code` ends: 20 min to 24 h away,
    never inside the couple's quiet hours (such a choice is not offered: None)."""
    minutes = {"20": 20, "60": 60, "180": 180, "tmr": 24 * 60}
    tz = ZoneInfo(quiet.tz)
    if code in minutes:
        until = now + timedelta(minutes=minutes[code])
    elif code == "eve":
        evening = schedule.local_to_utc(now.astimezone(tz).date(), EVENING, tz)
        until = evening if evening > now else now + timedelta(hours=3)
    elif code == "mor":  # the end of the coming quiet hours: tomorrow morning
        start = schedule.local_to_utc(now.astimezone(tz).date(), quiet.start, tz)
        if start <= now:
            start += timedelta(days=1)
        until = quiet.outside(start)
        if until == start:  # no quiet hours: no morning choice
            return None
    else:
        return None
    low, high = now + timedelta(seconds=MIN_BREAK), now + timedelta(seconds=MAX_BREAK)
    until = min(max(until, low), high)
    return None if quiet.covers(until) else until


def offered(choices: tuple[str, ...], now: datetime, quiet: schedule.Quiet) -> list[str]:
    """The choices whose moment is outside quiet hours, each moment once (the first label)."""
    seen: set[datetime] = set()
    kept = []
    for code in choices:
        until = break_until(code, now, quiet)
        if until is not None and until not in seen:
            seen.add(until)
            kept.append(code)
    return kept


# (conn, couple_id, doer_id, text, follow_up_at) -> promise id; see Promises.from_agreement.
AgreementSink = Callable[[aiosqlite.Connection, int, int, str, int], Awaitable[int]]


class Conflict(Feature):
    def __init__(
        self,
        core: Core,
        on_agreement: AgreementSink | None = None,
        safety: Safety | None = None,
    ) -> None:
        super().__init__(core)
        self.nudges = NudgeMatcher(core.content.nudges)
        # Topics, turns, requests and offers are screened before they are accepted.
        self.safety = safety or Safety(core)
        # Accepted agreements become promises, in the same transaction as the acceptance.
        self.on_agreement = on_agreement

    # -- storage ---------------------------------------------------------------

    def _row(self, row: aiosqlite.Row) -> Conv:
        data: dict[str, Any] = dict(row)
        data["topic"] = self.core.cipher.decrypt(data["topic"]) if data["topic"] else ""
        return Conv(**data)

    async def _one(self, conn: aiosqlite.Connection, where: str, params: tuple) -> Conv | None:
        row = await fetch_one(
            conn,
            f"SELECT {', '.join('c.' + c.strip() for c in CONV_COLUMNS.split(','))} "
            "FROM conflict_conversations c JOIN couples ON couples.id = c.couple_id "
            f"WHERE couples.stage != 'dissolved' AND {where}",
            params,
        )
        return self._row(row) if row else None

    async def load(self, conn: aiosqlite.Connection, conversation_id: int) -> Conv | None:
        return await self._one(conn, "c.id = ?", (conversation_id,))

    async def open_for_couple(self, conn: aiosqlite.Connection, couple_id: int) -> Conv | None:
        return await self._one(
            conn, "c.couple_id = ? AND c.state NOT IN ('closed', 'ended')", (couple_id,)
        )

    async def open_for_user(self, conn: aiosqlite.Connection, user_id: int) -> Conv | None:
        return await self._one(
            conn,
            "(c.initiator = ? OR c.partner = ?) AND c.state NOT IN ('closed', 'ended')",
            (user_id, user_id),
        )

    async def _move(
        self, conn: aiosqlite.Connection, conv: Conv, state: str, **fields: Any
    ) -> Conv:
        """The one way a conversation changes state: bump the version, reset the deadlines."""
        now = self.core.now()
        fields.setdefault("idle_nudge_at", now + IDLE_NUDGE_AFTER if state in FLOOR else None)
        fields.setdefault("park_at", now + PARK_AFTER if state in ACTIVE else None)
        if state not in ("timeout", "scheduled"):
            fields.setdefault("resume_at", None)
        unknown = set(fields) - _MOVABLE
        if unknown:
            raise ValueError(f"not a movable column: {unknown}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        stored = {k: self.core.cipher.encrypt(v) if k == "topic" else v for k, v in fields.items()}
        cur = await conn.execute(
            f"UPDATE conflict_conversations SET state = ?, version = version + 1, updated_at = ?, "
            f"{sets} WHERE id = ? AND version = ?",
            (state, now, *stored.values(), conv.id, conv.version),
        )
        if cur.rowcount != 1:
            raise RuntimeError("conversation changed under a transition")
        fields.pop("closed_at", None)
        fields.pop("ended_by", None)
        return replace(conv, state=state, version=conv.version + 1, **fields)

    async def _touch(self, conn: aiosqlite.Connection, conv: Conv) -> None:
        """Activity within a step: push the idle nudge and parking back (out of quiet hours)."""
        now = self.core.now()
        quiet = await self._quiet(conn, conv)
        await conn.execute(
            "UPDATE conflict_conversations SET updated_at = ?, park_at = ?, "
            "idle_nudge_at = CASE WHEN state IN ('speaking', 'paraphrasing', 'confirming', "
            "'correcting', 'validating') THEN ? ELSE NULL END WHERE id = ?",
            (
                now,
                quiet.outside_ts(now + PARK_AFTER),
                quiet.outside_ts(now + IDLE_NUDGE_AFTER),
                conv.id,
            ),
        )

    async def _add_turn(
        self, conn: aiosqlite.Connection, conv: Conv, user_id: int, kind: str, text: str
    ) -> None:
        await conn.execute(
            "INSERT INTO conflict_turns (conversation_id, user_id, round, kind, text, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (conv.id, user_id, conv.round, kind, self.core.cipher.encrypt(text), self.core.now()),
        )

    async def _last_turn(self, conn: aiosqlite.Connection, conv: Conv, kind: str) -> str:
        row = await fetch_one(
            conn,
            "SELECT text FROM conflict_turns WHERE conversation_id = ? AND kind = ? "
            "ORDER BY id DESC LIMIT 1",
            (conv.id, kind),
        )
        return self.core.cipher.decrypt(row["text"]) if row else ""

    async def _agreements(
        self, conn: aiosqlite.Connection, conversation_id: int, where: str = "", params: tuple = ()
    ) -> list[Agreement]:
        found = await fetch_all(
            conn,
            "SELECT id, conversation_id, couple_id, kind, author, decider, doer, text, status, "
            f"follow_up_at FROM agreements WHERE conversation_id = ? {where} ORDER BY id",
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
            )
            for r in found
        ]

    async def accepted_agreements(
        self, conn: aiosqlite.Connection, conversation_id: int
    ) -> list[Agreement]:
        """What partners agreed to in a conversation, for the promises feature to follow up."""
        return await self._agreements(conn, conversation_id, "AND status = 'accepted'")

    # -- rendering ---------------------------------------------------------------

    async def _names(self, conn: aiosqlite.Connection, conv: Conv) -> dict[int | None, str]:
        names: dict[int | None, str] = {None: ""}
        for uid in (conv.initiator, conv.partner):
            names[uid] = await self.core.first_name(conn, uid)
        return names

    def _values(self, conv: Conv, names: dict[int | None, str]) -> dict[str, object]:
        return {
            "topic": conv.topic,
            "initiator": names[conv.initiator],
            "partner": names[conv.partner],
            "speaker": names[conv.speaker],
            "listener": names[conv.listener],
            "round": conv.round,
        }

    def _b(self, conv: Conv, label: str, action: str, arg: object = "", **values: object) -> Button:
        parts: list[object] = ["cf", action, conv.id, conv.version]
        if arg != "":
            parts.append(arg)
        return Button(self.core.t(label, **values), cb(*parts))

    def _tail(self, conv: Conv) -> list[Button]:
        return [self._b(conv, "conflict.b_timeout", "to"), self._b(conv, "conflict.b_end", "en")]

    def _rules_buttons(self, conv: Conv, v: dict[str, object]) -> tuple[tuple[Button, ...], ...]:
        return rows(
            [
                self._b(conv, "conflict.b_first", "fs", "me", name=v["initiator"]),
                self._b(conv, "conflict.b_first", "fs", "you", name=v["partner"]),
            ],
            self._tail(conv),
        )

    def _where(self, conv: Conv, names: dict[int | None, str]) -> str:
        state = conv.paused_state if conv.state in ("timeout", "parked") else conv.state
        return self.core.t(f"conflict.where_{state}", **self._values(conv, names))

    async def _screen(
        self, conn: aiosqlite.Connection, conv: Conv, names: dict[int | None, str], chat: int
    ) -> Msg | None:
        """What `chat` sees for the current step (the group sees everyone's part)."""
        t, v = self.core.t, self._values(conv, names)
        group = conv.group_chat_id is not None
        acting = group or chat == conv.turn_holder()
        tail = self._tail(conv)
        s = conv.state
        if s == "topic":
            if not acting:
                return None
            return Msg(chat, t("conflict.ask_topic"), rows([self._b(conv, "conflict.b_end", "en")]))
        if s == "appointment":
            if not acting:
                return Msg(chat, t("conflict.appointment_wait", **v), rows(tail))
            return Msg(
                chat,
                t("conflict.appointment_ask", **v),
                rows(
                    [
                        self._b(conv, "conflict.b_now", "ap", "now"),
                        self._b(conv, "conflict.b_later", "ap", "later"),
                    ],
                    tail,
                ),
            )
        if s == "scheduled":
            return None
        if s == "rules":
            if group:
                text = t("conflict.rules") + "\n" + t("conflict.group_hint")
                text += "\n\n" + t("conflict.rules_choose", **v)
                return Msg(chat, text, self._rules_buttons(conv, v))
            if not acting:
                return Msg(
                    chat, t("conflict.rules") + "\n" + t("conflict.rules_wait", **v), rows(tail)
                )
            text = t("conflict.rules") + "\n" + t("conflict.rules_choose", **v)
            return Msg(chat, text, self._rules_buttons(conv, v))
        if s == "speaking":
            if group:
                text = t("conflict.floor_speaker", **v) + "\n\n" + t("conflict.floor_listener", **v)
            elif acting:
                text = t("conflict.floor_speaker", **v)
            else:
                return Msg(chat, t("conflict.floor_listener", **v), rows(tail))
            done = self._b(conv, "conflict.b_done", "dn", name=v["listener"])
            return Msg(chat, text, rows([done], tail))
        if s == "paraphrasing":
            key = "conflict.paraphrase" if conv.attempt == 1 else "conflict.paraphrase_again"
            return Msg(chat, t(key if acting else "conflict.paraphrase_wait", **v), rows(tail))
        if s == "confirming":
            if not acting:
                return Msg(chat, t("conflict.confirm_wait", **v), rows(tail))
            heard = await self._last_turn(conn, conv, "paraphrase")
            return Msg(
                chat,
                t("conflict.confirm", text=heard, **v),
                rows(
                    [
                        self._b(conv, "conflict.b_yes", "ok"),
                        self._b(conv, "conflict.b_not_quite", "nq"),
                    ],
                    tail,
                ),
            )
        if s == "correcting":
            return Msg(
                chat, t("conflict.correct" if acting else "conflict.correct_wait", **v), rows(tail)
            )
        if s == "validating":
            if not acting:
                return Msg(chat, t("conflict.validate_wait", **v), rows(tail))
            return Msg(
                chat,
                t("conflict.validate", **v),
                rows([self._b(conv, "conflict.b_skip", "sk")], tail),
            )
        if s == "round_menu":
            return Msg(
                chat,
                t("conflict.round_menu", **v),
                rows(
                    [self._b(conv, "conflict.b_more", "rm", "more")],
                    [self._b(conv, "conflict.b_heard", "rm", "heard")],
                    tail,
                ),
            )
        if s == "requests":
            return Msg(chat, t("conflict.requests", **v), rows(tail))
        return None

    async def _screens(self, conn: aiosqlite.Connection, conv: Conv) -> list[Msg]:
        names = await self._names(conn, conv)
        found = [await self._screen(conn, conv, names, chat) for chat in conv.chats]
        return [m for m in found if m is not None]

    async def _emit(
        self,
        conn: aiosqlite.Connection,
        msgs: list[Msg],
        out: Outcome,
        actor_chat: int | None,
        key: str | None = None,
    ) -> Outcome:
        """Messages for the acting chat are replies; the rest is owed through the outbox.
        All are protected: a conversation's messages carry the partners' words."""
        owed: list[Msg] = []
        for msg in (replace(m, protect=True) for m in msgs):
            if key is None and msg.chat_id == actor_chat:
                out.reply.append(msg)
            else:
                owed.append(msg)
        out.queued += await self.core.queue_all(conn, owed, key)
        return out

    def _everyone(self, conv: Conv, text: str) -> list[Msg]:
        return [Msg(chat, text, protect=True) for chat in conv.chats]

    async def _show(
        self, conn: aiosqlite.Connection, conv: Conv, out: Outcome, actor: Actor | None
    ) -> Outcome:
        return await self._emit(
            conn, await self._screens(conn, conv), out, actor.chat_id if actor else None
        )

    async def _tz(self, conn: aiosqlite.Connection, conv: Conv) -> str:
        return (await self._quiet(conn, conv)).tz

    async def _quiet(self, conn: aiosqlite.Connection, conv: Conv) -> schedule.Quiet:
        couple = await self.core.couple_by_id(conn, conv.couple_id)
        if couple is None:  # dissolved meanwhile: nothing of it is scheduled any more
            return schedule.Quiet.of(self.core.settings.default_timezone, "00:00", "00:00")
        return self.core.quiet(couple)

    # -- /conflict ---------------------------------------------------------------

    async def start(self, actor: Actor, topic: str) -> Outcome:
        """/conflict [topic] in a private chat or in the couple's group."""
        out = Outcome()
        t = self.core.t
        async with self.core.db.tx() as conn:
            await self.core.touch_user(conn, actor)
            if actor.private:
                couple = await self.core.couple_of(conn, actor.user_id)
                if couple is None:
                    return out.say(Msg(actor.chat_id, t("common.not_paired")))
                group = None
            else:
                couple = await self.core.couple_by_group(conn, actor.chat_id)
                if couple is None or not couple.has(actor.user_id):
                    return out.say(Msg(actor.chat_id, t("conflict.group_not_linked")))
                group = actor.chat_id
            conv = await self.open_for_couple(conn, couple.id)
            if conv is not None:
                names = await self._names(conn, conv)
                return out.say(
                    Msg(
                        actor.chat_id,
                        t("conflict.open_exists", topic=conv.topic, where=self._where(conv, names)),
                        rows(
                            [
                                self._b(conv, "conflict.b_resume", "rs"),
                                self._b(conv, "conflict.b_end", "en"),
                            ]
                        ),
                        protect=True,  # the topic may be the partner's words
                    )
                )
            topic = " ".join(topic.split())
            if len(topic) > TOPIC_MAX:
                return out.say(self._too_long(actor, "topic", topic, TOPIC_MAX))
            if topic and await self.safety.screen(conn, actor, topic, out, source="conflict"):
                return out  # held: no conversation starts on these words
            now = self.core.now()
            cur = await conn.execute(
                "INSERT INTO conflict_conversations (couple_id, initiator, partner, group_chat_id, "
                "topic, state, created_at, updated_at, park_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    couple.id,
                    actor.user_id,
                    couple.partner_of(actor.user_id),
                    group,
                    self.core.cipher.encrypt(topic) if topic else None,
                    "appointment" if topic else "topic",
                    now,
                    now,
                    now + PARK_AFTER,
                ),
            )
            conv = await self.load(conn, int(cur.lastrowid or 0))
            assert conv is not None
            return await self._show(conn, conv, out, actor)

    # -- text ----------------------------------------------------------------------

    async def wants_text(self, conn: aiosqlite.Connection, actor: Actor) -> bool:
        """Whether a private conversation would take what this user types now as its own
        (a topic, a turn, a request), as opposed to answering with a pointer."""
        conv = await self.open_for_user(conn, actor.user_id)
        if conv is None or conv.group_chat_id is not None:
            return False
        if conv.state == "topic":
            return actor.user_id == conv.initiator
        return conv.state in FLOOR or conv.state == "requests"

    async def private_text(
        self, conn: aiosqlite.Connection, actor: Actor, text: str, out: Outcome
    ) -> Outcome | None:
        conv = await self.open_for_user(conn, actor.user_id)
        if conv is None or conv.group_chat_id is not None or conv.state in ("parked", "scheduled"):
            return None  # not ours: other features (or the /help pointer) get the text
        return await self._on_text(conn, conv, actor, text, out)

    async def group_text(self, actor: Actor, text: str) -> Outcome:
        """Any text in a group: part of the conversation if one is open there."""
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.couple_by_group(conn, actor.chat_id)
            if couple is None or not couple.has(actor.user_id):
                return out
            conv = await self.open_for_couple(conn, couple.id)
            if conv is None or conv.group_chat_id != actor.chat_id:
                return out
            return await self._on_text(conn, conv, actor, text, out)

    async def _nudge(
        self, conn: aiosqlite.Connection, conv: Conv, actor: Actor, text: str, out: Outcome
    ) -> None:
        """A private, never-blocking suggestion when a message sounds like attack."""
        for kind in self.nudges.kinds(text):
            msg = Msg(
                actor.user_id,
                self.core.t(
                    "conflict.nudge", name=actor.first_name, suggestion=self.nudges.suggestion(kind)
                ),
            )
            key = f"conflict:{conv.id}:nudge:{actor.user_id}:{kind}:{conv.round}:{conv.half}"
            new = await self.core.queue(conn, msg, key)
            if new is not None:
                out.queued.append(new)

    async def _relay(
        self, conn: aiosqlite.Connection, conv: Conv, actor: Actor, text: str, out: Outcome
    ) -> None:
        """In private mode, the partner sees what was written, in the writer's name."""
        if conv.group_chat_id is None:
            relay = self.core.t("conflict.relay", name=actor.first_name, text=text)
            msg = Msg(conv.other(actor.user_id), relay, protect=True)
            out.queued += await self.core.queue_all(conn, [msg])

    async def _on_text(
        self, conn: aiosqlite.Connection, conv: Conv, actor: Actor, text: str, out: Outcome
    ) -> Outcome:
        text = text.strip()
        if len(text) > TEXT_MAX:  # nothing goes anywhere: the writer shortens it first
            return out.say(self._too_long(actor, "text", text, TEXT_MAX))
        uid, s, t = actor.user_id, conv.state, self.core.t
        group = conv.group_chat_id is not None
        names = await self._names(conn, conv)
        if not text:
            return out
        # Held words never become a topic, turn, request or offer, so nothing repeats them.
        if await self.safety.screen(
            conn,
            actor,
            text,
            out,
            source="conflict",
            ref=str(conv.id),
            pause=self._b(conv, "conflict.b_timeout", "to") if s in BREAKABLE else None,
        ):
            return out
        if s == "topic":
            if uid != conv.initiator:
                return (
                    out
                    if group
                    else out.say(
                        Msg(
                            actor.chat_id, t("conflict.topic_wait", initiator=names[conv.initiator])
                        )
                    )
                )
            topic = " ".join(text.split())
            if len(topic) > TOPIC_MAX:
                return out.say(self._too_long(actor, "topic", topic, TOPIC_MAX))
            conv = await self._move(conn, conv, "appointment", topic=topic)
            return await self._show(conn, conv, out, actor)
        if s in FLOOR or s == "requests":
            await self._nudge(conn, conv, actor, text, out)
        if s in FLOOR and uid != conv.turn_holder():
            await self._add_turn(conn, conv, uid, "kept", text)
            key = "conflict.out_of_turn" if s == "speaking" else "conflict.out_of_turn_wait"
            return out.say(Msg(actor.chat_id, t(key, holder=names[conv.turn_holder()])))
        if s == "speaking":
            await self._add_turn(conn, conv, uid, "speak", text)
            await self._touch(conn, conv)
            await self._relay(conn, conv, actor, text, out)
            done = self._b(conv, "conflict.b_done", "dn", name=names[conv.listener])
            return out.say(Msg(actor.chat_id, t("conflict.speak_ack"), rows([done])))
        if s == "paraphrasing":
            await self._add_turn(conn, conv, uid, "paraphrase", text)
            conv = await self._move(conn, conv, "confirming")
            return await self._show(conn, conv, out, actor)
        if s == "correcting":
            await self._add_turn(conn, conv, uid, "correction", text)
            await self._relay(conn, conv, actor, text, out)
            conv = await self._move(conn, conv, "paraphrasing", attempt=conv.attempt + 1)
            return await self._show(conn, conv, out, actor)
        if s == "validating":
            await self._add_turn(conn, conv, uid, "validation", text)
            await self._relay(conn, conv, actor, text, out)
            return await self._pass_floor(conn, conv, out, actor)
        if s == "requests":
            return await self._request_text(conn, conv, actor, text, names, out)
        if group:
            return out  # in their own group the couple may just be chatting
        if s == "timeout":
            when = schedule.human(schedule.from_ts(conv.resume_at or 0), await self._tz(conn, conv))
            return out.say(Msg(actor.chat_id, t("conflict.timeout_hint", when=when)))
        return out.say(Msg(actor.chat_id, t("conflict.use_buttons")))

    def _too_long(self, actor: Actor, what: str, text: str, limit: int) -> Msg:
        return Msg(
            actor.chat_id,
            self.core.t(f"conflict.too_long_{what}", length=len(text), limit=limit),
        )

    async def _enter_speaking(
        self,
        conn: aiosqlite.Connection,
        conv: Conv,
        out: Outcome,
        actor: Actor | None,
        **fields: Any,
    ) -> Outcome:
        """The floor passes: what the new speaker kept while listening opens their turn."""
        conv = await self._move(conn, conv, "speaking", attempt=1, **fields)
        await self._show(conn, conv, out, actor)
        kept = await fetch_all(
            conn,
            "SELECT id, text FROM conflict_turns WHERE conversation_id = ? AND user_id = ? "
            "AND kind = 'kept' ORDER BY id",
            (conv.id, conv.speaker),
        )
        if not kept:
            return out
        await conn.execute(
            f"UPDATE conflict_turns SET kind = 'speak', round = ? WHERE id IN "
            f"({','.join('?' * len(kept))})",
            (conv.round, *(r["id"] for r in kept)),
        )
        names = await self._names(conn, conv)
        name = names[conv.speaker]
        # One message each: several kept texts together could pass Telegram's 4096 limit.
        msgs = self._everyone(conv, self.core.t("conflict.kept_added", name=name))
        for r in kept:
            text = self.core.cipher.decrypt(r["text"])
            msgs += self._everyone(conv, self.core.t("conflict.relay", name=name, text=text))
        return await self._emit(conn, msgs, out, actor.chat_id if actor else None)

    async def _pass_floor(
        self, conn: aiosqlite.Connection, conv: Conv, out: Outcome, actor: Actor | None
    ) -> Outcome:
        if conv.half == 0:
            return await self._enter_speaking(
                conn, conv, out, actor, speaker=conv.listener, listener=conv.speaker, half=1
            )
        conv = await self._move(
            conn, conv, "round_menu", rounds_done=conv.rounds_done + 1, heard_by=None
        )
        return await self._show(conn, conv, out, actor)

    async def _request_text(
        self,
        conn: aiosqlite.Connection,
        conv: Conv,
        actor: Actor,
        text: str,
        names: dict[int | None, str],
        out: Outcome,
    ) -> Outcome:
        uid, t = actor.user_id, self.core.t
        if len(text) > AGREEMENT_MAX:  # four of them must fit in one summary message
            return out.say(self._too_long(actor, "request", text, AGREEMENT_MAX))
        partner = conv.other(uid)
        mine = {a.kind for a in await self._agreements(conn, conv.id, "AND author = ?", (uid,))}
        if "request" not in mine:
            kind, doer = "request", partner
        elif "offer" not in mine:
            kind, doer = "offer", uid
        else:
            return out.say(Msg(actor.chat_id, t("conflict.requests_done", name=names[uid])))
        cur = await conn.execute(
            "INSERT INTO agreements (conversation_id, couple_id, kind, author, decider, doer, text,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conv.id,
                conv.couple_id,
                kind,
                uid,
                partner,
                doer,
                self.core.cipher.encrypt(text),
                self.core.now(),
            ),
        )
        await self._touch(conn, conv)
        aid = cur.lastrowid
        yes, no = (
            ("b_willing", "b_not_now") if kind == "request" else ("b_accept_offer", "b_no_need")
        )
        ask = t(f"conflict.ask_{kind}", name=names[uid], partner=names[partner], text=text)
        buttons = rows(
            [
                Button(t(f"conflict.{yes}"), cb("cf", "ag", conv.id, aid, "y")),
                Button(t(f"conflict.{no}"), cb("cf", "ag", conv.id, aid, "n")),
            ]
        )
        where = conv.group_chat_id if conv.group_chat_id is not None else partner
        follow = "conflict.offer_prompt" if kind == "request" else "conflict.requests_done"
        return await self._emit(
            conn,
            [Msg(where, ask, buttons), Msg(actor.chat_id, t(follow, name=names[uid]))],
            out,
            actor.chat_id,
        )

    # -- presses -----------------------------------------------------------------

    async def press(
        self,
        actor: Actor,
        action: str,
        conversation_id: int | None,
        number: int | None,
        arg: str,
    ) -> Outcome:
        """A button on a conversation; `number` is the version (or an agreement id for 'ag')."""
        out = Outcome()
        t = self.core.t
        async with self.core.db.tx() as conn:
            conv = await self.load(conn, conversation_id) if conversation_id is not None else None
            if conv is None or not conv.has(actor.user_id):
                out.toast, out.alert = t("common.not_yours"), True
                return out
            if action == "ag":
                return await self._decide(conn, conv, actor, number, arg, out)
            problem = refusal(conv, actor.user_id, action, number)
            if problem is not None:
                out.toast, out.alert = t(problem), problem == "common.not_yours"
                return out
            return await self._pressed(conn, conv, actor, action, arg, out)

    async def _pressed(
        self,
        conn: aiosqlite.Connection,
        conv: Conv,
        actor: Actor,
        action: str,
        arg: str,
        out: Outcome,
    ) -> Outcome:
        t, uid = self.core.t, actor.user_id
        if action == "ap":
            if arg == "now":
                conv = await self._move(conn, conv, "rules")
                return await self._show(conn, conv, out, actor)
            if arg == "later":
                quiet = await self._quiet(conn, conv)
                codes = offered(LATER_CHOICES, self.core.clock.now(), quiet)
                buttons = [self._b(conv, CHOICE_LABELS[c], "ap", c) for c in codes]
                return out.say(
                    Msg(actor.chat_id, t("conflict.later_pick"), rows(buttons[:2], buttons[2:]))
                )
            return await self._schedule(conn, conv, actor, arg, out)
        if action == "fs":
            if arg not in ("me", "you"):
                out.toast = t("conflict.stale")
                return out
            first = conv.initiator if arg == "me" else conv.partner
            return await self._enter_speaking(
                conn, conv, out, actor, speaker=first, listener=conv.other(first), half=0
            )
        if action == "dn":
            # Each partner speaks once per round, so their own words this round are this turn.
            said = await fetch_one(
                conn,
                "SELECT 1 FROM conflict_turns WHERE conversation_id = ? AND user_id = ? "
                "AND round = ? AND kind = 'speak' LIMIT 1",
                (conv.id, uid, conv.round),
            )
            if said is None:
                out.toast = t("conflict.write_first")
                return out
            conv = await self._move(conn, conv, "paraphrasing", attempt=1)
            return await self._show(conn, conv, out, actor)
        if action == "ok":
            conv = await self._move(conn, conv, "validating")
            return await self._show(conn, conv, out, actor)
        if action == "nq":
            conv = await self._move(conn, conv, "correcting")
            return await self._show(conn, conv, out, actor)
        if action == "sk":
            return await self._pass_floor(conn, conv, out, actor)
        if action == "rm":
            return await self._round_menu(conn, conv, actor, arg, out)
        if action == "to":
            quiet = await self._quiet(conn, conv)
            codes = offered(BREAK_CHOICES, self.core.clock.now(), quiet)
            buttons = [self._b(conv, CHOICE_LABELS[c], "tt", c) for c in codes]
            return out.say(
                Msg(actor.chat_id, t("conflict.timeout_pick"), rows(buttons[:2], buttons[2:]))
            )
        if action == "tt":
            return await self._break(conn, conv, actor, arg, out)
        if action == "en":
            return out.say(
                Msg(
                    actor.chat_id,
                    t("conflict.end_ask"),
                    rows(
                        [
                            self._b(conv, "conflict.b_end_yes", "ey"),
                            self._b(conv, "conflict.b_end_no", "ek"),
                        ]
                    ),
                )
            )
        if action == "ek":
            return out.say(Msg(actor.chat_id, t("conflict.end_kept")))
        if action == "ey":
            return await self._end(conn, conv, actor, out)
        # "rs": bring a paused conversation back, or show where an active one stands.
        if conv.state in WAITING:
            return await self._resume(conn, conv, out, actor, None)
        names = await self._names(conn, conv)
        screen = await self._screen(
            conn, conv, names, actor.chat_id if conv.group_chat_id is None else conv.group_chat_id
        )
        return out.say(replace(screen, protect=True)) if screen else out

    async def _schedule(
        self, conn: aiosqlite.Connection, conv: Conv, actor: Actor, code: str, out: Outcome
    ) -> Outcome:
        quiet = await self._quiet(conn, conv)
        tz = quiet.tz
        until = break_until(code, self.core.clock.now(), quiet) if code in LATER_CHOICES else None
        if until is None:
            out.toast = self.core.t("conflict.stale")
            return out
        conv = await self._move(conn, conv, "scheduled", resume_at=schedule.ts(until))
        text = self.core.t("conflict.scheduled", topic=conv.topic, when=schedule.human(until, tz))
        return await self._emit(conn, self._everyone(conv, text), out, actor.chat_id)

    async def _break(
        self, conn: aiosqlite.Connection, conv: Conv, actor: Actor, code: str, out: Outcome
    ) -> Outcome:
        quiet = await self._quiet(conn, conv)
        tz = quiet.tz
        until = break_until(code, self.core.clock.now(), quiet) if code in BREAK_CHOICES else None
        if until is None:
            out.toast = self.core.t("conflict.stale")
            return out
        moved = conv.state == "timeout"
        conv = await self._move(
            conn,
            conv,
            "timeout",
            paused_state=conv.paused_state if moved else conv.state,
            resume_at=schedule.ts(until),
        )
        text = self.core.t(
            "conflict.timeout_moved" if moved else "conflict.timeout_set",
            name=actor.first_name,
            when=schedule.human(until, tz),
        )
        buttons = rows(
            [
                self._b(conv, "conflict.b_other_time", "to"),
                self._b(conv, "conflict.b_back_now", "rs"),
            ]
        )
        msgs = [Msg(chat, text, buttons) for chat in conv.chats]
        return await self._emit(conn, msgs, out, actor.chat_id)

    async def _resume(
        self,
        conn: aiosqlite.Connection,
        conv: Conv,
        out: Outcome,
        actor: Actor | None,
        key: str | None,
    ) -> Outcome:
        """Back from a break, a park or the agreed appointment, with a one-line recap."""
        names = await self._names(conn, conv)
        if conv.state == "scheduled":
            recap = self.core.t("conflict.appointment_time", topic=conv.topic)
            back = "rules"
        else:
            recap = self.core.t(
                "conflict.recap", topic=conv.topic, round=conv.round, where=self._where(conv, names)
            )
            back = conv.paused_state or "rules"
        conv = await self._move(conn, conv, back, paused_state=None)
        msgs = self._everyone(conv, recap) + await self._screens(conn, conv)
        return await self._emit(conn, msgs, out, actor.chat_id if actor else None, key)

    async def _round_menu(
        self, conn: aiosqlite.Connection, conv: Conv, actor: Actor, arg: str, out: Outcome
    ) -> Outcome:
        uid, t = actor.user_id, self.core.t
        if arg == "more":
            # The partner who opened this round opens the next one too.
            return await self._enter_speaking(
                conn,
                conv,
                out,
                actor,
                speaker=conv.listener,
                listener=conv.speaker,
                half=0,
                round=conv.round + 1,
                heard_by=None,
            )
        if arg != "heard":
            out.toast = t("conflict.stale")
            return out
        if conv.heard_by == uid:
            out.toast = t("conflict.heard_already")
            return out
        if conv.heard_by is None:
            await conn.execute(
                "UPDATE conflict_conversations SET heard_by = ? WHERE id = ?", (uid, conv.id)
            )
            await self._touch(conn, conv)
            names = await self._names(conn, conv)
            text = t("conflict.heard_vote", name=names[uid], partner=names[conv.other(uid)])
            return await self._emit(conn, self._everyone(conv, text), out, actor.chat_id)
        conv = await self._move(conn, conv, "requests", heard_by=None)
        return await self._show(conn, conv, out, actor)

    async def _decide(
        self,
        conn: aiosqlite.Connection,
        conv: Conv,
        actor: Actor,
        agreement_id: int | None,
        arg: str,
        out: Outcome,
    ) -> Outcome:
        t = self.core.t
        found = await self._agreements(conn, conv.id, "AND id = ?", (agreement_id or 0,))
        if (
            conv.state != "requests"
            or not found
            or found[0].status != "proposed"
            or arg not in ("y", "n")
        ):
            out.toast = t("conflict.stale")
            return out
        agreement = found[0]
        if agreement.decider != actor.user_id:
            out.toast = t("conflict.not_your_turn")
            return out
        now = self.core.now()
        accepted = arg == "y"
        await conn.execute(
            "UPDATE agreements SET status = ?, decided_at = ?, follow_up_at = ? WHERE id = ?",
            (
                "accepted" if accepted else "declined",
                now,
                now + FOLLOW_UP_AFTER if accepted else None,
                agreement.id,
            ),
        )
        if accepted and self.on_agreement is not None:
            await self.on_agreement(
                conn, conv.couple_id, agreement.doer, agreement.text, now + FOLLOW_UP_AFTER
            )
        await self._touch(conn, conv)
        text = t(
            "conflict.accepted" if accepted else "conflict.declined",
            decider=actor.first_name,
            text=agreement.text,
        )
        msgs = self._everyone(conv, text)
        await self._emit(conn, msgs, out, actor.chat_id)
        everything = await self._agreements(conn, conv.id)
        if len(everything) == 4 and all(a.status != "proposed" for a in everything):
            conv = await self._move(conn, conv, "closed", closed_at=now)
            summary = await self._summary(conn, conv, everything)
            await self._emit(conn, self._everyone(conv, summary), out, actor.chat_id)
        return out

    async def _summary(
        self, conn: aiosqlite.Connection, conv: Conv, agreements: list[Agreement]
    ) -> str:
        t = self.core.t
        names = await self._names(conn, conv)
        agreed = [
            t("conflict.agreement_line", doer=names[a.doer], text=a.text)
            for a in agreements
            if a.status == "accepted"
        ]
        declined = [
            t("conflict.declined_line", text=a.text) for a in agreements if a.status == "declined"
        ]
        parts = [
            t("conflict.summary_agreed", lines=Safe("\n".join(agreed)))
            if agreed
            else t("conflict.summary_none")
        ]
        if declined:
            parts.append(t("conflict.summary_declined", lines=Safe("\n".join(declined))))
        return t(
            "conflict.summary",
            topic=conv.topic,
            rounds=self.core.content.plural("plural.rounds", conv.rounds_done),
            agreements=Safe("\n\n".join(parts)),
        )

    async def _end(
        self, conn: aiosqlite.Connection, conv: Conv, actor: Actor, out: Outcome
    ) -> Outcome:
        agreements = [a for a in await self._agreements(conn, conv.id) if a.status != "proposed"]
        conv = await self._move(
            conn, conv, "ended", closed_at=self.core.now(), ended_by=actor.user_id
        )
        text = self.core.t(
            "conflict.ended",
            name=actor.first_name,
            topic=conv.topic,
            rounds=self.core.content.plural("plural.rounds", conv.rounds_done),
        )
        if agreements:
            text += "\n\n" + await self._summary(conn, conv, agreements)
        return await self._emit(conn, self._everyone(conv, text), out, actor.chat_id)

    # -- time ----------------------------------------------------------------------

    async def _due(self, column: str, states: tuple[str, ...]) -> list[int]:
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

    async def sweep(self) -> list[int]:
        """Appointments and breaks that are over, idle turns and quiet conversations."""
        queued: list[int] = []
        now = self.core.now()
        for cid in await self._due("resume_at", ("timeout", "scheduled")):
            async with self.core.db.tx() as conn:
                conv = await self.load(conn, cid)
                if (
                    conv is None
                    or conv.state not in ("timeout", "scheduled")
                    or (conv.resume_at or now + 1) > now
                ):
                    continue
                out = await self._resume(
                    conn, conv, Outcome(), None, f"conflict:{cid}:resume:{conv.version}"
                )
                queued += out.queued
        for cid in await self._due("park_at", ACTIVE):
            async with self.core.db.tx() as conn:
                conv = await self.load(conn, cid)
                if conv is None or conv.state not in ACTIVE or (conv.park_at or now + 1) > now:
                    continue
                key = f"conflict:{cid}:park:{conv.version}"
                conv = await self._move(conn, conv, "parked", paused_state=conv.state)
                text = self.core.t("conflict.parked", topic=conv.topic)
                queued += await self.core.queue_all(conn, self._everyone(conv, text), key)
        for cid in await self._due("idle_nudge_at", FLOOR):
            async with self.core.db.tx() as conn:
                conv = await self.load(conn, cid)
                if conv is None or conv.state not in FLOOR or (conv.idle_nudge_at or now + 1) > now:
                    continue
                await conn.execute(
                    "UPDATE conflict_conversations SET idle_nudge_at = NULL WHERE id = ?", (cid,)
                )
                holder = conv.turn_holder()
                if holder is None:
                    continue
                name = await self.core.first_name(conn, holder)
                text = self.core.t("conflict.idle_nudge", name=name, topic=conv.topic)
                msg = Msg(holder, text, protect=True)
                queued += await self.core.queue_all(
                    conn, [msg], f"conflict:{cid}:idle:{conv.version}"
                )
        return queued
