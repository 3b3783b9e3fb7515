"""The HTML catalog and its JSON twins.

* ``GET /`` (twin ``/index.json``): subsites with their nodes, stream counts and coverage;
* ``GET /catalog/{subsite}/[{node}/[{sensor}/[{method}/]]]`` (twin: the folder path with
  ``.json``): one level of the hierarchy; the same folders are served under ``/dap/``;
* ``GET /catalog/{subsite}/{node}/{sensor}/{method}/{stream}`` (twin ``....json``): the stream
  page (identity, coverage, deployments, parameters with product resolution, DAP snippets, a
  quick-look plot form and a request form).

Any folder page and the front page take ``?q=`` to filter the streams under them (see
:func:`stream_engine.catalog.tree.filter_streams`). Pages render from the partition index, the
asset events and the dictionary, through one store snapshot; none reads stored data.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from webob.exc import HTTPMovedPermanently

from stream_engine.catalog.annotation_timeline import annotation_timeline
from stream_engine.catalog.describe import describe_stream, ntp_to_iso, stream_identity
from stream_engine.catalog.times import ntp_to_input, parse_time
from stream_engine.catalog.tree import LEVELS, Folder, filter_streams, folder
from stream_engine.engine.versions import stream_version, streams_version
from stream_engine.errors import BadRequest, NotFound
from stream_engine.quality.annotations import annotations_for
from stream_engine.store.base import StreamKey
from stream_engine.web.pages import html_page, json_twin
from stream_engine.web.urls import Urls
from stream_engine.web.validators import for_html, not_modified, with_validators
from stream_engine.web.views.base import View

if TYPE_CHECKING:
    from webob import Request, Response

    from stream_engine.engine.versions import ResponseVersion
    from stream_engine.store.base import StreamCoverage

JSON_SUFFIX = ".json"
PLOT_FORMATS = ("png", "svg")
OUTPUTS = (("json", "JSON records (POST /particles)"), ("netcdf", "NetCDF4 files"),
           ("csv", "CSV files"), ("tab", "tab-separated files"))


class CatalogView(View):
    """What every catalog page shares: the URL builder and the render helper."""

    def urls(self, request: Request) -> Urls:
        return Urls.for_request(request, self.context.settings.BASE_URL)

    def page_version(self, version: ResponseVersion, as_json: bool) -> ResponseVersion:
        """The validators of the page (``as_json``: of its twin) showing data of ``version``."""
        return version if as_json else for_html(version, self.context.settings.TEMPLATE_OVERRIDE_DIR)

    def respond(self, request: Request, data: dict[str, Any], *, templates: list[str],
                html_url: str, json_url: str, as_json: bool, version: ResponseVersion,
                **extra: Any) -> Response:
        """The page, or its twin when ``as_json``: both from the same ``data``, with the
        validators of ``version`` (see :meth:`page_version`)."""
        if as_json:
            return with_validators(json_twin(data, html_url), version)
        return with_validators(html_page(
            templates,
            {"data": data, "urls": self.urls(request), **extra},
            json_url=json_url,
            override_dir=self.context.settings.TEMPLATE_OVERRIDE_DIR,
        ), version)


def _stream_entry(coverage: StreamCoverage, urls: Urls) -> dict[str, Any]:
    return {**stream_identity(coverage), "name": coverage.key.stream,
            "url": urls.stream(coverage.key), "json": urls.stream_json(coverage.key),
            "dap": urls.dap(coverage.key)}


def _folder_entry(f: Folder, urls: Urls, prefix: str) -> dict[str, Any]:
    return {
        "name": f.name,
        "level": f.level,
        "url": urls.folder(f.path, prefix),
        "json": urls.folder_json(f.path, prefix),
        "streams": len(f.streams),
        "count": f.count,
        "time_coverage_start": ntp_to_iso(f.first),
        "time_coverage_end": ntp_to_iso(f.last),
        "children": [
            {"name": c.name, "url": urls.folder(c.path, prefix)} for c in f.children()
        ],
    }


def breadcrumb(path: tuple[str, ...], urls: Urls, prefix: str = "catalog") -> list[dict[str, str]]:
    """``[{"name", "url"}]`` from the catalog's front page down to ``path``."""
    root = "Catalog" if prefix == "catalog" else "DAP datasets"
    crumbs = [{"name": root, "url": urls.folder((), prefix)}]
    for depth in range(1, len(path) + 1):
        crumbs.append({"name": path[depth - 1], "url": urls.folder(path[:depth], prefix)})
    return crumbs


