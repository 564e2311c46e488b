"""Helpers every handler uses: who is acting, and how the core's messages are sent."""

from __future__ import annotations

import asyncio
import html
import logging
from contextlib import suppress
from dataclasses import replace
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import ContextTypes

from bot.core import Actor, ChatInspector
from bot.messages import TAG, Button, Msg, Outcome, split_message
from bot.outbox import Owed
from bot.services import Services

log = logging.getLogger(__name__)

OUTAGE_AFTER = 2  # network failures in a row, in one drain, that end it (see flush)


def svc(context: ContextTypes.DEFAULT_TYPE) -> Services:
    services: Services = context.bot_data["services"]
    return services


def actor_of(update: Update) -> Actor:
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None
    return Actor(
        user.id, user.first_name or "there", chat.id, chat.type == "private", user.language_code
    )


def command_args(context: ContextTypes.DEFAULT_TYPE) -> str:
    return " ".join(context.args or []).strip()


def message_id_of(update: Update) -> int | None:
    query = update.callback_query
    if query is not None and isinstance(query.message, Message):
        return query.message.message_id
    return None


def plain(text: str) -> str:
    """Core texts are Telegram HTML (user values escaped); button labels and toasts are
    shown as plain text, so their entities are turned back into characters here."""
    return html.unescape(text)


def _button(b: Button) -> InlineKeyboardButton:
    label = plain(b.text)
    if b.url:
        return InlineKeyboardButton(label, url=b.url)
    if b.share:
        from urllib.parse import quote

        return InlineKeyboardButton(label, url=f"https://t.me/share/url?url={quote(b.share)}")
    return InlineKeyboardButton(label, callback_data=b.data)


def markup(msg: Msg) -> InlineKeyboardMarkup | None:
    if not msg.buttons:
        return None
    return InlineKeyboardMarkup([[_button(b) for b in row] for row in msg.buttons])


async def send(bot: Bot, msg: Msg) -> int | None:
    """One core message as one Bot API call; returns the id of the message it made."""
    kwargs: dict[str, Any] = {"reply_markup": markup(msg)}
    if msg.edit_message_id is not None and msg.extra.get("markup_only"):
        # Only the keyboard changes (e.g. a spent step's buttons are taken away).
        with suppress(BadRequest):  # already gone, or too old to edit: nothing to change
            await bot.edit_message_reply_markup(
                chat_id=msg.chat_id, message_id=msg.edit_message_id, **kwargs
            )
        return None
    if msg.edit_message_id is not None:
        try:
            await bot.edit_message_text(
                msg.text, chat_id=msg.chat_id, message_id=msg.edit_message_id, **kwargs
            )
            return msg.edit_message_id
        except BadRequest as exc:
            # "message is not modified" or too old to edit: send it fresh instead.
            if "not modified" in str(exc).lower():
                return msg.edit_message_id
    sent: Message
    if msg.photo is not None:
        sent = await bot.send_photo(
            msg.chat_id, msg.photo, caption=msg.text or None, protect_content=msg.protect, **kwargs
        )
    elif msg.document is not None:
        sent = await bot.send_document(
            msg.chat_id,
            msg.document,
            filename=msg.filename,
            caption=msg.text or None,
            protect_content=msg.protect,
            **kwargs,
        )
    else:
        sent = await bot.send_message(msg.chat_id, msg.text, protect_content=msg.protect, **kwargs)
    return sent.message_id


async def shown(bot: Bot, services: Services, msg: Msg, message_id: int | None) -> None:
    """After a step's screen is sent: the feature remembers it as the chat's live keyboard,
    and the keyboard it replaces is taken away (one live keyboard per step)."""
    live = msg.extra.get("live")
    if live is None or message_id is None:
        return
    spent = await services.conflict.keyboard_shown(int(live), msg.chat_id, message_id)
    if spent is not None:
        with suppress(BadRequest):  # already gone, or too old to edit
            await bot.edit_message_reply_markup(chat_id=msg.chat_id, message_id=spent)


async def deliver(update: Update, context: ContextTypes.DEFAULT_TYPE, out: Outcome) -> None:
    """Answer the press, then send the replies and what the operation queued, in the
    order it made them (`Outcome.reply_after`).

    A reply to a group is checked like an owed send (`_group_unsafe`): a stranger the
    bot never saw join (its update lost with a crashed process, or no admin rights) must
    not read a couple's reply either; their group is unlinked instead and told why."""
    query = update.callback_query
    if query is not None:
        await query.answer(plain(out.toast) if out.toast else None, show_alert=out.alert)
    services = svc(context)
    queued = list(out.queued)
    safe: dict[int, bool] = {}
    done = 0  # how many of `queued` went out already, in order with the replies
    try:
        for msg, after in zip(out.reply, out.reply_after, strict=True):
            if after > done:  # what the operation owed before this reply goes first
                await flush(context.bot, services, queued[done:after])
                done = after
            if msg.chat_id < 0:
                if msg.chat_id not in safe:
                    moved = await _group_unsafe(context.bot, services, msg.chat_id)
                    safe[msg.chat_id] = moved is None
                    queued += moved or []
                if not safe[msg.chat_id]:
                    continue
            # Never ahead of what this operation owed its chat first, should that wait
            # behind an older row's retry: then the reply is owed too, behind it.
            waiting = await services.outbox.behind(msg, queued[:after])
            if waiting is not None:
                queued.append(waiting)
                continue
            await shown(context.bot, services, msg, await _send_moving(context.bot, services, msg))
    finally:
        # What others are owed goes out even if the actor's own reply failed.
        if queued[done:]:
            await flush(context.bot, services, queued[done:])


