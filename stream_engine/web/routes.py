"""The route table: URL pattern -> view class, as data.

Adding a page or an API call is one line in :data:`ROUTES`. A pattern is a path with
``{name}`` placeholders (one path segment, no ``/``) or ``{name:path}`` (the rest of the path,
``/`` included); matched values are passed to the view's method as keyword arguments. The first
matching route wins. ``error_format`` picks the form of error bodies (see ``web/errors.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stream_engine.web.views.annotations import AnnotationsView, StreamAnnotationsView
from stream_engine.web.views.async_fs import AggregateView, AsyncExportView, StatsView
from stream_engine.web.views.base import View
from stream_engine.web.views.catalog import (
    DapFolderView,
    FolderRedirect,
    FolderView,
    RootView,
    StreamPageView,
)
from stream_engine.web.views.dap import DapDatasetView, DapDatedView, DapIndexView
from stream_engine.web.views.export import DownloadView, ExportFormView, ExportJobPage
from stream_engine.web.views.exports import ExportView
from stream_engine.web.views.jobs import JobFileView, JobsView, JobView
from stream_engine.web.views.particles import ParticlesView
from stream_engine.web.views.plan import EstimateView, NeedsView
from stream_engine.web.views.plot import QuickLookView
from stream_engine.web.views.thredds import ThreddsCatalogView
from stream_engine.web.views.version import HealthView, VersionView

_PLACEHOLDER = re.compile(r"\{(\w+)(?::(path))?\}")


def _compile(pattern: str) -> re.Pattern[str]:
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern must start with '/', got {pattern!r}")
    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(pattern):
        parts.append(re.escape(pattern[position : match.start()]))
        value = ".+" if match.group(2) else "[^/]+"
        parts.append(f"(?P<{match.group(1)}>{value})")
        position = match.end()
    parts.append(re.escape(pattern[position:]))
    return re.compile("".join(parts) + r"\Z")


@dataclass(frozen=True)
class Route:
    """One entry of the route table."""

    pattern: str
    view: type[View]
    error_format: str = "json"
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", _compile(self.pattern))

    def match(self, path: str) -> dict[str, str] | None:
        """The placeholder values if ``path`` matches, else ``None``."""
        found = self.regex.match(path)
        return None if found is None else found.groupdict()


_STREAM = "{subsite}/{node}/{sensor}/{method}/{stream}"

ROUTES: tuple[Route, ...] = (
    Route("/version", VersionView),
    Route("/health", HealthView),
    Route("/particles", ParticlesView),
    Route("/estimate", EstimateView),
    Route("/needs", NeedsView),
    Route("/annotations", AnnotationsView),
    Route(f"/annotations/{_STREAM}", StreamAnnotationsView),
    Route("/", RootView, error_format="html"),
    Route("/index.json", RootView),
    Route("/catalog.xml", ThreddsCatalogView, error_format="html"),
    Route("/thredds/catalog.xml", ThreddsCatalogView, error_format="html"),
    Route("/catalog/{path:path}/catalog.xml", ThreddsCatalogView, error_format="html"),
    Route("/thredds/catalog/{path:path}/catalog.xml", ThreddsCatalogView, error_format="html"),
    Route("/catalog/", RootView, error_format="html"),
    Route("/catalog/jobs/{job_id}", ExportJobPage, error_format="html"),
    Route(f"/catalog/{_STREAM}", StreamPageView, error_format="html"),
    Route(f"/catalog/{_STREAM}/plot.{{fmt}}", QuickLookView, error_format="html"),
    Route(f"/catalog/{_STREAM}/export", ExportFormView, error_format="html"),
    Route("/catalog/{path:path}/", FolderView, error_format="html"),
    Route("/catalog/{path:path}.json", FolderView),
    Route("/catalog/{path:path}", FolderRedirect, error_format="html"),
    Route(f"/download/{_STREAM}", DownloadView, error_format="html"),
    Route("/dap", DapIndexView, error_format="html"),
    Route("/dap/", DapIndexView, error_format="html"),
    Route("/dap.json", DapIndexView),
    Route(f"/dap/{_STREAM}", DapDatasetView, error_format="dap"),
    Route(f"/dap/{_STREAM}/{{start}}/{{stop}}", DapDatedView, error_format="dap"),
    Route("/dap/{path:path}/", DapFolderView, error_format="html"),
    Route("/dap/{path:path}.json", DapFolderView),
    Route("/netcdf", ExportView.of("netcdf")),
    Route("/csv", ExportView.of("csv")),
    Route("/tab", ExportView.of("tsv")),
    Route("/netcdf-fs", AsyncExportView.of("netcdf")),
    Route("/csv-fs", AsyncExportView.of("csv")),
    Route("/tab-fs", AsyncExportView.of("tsv")),
    Route("/particles-fs", AsyncExportView.of("json")),
    Route("/aggregate", AggregateView),
    Route("/stats", StatsView),
    Route("/jobs", JobsView),
    Route("/jobs/{job_id}", JobView),
    Route("/jobs/{job_id}/{name}", JobFileView),
)
