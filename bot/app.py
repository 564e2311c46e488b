"""The composition root: builds the PTB `Application` that `python -m bot`, the tests,
the playground and the benchmarks all run. The only core module that knows Telegram.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    LinkPreviewOptions,
)
from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationBuilder, BaseRateLimiter, Defaults
from telegram.request import BaseRequest

import content
import handlers
from bot.clock import Clock, SystemClock
from bot.core import Core
from bot.crypto import Cipher
from bot.db import Database
from bot.services import Services
from bot.settings import Settings
from handlers.common import flush
from handlers.processor import OrderedUpdateProcessor
from handlers.ratelimit import TrellisRateLimiter

log = logging.getLogger(__name__)

TRELLIS_DEFAULTS = Defaults(
    parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
)

# The command menus; each description is the catalogue's `cmd.<name>` in every language.
PRIVATE_COMMANDS = (
    "start", "status", "checkin", "settings", "timezone", "conflict", "promise", "promises",
    "thanks", "summary", "history", "export", "deletedata", "privacy", "safety", "language",
    "unpair", "help",
)  # fmt: skip
GROUP_COMMANDS = (
    "pair", "timezone", "status", "checkin", "conflict", "promise", "summary", "privacy", "help",
)  # fmt: skip


async def set_menus(app: Application) -> None:
    """The command menus in every catalogue language: Telegram shows a user the menu of
    their client's language, English (the default, set without a language) otherwise."""
    for lang, cat in content.catalogues().items():
        code = None if lang == content.BASE else lang
        for names, scope in (
            (PRIVATE_COMMANDS, BotCommandScopeAllPrivateChats()),
            (GROUP_COMMANDS, BotCommandScopeAllGroupChats()),
        ):
            commands = [BotCommand(n, cat.t(f"cmd.{n}")) for n in names]
            await app.bot.set_my_commands(commands, scope=scope, language_code=code)


def build_application(
    settings: Settings,
    *,
    clock: Clock | None = None,
    request: BaseRequest | None = None,
    rate_limiter: BaseRateLimiter[Any] | None = None,
    start_jobs: bool = True,
) -> Application:
    """Build the bot. `request` swaps the HTTP layer (the fake Bot API in tests)."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    clock = clock or SystemClock()
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .defaults(TRELLIS_DEFAULTS)
        .rate_limiter(rate_limiter or TrellisRateLimiter())
        # Concurrent across chats and users, in order within each (handlers/processor.py).
        .concurrent_updates(OrderedUpdateProcessor())
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    app = builder.build()
    app.bot_data["settings"] = settings
    app.bot_data["clock"] = clock
    app.bot_data["start_jobs"] = start_jobs
    handlers.register(app)
    return app


async def _post_init(app: Application) -> None:
    """Open storage, build the core, set the command menus, resume owed sends."""
    settings: Settings = app.bot_data["settings"]
    db = Database(settings.database_path)
    await db.open()
    cipher = Cipher.from_settings(
        settings.data_encryption_key.get_secret_value() if settings.data_encryption_key else None,
        settings.key_file,
        settings.database_path,
    )
    core = Core(
        db=db,
        clock=app.bot_data["clock"],
        content=content.load(),
        cipher=cipher,
        settings=settings,
        bot_username=app.bot.username,
    )
    services = Services(core)
    app.bot_data["services"] = services
    await services.operations.record_key_check()
    await set_menus(app)
    await flush(app.bot, services)
    if app.bot_data["start_jobs"] and app.job_queue is not None:
        app.job_queue.run_repeating(
            _tick, interval=settings.sweep_interval_seconds, first=1, name="sweep"
        )


async def _tick(context: Any) -> None:
    """The periodic sweep: everything due in the database, then owed messages."""
    await tick(context.application)


async def tick(app: Application) -> None:
    """One sweep; the playground and tests call it directly after moving the clock."""
    services: Services = app.bot_data["services"]
    await services.forget_old_updates()
    await services.sweep()
    await flush(app.bot, services)
    await services.core.db.checkpoint()  # the WAL, off the loop (never at a loop commit)


async def _post_shutdown(app: Application) -> None:
    services: Services | None = app.bot_data.get("services")
    if services is not None:
        await services.core.db.close()
