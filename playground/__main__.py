"""`python -m playground` (`make playground`): the real bot, two partners, your terminal.

No bot token, no phone, no network: the application talks to the fake Bot API.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from playground.repl import DEFAULT_STEP, Playground, parse_duration, run_interactive, run_lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m playground",
        description="Try Trellis in the terminal: the real bot against a local stand-in "
        "for Telegram. Type /playground at the prompt for the commands.",
    )
    parser.add_argument("--script", type=Path, help="read lines from this file, print a transcript")
    parser.add_argument(
        "--names", default="Alice,Bob", help="the two partners' first names (default Alice,Bob)"
    )
    parser.add_argument(
        "--db", type=Path, help="keep the database here (default: a throwaway temporary one)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("playground-out"),
        help="where pictures and documents are saved (default playground-out/)",
    )
    parser.add_argument(
        "--tz", default="Europe/Berlin", help="time zone the clock is shown in (display only)"
    )
    parser.add_argument(
        "--step",
        default="15m",
        help="/wait sweeps the scheduler this often on the way (default 15m)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the bot's log")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.names.split(",")]
    if len(names) != 2 or not all(names) or names[0].lower() == names[1].lower():
        parser.error("--names takes two different names, e.g. --names Sam,Robin")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
    step = parse_duration(args.step) if args.step else DEFAULT_STEP
    pg = Playground(
        sys.stdout,
        names=(names[0], names[1]),
        db_path=args.db,
        media_dir=args.out,
        display_tz=args.tz,
        step=step,
    )
    if args.script is not None:
        lines = args.script.read_text(encoding="utf-8").splitlines()
        return asyncio.run(run_lines(pg, lines))
    return asyncio.run(run_interactive(pg))


if __name__ == "__main__":
    sys.exit(main())
