"""`python -m bot`: run Trellis by long polling, or by webhook when WEBHOOK_URL is set."""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

from bot.app import build_application
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


def setup_logging(level: str) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
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


def main(argv: list[str] | None = None) -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"Configuration problem:\n{exc}", file=sys.stderr)
        return 2
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        print(NO_TOKEN, file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    app = build_application(settings)
    if settings.webhook_url:
        assert settings.webhook_secret is not None
        app.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=["message", "callback_query", "my_chat_member"],
        )
    else:
        app.run_polling(allowed_updates=["message", "callback_query", "my_chat_member"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
