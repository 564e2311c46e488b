"""Concurrent update processing that keeps each chat's and each user's updates in order.

PTB runs one update at a time unless told otherwise; `concurrent_updates=True` alone runs
everything at once and lets a partner's two quick presses overtake each other. This
processor sits between the two: updates that share a chat or a user run strictly in the
order they arrived, everything else runs in parallel.

How: every update names its keys (the chat id and the user id; a private chat's id is
the user's id, so it has one). On arrival, before anything can yield, it takes its place
at the tail of each key's chain: it remembers the completion future of the update that
was last in line for that key and puts its own future there. It then waits for those
predecessors, runs, and completes its future. Waits only ever point at earlier arrivals,
so there is no lock order to get wrong and no deadlock; a key whose chain empties is
deleted, so memory follows the updates in flight, not the number of users ever seen.

Two caps: PTB's own semaphore (`max_concurrent_updates`) bounds the updates in flight
(waiting or running) and so the memory; `max_running` bounds those actually running
handlers, taken only once an update's predecessors are done, so a burst for one chat
cannot occupy every slot while other chats wait.

Updates fed with `Application.process_update` (the tests' `World`) bypass processors
entirely and stay sequential and deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


def keys_of(update: object) -> tuple[int, ...]:
    """The ids whose order this update must respect: its chat and its user (deduplicated)."""
    if not isinstance(update, Update):
        return ()
    keys: list[int] = []
    chat, user = update.effective_chat, update.effective_user
    if chat is not None:
        keys.append(chat.id)
    if user is not None and user.id not in keys:
        keys.append(user.id)
    return tuple(keys)


class OrderedUpdateProcessor(BaseUpdateProcessor):
    """Per-chat and per-user FIFO, concurrent across them, with a cap on running handlers."""

    __slots__ = ("_running", "_tails")

    def __init__(self, max_concurrent_updates: int = 4096, max_running: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        if max_running < 1:
            raise ValueError("max_running must be positive")
        self._running = asyncio.Semaphore(max_running)
        # key -> completion future of the last update queued for that key.
        self._tails: dict[int, asyncio.Future[None]] = {}

    @property
    def tracked_keys(self) -> int:
        """How many chats/users have updates in flight (memory stays bounded by this)."""
        return len(self._tails)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        keys = keys_of(update)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # No await between here and the loop's end: the place in line is taken atomically.
        before = []
        for key in keys:
            previous = self._tails.get(key)
            if previous is not None:
                before.append(previous)
            self._tails[key] = mine
        started = False
        try:
            for previous in before:
                # `wait`, not `await previous`: a cancelled waiter must not cancel the chain.
                await asyncio.wait([previous])
            async with self._running:
                started = True
                await coroutine
        finally:
            if started:
                self._finish(keys, mine)
            else:
                # Cancelled while waiting: it never runs, but those queued behind it must
                # still wait for what it was waiting for.
                if asyncio.iscoroutine(coroutine):
                    coroutine.close()
                self._finish_after(before, keys, mine)

    def _finish(self, keys: tuple[int, ...], mine: asyncio.Future[None]) -> None:
        mine.set_result(None)
        for key in keys:
            if self._tails.get(key) is mine:
                del self._tails[key]

    def _finish_after(
        self, before: list[asyncio.Future[None]], keys: tuple[int, ...], mine: asyncio.Future[None]
    ) -> None:
        pending = [p for p in before if not p.done()]
        if not pending:
            self._finish(keys, mine)
            return

        def one_done(_: asyncio.Future[None]) -> None:
            pending.pop()
            if not pending:
                self._finish(keys, mine)

        for previous in pending:
            previous.add_done_callback(one_done)

    async def initialize(self) -> None:
        """Nothing to allocate: the chains live only while updates are in flight."""

    async def shutdown(self) -> None:
        """Nothing to free: PTB waits for in-flight updates before shutting down."""
