"""`python -m bot`: run Trellis by long polling, or by webhook when WEBHOOK_URL is set.

`python -m bot backup [DEST]`, `health` and `stats` are the operator's commands
(bot/operations.py); they need no token and can run beside the running bot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from bot import operations
from bot.instance import hold_lock
from bot.keys import StartRefused, preflight
from bot.settings import Settings

NO_TOKEN = """\
Trellis needs a Telegram bot token to run.

  1. In Telegram, open @BotFather and send /newbot; follow the steps.
  2. Copy the token it gives you (it looks like 123456789:AA...).
  3. Put it in a file named .env in this folder:
         TELEGRAM_BOT_TOKEN=123456789:AA...
     (copy .env.example to .env to see every setting), or export it in your shell.

Then run `make run` again. No token needed to look around: `make playground`.
"""


log = logging.getLogger("bot")

# chat_member: joins are watched (a third person unlinks a couple's group at once).
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member", "chat_member"]

# Record attributes a log call may pass with `extra=` that are ids, never content.
LOG_IDS = ("update_id", "chat_id", "user_id", "couple_id", "conversation_id", "outbox_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, ids (and the error, if any).

    `event` is the same text the plain format prints, so the same rule holds: log
    calls pass ids and kinds, never what a user wrote, and never the token.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
            "ids": {k: getattr(record, k) for k in LOG_IDS if getattr(record, k, None) is not None},
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(level: str, fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """One handler on the root logger, text or JSON; returns it (tests remove it)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO, and the URL holds the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # PTB logs whole updates (message text) at DEBUG.
    logging.getLogger("telegram.ext.Application").setLevel(
        max(logging.INFO, logging.getLevelName(level))
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # At DEBUG, PTB's bot logs every Bot API call's parameters and answer (message text)
    # and its webhook server logs every body; aiosqlite logs every statement's parameters.
    # None of that may reach a log, so these stay at INFO whatever LOG_LEVEL says.
    for name in ("telegram", "aiosqlite"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))
    return handler


class RedactToken(logging.Filter):
    """The token never reaches a log line, whoever formats it (PTB's InvalidToken names it,
    and a traceback can hold a request URL)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.token:
            return True
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, REDACTED), None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, text.replace(self.token, REDACTED)
        return True


REDACTED = "<bot token>"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Run Trellis.")
    commands = parser.add_subparsers(dest="command", metavar="[command]")
    back = commands.add_parser(
        "backup", help="copy the live database (safe while the bot runs); the key is not in it"
    )
    back.add_argument(
        "dest", nargs="?", help="a folder (ending in /) or a new file (default: BACKUP_DIR)"
    )
    commands.add_parser("health", help="exit 0 if the bot is alive and working, else say why")
    commands.add_parser("stats", help="counts for the operator; never names or text")
    return parser.parse_args(argv)


def operate(command: str, settings: Settings, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    try:
        if command == "health":
            print(operations.health(settings, now))
        elif command == "stats":
            for name, value in operations.stats(settings.database_path, now).items():
                print(f"{name}: {value}")
        else:
            default = settings.backup_dir or settings.database_path.parent / "backups"
            dest = Path(args.dest) if args.dest else default
            folder = not args.dest or args.dest.endswith(("/", os.sep))
            path = operations.backup(settings.database_path, dest, now, folder=folder)
            print(f"backup written to {path} (checked, owner-only)")
            print(
                f"The key is not in it: {operations.key_whereabouts(settings)}. "
                "Keep a copy of the key apart from the backups; without it the backed-up "
                "text cannot be read, and with both together anyone can read it."
            )
    except operations.OperationError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"Configuration problem:\n{exc}", file=sys.stderr)
        return 2
    if args.command is not None:
        return operate(args.command, settings, args)
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        print(NO_TOKEN, file=sys.stderr)
        return 2
    handler = setup_logging(settings.log_level, settings.log_format)
    # Imported here: the operator's commands (e.g. a health check every few seconds)
    # do not pay for loading python-telegram-bot.
    from bot.app import build_application

    os.umask(0o077)  # whatever this process creates (database, -wal, -shm) is owner-only
    key = settings.data_encryption_key.get_secret_value() if settings.data_encryption_key else None
    try:
        hold_lock(settings.database_path)  # held until the process ends, however it ends
        asyncio.run(preflight(settings.database_path, key, settings.key_file))
    except StartRefused as exc:
        print(f"Trellis did not start.\n\n{exc}", file=sys.stderr)
        return 2
    token = settings.telegram_bot_token.get_secret_value()
    handler.addFilter(RedactToken(token))
    app = build_application(settings)
    try:
        run(app, settings)
    except Exception as exc:  # told once, without the token, instead of a raw traceback
        log.critical("Trellis stopped: %s", str(exc).replace(token, REDACTED) or type(exc).__name__)
        return 1
    return 0


def run(app: Any, settings: Settings) -> None:
    if settings.webhook_url:
        assert settings.webhook_secret is not None
        app.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
        )
    else:
        app.run_polling(allowed_updates=ALLOWED_UPDATES)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
