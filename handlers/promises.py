"""Promises, thanks, summaries and the user's data:
/promise /promises /thanks /summary /history /export /deletedata and their buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.callbacks import int_arg, parse
from handlers.common import actor_of, command_args, deliver, message_id_of, svc


def _parts(update: Update) -> list[str]:
    assert update.callback_query is not None
    return parse(update.callback_query.data or "")


async def promise(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/promise <what> [by <when>]: record a small promise to the partner."""
    out = await svc(context).promises.promise_command(actor_of(update), command_args(context))
    await deliver(update, context, out)


async def promises_list(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/promises: the open ones and this month's record."""
    await deliver(update, context, await svc(context).promises.list_command(actor_of(update)))


async def promise_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """pr:<verb>:<id>:<version>: Done, Kept, Not yet, Missed."""
    parts = _parts(update)
    verb = parts[1] if len(parts) > 1 else ""
    out = await svc(context).promises.press(
        actor_of(update), verb, int_arg(parts, 2), int_arg(parts, 3), message_id_of(update)
    )
    await deliver(update, context, out)


async def thanks(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/thanks <text>: an appreciation, passed on privately."""
    out = await svc(context).promises.thanks_command(actor_of(update), command_args(context))
    await deliver(update, context, out)


async def thanks_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ty:r:<id>: a heart back."""
    out = await svc(context).promises.react(
        actor_of(update), int_arg(_parts(update), 2), message_id_of(update)
    )
    await deliver(update, context, out)


async def summary(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/summary: the latest weekly summary, or this week so far."""
    await deliver(update, context, await svc(context).summaries.summary_command(actor_of(update)))


async def history(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/history: past weeks, one line each."""
    await deliver(update, context, await svc(context).summaries.history_command(actor_of(update)))


async def history_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """sm:w:<id>: open one past week."""
    out = await svc(context).summaries.open_week(actor_of(update), int_arg(_parts(update), 2))
    await deliver(update, context, out)


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export: a JSON file of everything the user wrote."""
    await deliver(update, context, await svc(context).data_rights.export(actor_of(update)))


async def deletedata(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/deletedata: ask to confirm the erasure."""
    await deliver(update, context, await svc(context).data_rights.delete_ask(actor_of(update)))


async def deletedata_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """dd:y|n:<user_id>:<asked_at>: erase, or keep."""
    parts = _parts(update)
    out = await svc(context).data_rights.delete_press(
        actor_of(update),
        parts[1:2] == ["y"],
        int_arg(parts, 2),
        int_arg(parts, 3),
        message_id_of(update),
    )
    await deliver(update, context, out)


def register(app: Application) -> None:
    app.add_handlers(
        [
            CommandHandler("promise", promise),
            CommandHandler("promises", promises_list),
            CommandHandler("thanks", thanks),
            CommandHandler("summary", summary),
            CommandHandler("history", history),
            CommandHandler("export", export),
            CommandHandler("deletedata", deletedata),
            CallbackQueryHandler(promise_press, pattern=r"^pr:"),
            CallbackQueryHandler(thanks_press, pattern=r"^ty:"),
            CallbackQueryHandler(history_press, pattern=r"^sm:"),
            CallbackQueryHandler(deletedata_press, pattern=r"^dd:"),
        ]
    )
