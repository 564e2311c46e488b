"""The Telegram edge: read the update, call the core, render what it says.

No business rule and no SQL lives here. `register` wires every handler; the
order of groups matters and is explained where it is set.
"""

from __future__ import annotations

from telegram.ext import Application

from handlers import checkin, conflict, pairing, promises, safety, system


def register(app: Application) -> None:
    # Group -1 runs first for every update: de-duplication and reachability.
    system.register(app)
    pairing.register(app)
    checkin.register(app)
    conflict.register(app)
    promises.register(app)  # promises, thanks, summary, history, export, deletedata
    safety.register(app)
    # The catch-all for private text must come last: features own their commands first.
    system.register_fallbacks(app)
