"""Every Bot API call goes through here: Telegram's flood limits, and waiting out 429s.

Which and why: a subclass of PTB's `AIORateLimiter`, not a fresh `BaseRateLimiter`.
`AIORateLimiter` already does the global limit (~30/s), the per-group limit (20/min), the
paid-broadcast lane, the pause of *all* requests while a `RetryAfter` is waited out, and
the retry loop; those are tested upstream and we keep them. What it lacks is Telegram's
~1 message/s per private chat, which matters exactly when the outbox drains several
messages owed to one person (a reveal, a reminder, a summary). This class adds that as a
token bucket per private chat (`private_burst` tokens, refilled at `private_max_rate`
per second: Telegram tolerates short bursts, so a reply plus an edit is not delayed),
taken *before* the global token so that a call waiting for its chat does not hold a
global slot it cannot use yet. Idle per-chat buckets are dropped once there are more than
`max_tracked_chats`, so memory does not grow with the number of users.

Telegram's per-chat limits are on messages. A read about a chat (`getChatMemberCount`,
which runs before every send to a couple's group, `getChatMember`, `getChat`) is not a
message, yet `AIORateLimiter` would count it against the chat's bucket too, halving
what a group can receive in a minute; reads here keep only the overall limit.

`max_retries` defaults to 3 (PTB's default is 0, which hands every 429 to our code).
A call that still fails after the retries raises; the outbox then releases the row and
the next sweep tick sends it, so nothing is lost either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram._utils.types import JSONDict
from telegram.ext import AIORateLimiter

READS = frozenset({"getChat", "getChatMember", "getChatMemberCount", "getChatAdministrators"})
PRIVATE_MAX_RATE = 1.0  # messages per second to one private chat
PRIVATE_BURST = 3


class TrellisRateLimiter(AIORateLimiter):
    """`AIORateLimiter` plus a per-private-chat bucket; 0 for any rate turns that limit off."""

    def __init__(
        self,
        overall_max_rate: float = 30,
        overall_time_period: float = 1,
        group_max_rate: float = 20,
        group_time_period: float = 60,
        max_retries: int = 3,
        private_max_rate: float = PRIVATE_MAX_RATE,
        private_burst: int = PRIVATE_BURST,
        max_tracked_chats: int = 4096,
    ) -> None:
        super().__init__(
            overall_max_rate=overall_max_rate,
            overall_time_period=overall_time_period,
            group_max_rate=group_max_rate,
            group_time_period=group_time_period,
            max_retries=max_retries,
        )
        self._private_rate = private_max_rate
        self._private_burst = max(1, private_burst)
        self._max_tracked = max_tracked_chats
        self._private: dict[int, AsyncLimiter] = {}

    def private_limiter(self, chat_id: int) -> AsyncLimiter:
        """The bucket of one private chat, created on first use; idle ones are dropped."""
        limiter = self._private.get(chat_id)
        if limiter is None:
            if len(self._private) >= self._max_tracked:
                for key, old in list(self._private.items()):
                    if old.has_capacity(old.max_rate):  # full bucket: nothing to remember
                        del self._private[key]
            limiter = AsyncLimiter(self._private_burst, self._private_burst / self._private_rate)
            self._private[chat_id] = limiter
        return limiter

    @property
    def tracked_chats(self) -> int:
        return len(self._private)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        if endpoint in READS:  # not a message: the overall limit only (see above)
            data = {k: v for k, v in data.items() if k != "chat_id"}
        chat_id = _private_chat(data) if self._private_rate else None
        if chat_id is None:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        async with self.private_limiter(chat_id):
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )


def _private_chat(data: dict[str, Any]) -> int | None:
    """The chat id if the call goes to a private chat (positive id), else None."""
    with contextlib.suppress(TypeError, ValueError):
        chat_id = int(data.get("chat_id"))  # type: ignore[arg-type]
        if chat_id > 0:
            return chat_id
    return None