def folder_data(f: Folder, urls: Urls, prefix: str, query: str, preload: Any) -> dict[str, Any]:
    """The content of a folder page (and of its twin)."""
    if f.streams:
        summary = {"time_coverage_start": ntp_to_iso(f.first), "time_coverage_end": ntp_to_iso(f.last)}
    else:
        summary = {"time_coverage_start": None, "time_coverage_end": None}
    data: dict[str, Any] = {
        "level": f.level,
        "path": list(f.path),
        "name": f.name or "Stream Engine catalog",
        "child_level": f.child_level,
        "streams": len(f.streams),
        "count": f.count,
        **summary,
        "breadcrumb": breadcrumb(f.path, urls, prefix),
        "thredds": urls.thredds(f.path),
        "query": query,
        "matches": None,
    }
    if f.child_level == "stream":
        data["children"] = [_stream_entry(c, urls) for c in f.streams]
    else:
        data["children"] = [_folder_entry(c, urls, prefix) for c in f.children()]
    if query.strip():
        data["matches"] = [
            {**_stream_entry(m.coverage, urls), "matched": list(m.matched)}
            for m in filter_streams(f.streams, preload, query)
        ]
    return data


class FolderView(CatalogView):
    """One level of the hierarchy; ``prefix`` says under which root its links stay."""

    prefix: ClassVar[str] = "catalog"

    def get(self, request: Request, path: str = "") -> Response:
        as_json = request.path_info.endswith(JSON_SUFFIX)
        parts = tuple(p for p in path.split("/") if p) if path else ()
        urls = self.urls(request)
        query = request.GET.get("q", "")
        with self.context.store.snapshot() as view:
            f = folder(view.streams(), parts)
            version = self.page_version(
                streams_version(view, self.context.preload, [c.key for c in f.streams]), as_json)
        unchanged = not_modified(request, version)
        if unchanged is not None:
            return unchanged
        data = folder_data(f, urls, self.prefix, query, self.context.preload)
        q = {"q": query} if query else None
        return self.respond(
            request, data, as_json=as_json, version=version,
            templates=[f"folder-{f.level}.html", "folder.html"],
            html_url=urls.folder(parts, self.prefix, q), json_url=urls.folder_json(parts, self.prefix, q),
        )


class RootView(FolderView):
    """The catalog's front page: ``/`` and its twin ``/index.json`` (the folder with no path)."""


class DapFolderView(FolderView):
    """The folder-like paths under ``/dap/`` (``/dap/CE07SHSM/``): the catalog's levels."""

    prefix = "dap"


class FolderRedirect(View):
    """A folder path without its trailing slash: a permanent redirect to the folder page."""

    def get(self, request: Request, path: str) -> Response:
        query = request.query_string
        return HTTPMovedPermanently(location=request.path_url + "/" + (f"?{query}" if query else ""))


def stream_key(subsite: str, node: str, sensor: str, method: str, stream: str) -> StreamKey:
    """The key of a stream path, or :class:`NotFound` saying what a stream path looks like."""
    try:
        return StreamKey(subsite, node, sensor, method, stream)
    except TypeError as exc:
        raise NotFound(f"not a stream path: {subsite}/{node}/{sensor}/{method}/{stream}") from exc


