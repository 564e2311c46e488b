"""Pairing, onboarding and the basic commands: /start, /pair, /status, /unpair, /help, /privacy."""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    filters,
)

from bot.callbacks import int_arg, parse
from bot.messages import Msg, Outcome
from handlers.common import (
    BotInspector,
    actor_of,
    command_args,
    deliver,
    message_id_of,
    svc,
)


async def start_private(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start [token]: welcome and invite link, or open a partner's invite."""
    out = await svc(context).pairing.start(actor_of(update), command_args(context) or None)
    await deliver(update, context, out)


async def start_group(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start <token> in a group: the bot arrived through a ?startgroup= link."""
    token = command_args(context)
    services = svc(context)
    if token:
        out = await services.pairing.group_start(actor_of(update), token, BotInspector(context.bot))
    else:
        out = await services.pairing.group_hello(actor_of(update))
    await deliver(update, context, out)


async def pair(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/pair in a group: offer the "I'm in" button."""
    await deliver(update, context, await svc(context).pairing.group_hello(actor_of(update)))


async def pair_private(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/pair in a private chat: pairing starts with /start here."""
    await start_private(update, context)


async def invite_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Confirm or decline a partner's invite."""
    assert update.callback_query is not None
    parts = parse(update.callback_query.data or "")
    pairing = svc(context).pairing
    actor = actor_of(update)
    if len(parts) == 3 and parts[1] == "ok":
        out = await pairing.confirm_invite(actor, parts[2], message_id_of(update))
    else:
        out = await pairing.decline_invite(actor, message_id_of(update))
    await deliver(update, context, out)


async def onboarding_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Time zone, day and time buttons."""
    assert update.callback_query is not None
    parts = parse(update.callback_query.data or "")
    step = parts[1] if len(parts) > 1 else ""
    value = parts[3] if len(parts) > 3 else ""
    out = await svc(context).pairing.onboarding_press(
        actor_of(update), step, int_arg(parts, 2), value, message_id_of(update)
    )
    await deliver(update, context, out)


async def group_vote(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on "I'm in" in a group."""
    out = await svc(context).pairing.group_vote(actor_of(update), BotInspector(context.bot))
    await deliver(update, context, out)


async def timezone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/timezone <IANA name>."""
    out = await svc(context).preferences.timezone_command(actor_of(update), command_args(context))
    await deliver(update, context, out)


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/status: partner, group, time zone and schedule."""
    await deliver(update, context, await svc(context).pairing.status(actor_of(update)))


async def unpair(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unpair: ask to confirm."""
    await deliver(update, context, await svc(context).pairing.unpair_ask(actor_of(update)))


async def unpair_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The unpair confirm buttons."""
    assert update.callback_query is not None
    parts = parse(update.callback_query.data or "")
    out = await svc(context).pairing.unpair_press(
        actor_of(update), parts[1:2] == ["yes"], int_arg(parts, 2), message_id_of(update)
    )
    await deliver(update, context, out)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: every command, one line each."""
    actor = actor_of(update)
    key = "help.private" if actor.private else "help.group"
    await deliver(update, context, Outcome().say(Msg(actor.chat_id, svc(context).core.t(key))))


async def privacy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/privacy: what is stored, why, where; how to export and delete."""
    actor = actor_of(update)
    text = svc(context).core.t("privacy.text")
    await deliver(update, context, Outcome().say(Msg(actor.chat_id, text)))


async def language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/language: buttons to choose the language the bot uses with you."""
    await deliver(update, context, await svc(context).languages.command(actor_of(update)))


async def language_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.callback_query is not None
    parts = parse(update.callback_query.data or "")
    lang = parts[1] if len(parts) > 1 else ""
    out = await svc(context).languages.press(actor_of(update), lang, message_id_of(update))
    await deliver(update, context, out)


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    app.add_handlers(
        [
            CommandHandler("start", start_private, filters=private),
            CommandHandler("start", start_group, filters=groups),
            CommandHandler("pair", pair, filters=groups),
            CommandHandler("pair", pair_private, filters=private),
            CommandHandler("timezone", timezone),
            CommandHandler("status", status),
            CommandHandler("unpair", unpair),
            CommandHandler("help", help_command),
            CommandHandler("privacy", privacy),
            CommandHandler("language", language),
            CallbackQueryHandler(language_press, pattern=r"^lg:"),
            CallbackQueryHandler(invite_press, pattern=r"^inv:"),
            CallbackQueryHandler(onboarding_press, pattern=r"^ob:"),
            CallbackQueryHandler(group_vote, pattern=r"^gp:in$"),
            CallbackQueryHandler(unpair_press, pattern=r"^up:"),
        ]
    )
