"""Safety: crisis, threat and coercive-control words are never passed on automatically.

One mechanism for every kind of free text a partner writes (check-in notes and open
answers, /conflict topics, turns, requests and offers, promises, thanks). A feature
calls `Safety.screen` at the moment it accepts the text; when a reviewed marker from
`content/safety.toml` matches, the text is held (`safety_holds`, encrypted like any
other text) and the writer gets a private reply:

    self_harm  caring words and help now; held, the writer chooses Share or Keep
    threat     not delivered; told calmly why, with the time-out and help
    control    held privately; told where to find help; the writer chooses

A hold's states: held --Share--> shared | --Keep--> kept; a threat is `withheld`
for ever; words typed in the couple's group (already visible) are `visible`: the
bot never repeats them and offers both a time-out. Only that a rule fired is logged,
with ids, never the words.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.callbacks import cb
from bot.core import Actor, Core, Safe
from bot.db import Conn, fetch_one
from bot.messages import Button, Msg, Outcome, rows
from content import MarkerSet, SafetyContent, all_safety

log = logging.getLogger(__name__)

KINDS = ("self_harm", "threat", "control")  # precedence when several match
_APOSTROPHES = re.compile(r"['’‘ʼ`´]")
_NOT_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Accents stripped, case folded, apostrophes dropped, other punctuation a space."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(_NOT_WORD.sub(" ", _APOSTROPHES.sub("", bare)).split())


class SafetyMatcher:
    """Whole-word matching of the reviewed marker lists, after `normalise`."""

    def __init__(self, markers: SafetyContent) -> None:
        gap_ok = rf"(?:(?!(?:{_alternation(markers.negations)})\b)[^\W_]+ )?"
        self._patterns = {
            kind: re.compile(
                r"(?<![^\W_])(?:" + _set_pattern(getattr(markers, kind), gap_ok) + r")(?![^\W_])"
            )
            for kind in KINDS
        }

    def kinds(self, text: str) -> list[str]:
        norm = normalise(text)
        return [k for k, pattern in self._patterns.items() if pattern.search(norm)]

    def kind(self, text: str) -> str | None:
        """The rule that decides what happens to `text`, or None for ordinary words."""
        found = self.kinds(text)
        return found[0] if found else None


def _alternation(phrases: list[str]) -> str:
    # Longest first, so a longer phrase wins over its own prefix.
    norm = sorted({normalise(p) for p in phrases if normalise(p)}, key=len, reverse=True)
    return "|".join(re.escape(p) for p in norm)


def _set_pattern(markers: MarkerSet, gap_ok: str) -> str:
    parts = [_alternation(markers.phrases)]
    for combo in markers.combos:
        parts.append(f"(?:{_alternation(combo.before)}) {gap_ok}(?:{_alternation(combo.after)})")
    return "|".join(parts)


@dataclass(frozen=True, slots=True)
class Hold:
    id: int
    couple_id: int | None
    writer_id: int
    partner_id: int | None
    kind: str
    source: str
    ref: str | None
    text: str
    state: str


# (conn, hold) -> True if the feature released the words itself (e.g. a check-in note
# unhidden before the reveal); False and the words are sent to the partner directly.
Releaser = Callable[[Conn, Hold], Awaitable[bool]]


class Safety:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.matcher = SafetyMatcher(all_safety())  # every language's markers
        self.releasers: dict[str, Releaser] = {}

    # -- help resources ----------------------------------------------------------

    def help_lines(self, language: str | None, zone: str | None) -> str:
        """Help now: the country's short list when known, the directory always, and the
        operator's own line (SAFETY_RESOURCES) if set."""
        res = self.core.c.safety.resources
        lang = (language or "").lower().replace("_", "-")
        country = next((c for c in res.country if lang and lang in c.languages), None)
        if country is None and "-" in lang:
            region = lang.split("-")[-1].upper()
            country = next((c for c in res.country if c.code == region), None)
        if country is None and zone:
            country = next((c for c in res.country if zone in c.zones), None)
        lines = [res.emergency]
        if country is not None:
            lines.append(self.core.t("safety.country_head", country=country.name))
            lines += [f"• {line}" for line in country.lines]
        lines.append(res.directory)
        extra = self.core.settings.safety_resources
        if extra:
            lines.append(self.core.t("safety.operator_line", line=extra))
        return "\n".join(lines)

    async def _help_for(self, conn: Conn, actor: Actor) -> str:
        couple = await self.core.couple_of(conn, actor.user_id)
        return self.help_lines(actor.language, couple.timezone if couple else None)

    async def command(self, actor: Actor) -> Outcome:
        """/safety: what Trellis is and is not, help now, and how to leave quietly."""
        out = Outcome()
        if not actor.private:
            return out.say(Msg(actor.chat_id, self.core.t("safety.private_only")))
        async with self.core.db.tx() as conn:
            await self.core.touch_user(conn, actor)
            help_now = await self._help_for(conn, actor)
        return out.say(Msg(actor.chat_id, self.core.t("safety.page", help=Safe(help_now))))

    # -- the hold --------------------------------------------------------------------

    async def screen(
        self,
        conn: Conn,
        actor: Actor,
        text: str,
        out: Outcome,
        *,
        source: str,
        ref: str | None = None,
        pause: Button | None = None,
    ) -> str | None:
        """Hold `text` if a safety rule matches it; returns the rule's kind, else None.

        The caller then keeps the words out of everything the partner sees (it stores
        them privately or not at all). In a group the words are already visible: the
        group gets a pause offer (with `pause`, the conversation's time-out button),
        and the writer's reply goes to their private chat.
        """
        kind = self.matcher.kind(text)
        if kind is None:
            return None
        couple = await self.core.couple_of(conn, actor.user_id)
        partner_id = couple.partner_of(actor.user_id) if couple else None
        state = "visible" if not actor.private else "withheld" if kind == "threat" else "held"
        cur = await conn.execute(
            "INSERT INTO safety_holds (couple_id, writer_id, partner_id, kind, source, ref, text, "
            "state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                couple.id if couple else None,
                actor.user_id,
                partner_id,
                kind,
                source,
                ref,
                self.core.cipher.encrypt(text),
                state,
                self.core.now(),
            ),
        )
        hold_id = int(cur.lastrowid or 0)
        log.info(
            "safety rule fired: kind=%s source=%s hold=%s user=%s couple=%s",
            kind,
            source,
            hold_id,
            actor.user_id,
            couple.id if couple else None,
        )
        group_says = self.core.t("safety.group_pause")  # in the group's language
        # The writer's reply is theirs, in their own language, wherever they wrote.
        async with self.core.to(conn, actor.user_id):
            private = await self._writer_reply(conn, actor, kind, state, hold_id, partner_id, pause)
        # Owed, in the hold's own transaction: a crash after the commit must not lose the
        # caring reply, its help lines or the writer's Share / Keep choice (the hold would
        # stay undecided with no way to decide it).
        owed = [private]
        if not actor.private:
            owed.insert(0, Msg(actor.chat_id, group_says, rows([pause] if pause else [])))
        out.queued += await self.core.queue_all(conn, owed, f"safety:{hold_id}:writer")
        return kind

    async def _writer_reply(
        self,
        conn: Conn,
        actor: Actor,
        kind: str,
        state: str,
        hold_id: int,
        partner_id: int | None,
        pause: Button | None,
    ) -> Msg:
        partner = await self.core.first_name(conn, partner_id) if partner_id else ""
        help_now = Safe(await self._help_for(conn, actor))
        t = self.core.t
        body = t(f"safety.{kind}", partner=partner or t("safety.your_partner"), help=help_now)
        buttons: list[list[Button]] = []
        if state == "held":
            body += "\n\n" + t("safety.choose", partner=partner or t("safety.your_partner"))
            buttons.append(
                [
                    Button(t("safety.share", partner=partner), cb("sf", "s", hold_id)),
                    Button(t("safety.keep"), cb("sf", "k", hold_id)),
                ]
            )
        elif state == "visible":
            body += "\n\n" + t("safety.in_group")
        if kind == "threat" and pause is not None and actor.private:
            buttons.append([pause])
        return Msg(actor.user_id, body, rows(*buttons))

    async def _load(self, conn: Conn, hold_id: int) -> Hold | None:
        row = await fetch_one(conn, "SELECT * FROM safety_holds WHERE id = ?", (hold_id,))
        if row is None:
            return None
        return Hold(
            id=row["id"],
            couple_id=row["couple_id"],
            writer_id=row["writer_id"],
            partner_id=row["partner_id"],
            kind=row["kind"],
            source=row["source"],
            ref=row["ref"],
            text=self.core.cipher.decrypt(row["text"]),
            state=row["state"],
        )

    async def press(
        self, actor: Actor, verb: str, hold_id: int | None, message_id: int | None
    ) -> Outcome:
        """sf:s (share with the partner) or sf:k (keep it to myself): only the writer."""
        out = Outcome()
        t = self.core.t
        async with self.core.db.tx() as conn:
            hold = await self._load(conn, hold_id) if hold_id is not None else None
            if hold is None or hold.writer_id != actor.user_id or verb not in ("s", "k"):
                out.toast, out.alert = t("common.not_yours"), True
                return out
            if hold.state != "held":
                out.toast = t("safety.decided")
                return out
            couple = await self.core.couple_of(conn, actor.user_id)
            live = couple is not None and couple.id == hold.couple_id
            partner = await self.core.first_name(conn, hold.partner_id) if hold.partner_id else ""
            if verb == "k" or not live or hold.partner_id is None:
                await self._decide(conn, hold, "kept")
                key = "safety.kept" if verb == "k" else "safety.not_paired"
                return out.say(
                    Msg(actor.chat_id, t(key, partner=partner), edit_message_id=message_id)
                )
            await self._decide(conn, hold, "shared")
            releaser = self.releasers.get(hold.source)
            if releaser is None or not await releaser(conn, hold):
                async with self.core.to(conn, hold.partner_id):
                    msg = Msg(
                        hold.partner_id,
                        t("safety.shared_with_you", name=actor.first_name, text=hold.text),
                        protect=True,
                    )
                out.queued += await self.core.queue_all(conn, [msg], key=f"safety:{hold.id}:share")
            return out.say(
                Msg(actor.chat_id, t("safety.shared", partner=partner), edit_message_id=message_id)
            )

    async def _decide(self, conn: Conn, hold: Hold, state: str) -> None:
        await conn.execute(
            "UPDATE safety_holds SET state = ?, decided_at = ? WHERE id = ? AND state = 'held'",
            (state, self.core.now(), hold.id),
        )
        log.info("safety hold %s decided: %s by user=%s", hold.id, state, hold.writer_id)


async def fired_between(conn: Conn, couple_id: int, start: int, end: int) -> bool:
    """Whether any safety rule fired for this couple in [start, end]: the weekly focus
    then gives no advice to speak up or confront."""
    row = await fetch_one(
        conn,
        "SELECT 1 FROM safety_holds WHERE couple_id = ? AND created_at >= ? AND created_at <= ? "
        "LIMIT 1",
        (couple_id, start, end),
    )
    return row is not None