def _plot_request(request: Request, data: dict[str, Any], urls: Urls, key: StreamKey) -> dict[str, Any]:
    """The quick-look form's state and, when a variable is chosen, the plot's URLs."""
    plottable = [p["netcdf_name"] for p in data["parameters"] if p["plottable"]]
    chosen = request.GET.get("parameter", "")
    state: dict[str, Any] = {
        "choices": plottable,
        "parameter": chosen,
        "start": request.GET.get("start", "") or ntp_to_input(data["first"]),
        "stop": request.GET.get("stop", "") or ntp_to_input(data["last"]),
        "format": request.GET.get("format", "png") if request.GET.get("format") in PLOT_FORMATS else "png",
        "error": None,
        "png": None,
        "svg": None,
    }
    if not chosen:
        return state
    try:
        if chosen not in plottable:
            raise BadRequest(f"{chosen!r} cannot be plotted: choose one of {', '.join(plottable)}")
        parse_time(state["start"], "start")
        parse_time(state["stop"], "stop")
    except BadRequest as exc:
        state["error"] = str(exc)
        return state
    query = {"parameter": chosen, "start": state["start"], "stop": state["stop"]}
    state["png"] = urls.plot(key, "png", query)
    state["svg"] = urls.plot(key, "svg", query)
    return state


def _first_day(data: dict[str, Any]) -> str:
    """``/<day>/<next day>``: the dated sub-dataset of the coverage's first day."""
    first = date.fromisoformat(str(data["time_coverage_start"])[:10])
    return f"/{first.isoformat()}/{(first + timedelta(days=1)).isoformat()}"


def _plotted_range(plot: dict[str, Any], data: dict[str, Any]) -> tuple[float, float]:
    """The quick-look's time range (the stream's coverage when the form's times are unusable)."""
    try:
        start, stop = parse_time(plot["start"], "start"), parse_time(plot["stop"], "stop")
    except BadRequest:
        return float(data["first"]), float(data["last"])
    return (start, stop) if stop > start else (float(data["first"]), float(data["last"]))


class StreamPageView(CatalogView):
    """A stream's page; the last path segment is ``<stream>`` or ``<stream>.json``."""

    def get(self, request: Request, subsite: str, node: str, sensor: str, method: str,
            stream: str) -> Response:
        as_json = stream.endswith(JSON_SUFFIX)
        key = stream_key(subsite, node, sensor, method,
                         stream[: -len(JSON_SUFFIX)] if as_json else stream)
        urls = self.urls(request)
        with self.context.store.snapshot() as view:
            version = self.page_version(
                stream_version(view, self.context.preload, key, self.context.settings), as_json)
            unchanged = not_modified(request, version)
            if unchanged is not None:
                return unchanged
            data = describe_stream(view, self.context.preload, key, settings=self.context.settings)
            found = annotations_for(view, key, -math.inf, math.inf)
        data["breadcrumb"] = breadcrumb(tuple(key.path.split("/")), urls)
        data["breadcrumb"][-1]["url"] = urls.stream(key)
        data["urls"] = {
            "page": urls.stream(key), "json": urls.stream_json(key), "dap": urls.dap(key),
            "dap_form": urls.dap(key, ".html"), "das": urls.dap(key, ".das"),
            "dds": urls.dap(key, ".dds"), "thredds": urls.thredds(tuple(key.path.split("/")[:4])),
            "export": urls.export(key), "dap_day": urls.dap(key, _first_day(data)),
        }
        for p in data["parameters"]:
            for item in p.get("inputs", ()):
                if item["stream"]:
                    item["stream_url"] = urls.stream(StreamKey.from_path(item["stream"]))
        plot = _plot_request(request, data, urls, key)
        data["annotations"] = annotation_timeline(found, *_plotted_range(plot, data), {
            ident: p.netcdf_name or p.name for p in self.context.preload.stream_parameters(key.stream)
            for ident in (p.id, p.name)})
        data["urls"]["annotations"] = urls.annotations(key)
        return self.respond(
            request, data, as_json=as_json, version=version,
            templates=[f"stream-{key.stream}.html", "stream.html"],
            html_url=urls.stream(key), json_url=urls.stream_json(key),
            plot=plot, outputs=OUTPUTS, levels=LEVELS,
        )
