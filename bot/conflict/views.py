"""What partners read in /conflict: each step's screen, buttons, recaps and the summary.

Pure rendering from a `Conv` (and, for a few screens, what the store holds): no state
changes here. Every step's buttons carry the conversation's version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from bot.callbacks import cb
from bot.conflict.machine import FLOOR, Agreement, Conv, next_to_write, settled
from bot.conflict.nudges import as_commitment
from bot.conflict.store import Store
from bot.core import Core, Safe
from bot.db import Conn
from bot.messages import Button, Msg, rows


class Views:
    def __init__(self, core: Core, store: Store) -> None:
        self.core = core
        self.store = store

    async def names(self, conn: Conn, conv: Conv) -> dict[int | None, str]:
        names: dict[int | None, str] = {None: ""}
        for uid in (conv.initiator, conv.partner):
            names[uid] = await self.core.first_name(conn, uid)
        return names

    def values(self, conv: Conv, names: dict[int | None, str]) -> dict[str, object]:
        return {
            "topic": conv.topic,
            "initiator": names[conv.initiator],
            "partner": names[conv.partner],
            "speaker": names[conv.speaker],
            "listener": names[conv.listener],
            "round": conv.round,
        }

    def b(self, conv: Conv, label: str, action: str, arg: object = "", **values: object) -> Button:
        parts: list[object] = ["cf", action, conv.id, conv.version]
        if arg != "":
            parts.append(arg)
        return Button(self.core.t(label, **values), cb(*parts))

    def ab(
        self, conv: Conv, label: str, action: str, aid: int, arg: str, **values: object
    ) -> Button:
        """A button naming an agreement instead of a version."""
        return Button(self.core.t(label, **values), cb("cf", action, conv.id, aid, arg))

    def tail(self, conv: Conv) -> list[Button]:
        return [self.b(conv, "conflict.b_timeout", "to"), self.b(conv, "conflict.b_end", "en")]

    def repair(self, conv: Conv) -> list[Button]:
        """The two repair moves, on every floor step."""
        return [self.b(conv, "conflict.b_slow", "sl"), self.b(conv, "conflict.b_sorry", "sr")]

    def where(self, conv: Conv, names: dict[int | None, str]) -> str:
        state = conv.paused_state if conv.state in ("timeout", "parked") else conv.state
        return self.core.t(f"conflict.where_{state}", **self.values(conv, names))

    async def everyone(
        self,
        conn: Conn,
        conv: Conv,
        say: str | Callable[[], str | Awaitable[str]],
        **values: object,
    ) -> list[Msg]:
        """The same news for every chat of the conversation, each written in its reader's
        language: `say` is a catalogue key (with `values`) or a function that writes it."""
        msgs = []
        for chat in conv.chats:
            async with self.core.to(conn, chat):
                text = self.core.t(say, **values) if isinstance(say, str) else say()
                msgs.append(Msg(chat, text if isinstance(text, str) else await text, protect=True))
        return msgs

    def commitment(self, request: str) -> str:
        """`as_commitment` in the reader's language (English keeps its own pronoun swaps)."""
        c = self.core.c
        asking = "" if c.lang == "en" else c.t("commitment.asking")
        return as_commitment(request, asking, c.t("commitment.will"))

    def rules_card(self, chat: int) -> Msg:
        return Msg(chat, self.core.t("conflict.rules"))

    @staticmethod
    def live(conv: Conv, msg: Msg) -> Msg:
        """Mark a step's screen: once sent, its keyboard replaces the chat's previous one."""
        live = replace(msg, protect=True)  # a step's screen may show the partner's words
        return replace(live, extra={**msg.extra, "live": conv.id}) if msg.buttons else live

    async def screens(self, conn: Conn, conv: Conv) -> list[Msg]:
        names = await self.names(conn, conv)
        full_rules = conv.state == "rules" and not await self.store.couple_saw_rules(conn, conv)
        found = []
        for chat in conv.chats:  # each chat's screen in its reader's language
            async with self.core.to(conn, chat):
                found.append(await self.screen(conn, conv, names, chat, full_rules))
        return [self.live(conv, m) for m in found if m is not None]

    async def screen(
        self,
        conn: Conn,
        conv: Conv,
        names: dict[int | None, str],
        chat: int,
        full_rules: bool = False,
    ) -> Msg | None:
        """What `chat` sees for the current step (the group sees everyone's part)."""
        t, v = self.core.t, self.values(conv, names)
        group = conv.in_group
        acting = group or chat == conv.turn_holder()
        tail = self.tail(conv)
        floor = rows(self.repair(conv), tail) if conv.state in FLOOR else rows(tail)
        s = conv.state
        if s == "topic":
            if not acting:
                return None
            return Msg(chat, t("conflict.ask_topic"), rows([self.b(conv, "conflict.b_end", "en")]))
        if s == "appointment":
            if not acting:
                return Msg(chat, t("conflict.appointment_wait", **v), rows(tail))
            return Msg(
                chat,
                t("conflict.appointment_ask", **v),
                rows(
                    [
                        self.b(conv, "conflict.b_now", "ap", "now"),
                        self.b(conv, "conflict.b_later", "ap", "later"),
                    ],
                    tail,
                ),
            )
        if s == "rules":
            card = t("conflict.rules") if full_rules else t("conflict.rules_short")
            if group:
                card += "\n" + t("conflict.group_hint") if full_rules else ""
            step = "conflict.rules_choose" if acting else "conflict.rules_wait"
            text = card + "\n\n" + t(step, **v)
            rules_button = [] if full_rules else [self.b(conv, "conflict.b_rules", "ru")]
            if not acting:
                return Msg(chat, text, rows(rules_button, tail))
            first = [
                self.b(conv, "conflict.b_first", "fs", "me", name=v["initiator"]),
                self.b(conv, "conflict.b_first", "fs", "you", name=v["partner"]),
            ]
            return Msg(chat, text, rows(first, rules_button, tail))
        if s == "speaking":
            if group:
                text = t("conflict.floor_speaker_group", **v)
                text += "\n\n" + t("conflict.floor_listener", **v)
            elif acting:
                more = conv.attempt == 0  # back after "Is there more?"
                text = t("conflict.floor_more" if more else "conflict.floor_speaker", **v)
            else:
                return Msg(chat, t("conflict.floor_listener", **v), floor)
            done = self.b(conv, "conflict.b_done", "dn", name=v["listener"])
            return Msg(chat, text, rows([done], *floor))
        if s == "paraphrasing":
            key = "conflict.paraphrase" if conv.attempt == 1 else "conflict.paraphrase_again"
            return Msg(chat, t(key if acting else "conflict.paraphrase_wait", **v), floor)
        if s == "confirming":
            if not acting:
                return Msg(chat, t("conflict.confirm_wait", **v), floor)
            heard = await self.store.last_turn(conn, conv, "paraphrase")
            return Msg(
                chat,
                t("conflict.confirm", text=heard, **v),
                rows(
                    [
                        self.b(conv, "conflict.b_yes", "ok"),
                        self.b(conv, "conflict.b_not_quite", "nq"),
                    ],
                    *floor,
                ),
            )
        if s == "more":
            if not acting:
                return Msg(chat, t("conflict.more_wait", **v), floor)
            return Msg(
                chat,
                t("conflict.more", **v),
                rows(
                    [
                        self.b(conv, "conflict.b_more_yes", "mo", "more"),
                        self.b(conv, "conflict.b_more_no", "mo", "done"),
                    ],
                    *floor,
                ),
            )
        if s == "correcting":
            return Msg(
                chat, t("conflict.correct" if acting else "conflict.correct_wait", **v), floor
            )
        if s == "validating":
            if not acting:
                return Msg(chat, t("conflict.validate_wait", **v), floor)
            return Msg(
                chat,
                t("conflict.validate", **v),
                rows([self.b(conv, "conflict.b_skip", "sk")], *floor),
            )
        if s == "round_menu":
            return Msg(
                chat,
                t("conflict.round_menu", **v),
                rows(
                    [self.b(conv, "conflict.b_more", "rm", "more")],
                    [self.b(conv, "conflict.b_heard", "rm", "heard")],
                    tail,
                ),
            )
        if s == "requests":
            return await self._requests(conn, conv, names, chat)
        return None

    async def _requests(
        self, conn: Conn, conv: Conv, names: dict[int | None, str], chat: int
    ) -> Msg:
        """Exactly what the requests step still waits for, for this chat."""
        t = self.core.t
        everything = await self.store.agreements(conn, conv.id)
        tail = self.tail(conv)
        if settled(everything, (conv.initiator, conv.partner)):
            return Msg(
                chat,
                t("conflict.all_answered"),
                rows([self.b(conv, "conflict.b_finish", "fi")], tail),
            )
        if conv.in_group:
            lines = [t("conflict.requests")]
            for uid in (conv.initiator, conv.partner):
                nxt = next_to_write([a for a in everything if a.author == uid])
                if any(a.doer == uid and a.status == "willing" for a in everything):
                    nxt = "words"
                elif any(a.decider == uid and a.status == "proposed" for a in everything):
                    nxt = "answer"
                status = t(f"conflict.status_{nxt or 'done'}")
                lines.append(t("conflict.requests_group_status", name=names[uid], status=status))
            # What waits for an answer is shown again with its buttons: this screen becomes
            # the group's one live keyboard, so the request's own message loses its buttons.
            decisions: list[tuple[Button, ...]] = []
            for a in everything:
                if a.status == "proposed":
                    who, to = names[a.author], names[a.decider]
                    ask = t(f"conflict.ask_{a.kind}", name=who, partner=to, text=a.text)
                    lines.append("\n" + ask)
                    decisions += self.decision_buttons(conv, a, to or "")
            buttons = rows(
                *decisions,
                [
                    self.b(conv, "conflict.b_no_request", "nr", "request"),
                    self.b(conv, "conflict.b_no_offer", "nr", "offer"),
                ],
                tail,
            )
            return Msg(chat, "\n".join(lines), buttons)
        for a in everything:  # first what waits for this partner's own words or answer
            if a.doer == chat and a.status == "willing":
                text = t("conflict.wording", name=names[chat], suggestion=self.commitment(a.text))
                return Msg(chat, text, rows([self.ab(conv, "conflict.b_mine", "wd", a.id, "y")]))
            if a.decider == chat and a.status == "proposed":
                ask = t(
                    f"conflict.ask_{a.kind}", name=names[a.author], partner=names[chat], text=a.text
                )
                return Msg(chat, ask, self.decision_buttons(conv, a, names[chat] or ""))
        nxt = next_to_write([a for a in everything if a.author == chat])
        if nxt == "request":
            return Msg(
                chat,
                t("conflict.requests"),
                rows([self.b(conv, "conflict.b_no_request", "nr", "request")], tail),
            )
        if nxt == "offer":
            return Msg(
                chat,
                t("conflict.offer_prompt", name=names[chat]),
                rows([self.b(conv, "conflict.b_no_offer", "nr", "offer")], tail),
            )
        return Msg(chat, t("conflict.requests_done", name=names[chat]), rows(tail))

    def decision_buttons(
        self, conv: Conv, agreement: Agreement, decider: str
    ) -> tuple[tuple[Button, ...], ...]:
        request = agreement.kind == "request"
        yes, no = ("willing", "not_now") if request else ("accept", "no_need")
        if conv.in_group:  # both partners see every keyboard: say whose it is
            return rows(
                [
                    self.ab(conv, f"conflict.b_{yes}_named", "ag", agreement.id, "y", name=decider),
                    self.ab(conv, f"conflict.b_{no}_named", "ag", agreement.id, "n", name=decider),
                ]
            )
        yes_label = "conflict.b_willing" if request else "conflict.b_accept_offer"
        no_label = "conflict.b_not_now" if request else "conflict.b_no_need"
        return rows(
            [
                self.ab(conv, yes_label, "ag", agreement.id, "y"),
                self.ab(conv, no_label, "ag", agreement.id, "n"),
            ]
        )

    async def summary(self, conn: Conn, conv: Conv, agreements: list[Agreement]) -> str:
        """Each agreement in its doer's own words; a "not now" without who said it to whom."""
        t = self.core.t
        names = await self.names(conn, conv)
        agreed = [
            t("conflict.agreement_line", doer=names[a.doer], text=a.words or a.text)
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
            rounds=self.core.c.plural("plural.rounds", conv.rounds_done),
            agreements=Safe("\n\n".join(parts)),
        )
