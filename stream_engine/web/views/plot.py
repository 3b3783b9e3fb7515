"""``GET /catalog/{subsite}/{node}/{sensor}/{method}/{stream}/plot.{png,svg}``: a quick look.

Query: ``parameter`` (a variable's NetCDF name, required), ``start`` and ``stop`` (ISO 8601 or
NTP seconds, default the stream's coverage), ``points`` (default setting ``PLOT_POINTS``).
The values are decimated on the server (:mod:`stream_engine.catalog.quicklook`) and drawn with
matplotlib (:mod:`stream_engine.catalog.plot`), so the image costs the same whatever the range.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from webob import Response

from stream_engine.catalog.describe import dataset_id
from stream_engine.catalog.plot import FORMATS, render
from stream_engine.catalog.quicklook import quicklook_series
from stream_engine.catalog.times import parse_time
from stream_engine.errors import BadRequest, NotFound
from stream_engine.store.base import TimeRange
from stream_engine.web.views.base import View
from stream_engine.web.views.catalog import stream_key

if TYPE_CHECKING:
    from webob import Request

MIN_POINTS, MAX_POINTS = 100, 20_000


def _points(text: str, default: int) -> int:
    if not text:
        return default
    try:
        points = int(text)
    except ValueError:
        raise BadRequest(f"points must be a whole number, got {text!r}") from None
    if not MIN_POINTS <= points <= MAX_POINTS:
        raise BadRequest(f"points must be between {MIN_POINTS} and {MAX_POINTS}, got {points}")
    return points


class QuickLookView(View):
    """A stream variable over a time range, as a PNG or SVG image."""

    def get(self, request: Request, subsite: str, node: str, sensor: str, method: str,
            stream: str, fmt: str) -> Response:
        if fmt not in FORMATS:
            raise NotFound(f"quick-look plots are plot.png or plot.svg, not plot.{fmt}")
        key = stream_key(subsite, node, sensor, method, stream)
        name = request.GET.get("parameter", "")
        if not name:
            raise BadRequest("name the variable to plot: ?parameter=<name> (the stream page lists them)")
        settings = self.context.settings
        with self.context.store.snapshot() as view:
            coverage = view.coverage(key)
            if coverage is None:
                raise NotFound(f"no stream {key.path!r} holds data in this store; the catalog is at /")
            start = parse_time(request.GET["start"], "start") if request.GET.get("start") else coverage.first
            stop = parse_time(request.GET["stop"], "stop") if request.GET.get("stop") else coverage.last
            if stop < start:
                raise BadRequest(f"stop {request.GET.get('stop')!r} is before start {request.GET.get('start')!r}")
            series = quicklook_series(
                view, self.context.preload, key, name,
                TimeRange(float(start), float(np.nextafter(stop, np.inf))),
                settings=settings,
                points=_points(request.GET.get("points", ""), int(settings["PLOT_POINTS"])),
                compute_records=int(settings["PLOT_COMPUTE_RECORDS"]),
            )
        image = render(series, f"{dataset_id(key)}: {name}", fmt)
        return Response(body=image, content_type=FORMATS[fmt], charset=None,
                        cache_control="max-age=60")
