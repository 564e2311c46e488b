"""The weekly trend chart: a PNG drawn with matplotlib's headless Agg canvas.

Only the object-oriented API is used (no pyplot global state), so rendering is
safe in a worker thread; `render` runs it there so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import io
import math

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 4.5, 100  # 800 x 450 pixels
MAX_WEEKS = 12


def render_png(
    weeks: list[str], series: dict[str, list[float | None]], title: str, overall: str
) -> bytes:
    """Lines per theme (and a bold overall line) on a fixed 1-5 axis, as PNG bytes.

    `weeks` are the x-axis labels; a None value leaves a gap in its line.
    """
    # Imported here, not at module level: matplotlib and numpy cost ~45 MB of RSS,
    # which a bot that has not drawn a chart yet should not pay. Agg needs no display.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = list(range(len(weeks)))
    for name, values in series.items():
        ys = [math.nan if v is None else v for v in values]
        bold = name == overall
        ax.plot(
            xs,
            ys,
            marker="o",
            linewidth=3.0 if bold else 1.6,
            color="#333333" if bold else None,
            label=name,
            zorder=3 if bold else 2,
        )
    ax.set_ylim(0.8, 5.2)
    ax.set_yticks([1, 2, 3, 4, 5])
    ax.set_xticks(xs)
    ax.set_xticklabels(weeks)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="lower left", fontsize="small", ncols=2, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


async def render(
    weeks: list[str], series: dict[str, list[float | None]], title: str, overall: str
) -> bytes:
    """`render_png` in a worker thread: drawing takes ~100 ms, too long for the loop."""
    return await asyncio.to_thread(render_png, weeks, series, title, overall)
