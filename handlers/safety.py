"""/safety and the Share / Keep buttons of words a safety rule held back."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.callbacks import int_arg, parse
from handlers.common import actor_of, deliver, message_id_of, svc


async def safety(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/safety: what Trellis is and is not, help now, how to leave quietly."""
    await deliver(update, context, await svc(context).safety.command(actor_of(update)))


async def hold_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """sf:s|k:<hold id>: share held words with the partner, or keep them."""
    assert update.callback_query is not None
    parts = parse(update.callback_query.data or "")
    out = await svc(context).safety.press(
        actor_of(update),
        parts[1] if len(parts) > 1 else "",
        int_arg(parts, 2),
        message_id_of(update),
    )
    await deliver(update, context, out)


def register(app: Application) -> None:
    app.add_handlers(
        [
            CommandHandler("safety", safety),
            CallbackQueryHandler(hold_press, pattern=r"^sf:"),
        ]
    )
