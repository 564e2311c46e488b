"""Cross-cutting handlers: de-duplication, membership changes, fallbacks and errors."""

from __future__ import annotations

import logging

from telegram import ChatMember, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.callbacks import int_arg, parse
from bot.messages import Msg, Outcome
from handlers.common import actor_of, deliver, message_id_of, svc

log = logging.getLogger(__name__)

_PRESENT = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER)


async def drop_duplicates(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Telegram may deliver an update twice: the second copy stops here."""
    if not await svc(context).first_sight(update.update_id):
        log.info(
            "update %s already handled; dropped",
            update.update_id,
            extra={"update_id": update.update_id},
        )
        raise ApplicationHandlerStop
    user, chat = update.effective_user, update.effective_chat
    # Everything this update says is written in its reader's language (bot/language.py).
    await svc(context).core.speak_to(
        user.id if user else None,
        chat.id if chat else None,
        user.language_code if user else None,
    )


async def my_membership(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The bot was added to or removed from a group, or blocked/unblocked in private."""
    change = update.my_chat_member
    assert change is not None
    chat = change.chat
    was = change.old_chat_member.status in _PRESENT
    now = change.new_chat_member.status in _PRESENT
    pairing = svc(context).pairing
    if chat.type == "private":
        await pairing.set_reachable(chat.id, now)
        return
    if now and not was:
        await deliver(update, context, await pairing.group_hello(actor_of(update)))
    elif was and not now:
        await deliver(update, context, await pairing.bot_left_group(chat.id))


async def private_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text in a private chat: an answer the bot asked for, or a pointer to /help."""
    assert update.message is not None and update.message.text is not None
    out = await svc(context).private_text(actor_of(update), update.message.text)
    await deliver(update, context, out)


async def held_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Where a held message goes: the flow that asked, the conversation, or nowhere."""
    assert update.callback_query is not None
    parts = parse(update.callback_query.data or "")
    choice = parts[1] if len(parts) > 1 else ""
    out = await svc(context).held_press(
        actor_of(update), choice, int_arg(parts, 2), message_id_of(update)
    )
    await deliver(update, context, out)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not know: in private, and in a group when addressed to us
    (`/foo@OurBot`); a bare `/foo` in a group may be meant for another bot, so we stay quiet."""
    assert update.message is not None and update.message.text is not None
    actor = actor_of(update)
    if not actor.private:
        command = update.message.text.split()[0]
        _, _, addressed = command.partition("@")
        if addressed.lower() != (context.bot.username or "").lower():
            return
    await deliver(
        update,
        context,
        Outcome().say(Msg(actor.chat_id, svc(context).core.t("common.unknown_command"))),
    )


async def stray_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button nobody handles any more (old message, forged data)."""
    assert update.callback_query is not None
    await update.callback_query.answer(svc(context).core.t("common.stale"), show_alert=True)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log with ids only (never message text), and tell the user something went wrong."""
    ids = {}
    if isinstance(update, Update):
        ids = {
            "update_id": update.update_id,
            "chat_id": update.effective_chat.id if update.effective_chat else None,
            "user_id": update.effective_user.id if update.effective_user else None,
        }
    log.error(
        "handler failed %s: %s",
        ids,
        type(context.error).__name__,
        exc_info=context.error,
        extra={k: v for k, v in ids.items() if v is not None},
    )
    if isinstance(update, Update):
        try:  # its transaction rolled back, so a redelivery may safely run it again
            await svc(context).forget_update(update.update_id)
        except Exception:
            log.exception("could not forget update %s", update.update_id)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            text = svc(context).core.t("common.error")
            if update.callback_query is not None:
                await update.callback_query.answer(text, show_alert=True)
            else:
                await context.bot.send_message(update.effective_chat.id, text)
        except Exception:  # the error path must never raise
            log.exception("could not tell the user about the failure")


def register(app: Application) -> None:
    app.add_handler(TypeHandler(Update, drop_duplicates), group=-1)
    app.add_handler(ChatMemberHandler(my_membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_error_handler(on_error)


def register_fallbacks(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handlers(
        [
            MessageHandler(private & filters.TEXT & ~filters.COMMAND, private_text),
            CallbackQueryHandler(held_press, pattern=r"^ht:"),
            MessageHandler(filters.COMMAND, unknown_command),
            CallbackQueryHandler(stray_press),
        ]
    )
