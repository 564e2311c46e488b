"""Placeholder wiring; the handlers are built in the feature's own issue."""

from __future__ import annotations

from telegram.ext import Application


def register(app: Application) -> None:
    return None
