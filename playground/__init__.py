"""Trellis without Telegram: a stand-in for the Bot API and two simulated partners.

Used by the integration tests, the playground (`python -m playground`) and the
benchmarks. Nothing here is imported by the bot that real users run.
"""
