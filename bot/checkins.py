"""Weekly check-ins (being built)."""

from __future__ import annotations

from bot.feature import Feature


class Checkins(Feature):
    pass
