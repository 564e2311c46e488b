"""Trellis core: settings, storage and the domain, with no knowledge of Telegram.

Two modules are the deliberate exception: `bot.app` (the composition root that
builds the PTB `Application`) and `bot.__main__` (the entry point). A test keeps
every other module free of `telegram` imports.
"""
