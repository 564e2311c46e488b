"""Settings, entry point, layering and the callback-data guard."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.callbacks import CallbackTooLong, cb
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_callback_data_over_64_bytes_is_refused() -> None:
    assert cb("ci", 123, 4, 5) == "ci:123:4:5"
    assert len(cb("x" * 64).encode()) == 64
    with pytest.raises(CallbackTooLong):
        cb("x" * 65)
    with pytest.raises(CallbackTooLong):
        cb("é" * 33)  # 66 bytes in UTF-8, 33 characters
    with pytest.raises(ValueError):
        cb("a:b")


def test_env_example_documents_every_setting() -> None:
    keys = {
        line.split("=", 1)[0].strip().lower()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    }
    assert keys == set(Settings.model_fields)


def test_webhook_without_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        Settings(_env_file=None, webhook_url="https://example.org/hook")  # type: ignore[call-arg]


def test_unknown_default_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        Settings(_env_file=None, default_timezone="Mars/Olympus")  # type: ignore[call-arg]


def test_run_without_token_explains_itself(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env here
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "@BotFather" in result.stderr and "TELEGRAM_BOT_TOKEN" in result.stderr


def test_core_never_imports_telegram() -> None:
    allowed = {"app.py", "__main__.py"}
    for path in (ROOT / "bot").rglob("*.py"):
        if path.name in allowed:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("telegram", "handlers")), f"{path.name} imports {name}"


def test_handlers_hold_no_sql() -> None:
    for path in (ROOT / "handlers").rglob("*.py"):
        text = path.read_text()
        for word in ("SELECT ", "INSERT ", "UPDATE ", "DELETE FROM"):
            assert word not in text, f"{path.name} holds SQL"


async def test_fake_api_refuses_what_telegram_refuses(world: object) -> None:
    from telegram.error import BadRequest

    from playground.sim import World

    assert isinstance(world, World) and world.app is not None
    bot = world.app.bot
    for bad in ("x" * 4097, "<b>unclosed", "<div>no</div>", "<i>crossed</b></i>"):
        with pytest.raises(BadRequest):
            await bot.send_message(101, bad)
    await bot.send_message(101, "&lt;fine&gt; <b>bold</b> " + "x" * 4000)
    with pytest.raises(BadRequest):
        await bot.send_photo(101, b"png", caption="y" * 1025)
