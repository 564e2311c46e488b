"""Placeholder wiring; the feature is built in its own issue."""

from __future__ import annotations

from bot.feature import Feature


class Conflict(Feature):
    pass
