"""The reports' kit: a self-contained HTML page, figures as inline PNG, table cells,
Markdown tables, a plain-number log axis. Every report (compare, tuning, study) uses it.
"""
from __future__ import annotations

import base64
import html
import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

__all__ = ["cell_text", "html_page", "log_y_axis", "markdown_table", "plt", "png_base64",
           "series_styles"]


def series_styles(names) -> dict[str, dict[str, str]]:
    """A colour, line style and marker per name that no other name shares: the
    colour cycle's ten colours, then the same colours dashed with square markers,
    and so on (a study of thirteen variants would otherwise repeat three colours)."""
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    lines, markers = ["-", "--", ":", "-."], ["o", "s", "^", "D"]
    styles = {}
    for i, name in enumerate(dict.fromkeys(names)):
        round_ = i // len(colours) % len(lines)
        styles[name] = {"color": colours[i % len(colours)], "linestyle": lines[round_],
                        "marker": markers[round_]}
    return styles


def log_y_axis(ax) -> None:
    """A log-scaled y axis with plain numbers (50, 100, 200), not 10^x labels."""
    from matplotlib import ticker

    ax.set_yscale("log")
    ax.yaxis.set_minor_locator(ticker.LogLocator(subs=(2, 3, 5)))
    for set_formatter in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
        set_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))


def html_page(title: str, body: str, max_width: int = 1200) -> str:
    """A self-contained report page: ``body`` (HTML) under ``title``, tables ruled."""
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(title)}</title><style>body{{font-family:sans-serif;"
            f"max-width:{max_width}px;margin:auto}} table{{border-collapse:collapse}} "
            "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"
            f"{body}</body></html>")


def png_base64(figure_or_image) -> str:
    buffer = io.BytesIO()
    if isinstance(figure_or_image, Image.Image):
        figure_or_image.save(buffer, format="PNG")
    else:
        figure_or_image.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure_or_image)
    return base64.b64encode(buffer.getvalue()).decode()


def cell_text(value) -> str:
    """A table cell: "-" for a missing value, four significant digits for a float."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(table: pd.DataFrame) -> str:
    """``table`` as a Markdown table; a "|" in a cell is escaped, not a column break."""
    def cell(value) -> str:
        return str(value).replace("|", "\\|")
    header = [cell(table.index.name or ""), *map(cell, table.columns)]
    rows = [[cell(i), *map(cell, row)] for i, row in zip(table.index, table.to_numpy())]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