async def flush(bot: Bot, services: Services, ids: list[int] | None = None) -> int:
    """Send owed messages (the given ids, or everything pending). Returns how many went out.

    Each round claims the oldest owed row of each chat (bot/outbox.py keeps the order);
    a row tried in this flush is not tried again in it, so a retry waits for the next tick.
    """
    sent = 0
    tried: set[int] = set()
    # Telegram out of reach (network failures in a row, from different chats): the rows
    # still claimed are released untried and the drain ends (the next sweep tries again),
    # rather than every owed chat waiting out its own timeout. One chat's failure alone
    # (a slow upload) stops nothing, so it cannot hold the other chats back.
    drain = _Drain()
    while True:
        batch = await services.outbox.claim(ids, skip=tried)
        if not batch:
            return sent
        tried.update(owed.id for owed in batch)
        # One row per chat in a batch: chats may go in parallel without reordering, but
        # the outbox's gate bounds the sends in flight (and so the repeats after a crash).
        moved: list[int] = []
        try:
            results = await asyncio.gather(
                *(_send_owed(bot, services, owed, moved, drain) for owed in batch)
            )
        finally:  # their senders are done with them, whatever happened
            services.outbox.in_flight.difference_update(owed.id for owed in batch)
        sent += results.count("sent")
        if drain.out_of_reach():
            return sent
        if ids is not None and moved:
            ids = ids + moved  # what an unlinked group was owed now goes privately, now


class _Drain:
    """What one drain has learned: network failures in a row (OUTAGE_AFTER of them end
    it) and the couples' groups already found safe (who is in a group is read once per
    drain, not once per row)."""

    __slots__ = ("in_a_row", "safe_groups")

    def __init__(self) -> None:
        self.in_a_row = 0
        self.safe_groups: set[int] = set()

    def failed(self) -> None:
        self.in_a_row += 1

    def passed(self) -> None:
        self.in_a_row = 0

    def out_of_reach(self) -> bool:
        return self.in_a_row >= OUTAGE_AFTER


async def _send_owed(
    bot: Bot, services: Services, owed: Owed, moved: list[int], drain: _Drain
) -> str:
    """Send one owed message: 'sent', 'forbidden' (blocked), 'failed' (given up), 'retry',
    'moved' (its group was unlinked: it goes privately instead) or 'gone' (settled
    elsewhere while it waited for its turn).

    The row's claim ends here on every path (sent, refused or released), and until it
    does the row is in `Outbox.in_flight`, where no claim lapses: nothing this process
    is still sending is claimed again and sent twice."""
    outbox = services.outbox
    async with outbox.gate:
        if drain.out_of_reach():
            await outbox.release(owed)
            return "retry"
        try:
            result, message_id = await _try_owed(bot, services, owed, moved, drain)
        except Exception as exc:  # a bug or a database error: this row alone waits
            log.error("outbox %s: could not be sent (%s)", owed.id, type(exc).__name__)
            result, message_id = "retry", None
            try:
                await outbox.refused(owed, "error")
            except Exception:  # not even that could be written: the claim lapses
                log.error("outbox %s: its claim could not be ended; it lapses", owed.id)
        except BaseException:  # cancelled (shutting down): owed as before, for the next start
            with suppress(Exception):
                await asyncio.shield(outbox.release(owed))
            raise
    if result == "sent":
        try:
            await shown(bot, services, owed.msg, message_id)
        except Exception:  # bookkeeping of keyboards never makes a sent message unsent
            log.exception("outbox %s: sent, but its keyboard was not recorded", owed.id)
    return result


