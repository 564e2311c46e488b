"""The weekly check-in: /checkin, the answer buttons, and /settings."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.callbacks import int_arg, parse
from handlers.common import actor_of, deliver, message_id_of, svc


async def checkin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/checkin: open this week's check-in now, or continue it."""
    await deliver(update, context, await svc(context).checkins.open_now(actor_of(update)))


async def answer_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A scale value, Skip or Back on a question; Skip or Change on a note prompt."""
    assert update.callback_query is not None
    parts = parse(update.callback_query.data or "")
    out = await svc(context).checkins.press(
        actor_of(update),
        parts[0],
        int_arg(parts, 1),
        int_arg(parts, 2),
        parts[3] if len(parts) > 3 else "",
        message_id_of(update),
    )
    await deliver(update, context, out)


async def early_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Open this week's check-in early, or wait for the scheduled one."""
    assert update.callback_query is not None
    parts = parse(update.callback_query.data or "")
    out = await svc(context).checkins.early_press(
        actor_of(update),
        parts[1] if len(parts) > 1 else "",
        int_arg(parts, 2),
        parts[3] if len(parts) > 3 else "",
        message_id_of(update),
    )
    await deliver(update, context, out)


async def settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/settings: the couple's schedule and preferences."""
    await deliver(update, context, await svc(context).preferences.show(actor_of(update)))


async def settings_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any button of /settings."""
    assert update.callback_query is not None
    parts = parse(update.callback_query.data or "")
    out = await svc(context).preferences.press(
        actor_of(update), int_arg(parts, 1), parts[2:], message_id_of(update)
    )
    await deliver(update, context, out)


def register(app: Application) -> None:
    app.add_handlers(
        [
            CommandHandler("checkin", checkin),
            CommandHandler("settings", settings),
            CallbackQueryHandler(answer_press, pattern=r"^c[in]:"),
            CallbackQueryHandler(settings_press, pattern=r"^st:"),
            CallbackQueryHandler(early_press, pattern=r"^ck:"),
        ]
    )
