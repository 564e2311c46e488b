"""The real application in webhook mode, on loopback: the secret header is enforced.

Telegram sends `X-Telegram-Bot-Api-Secret-Token` with every webhook request; anyone else
who finds the URL must get 403 and change nothing.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from playground.sim import Person, World

SECRET = "s3cret-Token_for-tests"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Overrides conftest's: loopback is allowed (our own server), anything else refused."""
    real_connect = socket.socket.connect

    def loopback_only(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in LOOPBACK:
            raise AssertionError(f"tests must not touch the network ({host})")
        return real_connect(self, address)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tests must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    monkeypatch.setattr(socket, "create_connection", refuse)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def hook(world: World) -> AsyncIterator[str]:
    """The application running its webhook server; yields the URL to POST to."""
    app = world.app
    assert app is not None and app.updater is not None
    port = free_port()
    await app.start()
    await app.updater.start_webhook(
        listen="127.0.0.1",
        port=port,
        url_path="telegram",
        secret_token=SECRET,
        webhook_url="https://bot.example.invalid/telegram",
    )
    try:
        yield f"http://127.0.0.1:{port}/telegram"
    finally:
        await app.updater.stop()
        await app.stop()


def start_update(update_id: int, who: Person) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_790_000_000,
            "chat": {"id": who.id, "type": "private", "first_name": who.first_name},
            "from": who.as_user(),
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def test_secret_header_is_required(world: World, hook: str, alice: Person) -> None:
    assert world.app is not None
    set_hook = world.api.calls_of("setWebhook")
    assert set_hook and set_hook[-1].params["secret_token"] == SECRET
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        missing = await client.post(hook, json=start_update(1, alice))
        wrong = await client.post(hook, json=start_update(2, alice), headers={HEADER: "guess"})
        await world.app.update_queue.join()
        assert (missing.status_code, wrong.status_code) == (403, 403)
        assert world.texts(alice.id) == []  # neither reached a handler

        right = await client.post(hook, json=start_update(3, alice), headers={HEADER: SECRET})
        assert right.status_code == 200
        await world.app.update_queue.join()  # processed by the real handlers
    assert any("t.me/" in t for t in world.texts(alice.id))


async def test_a_huge_unauthenticated_body_is_refused_unread(
    world: World, hook: str, alice: Person, caplog: pytest.LogCaptureFixture
) -> None:
    """Was: a 60 MB body was read whole before the secret was checked; an unparsable
    update was logged at CRITICAL with its data."""
    assert world.app is not None
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        huge = b'{"update_id": 1, "x": "' + b"a" * 2_000_000 + b'"}'
        try:
            answer = await client.post(
                hook, content=huge, headers={"Content-Type": "application/json"}
            )
            # not 403: that would mean it was read whole, then the secret checked
            assert answer.status_code not in (200, 403)
        except httpx.TransportError:
            pass  # refused from its Content-Length: the connection is closed unread
        bad = {"update_id": 7, "message": {"text": "private words", "chat": "not a chat"}}
        answer = await client.post(hook, json=bad, headers={HEADER: SECRET})
        assert answer.status_code == 400
        ok = await client.post(hook, json=start_update(8, alice), headers={HEADER: SECRET})
        assert ok.status_code == 200
        await world.app.update_queue.join()
    # What reaches a log in production (PTB's loggers never below INFO, bot/__main__.py).
    shown = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert any(r.levelno == logging.CRITICAL for r in shown)
    assert not any("private words" in r.getMessage() + (r.exc_text or "") for r in shown)
    assert any("t.me/" in t for t in world.texts(alice.id))
