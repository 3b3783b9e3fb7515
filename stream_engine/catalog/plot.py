"""Drawing a quick-look :class:`~stream_engine.catalog.quicklook.Series` with matplotlib (Agg).

Uses :class:`matplotlib.figure.Figure` directly (no pyplot state), so threads of one worker can
draw side by side. Time runs along x (UTC dates), the variable with its units along y;
deployment starts and ends inside the range are dashed vertical lines labelled with the
deployment number; a gap longer than ten times the typical spacing breaks the line.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from stream_engine.catalog.times import NTP_UNIX_OFFSET

if TYPE_CHECKING:
    from stream_engine.catalog.quicklook import Series

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
WIDTH_INCHES, HEIGHT_INCHES, DPI = 10.0, 4.2, 100
#: Where the axes sit in the figure, as fractions of its width (the annotation timeline aligns to them).
AXES_LEFT, AXES_RIGHT = 0.09, 0.98


def _dates(ntp: np.ndarray) -> np.ndarray:
    return ((np.asarray(ntp) - NTP_UNIX_OFFSET) * 1e6).astype("datetime64[us]")


def _with_gaps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(x) < 3:
        return x, y
    dt = np.diff(x)
    typical = float(np.median(dt))
    breaks = np.flatnonzero(dt > 10 * max(typical, 1e-9)) + 1
    if not len(breaks):
        return x, y
    return np.insert(x, breaks, x[breaks - 1]), np.insert(y, breaks, np.nan)


def render(series: Series, title: str, fmt: str = "png") -> bytes:
    """The plot as PNG or SVG bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"plot format must be one of {sorted(FORMATS)}, got {fmt!r}")
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    figure.subplots_adjust(left=AXES_LEFT, right=AXES_RIGHT, top=0.88, bottom=0.14)  # constrained layout: 2x slower
    axes = figure.subplots()
    x, y = _with_gaps(series.time, series.values)
    axes.plot(_dates(x), y, color="#0b4f9c", linewidth=0.9)
    low, high = _dates(np.array([series.start, series.stop]))
    if np.isfinite(series.start) and np.isfinite(series.stop):
        axes.set_xlim(low, high)
    for number, start, stop in series.deployments:
        for edge, word in ((start, "start"), (stop, "end")):
            if edge is not None and series.start <= edge <= series.stop:
                axes.axvline(_dates(np.array([edge]))[0], color="#8a1c1c", linestyle="--", linewidth=1)
                axes.annotate(f"D{number} {word}", xy=(_dates(np.array([edge]))[0], 1),
                              xycoords=("data", "axes fraction"), xytext=(3, -12),
                              textcoords="offset points", fontsize=8, color="#8a1c1c")
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.set_xlabel("time (UTC)")
    axes.set_ylabel(f"{series.label} ({series.units})" if series.units else series.label)
    note = f"{len(series.time):,} points from {series.used:,} of {series.records:,} records"
    if series.stride > 1:
        note += f" (computed on every {series.stride}th record)"
    axes.set_title(f"{title}\n{note}", fontsize=9, loc="left")
    axes.grid(True, color="#e0e0e0")
    if not len(series.time):
        axes.text(0.5, 0.5, "no values in this range", transform=axes.transAxes, ha="center")
    buffer = io.BytesIO()
    if fmt == "png":
        figure.savefig(buffer, format=fmt, metadata={"Software": None}, pil_kwargs={"compress_level": 1})
    else:
        figure.savefig(buffer, format=fmt)
    return buffer.getvalue()
