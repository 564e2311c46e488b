"""What every feature of the core offers the services container."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.core import Actor, Core
from bot.db import Conn
from bot.messages import Outcome

# (conn, actor, arg after 'kind:', text, outcome) -> outcome; see Services.private_text.
TextRoute = Callable[[Conn, Actor, str, str, Outcome], Awaitable[Outcome]]


class Feature:
    """Base class: a feature may own `users.awaiting` prefixes and a periodic sweep."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def text_routes(self) -> dict[str, TextRoute]:
        """Prefixes of `users.awaiting` this feature answers, e.g. {'note': ...}."""
        return {}

    async def private_text(
        self, conn: Conn, actor: Actor, text: str, out: Outcome
    ) -> Outcome | None:
        """Unasked private text this feature wants (e.g. a turn in /conflict), else None."""
        return None

    async def sweep(self) -> list[int]:
        """Open, remind, close whatever is due at `core.clock.now()`; return queued outbox ids."""
        return []