async def _try_owed(
    bot: Bot, services: Services, owed: Owed, moved: list[int], drain: _Drain
) -> tuple[str, int | None]:
    """One attempt at an owed row, and what it leaves: marked sent or refused (or, for
    'moved', failed with its group and owed privately instead)."""
    outbox = services.outbox
    # A group's row may have been settled while it waited for its turn (rerouted when
    # the group was unlinked). A private chat's cannot: only its head row is claimable,
    # and nothing but its own sender settles that.
    if owed.msg.chat_id < 0 and not await outbox.still_owed(owed.id):
        return "gone", None
    try:
        if owed.msg.chat_id < 0:
            rerouted = await _group_unsafe(bot, services, owed.msg.chat_id, drain.safe_groups)
            if rerouted is not None:
                moved += rerouted
                return "moved", None
        message_id = await _send_moving(bot, services, owed.msg)
    except Forbidden:
        if owed.msg.chat_id < 0:  # the bot is no longer in the group (maybe not yet told)
            left = await services.pairing.bot_left_group(owed.msg.chat_id)
            if left.queued:  # it was a couple's group: unlinked, its rows gone privately
                moved += left.queued
                return "moved", None
        log.info("outbox %s: chat %s blocked the bot", owed.id, owed.msg.chat_id)
        moved += await outbox.refused(owed, "forbidden")  # whoever waits on them is told
        return "forbidden", None
    except BadRequest as exc:
        if await _send_plainly(bot, owed.msg, exc):
            await outbox.done([owed.id])
            return "sent", None
        log.warning("outbox %s: Telegram refused the message (%s)", owed.id, exc.message)
        await outbox.refused(owed, "bad_request")
        return "failed", None
    except (RetryAfter, TimedOut, NetworkError, TelegramError) as exc:
        log.warning("outbox %s: will retry after %s", owed.id, type(exc).__name__)
        if isinstance(exc, NetworkError):  # TimedOut too; BadRequest is caught above
            drain.failed()
        await outbox.refused(owed, "retry")
        return "retry", None
    drain.passed()
    # Marked at once: a crash can then repeat only the message in flight.
    await outbox.done([owed.id])
    return "sent", message_id


async def _group_unsafe(
    bot: Bot, services: Services, chat_id: int, safe: set[int] | None = None
) -> list[int] | None:
    """Membership is re-checked before anything goes to a couple's group: exactly the two
    partners and the bot, or it is unlinked on the spot (bot/pairing.py) instead of sent
    to, and what it was owed goes privately (the new outbox ids). None: it may be sent.
    `safe`: groups found safe earlier in the same drain, not asked about again."""
    if safe is not None and chat_id in safe:
        return None
    partners = await services.pairing.group_partners(chat_id)
    if partners is None:  # no couple's group: it holds nothing of a couple
        return None
    try:
        count = await bot.get_chat_member_count(chat_id)
    except ChatMigrated as exc:
        await services.outbox.moved(chat_id, exc.new_chat_id)
        chat_id = exc.new_chat_id
        count = await bot.get_chat_member_count(chat_id)
    inspector = BotInspector(bot)
    present = count == 3 and all([await inspector.is_member(chat_id, u) for u in partners])
    verdict = await services.pairing.group_checked(chat_id, count, present)
    if verdict is None and safe is not None:
        safe.add(chat_id)
    return verdict


async def _send_moving(bot: Bot, services: Services, msg: Msg) -> int | None:
    """Send; a group that became a supergroup is followed there (and remembered)."""
    try:
        return await send(bot, msg)
    except ChatMigrated as exc:
        await services.outbox.moved(msg.chat_id, exc.new_chat_id)
        return await send(bot, replace(msg, chat_id=exc.new_chat_id, edit_message_id=None))


MALFORMED = ("can't parse entities", "too long", "message text is empty")


async def _send_plainly(bot: Bot, msg: Msg, exc: BadRequest) -> bool:
    """Telegram refused the markup or the length: send the same words as plain text, cut
    into parts it takes, rather than lose them. False if that is not possible."""
    if msg.photo is not None or msg.document is not None:
        return False
    if not any(m in exc.message.lower() for m in MALFORMED):
        return False
    words = html.unescape(TAG.sub("", msg.text))
    parts = [html.unescape(p) for p in split_message(html.escape(words, quote=False))]
    if not parts:
        return False
    log.warning("outbox: Telegram refused a message's markup; sending it plainly")
    try:
        for n, part in enumerate(parts):
            last = n == len(parts) - 1
            await bot.send_message(
                msg.chat_id,
                part,
                parse_mode=None,
                protect_content=msg.protect,
                reply_markup=markup(msg) if last else None,
            )
    except BadRequest as again:  # refused plainly too: the caller gives the row up
        log.warning("outbox: refused plainly too (%s)", again.message)
        return False
    return True


class BotInspector(ChatInspector):
    """The core's questions about a group, answered with getChatMember and the member count."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def is_member(self, chat_id: int, user_id: int) -> bool:
        try:
            member = await self.bot.get_chat_member(chat_id, user_id)
        except BadRequest:
            return False
        return member.status in ("creator", "administrator", "member") or (
            member.status == "restricted" and bool(getattr(member, "is_member", False))
        )

    async def member_count(self, chat_id: int) -> int:
        return await self.bot.get_chat_member_count(chat_id)
