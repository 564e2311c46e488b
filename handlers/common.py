"""Helpers every handler uses: who is acting, and how the core's messages are sent."""

from __future__ import annotations

import asyncio
import html
import logging
from contextlib import suppress
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ContextTypes

from bot.core import Actor, ChatInspector
from bot.messages import Button, Msg, Outcome
from bot.outbox import Owed
from bot.services import Services

log = logging.getLogger(__name__)

FLUSH_CHATS_AT_ONCE = 64  # chats an outbox drain sends to concurrently


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
    """Answer the press, send the replies, then flush what the operation queued."""
    query = update.callback_query
    if query is not None:
        await query.answer(plain(out.toast) if out.toast else None, show_alert=out.alert)
    for msg in out.reply:
        await shown(context.bot, svc(context), msg, await send(context.bot, msg))
    if out.queued:
        await flush(context.bot, svc(context), out.queued)


async def flush(bot: Bot, services: Services, ids: list[int] | None = None) -> int:
    """Send owed messages (the given ids, or everything pending). Returns how many went out."""
    sent = 0
    after = 0  # each row once per flush: one released for retry waits for the next tick
    held: set[int] = set()  # chats with a message waiting for retry: later ones wait too
    while True:
        batch = await services.outbox.claim(ids, after=after)
        if not batch:
            return sent
        after = batch[-1].id
        done: list[int] = []
        by_chat: dict[int, list[Owed]] = {}
        for owed in batch:
            by_chat.setdefault(owed.msg.chat_id, []).append(owed)
        gate = asyncio.Semaphore(FLUSH_CHATS_AT_ONCE)
        # Chats in parallel (a Bot API call takes ~50-100 ms; one at a time would cap the
        # outbox at ~15 msg/s, below Telegram's 30/s); the rate limiter paces the total.
        await asyncio.gather(
            *(
                _send_chat(bot, services, owed_list, gate, done, held)
                for owed_list in by_chat.values()
            )
        )
        sent += len(done)
        if ids is not None:
            return sent


async def _send_chat(
    bot: Bot,
    services: Services,
    owed_list: list[Owed],
    gate: asyncio.Semaphore,
    done: list[int],
    held: set[int],
) -> None:
    """One chat's messages in order; after a Forbidden the rest are refused too, after a
    429 or network error the rest wait for the next drain, so none overtakes another."""
    chat_id = owed_list[0].msg.chat_id
    if chat_id in held:
        for owed in owed_list:
            await services.outbox.refused(owed, "retry")
        return
    async with gate:
        for n, owed in enumerate(owed_list):
            result = await _send_owed(bot, services, owed)
            if result == "sent":
                # Marked at once, not at the end of the batch: a crash can then repeat at
                # most the one message in flight (Telegram has no idempotency key).
                await services.outbox.done([owed.id])
                done.append(owed.id)
            elif result == "forbidden":
                for rest in owed_list[n + 1 :]:
                    await services.outbox.failed(rest, "forbidden", final=True)
                return
            elif result == "retry":
                # Keep the chat's order: what follows waits with it for the next drain.
                held.add(chat_id)
                for rest in owed_list[n + 1 :]:
                    await services.outbox.refused(rest, "retry")
                return


async def _send_owed(bot: Bot, services: Services, owed: Owed) -> str:
    """Send one owed message: 'sent', 'forbidden' (blocked), 'failed' (given up) or 'retry'."""
    try:
        message_id = await send(bot, owed.msg)
    except Forbidden:
        log.info(
            "outbox %s: chat %s blocked the bot; marked unreachable", owed.id, owed.msg.chat_id
        )
        await services.outbox.refused(owed, "forbidden")
        return "forbidden"
    except BadRequest as exc:
        log.warning("outbox %s: Telegram refused the message (%s)", owed.id, type(exc).__name__)
        await services.outbox.refused(owed, "bad_request")
        return "failed"
    except (RetryAfter, TimedOut, NetworkError) as exc:
        log.warning("outbox %s: will retry after %s", owed.id, type(exc).__name__)
        await services.outbox.refused(owed, "retry")
        return "retry"
    try:
        await shown(bot, services, owed.msg, message_id)
    except Exception:  # bookkeeping of keyboards never makes a sent message unsent
        log.exception("outbox %s: sent, but its keyboard was not recorded", owed.id)
    return "sent"


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
