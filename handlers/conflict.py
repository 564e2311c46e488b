"""/conflict: the guided conversation's commands, buttons and the text written in it."""

from __future__ import annotations

from contextlib import suppress

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.callbacks import int_arg, parse
from handlers.common import actor_of, command_args, deliver, message_id_of, svc


async def conflict_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/conflict [topic], in a private chat or in the couple's group."""
    out = await svc(context).conflict.start(actor_of(update), command_args(context))
    await deliver(update, context, out)


async def conflict_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any button of a conversation: cf:<action>:<conversation>:<version or agreement>[:arg]."""
    assert update.callback_query is not None
    parts = parse(update.callback_query.data or "")
    out = await svc(context).conflict.press(
        actor_of(update),
        parts[1] if len(parts) > 1 else "",
        int_arg(parts, 2),
        int_arg(parts, 3),
        parts[4] if len(parts) > 4 else "",
        message_id_of(update),
    )
    await deliver(update, context, out)
    if out.clear_markup:
        # One live keyboard per step: the one just pressed has done its work.
        # Already gone, or too old to edit: nothing to clear.
        with suppress(BadRequest):
            await update.callback_query.edit_message_reply_markup(None)


async def group_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text in a group: a turn if a conversation is open there (needs privacy mode off)."""
    assert update.message is not None and update.message.text is not None
    out = await svc(context).conflict.group_text(actor_of(update), update.message.text)
    await deliver(update, context, out)


def register(app: Application) -> None:
    # Private text reaches the conversation through Services.private_text's fallback.
    app.add_handlers(
        [
            CommandHandler("conflict", conflict_command),
            CallbackQueryHandler(conflict_press, pattern=r"^cf:"),
            MessageHandler(
                filters.ChatType.GROUPS
                & filters.TEXT
                & ~filters.COMMAND
                & filters.UpdateType.MESSAGE,
                group_text,
            ),
        ]
    )
