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
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationBuilder, BaseRateLimiter, Defaults
from telegram.request import BaseRequest

import content
import handlers
from bot.clock import Clock, SystemClock
from bot.core import Core
from bot.db import CURRENT_UPDATE, Database, UpdateMark
from bot.keys import open_cipher, secure_files
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


class TrellisApplication(Application):
    """PTB's Application, with each update's seen-mark carried to its handler's first
    transaction (bot/db.py, UpdateMark), so the mark commits with the handler's effects."""

    async def process_update(self, update: object) -> None:
        services: Services | None = self.bot_data.get("services")
        if not isinstance(update, Update) or services is None:
            await super().process_update(update)
            return
        token = CURRENT_UPDATE.set(UpdateMark(update.update_id, services.core.now()))
        try:
            await super().process_update(update)
        finally:
            CURRENT_UPDATE.reset(token)


WEBHOOK_MAX_BODY = 1024 * 1024  # bytes; a real update is a few KB, Telegram's largest far less


class _QuietUpdateData(logging.Filter):
    """PTB logs an update it cannot parse at CRITICAL *with its data* (a message's text):
    keep the event, drop the data."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "Received data was" in str(record.msg):
            record.msg = "an update from the webhook could not be parsed; it was not processed"
            record.args = None
            record.exc_info = None
        return True


def guard_webhook() -> None:
    """Limits PTB's webhook server does not set itself (idempotent):

    - the body is capped at WEBHOOK_MAX_BODY before it is read: tornado reads a whole
      body before the handler checks the secret header, so an unauthenticated 60 MB
      POST was read into memory; now it is refused from its Content-Length;
    - an unparsable update is logged without its content.
    """
    from functools import partial

    from telegram.ext._utils import webhookhandler  # PTB builds its HTTPServer here

    if not isinstance(webhookhandler.HTTPServer, partial):
        webhookhandler.HTTPServer = partial(  # type: ignore[misc,assignment]
            webhookhandler.HTTPServer, max_body_size=WEBHOOK_MAX_BODY
        )
    updater_log = logging.getLogger("telegram.ext.Updater")
    if not any(isinstance(f, _QuietUpdateData) for f in updater_log.filters):
        updater_log.addFilter(_QuietUpdateData())


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
    guard_webhook()
    clock = clock or SystemClock()
    builder = (
        ApplicationBuilder()
        .application_class(TrellisApplication)
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
    secure_files(settings.database_path)
    db = Database(settings.database_path)
    await db.open()
    try:
        cipher = await open_cipher(
            db,
            settings.data_encryption_key.get_secret_value()
            if settings.data_encryption_key
            else None,
            settings.key_file,
        )
    except BaseException:
        await db.close()  # aiosqlite's thread would keep a refused process alive
        raise
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
    # The instance lock is ours, so claims left in the file are a dead process's.
    released = await services.outbox.release_claims()
    if released:
        log.info("released %s outbox claims left by a stopped process", released)
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
    await services.core.db.scrub()  # an erasure's scrub a reader held back, if any
    await services.core.db.checkpoint()  # the WAL, off the loop (never at a loop commit)


async def _post_shutdown(app: Application) -> None:
    services: Services | None = app.bot_data.get("services")
    if services is not None:
        await services.core.db.close()
