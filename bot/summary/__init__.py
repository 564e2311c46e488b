"""The weekly summary, split as every feature with numbers, SQL and text:

- `numbers`: pure functions over a couple's weeks (what a unit test walks);
- `store`: the SQL that reads weeks, promises, thanks and past answers, and stores summaries;
- `views`: what the couple reads, built from numbers and the catalogue;
- `feature`: the sweep and the /summary and /history commands that tie them together.
"""

from bot.summary.feature import Rendered, Summaries

__all__ = ["Rendered", "Summaries"]
