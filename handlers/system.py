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
from bot.db import CURRENT_UPDATE, AlreadyHandled
from bot.messages import Msg, Outcome
from handlers.common import actor_of, deliver, message_id_of, svc

log = logging.getLogger(__name__)

_PRESENT = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER)


async def drop_duplicates(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Telegram may deliver an update twice: the second copy stops here."""
    if await svc(context).handled_before(update.update_id):
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


async def first_checks(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await drop_duplicates(update, context)
    await press_guard(update, context)


async def my_membership(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The bot was added to or removed from a group, or blocked/unblocked in private."""
    change = update.my_chat_member
    assert change is not None
    chat = change.chat
    was = change.old_chat_member.status in _PRESENT
    now = change.new_chat_member.status in _PRESENT
    pairing = svc(context).pairing
    if chat.type == "private":
        await deliver(update, context, await svc(context).reachable(chat.id, now))
        return
    if now and not was:
        await deliver(update, context, await pairing.group_hello(actor_of(update)))
    elif was and not now:
        await deliver(update, context, await pairing.bot_left_group(chat.id))


async def members_joined(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """People joined a group (the service message every group sends the bot)."""
    assert update.message is not None
    joined = [u.id for u in update.message.new_chat_members if u.id != context.bot.id]
    if joined:
        out = await svc(context).pairing.members_joined(update.message.chat.id, joined)
        await deliver(update, context, out)


async def member_left(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Someone left a group (the service message every group sends the bot)."""
    assert update.message is not None and update.message.left_chat_member is not None
    gone = update.message.left_chat_member.id
    if gone != context.bot.id:  # the bot's own leaving is a my_chat_member update
        out = await svc(context).pairing.member_left(update.message.chat.id, gone)
        await deliver(update, context, out)


async def member_changed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A chat_member update (sent while the bot is an admin): someone joined or left."""
    change = update.chat_member
    assert change is not None
    was = change.old_chat_member.status in _PRESENT
    now = change.new_chat_member.status in _PRESENT
    user = change.new_chat_member.user
    if user.id == context.bot.id or was == now:
        return
    pairing = svc(context).pairing
    if now:
        out = await pairing.members_joined(change.chat.id, [user.id])
    else:
        out = await pairing.member_left(change.chat.id, user.id)
    await deliver(update, context, out)


async def group_moved(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The group became a supergroup: its couple, votes and owed messages follow it."""
    message = update.message
    assert message is not None
    if message.migrate_to_chat_id is not None:
        await svc(context).outbox.moved(message.chat.id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id is not None:
        await svc(context).outbox.moved(message.migrate_from_chat_id, message.chat.id)


async def press_guard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every press is checked against the chat it came from, as commands are: a couple's
    button pressed anywhere but their private chats and their own group does nothing."""
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    problem = await svc(context).press_problem(actor_of(update), query.data or "")
    if problem is not None:
        await query.answer(svc(context).core.t(problem), show_alert=True)
        raise ApplicationHandlerStop


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
    if isinstance(context.error, AlreadyHandled):
        # A redelivery that raced its first copy: the first one's effects stand.
        log.info("update %s already handled; its copy rolled back", ids.get("update_id"))
        return
    log.error(
        "handler failed %s: %s",
        ids,
        type(context.error).__name__,
        exc_info=context.error,
        extra={k: v for k, v in ids.items() if v is not None},
    )
    # Saved or not is known exactly: the update's mark commits with the handler's effects.
    mark = CURRENT_UPDATE.get()
    saved = mark is not None and mark.committed
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            text = svc(context).core.t("common.error_after_save" if saved else "common.error")
            if update.callback_query is not None:
                await update.callback_query.answer(text, show_alert=True)
            else:
                await context.bot.send_message(update.effective_chat.id, text)
        except Exception:  # the error path must never raise
            log.exception("could not tell the user about the failure")


def register(app: Application) -> None:
    # One handler per group runs, so both checks that come first share group -1.
    app.add_handler(TypeHandler(Update, first_checks), group=-1)
    app.add_handler(ChatMemberHandler(my_membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(ChatMemberHandler(member_changed, ChatMemberHandler.CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.StatusUpdate.NEW_CHAT_MEMBERS, members_joined))
    app.add_handler(MessageHandler(filters.StatusUpdate.LEFT_CHAT_MEMBER, member_left))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, group_moved))
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
