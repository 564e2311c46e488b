"""/conflict: the feature the services container holds. It ties the pure machine
(`machine`), its SQL (`store`) and what people read (`views`) together, one
transaction per update, and answers the scheduler's sweep.

Every transition bumps `version`, which every step's buttons carry, so a press on an
older message is refused; who may press is re-checked on every press (callback data
can be forged). A conversation lives in the couple's group if it was started there;
otherwise the bot relays between the private chats, and nothing a partner writes
reaches the other without the writer's knowing choice: words written out of turn are
kept for their writer, harsh-sounding words are held for a moment (Send as it is /
Rewrite), and a speaker's bit is passed on when they press Done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from bot import schedule
from bot.conflict import machine as m
from bot.conflict.machine import Agreement, Conv, Move
from bot.conflict.nudges import NudgeMatcher, looks_like_request
from bot.conflict.store import Store
from bot.conflict.views import Views
from bot.core import Actor, Core, Safe
from bot.db import Conn
from bot.feature import Feature
from bot.messages import Button, Msg, Outcome, rows
from bot.safety import Safety
from content import all_nudges

# (conn, couple_id, doer_id, text, follow_up_at) -> promise id; see Promises.from_agreement.
AgreementSink = Callable[[Conn, int, int, str, int], Awaitable[int]]

# What a text is in each step, for `_accept` (the one place a turn is taken).
TEXT_KIND = {
    "speaking": "speak",
    "paraphrasing": "paraphrase",
    "correcting": "correction",
    "validating": "validation",
}


class Conflict(Feature):
    def __init__(
        self,
        core: Core,
        on_agreement: AgreementSink | None = None,
        safety: Safety | None = None,
    ) -> None:
        super().__init__(core)
        # Topics, turns, requests and offers are screened before they are accepted.
        self.safety = safety or Safety(core)
        self.store = Store(core)
        self.views = Views(core, self.store)
        self.nudges = NudgeMatcher(all_nudges())  # every language's phrases
        # Accepted agreements become promises, in the same transaction as the acceptance.
        self.on_agreement = on_agreement

    # -- stable entry points for other features ------------------------------------

    async def load(self, conn: Conn, conversation_id: int) -> Conv | None:
        return await self.store.load(conn, conversation_id)

    async def open_for_couple(self, conn: Conn, couple_id: int) -> Conv | None:
        return await self.store.open_for_couple(conn, couple_id)

    async def open_for_user(self, conn: Conn, user_id: int) -> Conv | None:
        return await self.store.open_for_user(conn, user_id)

    async def _one(self, conn: Conn, where: str, params: tuple) -> Conv | None:
        return await self.store.one(conn, where, params)

    async def accepted_agreements(self, conn: Conn, conversation_id: int) -> list[Agreement]:
        """What partners agreed to in a conversation, for the promises feature to follow up."""
        return await self.store.agreements(conn, conversation_id, "AND status = 'accepted'")

    async def keyboard_shown(
        self, conversation_id: int, chat_id: int, message_id: int
    ) -> int | None:
        """The edge sent a step's screen: remember it; return the keyboard it replaces."""
        async with self.core.db.tx() as conn:
            conv = await self.store.load(conn, conversation_id)
            if conv is None or chat_id not in conv.chats:
                return None
            return await self.store.keyboard_shown(conn, conv, chat_id, message_id)

    async def _clear_keyboards(self, conn: Conn, conv: Conv, key: str | None = None) -> list[int]:
        """A closed conversation leaves no live buttons behind."""
        spent = [
            Msg(chat, "", edit_message_id=mid, extra={"markup_only": True})
            for chat, mid in await self.store.live_keyboards(conn, conv)
        ]
        return await self.core.queue_all(conn, spent, key)

    async def wants_text(self, conn: Conn, actor: Actor) -> bool:
        """Whether a private conversation would take what this user types now as its own
        (a topic, a turn, a request, their own words), as opposed to answering with a
        pointer. Out-of-turn words count: they are kept for their writer."""
        conv = await self.store.open_for_user(conn, actor.user_id)
        if conv is None or conv.in_group:
            return False
        if conv.state == "topic":
            return actor.user_id == conv.initiator
        return conv.state in m.FLOOR or conv.state == "requests"

    # -- sending -------------------------------------------------------------------

    async def _emit(
        self, conn: Conn, msgs: list[Msg], out: Outcome, key: str | None = None
    ) -> Outcome:
        """Everything a step says, to anyone, is owed through the outbox in the step's own
        transaction: a crash after the commit cannot lose what the other partner needs,
        nor the actor's own next screen (a direct reply was lost that way, leaving the
        actor a spent keyboard and no step), and each chat gets it in order with what
        else it is owed. All are protected: a conversation's messages carry their words."""
        owed = [replace(each, protect=True) for each in msgs]
        out.queued += await self.core.queue_all(conn, owed, key)
        return out

    async def _private(self, conn: Conn, msg: Msg, out: Outcome, key: str | None) -> bool:
        """One message to a partner's private chat, owed like every step message (see
        `_emit`); False if `key` was used already."""
        msg = replace(msg, protect=True)
        new = await self.core.queue(conn, msg, key)
        if new is not None:
            out.queued.append(new)
        return new is not None

    async def _show(self, conn: Conn, conv: Conv, out: Outcome) -> Outcome:
        msgs = await self.views.screens(conn, conv)
        if conv.state == "rules" and not conv.rules_shown:
            await self.store.set_columns(conn, conv, rules_shown=1)
        return await self._emit(conn, msgs, out)

    async def _move(self, conn: Conn, conv: Conv, move: Move) -> Conv:
        return await self.store.move(conn, conv, move)

    async def _tz(self, conn: Conn, conv: Conv) -> str:
        return (await self.store.quiet(conn, conv)).tz

    # -- /conflict -----------------------------------------------------------------

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
            conv = await self.store.open_for_couple(conn, couple.id)
            if conv is not None:
                names = await self.views.names(conn, conv)
                where = self.views.where(conv, names)
                buttons = [
                    self.views.b(conv, "conflict.b_resume", "rs"),
                    self.views.b(conv, "conflict.b_end", "en"),
                ]
                if conv.replaceable:  # an invitation nobody took up may be replaced
                    key = "conflict.open_never_started"
                    extra = [self.views.b(conv, "conflict.b_replace", "rp")]
                else:
                    key, extra = "conflict.open_exists", []
                text = t(key, topic=conv.topic, where=where)
                # protected: the topic may be the partner's words
                return out.say(Msg(actor.chat_id, text, rows(buttons, extra), protect=True))
            topic = " ".join(topic.split())
            if len(topic) > m.TOPIC_MAX:
                return out.say(self._too_long(actor, "topic", topic, m.TOPIC_MAX))
            if topic and await self.safety.screen(conn, actor, topic, out, source="conflict"):
                return out  # held: no conversation starts on these words
            partner = couple.partner_of(actor.user_id)
            conv = await self.store.create(conn, couple.id, actor.user_id, partner, group)
            if topic:  # named at once: the same way in as a typed topic, with the same checks
                return await self._on_text(conn, conv, actor, topic, out)
            return await self._show(conn, conv, out)

    # -- text ------------------------------------------------------------------------

    async def private_text(
        self, conn: Conn, actor: Actor, text: str, out: Outcome
    ) -> Outcome | None:
        conv = await self.store.open_for_user(conn, actor.user_id)
        if conv is None or conv.in_group or conv.state in ("parked", "scheduled"):
            return None  # not ours: other features (or the /help pointer) get the text
        return await self._on_text(conn, conv, actor, text, out)

    async def group_text(self, actor: Actor, text: str) -> Outcome:
        """Any text in a group: part of the conversation if one is open there."""
        out = Outcome()
        async with self.core.db.tx() as conn:
            couple = await self.core.couple_by_group(conn, actor.chat_id)
            if couple is None or not couple.has(actor.user_id):
                return out
            conv = await self.store.open_for_couple(conn, couple.id)
            if conv is None or conv.group_chat_id != actor.chat_id:
                return out
            return await self._on_text(conn, conv, actor, text, out)

    def _wants_turn(self, conv: Conv, uid: int) -> bool:
        """Text from `uid` now would be a turn (or a topic, request, offer or own words)."""
        if conv.state == "topic":
            return uid == conv.initiator
        if conv.state in TEXT_KIND:
            return uid == conv.turn_holder()
        return conv.state == "requests"

    async def _on_text(
        self, conn: Conn, conv: Conv, actor: Actor, text: str, out: Outcome
    ) -> Outcome:
        """Every free text a conversation receives enters here (a topic named with
        /conflict too): kept if out of turn, held if it sounds harsh, else accepted. A
        screen that must see all of it (e.g. safety) belongs at the top of this method."""
        text = text.strip()
        if len(text) > m.TEXT_MAX:  # nothing goes anywhere: the writer shortens it first
            return out.say(self._too_long(actor, "text", text, m.TEXT_MAX))
        uid, s, t = actor.user_id, conv.state, self.core.t
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
            pause=self.views.b(conv, "conflict.b_timeout", "to") if s in m.BREAKABLE else None,
        ):
            return out
        names = await self.views.names(conn, conv)
        if s == "topic" and uid != conv.initiator:
            if conv.in_group:
                return out
            return out.say(
                Msg(actor.chat_id, t("conflict.topic_wait", initiator=names[conv.initiator]))
            )
        if s in m.FLOOR and uid != conv.turn_holder():
            # Out of turn: kept for its writer alone, offered back when the floor is theirs.
            await self.store.add_turn(conn, conv, uid, "kept", text)
            if conv.in_group:  # visible there all the same: a private word to the writer
                await self._group_nudge(conn, conv, actor, text, out)
            key = "conflict.out_of_turn" if s == "speaking" else "conflict.out_of_turn_wait"
            return out.say(Msg(actor.chat_id, t(key, holder=names[conv.turn_holder()])))
        if self._wants_turn(conv, uid):
            if s != "topic" and not conv.in_group and await self.core.owed_to(conn, uid):
                # The writer has not seen the latest yet (it waits for a retry, or is on
                # its way): words written without it are nobody's turn. Handed back.
                partner = names[conv.other(uid)]
                return out.say(Msg(actor.chat_id, t("conflict.behind", partner=partner, text=text)))
            if conv.in_group:
                # Already visible to both: the suggestion goes privately to the writer.
                await self._group_nudge(conn, conv, actor, text, out)
            elif self.nudges.kinds(text):
                return await self._hold(conn, conv, actor, text, out)
            return await self._accept(conn, conv, actor, text, out)
        if conv.in_group:
            return out  # in their own group the couple may just be chatting
        if s == "timeout":
            when = schedule.human(
                schedule.from_ts(conv.resume_at or 0), await self._tz(conn, conv), self.core.lang
            )
            return out.say(Msg(actor.chat_id, t("conflict.timeout_hint", when=when)))
        return out.say(Msg(actor.chat_id, t("conflict.use_buttons")))

    def _too_long(self, actor: Actor, what: str, text: str, limit: int) -> Msg:
        return Msg(
            actor.chat_id,
            self.core.t(f"conflict.too_long_{what}", length=len(text), limit=limit),
        )

    async def _hold(self, conn: Conn, conv: Conv, actor: Actor, text: str, out: Outcome) -> Outcome:
        """A message that sounds harsh waits with its writer: one suggestion, their choice."""
        for tid, _ in await self.store.turns(conn, conv, actor.user_id, "held"):
            await self.store.delete_turns(conn, [tid])  # only the newest is pending
        await self.store.add_turn(conn, conv, actor.user_id, "held", text)
        kind = self.nudges.kinds(text)[0]
        names = await self.views.names(conn, conv)

        def held() -> Msg:
            suggestion = self.nudges.suggestion(kind, self.core.c.nudges)
            if conv.state == "topic":
                body = self.core.t(
                    "conflict.held_topic",
                    partner=names[conv.other(actor.user_id)],
                    suggestion=suggestion,
                    hint=self.core.c.nudges.topic_hint,
                )
            else:
                body = self.core.t("conflict.held", name=actor.first_name, suggestion=suggestion)
            buttons = rows(
                [
                    self.views.b(conv, "conflict.b_send_anyway", "hd", "s"),
                    self.views.b(conv, "conflict.b_rewrite", "hd", "r"),
                ]
            )
            return Msg(actor.user_id, body, buttons)

        await self._private(conn, await self.core.render(conn, actor.user_id, held), out, None)
        return out

    async def _group_nudge(
        self, conn: Conn, conv: Conv, actor: Actor, text: str, out: Outcome
    ) -> None:
        """In the group the words are already visible: one private suggestion per half-turn."""
        found = self.nudges.kinds(text)
        if not found:
            return
        msg = await self.core.render(
            conn,
            actor.user_id,
            lambda: Msg(
                actor.user_id,
                self.core.t(
                    "conflict.nudge",
                    name=actor.first_name,
                    suggestion=self.nudges.suggestion(found[0], self.core.c.nudges),
                ),
            ),
        )
        key = f"conflict:{conv.id}:nudge:{actor.user_id}:{conv.round}:{conv.half}:{conv.state}"
        await self._private(conn, msg, out, key)

    async def _accept(
        self, conn: Conn, conv: Conv, actor: Actor, text: str, out: Outcome
    ) -> Outcome:
        """The one place a conversation takes a partner's text as a turn, topic, request,
        offer or own words. Screens (gentle start-up, safety) run before this."""
        uid, s, t = actor.user_id, conv.state, self.core.t
        names = await self.views.names(conn, conv)
        if s == "topic":
            topic = " ".join(text.split())
            if len(topic) > m.TOPIC_MAX:
                return out.say(self._too_long(actor, "topic", topic, m.TOPIC_MAX))
            move = Move("appointment", {"topic": topic})
            conv = await self._move(conn, conv, move)
            return await self._show(conn, conv, out)
        if s == "speaking":
            since = await self.store.last_turn_id(conn, conv, "paraphrase")
            first = not await self.store.turns(conn, conv, uid, "speak", since)
            await self.store.add_turn(conn, conv, uid, "speak", text)
            await self.store.touch(conn, conv)
            if not first:
                return out  # one live "Done" per bit: no new keyboard for every message
            key = "conflict.speak_ack_group" if conv.in_group else "conflict.speak_ack"
            ack = t(key, listener=names[conv.listener])
            screen = self.views.live(conv, Msg(actor.chat_id, ack, self._done_row(conv, names)))
            return await self._emit(conn, [screen], out)
        if s == "paraphrasing":
            await self.store.add_turn(conn, conv, uid, "paraphrase", text)
            conv = await self._move(conn, conv, Move("confirming"))
            return await self._show(conn, conv, out)
        if s == "correcting":
            await self.store.add_turn(conn, conv, uid, "correction", text)
            await self._relay(conn, conv, actor, [text], out)
            conv = await self._move(conn, conv, Move("paraphrasing", {"attempt": conv.attempt + 1}))
            return await self._show(conn, conv, out)
        if s == "validating":
            await self.store.add_turn(conn, conv, uid, "validation", text)
            await self._relay(conn, conv, actor, [text], out)
            conv = await self._move(conn, conv, m.pass_floor(conv))
            return await self._entered(conn, conv, out)
        if s == "requests":
            return await self._request_text(conn, conv, actor, text, names, out)
        return out

    def _done_row(self, conv: Conv, names: dict[int | None, str]) -> tuple[tuple[Button, ...], ...]:
        """The speaking step's keyboard: Done, the repair moves, time-out and end."""
        done = self.views.b(conv, "conflict.b_done", "dn", name=names[conv.listener])
        return rows([done], self.views.repair(conv), self.views.tail(conv))

    async def _relay(
        self, conn: Conn, conv: Conv, actor: Actor, texts: list[str], out: Outcome
    ) -> None:
        """In private mode, the partner sees what was written, in the writer's name."""
        if conv.in_group:
            return
        other = conv.other(actor.user_id)
        async with self.core.to(conn, other):
            msgs = [
                Msg(
                    other,
                    self.core.t("conflict.relay", name=actor.first_name, text=x),
                    protect=True,
                )
                for x in texts
            ]
        out.queued += await self.core.queue_all(conn, msgs)

    async def _entered(self, conn: Conn, conv: Conv, out: Outcome) -> Outcome:
        """Show the new step; when the floor passes, offer what the speaker kept."""
        await self._show(conn, conv, out)
        if conv.state != "speaking" or conv.speaker is None:
            return out
        kept = await self.store.turns(conn, conv, conv.speaker, "kept")
        if not kept:
            return out
        speaker = conv.speaker

        def offer() -> Msg:
            lines = Safe(
                "\n".join(f"• {self.core.t('conflict.relay_plain', text=x)}" for _, x in kept)
            )
            buttons = rows(
                [
                    self.views.b(conv, "conflict.b_use", "kp", "u"),
                    self.views.b(conv, "conflict.b_edit", "kp", "e"),
                    self.views.b(conv, "conflict.b_drop", "kp", "d"),
                ]
            )
            return Msg(speaker, self.core.t("conflict.kept_offer", lines=lines), buttons)

        msg = await self.core.render(conn, speaker, offer)
        return await self._emit(conn, [msg], out)

    async def _request_text(
        self,
        conn: Conn,
        conv: Conv,
        actor: Actor,
        text: str,
        names: dict[int | None, str],
        out: Outcome,
    ) -> Outcome:
        uid, t = actor.user_id, self.core.t
        if len(text) > m.AGREEMENT_MAX:  # four of them must fit in one summary message
            return out.say(self._too_long(actor, "request", text, m.AGREEMENT_MAX))
        partner = conv.other(uid)
        everything = await self.store.agreements(conn, conv.id)
        wording = [a for a in everything if a.doer == uid and a.status == "willing"]
        if wording:
            return await self._commit(conn, conv, actor, wording[0], text, out)
        kind = m.next_to_write([a for a in everything if a.author == uid])
        if kind is None:
            return out.say(Msg(actor.chat_id, t("conflict.requests_done", name=names[uid])))
        if kind == "request" and not looks_like_request(text):
            returned = await self.store.turns(conn, conv, uid, "returned")
            if not returned:  # turned back once, gently; the second time it stands
                await self.store.add_turn(conn, conv, uid, "returned", text)
                buttons = rows([self.views.b(conv, "conflict.b_no_request", "nr", "request")])
                hint = t(
                    "conflict.not_a_request", kind=t("conflict.kind_vague"), partner=names[partner]
                )
                return out.say(Msg(actor.chat_id, hint, buttons))
        aid = await self.store.add_agreement(conn, conv, kind, uid, text)
        await self.store.touch(conn, conv)
        agreement = (await self.store.agreements(conn, conv.id, "AND id = ?", (aid,)))[0]
        where = conv.group_chat_id if conv.in_group else partner
        assert where is not None
        ask = await self.core.render(
            conn,
            where,
            lambda: Msg(
                where,
                t(f"conflict.ask_{kind}", name=names[uid], partner=names[partner], text=text),
                self.views.decision_buttons(conv, agreement, names[partner]),
            ),
        )
        msgs = [ask]
        follow = await self._requests_next(conn, conv, uid)
        if follow is not None:
            msgs.append(follow)
        return await self._emit(conn, msgs, out)

    async def _requests_next(self, conn: Conn, conv: Conv, uid: int) -> Msg | None:
        """What `uid` is asked next in private mode (the group's screen is shared)."""
        if conv.in_group:
            return None
        names = await self.views.names(conn, conv)
        screen = await self.views.screen(conn, conv, names, uid)
        return self.views.live(conv, screen) if screen else None

    async def _commit(
        self,
        conn: Conn,
        conv: Conv,
        actor: Actor,
        agreement: Agreement,
        words: str,
        out: Outcome,
    ) -> Outcome:
        """The doer's own words for a request they were willing to do: now a promise."""
        now = self.core.now()
        words = " ".join(words.split())
        if len(words) > m.AGREEMENT_MAX:
            return out.say(self._too_long(actor, "request", words, m.AGREEMENT_MAX))
        await self.store.set_agreement(
            conn, agreement.id, "accepted", words=words, follow_up_at=now + m.FOLLOW_UP_AFTER
        )
        if self.on_agreement is not None:
            await self.on_agreement(
                conn, conv.couple_id, agreement.doer, words, now + m.FOLLOW_UP_AFTER
            )
        await self.store.touch(conn, conv)
        said = await self.views.everyone(
            conn, conv, lambda: self.core.t("conflict.committed", name=actor.first_name, text=words)
        )
        await self._emit(conn, said, out)
        return await self._after_decision(conn, conv, out)

    async def _after_decision(self, conn: Conn, conv: Conv, out: Outcome) -> Outcome:
        everything = await self.store.agreements(conn, conv.id)
        if m.settled(everything, (conv.initiator, conv.partner)):
            return await self._show(conn, conv, out)
        return out

    # -- presses -------------------------------------------------------------------

    async def press(
        self,
        actor: Actor,
        action: str,
        conversation_id: int | None,
        number: int | None,
        arg: str,
        message_id: int | None = None,
    ) -> Outcome:
        """A button on a conversation; `number` is the version (an agreement id for 'ag');
        `message_id` the message pressed, whose keyboard the edge takes away if spent."""
        out = Outcome()
        t = self.core.t
        async with self.core.db.tx() as conn:
            conv = await self.store.load(conn, conversation_id) if conversation_id else None
            if conv is None or not conv.has(actor.user_id):
                out.toast, out.alert = t("common.not_yours"), True
                return out
            if action in ("ag", "wd"):
                out = await self._decide(conn, conv, actor, action, number, arg, out)
            else:
                problem = m.refusal(conv, actor.user_id, action, number)
                if problem is not None:
                    names = await self.views.names(conn, conv)
                    out.toast = t(problem, name=names[conv.paused_by])
                    out.alert = problem == "common.not_yours"
                    return out
                before = conv.version
                out = await self._pressed(conn, conv, actor, action, arg, out)
                after = await self.store.load(conn, conv.id)
                # A press that moved the conversation on: its keyboard is spent, clear it.
                out.clear_markup = out.clear_markup or after is None or after.version != before
            if out.clear_markup and message_id is not None:
                await self.store.keyboard_spent(conn, conv, actor.chat_id, message_id)
            return out

    async def _pressed(
        self,
        conn: Conn,
        conv: Conv,
        actor: Actor,
        action: str,
        arg: str,
        out: Outcome,
    ) -> Outcome:
        t, _uid, v = self.core.t, actor.user_id, self.views
        if action == "ap":
            if arg == "now":
                return await self._go(conn, conv, Move("rules"), out)
            if arg == "later":
                return await self._pick(conn, conv, actor, "ap", "conflict.later_pick", out)
            return await self._schedule(conn, conv, arg, out)
        if action == "fs":
            return await self._go(conn, conv, m.first_speaker(conv, arg), out)
        if action == "dn":
            return await self._done(conn, conv, actor, out)
        if action == "kp":
            return await self._kept_choice(conn, conv, actor, arg, out)
        if action == "ok":
            return await self._go(conn, conv, m.paraphrase_confirmed(conv), out)
        if action == "nq":
            return await self._go(conn, conv, Move("correcting"), out)
        if action == "mo":
            return await self._go(conn, conv, m.more_or_done(conv, arg), out)
        if action == "sk":
            return await self._go(conn, conv, m.pass_floor(conv), out)
        if action == "rm":
            return await self._round_menu(conn, conv, actor, arg, out)
        if action == "nr":
            return await self._no_request(conn, conv, actor, arg, out)
        if action == "fi":
            return await self._finish(conn, conv, out)
        if action == "sl":
            return await self._slow_down(conn, conv, actor, out)
        if action == "sr":
            return await self._try_again(conn, conv, actor, out)
        if action == "hd":
            return await self._held_choice(conn, conv, actor, arg, out)
        if action == "to":
            return await self._pick(conn, conv, actor, "tt", "conflict.timeout_pick", out)
        if action == "tt":
            return await self._break(conn, conv, actor, arg, out)
        if action == "ak":
            return await self._ask_ready(conn, conv, actor, out)
        if action == "en":
            sure = [v.b(conv, "conflict.b_end_yes", "ey"), v.b(conv, "conflict.b_end_no", "ek")]
            return out.say(Msg(actor.chat_id, t("conflict.end_ask"), rows(sure)))
        if action == "ek":
            return out.say(Msg(actor.chat_id, t("conflict.end_kept")))
        if action == "ey":
            return await self._end(conn, conv, actor, out)
        if action == "ru":
            return out.say(v.rules_card(actor.chat_id))
        if action == "rp":
            return await self._replace(conn, conv, actor, out)
        # "rs": bring a paused conversation back, or show exactly where an active one stands.
        if conv.state in m.WAITING:
            return await self._resume(conn, conv, out, None)
        names = await v.names(conn, conv)
        chat = actor.chat_id if not conv.in_group else conv.group_chat_id
        assert chat is not None
        screen = await v.screen(conn, conv, names, chat)
        if screen is None:
            return out
        # In a group the other partner reads it too: owed, like every group screen.
        return await self._emit(conn, [v.live(conv, screen)], out)

    async def _pick(
        self,
        conn: Conn,
        conv: Conv,
        actor: Actor,
        action: str,
        question: str,
        out: Outcome,
    ) -> Outcome:
        """When to talk ('ap') or to come back ('tt'): the times outside quiet hours."""
        choices = m.LATER_CHOICES if action == "ap" else m.BREAK_CHOICES
        codes = m.offered(choices, self.core.clock.now(), await self.store.quiet(conn, conv))
        buttons = [self.views.b(conv, m.CHOICE_LABELS[c], action, c) for c in codes]
        text = self.core.t(question)
        return out.say(Msg(actor.chat_id, text, rows(buttons[:2], buttons[2:])))

    async def _go(
        self,
        conn: Conn,
        conv: Conv,
        move: Move | None,
        out: Outcome,
    ) -> Outcome:
        """Make a pressed transition and show where it leads; None: an argument the step
        does not know (a forged press), refused as stale."""
        if move is None:
            out.toast = self.core.t("conflict.stale")
            return out
        conv = await self._move(conn, conv, move)
        return await self._entered(conn, conv, out)

    async def _done(self, conn: Conn, conv: Conv, actor: Actor, out: Outcome) -> Outcome:
        """The speaker's bit is complete: passed on now (private mode), then repeated back."""
        since = await self.store.last_turn_id(conn, conv, "paraphrase")
        said = await self.store.turns(conn, conv, actor.user_id, "speak", since)
        move = m.done_speaking(conv, bool(said))
        if isinstance(move, str):
            out.toast = self.core.t(move)
            return out
        await self._relay(conn, conv, actor, [x for _, x in said], out)
        conv = await self._move(conn, conv, move)
        return await self._show(conn, conv, out)

    async def _kept_choice(
        self, conn: Conn, conv: Conv, actor: Actor, arg: str, out: Outcome
    ) -> Outcome:
        """Use it / Edit / Drop for what the new speaker wrote while listening."""
        t = self.core.t
        kept = await self.store.turns(conn, conv, actor.user_id, "kept")
        if not kept or arg not in ("u", "e", "d"):
            out.toast = t("conflict.stale")
            return out
        names = await self.views.names(conn, conv)
        partner = names[conv.other(actor.user_id)]
        await self.store.delete_turns(conn, [tid for tid, _ in kept])
        texts = [x for _, x in kept]
        if arg == "u":
            for x in texts:  # fresh turns: part of this bit, passed on with Done
                await self.store.add_turn(conn, conv, actor.user_id, "speak", x)
            await self.store.touch(conn, conv)
            if conv.in_group:
                async with self.core.to(conn, conv.chats[0]):
                    msgs = [Msg(conv.chats[0], t("conflict.kept_used", name=actor.first_name))]
                    msgs += [
                        Msg(conv.chats[0], t("conflict.relay", name=actor.first_name, text=x))
                        for x in texts
                    ]
                await self._emit(conn, msgs, out)
            where = conv.chats[0] if conv.in_group else actor.user_id
            async with self.core.to(conn, where):
                ack = t("conflict.speak_ack", listener=partner)
                msg = self.views.live(conv, Msg(where, ack, self._done_row(conv, names)))
            await self._emit(conn, [msg], out)
            out.clear_markup = True
            return out
        async with self.core.to(conn, actor.user_id):
            if arg == "e":
                lines = Safe("\n".join(t("conflict.relay_plain", text=x) for x in texts))
                msg = Msg(actor.user_id, t("conflict.kept_edit", lines=lines, partner=partner))
            else:
                msg = Msg(actor.user_id, t("conflict.kept_dropped", partner=partner))
        await self._private(conn, msg, out, None)
        out.clear_markup = True
        return out

    async def _held_choice(
        self, conn: Conn, conv: Conv, actor: Actor, arg: str, out: Outcome
    ) -> Outcome:
        """Send as it is / Rewrite for a message held by the gentle start-up check."""
        held = await self.store.turns(conn, conv, actor.user_id, "held")
        if not held or arg not in ("s", "r"):
            out.toast = self.core.t("conflict.stale")
            return out
        await self.store.delete_turns(conn, [tid for tid, _ in held])
        if arg == "r":
            out.clear_markup = True
            return out.say(Msg(actor.chat_id, self.core.t("conflict.rewrite")))
        if not self._wants_turn(conv, actor.user_id):
            out.toast = self.core.t("conflict.stale")
            return out
        out.clear_markup = True
        return await self._accept(conn, conv, actor, held[-1][1], out)

    async def _slow_down(self, conn: Conn, conv: Conv, actor: Actor, out: Outcome) -> Outcome:
        """Repair: a one-line private signal to the partner, once per step."""
        other = conv.other(actor.user_id)
        names = await self.views.names(conn, conv)
        msg = await self.core.render(
            conn,
            other,
            lambda: Msg(other, self.core.t("conflict.slow_down", name=actor.first_name)),
        )
        key = f"conflict:{conv.id}:slow:{actor.user_id}:{conv.version}"
        sent = await self._private(conn, msg, out, key)
        label = "conflict.slow_sent" if sent else "conflict.slow_sent_already"
        out.toast = self.core.t(label, partner=names[other])
        return out

    async def _try_again(self, conn: Conn, conv: Conv, actor: Actor, out: Outcome) -> Outcome:
        """Repair: take back one's last words at this step, and say them again."""
        t, uid = self.core.t, actor.user_id
        what = m.try_again(conv, uid)
        names = await self.views.names(conn, conv)
        partner = names[conv.other(uid)]
        if what == "speak":
            since = await self.store.last_turn_id(conn, conv, "paraphrase")
            said = await self.store.turns(conn, conv, uid, "speak", since)
            if said:
                await self.store.set_kind(conn, [said[-1][0]], "withdrawn", conv.round)
                if conv.in_group:
                    news = await self.views.everyone(
                        conn, conv, lambda: t("conflict.withdrawn_group", name=actor.first_name)
                    )
                    return await self._emit(conn, news, out)
                taken_back = Msg(actor.chat_id, t("conflict.withdrawn_private", partner=partner))
                return await self._emit(conn, [taken_back], out)
        if what == "paraphrase":
            last = await self.store.last_turn_id(conn, conv, "paraphrase")
            await self.store.set_kind(conn, [last], "withdrawn", conv.round)
            conv = await self._move(conn, conv, Move("paraphrasing", {"attempt": conv.attempt}))
            news = await self.views.everyone(
                conn, conv, lambda: t("conflict.withdrawn_paraphrase", name=actor.first_name)
            )
            await self._emit(conn, news, out)
            return await self._show(conn, conv, out)
        out.toast = t("conflict.nothing_to_withdraw")
        return out

    async def _schedule(self, conn: Conn, conv: Conv, code: str, out: Outcome) -> Outcome:
        quiet = await self.store.quiet(conn, conv)
        tz = quiet.tz
        now = self.core.clock.now()
        until = m.break_until(code, now, quiet) if code in m.LATER_CHOICES else None
        if until is None:
            out.toast = self.core.t("conflict.stale")
            return out
        conv = await self._move(conn, conv, Move("scheduled", {"resume_at": schedule.ts(until)}))
        said = await self.views.everyone(
            conn,
            conv,
            lambda: self.core.t(
                "conflict.scheduled",
                topic=conv.topic,
                when=schedule.human(until, tz, self.core.lang),
            ),
        )
        return await self._emit(conn, said, out)

    async def _break(
        self, conn: Conn, conv: Conv, actor: Actor, code: str, out: Outcome
    ) -> Outcome:
        """A time-out is its caller's; the other may only propose a later return."""
        t = self.core.t
        quiet = await self.store.quiet(conn, conv)
        tz = quiet.tz
        now = self.core.clock.now()
        until = m.break_until(code, now, quiet) if code in m.BREAK_CHOICES else None
        if until is None:
            out.toast = t("conflict.stale")
            return out
        moved = conv.state == "timeout"
        move = m.take_break(conv, actor.user_id, schedule.ts(until))
        if isinstance(move, str):
            out.toast = t(move)
            return out
        conv = await self._move(conn, conv, move)
        names = await self.views.names(conn, conv)
        caller = conv.paused_by
        assert caller is not None
        msgs = []
        for chat in conv.chats:  # each reader's own language
            async with self.core.to(conn, chat):
                text = t(
                    "conflict.timeout_moved" if moved else "conflict.timeout_set",
                    name=actor.first_name,
                    when=schedule.human(until, tz, self.core.lang),
                )
                back = self.views.b(conv, "conflict.b_back_now", "rs")
                ask = self.views.b(conv, "conflict.b_ask_ready", "ak", name=names[caller])
                other_time = self.views.b(conv, "conflict.b_other_time", "to")
                if conv.in_group:
                    buttons = rows([back, ask], [other_time])
                elif chat == caller:
                    buttons = rows([back, other_time])
                else:
                    buttons = rows([ask, other_time])
                msgs.append(self.views.live(conv, Msg(chat, text, buttons)))
        await self._emit(conn, msgs, out)
        if not moved:  # one short self-soothing idea, for the one who needed the break
            soothe = await self.core.render(conn, caller, lambda: Msg(caller, t("conflict.soothe")))
            await self._private(conn, soothe, out, f"conflict:{conv.id}:soothe:{conv.version}")
        return out

    async def _ask_ready(self, conn: Conn, conv: Conv, actor: Actor, out: Outcome) -> Outcome:
        """The other partner may ask whether the caller is ready; never end the break."""
        caller = conv.paused_by
        assert caller is not None
        names = await self.views.names(conn, conv)
        tz = await self._tz(conn, conv)
        msg = await self.core.render(
            conn,
            caller,
            lambda: Msg(
                caller,
                self.core.t(
                    "conflict.ready_ask",
                    name=actor.first_name,
                    when=schedule.human(schedule.from_ts(conv.resume_at or 0), tz, self.core.lang),
                ),
                rows([self.views.b(conv, "conflict.b_back_now", "rs")]),
            ),
        )
        sent = await self._private(conn, msg, out, f"conflict:{conv.id}:ready:{conv.version}")
        label = "conflict.ready_asked" if sent else "conflict.ready_asked_already"
        out.toast = self.core.t(label, name=names[caller])
        return out

    async def _resume(
        self,
        conn: Conn,
        conv: Conv,
        out: Outcome,
        key: str | None,
    ) -> Outcome:
        """Back from a break, a park or the agreed appointment, with a one-line recap."""
        names = await self.views.names(conn, conv)
        before = conv

        def recap() -> str:
            if before.state == "scheduled":
                return self.core.t("conflict.appointment_time", topic=before.topic)
            return self.core.t(
                "conflict.recap",
                topic=before.topic,
                round=before.round,
                where=self.views.where(before, names),
            )

        conv = await self._move(conn, conv, m.resume(conv))
        msgs = await self.views.everyone(conn, conv, recap) + await self.views.screens(conn, conv)
        if conv.state == "rules" and not conv.rules_shown:
            await self.store.set_columns(conn, conv, rules_shown=1)
        return await self._emit(conn, msgs, out, key)

    async def partner_unreachable(self, user_id: int) -> list[int]:
        """`user_id` blocked the bot (Telegram said so, or refused a send): their open
        private conversation ends, since what they were sent is lost and resuming would
        ask them to answer words they never got, and the other partner is told the
        truth. Returns the new outbox ids."""
        async with self.core.db.tx() as conn:
            conv = await self.store.open_for_user(conn, user_id)
            if conv is None or conv.in_group:
                return []
            now = self.core.now()
            conv = await self._move(conn, conv, Move("ended", {"closed_at": now}))
            queued = await self._clear_keyboards(conn, conv)
            other = conv.other(user_id)
            names = await self.views.names(conn, conv)
            told = await self.core.render(
                conn,
                other,
                lambda: Msg(
                    other,
                    self.core.t(
                        "conflict.partner_unreachable", name=names[user_id], topic=conv.topic
                    ),
                    protect=True,
                ),
            )
            return queued + await self.core.queue_all(conn, [told])

    async def moved(self, conn: Conn, conversation_id: int) -> list[int]:
        """The conversation moved with its couple's group (bot/pairing.py, `_set_group`):
        its step is shown where it now is, with a line saying so, so nobody waits on a
        step they cannot see. A paused one shows when it resumes; one still being named
        is shown to its initiator alone (the partner has not been asked into it)."""
        conv = await self.store.load(conn, conversation_id)
        if conv is None or conv.state in m.WAITING or conv.state in m.FINAL:
            return []
        told: list[Msg] = []
        if conv.state != "topic":
            names = await self.views.names(conn, conv)
            told = await self.views.everyone(
                conn,
                conv,
                lambda: self.core.t(
                    "conflict.moved",
                    topic=conv.topic,
                    round=conv.round,
                    where=self.views.where(conv, names),
                ),
            )
        out = await self._emit(conn, told + await self.views.screens(conn, conv), Outcome())
        return out.queued

    async def _round_menu(
        self, conn: Conn, conv: Conv, actor: Actor, arg: str, out: Outcome
    ) -> Outcome:
        uid, t = actor.user_id, self.core.t
        if arg == "more":
            conv = await self._move(conn, conv, m.another_round(conv))
            return await self._entered(conn, conv, out)
        if arg != "heard":
            out.toast = t("conflict.stale")
            return out
        if conv.heard_by == uid:
            out.toast = t("conflict.heard_already")
            return out
        if conv.heard_by is None:
            await self.store.set_columns(conn, conv, heard_by=uid)
            await self.store.touch(conn, conv)
            names = await self.views.names(conn, conv)
            said = await self.views.everyone(
                conn,
                conv,
                lambda: t("conflict.heard_vote", name=names[uid], partner=names[conv.other(uid)]),
            )
            return await self._emit(conn, said, out)
        conv = await self._move(conn, conv, Move("requests", {"heard_by": None}))
        return await self._show(conn, conv, out)

    async def _no_request(
        self, conn: Conn, conv: Conv, actor: Actor, arg: str, out: Outcome
    ) -> Outcome:
        """ "I have no request" / "Nothing to offer": one tap, recorded as such."""
        uid = actor.user_id
        mine = await self.store.agreements(conn, conv.id, "AND author = ?", (uid,))
        if arg not in ("request", "offer") or m.next_to_write(mine) != arg:
            out.toast = self.core.t("conflict.stale")
            return out
        await self.store.add_agreement(conn, conv, arg, uid, "", status="none")
        await self.store.touch(conn, conv)
        msgs = await self.views.everyone(
            conn, conv, lambda: self.core.t(f"conflict.no_{arg}", name=actor.first_name)
        )
        follow = await self._requests_next(conn, conv, uid)
        if follow is not None:
            msgs.append(follow)
        await self._emit(conn, msgs, out)
        return await self._after_decision(conn, conv, out)

    async def _decide(
        self,
        conn: Conn,
        conv: Conv,
        actor: Actor,
        action: str,
        agreement_id: int | None,
        arg: str,
        out: Outcome,
    ) -> Outcome:
        """I'm willing / Not this time / Yes, please / No need (ag), or "Yes, that's mine" (wd)."""
        t = self.core.t
        found = await self.store.agreements(conn, conv.id, "AND id = ?", (agreement_id or 0,))
        if conv.state != "requests" or not found:
            out.toast = t("conflict.stale")
            return out
        agreement = found[0]
        if action == "wd":
            if agreement.status != "willing" or arg != "y":
                out.toast = t("conflict.stale")
                return out
            if agreement.doer != actor.user_id:
                out.toast = t("conflict.not_your_turn")
                return out
            out.clear_markup = True
            return await self._commit(
                conn, conv, actor, agreement, self.views.commitment(agreement.text), out
            )
        status = m.decision(agreement, actor.user_id, arg)
        if status is None:
            mine = actor.user_id == agreement.decider
            out.toast = t("conflict.stale" if mine else "conflict.not_your_turn")
            return out
        out.clear_markup = True
        now = self.core.now()
        names = await self.views.names(conn, conv)
        if status == "declined":
            await self.store.set_agreement(conn, agreement.id, "declined")
            await self.store.touch(conn, conv)
            msgs = []
            for chat in conv.chats:
                async with self.core.to(conn, chat):
                    text = t("conflict.declined", text=agreement.text)
                    change = rows(
                        [self.views.ab(conv, "conflict.b_changed_mind", "ag", agreement.id, "y")]
                    )
                    mine = chat in (actor.user_id, conv.group_chat_id)
                    msgs.append(Msg(chat, text, change if mine else ()))
            await self._emit(conn, msgs, out)
            return await self._after_decision(conn, conv, out)
        if status == "accepted":  # an offer: already in its doer's own words
            await self.store.set_agreement(
                conn, agreement.id, "accepted", follow_up_at=now + m.FOLLOW_UP_AFTER
            )
            if self.on_agreement is not None:
                await self.on_agreement(
                    conn, conv.couple_id, agreement.doer, agreement.text, now + m.FOLLOW_UP_AFTER
                )
            await self.store.touch(conn, conv)
            said = await self.views.everyone(
                conn, conv, lambda: t("conflict.offer_welcome", text=agreement.text)
            )
            await self._emit(conn, said, out)
            return await self._after_decision(conn, conv, out)
        # willing: the doer now says it in their own words, from a prefilled suggestion
        await self.store.set_agreement(conn, agreement.id, "willing")
        await self.store.touch(conn, conv)
        doer = agreement.doer
        to_doer = conv.chats[0] if conv.in_group else doer
        ask = await self.core.render(
            conn,
            to_doer,
            lambda: Msg(
                to_doer,
                t(
                    "conflict.wording",
                    name=names[doer],
                    suggestion=self.views.commitment(agreement.text),
                ),
                rows([self.views.ab(conv, "conflict.b_mine", "wd", agreement.id, "y")]),
            ),
        )
        others = []
        for chat in conv.chats:
            if chat != doer or conv.in_group:
                async with self.core.to(conn, chat):
                    others.append(Msg(chat, t("conflict.willing", name=names[doer])))
        return await self._emit(conn, [*others, ask], out)

    async def _finish(self, conn: Conn, conv: Conv, out: Outcome) -> Outcome:
        everything = await self.store.agreements(conn, conv.id)
        if not m.settled(everything, (conv.initiator, conv.partner)):
            out.toast = self.core.t("conflict.stale")
            return out
        conv = await self._move(conn, conv, Move("closed", {"closed_at": self.core.now()}))
        out.queued += await self._clear_keyboards(conn, conv)
        said = await self.views.everyone(
            conn, conv, lambda: self.views.summary(conn, conv, everything)
        )
        return await self._emit(conn, said, out)

    async def _end(self, conn: Conn, conv: Conv, actor: Actor, out: Outcome) -> Outcome:
        agreements = [
            a
            for a in await self.store.agreements(conn, conv.id)
            if a.status in ("accepted", "declined")
        ]
        move = Move("ended", {"closed_at": self.core.now(), "ended_by": actor.user_id})
        conv = await self._move(conn, conv, move)
        out.queued += await self._clear_keyboards(conn, conv)
        ended = conv

        async def text() -> str:
            said = self.core.t(
                "conflict.ended",
                name=actor.first_name,
                topic=ended.topic,
                rounds=self.core.c.plural("plural.rounds", ended.rounds_done),
            )
            if agreements:
                said += "\n\n" + await self.views.summary(conn, ended, agreements)
            return said

        said = await self.views.everyone(conn, conv, text)
        return await self._emit(conn, said, out)

    async def _replace(self, conn: Conn, conv: Conv, actor: Actor, out: Outcome) -> Outcome:
        """A conversation that never began gives way to a new one, with a word to both."""
        if not conv.replaceable:
            out.toast = self.core.t("conflict.stale")
            return out
        move = Move("ended", {"closed_at": self.core.now(), "ended_by": actor.user_id})
        old = await self._move(conn, conv, move)
        out.queued += await self._clear_keyboards(conn, old)
        said = await self.views.everyone(
            conn, old, lambda: self.core.t("conflict.replaced", topic=old.topic)
        )
        await self._emit(conn, said, out)
        couple = await self.core.couple_by_id(conn, conv.couple_id)
        assert couple is not None
        group = actor.chat_id if not actor.private else None
        new = await self.store.create(
            conn, couple.id, actor.user_id, couple.partner_of(actor.user_id), group
        )
        return await self._show(conn, new, out)

    # -- time ------------------------------------------------------------------------

    async def sweep(self) -> list[int]:
        """Appointments and breaks that are over, idle turns and quiet conversations."""
        queued: list[int] = []
        now = self.core.now()
        for cid in await self.store.due("resume_at", ("timeout", "scheduled")):
            async with self.core.db.tx() as conn:
                conv = await self.store.load(conn, cid)
                if (
                    conv is None
                    or conv.state not in ("timeout", "scheduled")
                    or (conv.resume_at or now + 1) > now
                ):
                    continue
                out = await self._resume(
                    conn, conv, Outcome(), f"conflict:{cid}:resume:{conv.version}"
                )
                queued += out.queued
        for cid in await self.store.due("park_at", m.ACTIVE):
            async with self.core.db.tx() as conn:
                conv = await self.store.load(conn, cid)
                if conv is None or conv.state not in m.ACTIVE or (conv.park_at or now + 1) > now:
                    continue
                key = f"conflict:{cid}:park:{conv.version}"
                if conv.state == "topic":
                    # Never named, so the partner never heard of it: put aside, quietly.
                    conv = await self._move(conn, conv, Move("ended", {"closed_at": now}))
                    queued += await self._clear_keyboards(conn, conv, f"{key}:keyboards")
                    who = conv.initiator
                    async with self.core.to(conn, who):
                        msg = Msg(who, self.core.t("conflict.unnamed"), protect=True)
                    queued += await self.core.queue_all(conn, [msg], key)
                    continue
                created = await self.store.created_at(conn, conv)
                conv = await self._move(conn, conv, m.park(conv, now, created))
                label = "conflict.parked_unstarted" if conv.never_started else "conflict.parked"
                topic = conv.topic
                said = await self.views.everyone(conn, conv, label, topic=topic)
                queued += await self.core.queue_all(conn, said, key)
        for cid in await self.store.due("park_at", ("parked",)):
            # Parked before it ever started, for a week: closed, kindly, for both.
            async with self.core.db.tx() as conn:
                conv = await self.store.load(conn, cid)
                if conv is None or conv.state != "parked" or (conv.park_at or now + 1) > now:
                    continue
                key = f"conflict:{cid}:expired"
                conv = await self._move(conn, conv, Move("ended", {"closed_at": now}))
                queued += await self._clear_keyboards(conn, conv, f"{key}:keyboards")
                topic = conv.topic
                said = await self.views.everyone(conn, conv, "conflict.expired", topic=topic)
                queued += await self.core.queue_all(conn, said, key)
        for cid in await self.store.due("idle_nudge_at", m.FLOOR):
            async with self.core.db.tx() as conn:
                conv = await self.store.load(conn, cid)
                if (
                    conv is None
                    or conv.state not in m.FLOOR
                    or (conv.idle_nudge_at or now + 1) > now
                ):
                    continue
                await self.store.set_columns(conn, conv, idle_nudge_at=None)
                holder = conv.turn_holder()
                if holder is None:
                    continue
                async with self.core.to(conn, holder):
                    name = await self.core.first_name(conn, holder)
                    text = self.core.t("conflict.idle_nudge", name=name, topic=conv.topic)
                    msg = Msg(holder, text, protect=True)
                queued += await self.core.queue_all(
                    conn, [msg], f"conflict:{cid}:idle:{conv.version}"
                )
        return queued
