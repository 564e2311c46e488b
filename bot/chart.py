"""The weekly trend chart: a PNG drawn with matplotlib's headless Agg canvas.

One line per partner, in a colour named in the legend and the text, the gap between
them shaded, the y-axis saying what 1 and 5 mean, the legend outside the data, and a
week without both answers left as a break in the line (NaN), never bridged.

Only the object-oriented API is used (no pyplot global state), so rendering is
safe in a worker thread; `render` runs it there so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 4.8, 100  # 800 x 480 pixels
# Colour names as the text says them, and the colours drawn: two that stay apart for the
# common colour-vision deficiencies (blue/orange), and markers of different shapes too.
PARTNER_COLOURS = (("blue", "#1f6fb4", "o"), ("orange", "#e07b00", "s"))
GAP_COLOUR = "#9a9a9a"


@dataclass(frozen=True, slots=True)
class ChartText:
    title: str
    y_label: str  # says what 1 and 5 mean
    low: str  # beside the tick 1
    high: str  # beside the tick 5
    gap: str  # the legend's name for the shaded band


def figure(
    weeks: list[str], lines: list[tuple[str, list[float | None]]], text: ChartText
) -> Figure:
    """The chart as a matplotlib Figure: `lines` is (legend label, values) per partner."""
    # Imported here, not at module level: matplotlib and numpy cost ~45 MB of RSS,
    # which a bot that has not drawn a chart yet should not pay. Agg needs no display.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = list(range(len(weeks)))
    drawn = [[math.nan if v is None else v for v in values] for _, values in lines]
    if len(drawn) == 2:
        both = [not (math.isnan(a) or math.isnan(b)) for a, b in zip(*drawn, strict=True)]
        ax.fill_between(
            xs,
            [a if ok else 0.0 for a, ok in zip(drawn[0], both, strict=True)],
            [b if ok else 0.0 for b, ok in zip(drawn[1], both, strict=True)],
            where=both,
            color=GAP_COLOUR,
            alpha=0.25,
            linewidth=0,
            label=text.gap,
        )
        # A band has no width at a week between two gaps: a thin rule shows the gap there too.
        at = [x for x, ok in zip(xs, both, strict=True) if ok]
        ax.vlines(
            at,
            [drawn[0][x] for x in at],
            [drawn[1][x] for x in at],
            colors=GAP_COLOUR,
            linewidth=1.2,
            label="_gap_rules",
        )
    for (label, _), ys, (_, colour, marker) in zip(lines, drawn, PARTNER_COLOURS, strict=False):
        ax.plot(xs, ys, marker=marker, linewidth=2.2, markersize=7, color=colour, label=label)
    ax.set_ylim(0.8, 5.2)
    ax.set_yticks([1, 2, 3, 4, 5])
    ax.set_yticklabels([f"1 {text.low}", "2", "3", "4", f"5 {text.high}"])
    ax.set_ylabel(text.y_label)
    ax.set_xlim(-0.5, max(len(weeks) - 0.5, 0.5))
    ax.set_xticks(xs)
    ax.set_xticklabels(weeks)
    ax.set_title(text.title)
    ax.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.legend(loc="outside lower center", ncols=len(lines) + 1, frameon=False)
    return fig


def render_png(
    weeks: list[str], lines: list[tuple[str, list[float | None]]], text: ChartText
) -> bytes:
    buf = io.BytesIO()
    figure(weeks, lines, text).savefig(buf, format="png")
    return buf.getvalue()


async def render(
    weeks: list[str], lines: list[tuple[str, list[float | None]]], text: ChartText
) -> bytes:
    """`render_png` in a worker thread: drawing takes ~100 ms, too long for the loop."""
    return await asyncio.to_thread(render_png, weeks, lines, text)
