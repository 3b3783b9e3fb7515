"""``GET /version``: what is running, with which dependencies, over which store and preload."""

from __future__ import annotations

import functools
import platform
import re
from importlib import metadata
from typing import TYPE_CHECKING, Any

from webob import Response

from stream_engine import __version__
from stream_engine.web.views.base import View, json_response

if TYPE_CHECKING:
    from webob import Request

    from stream_engine.config import Settings

DISTRIBUTION = "stream-engine"
KEY_DEPENDENCIES = (
    "numpy", "xarray", "pandas", "netCDF4", "pydap", "webob", "gunicorn", "jinja2",
    "cassandra-driver", "gsw", "numexpr", "scipy", "ioos_qc", "tsdownsample", "orjson", "tqdm",
)
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def dependency_names() -> list[str]:
    """Runtime dependencies declared by the installed package (not extras), else the key list."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        requirements = []
    names = []
    for requirement in requirements:
        found = _REQUIREMENT_NAME.match(requirement)
        if found and "extra ==" not in requirement.replace('"', "").replace("'", ""):
            names.append(found.group(1))
    return names or list(KEY_DEPENDENCIES)


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, ``None`` if it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def dependency_versions() -> dict[str, str | None]:
    """The installed version of each runtime dependency, read once per process.

    Reading the installed packages' metadata takes ~15 ms, and ``/version`` is what servers are
    polled on until they answer. Packages upgraded in place while a worker runs do not change the
    code it runs, so neither does its answer; a reload (new workers) reads them again.
    """
    return {name: installed_version(name) for name in dependency_names()}


def version_info(settings: Settings) -> dict[str, Any]:
    """The body of ``GET /version``."""
    return {
        "name": DISTRIBUTION,
        "version": __version__,
        "python": platform.python_version(),
        "store": settings.STORE,
        "preload": str(settings.path("PRELOAD")),
        "dependencies": dict(dependency_versions()),
    }


class VersionView(View):
    """The engine's version and environment, as JSON."""

    def get(self, request: Request) -> Response:
        return json_response(version_info(self.context.settings))


class HealthView(View):
    """``GET /health``: whether this worker answers and its store can be opened (JSON).

    The gunicorn worker (:mod:`stream_engine.web.worker`) answers plain ``/health`` probes in its
    accepting thread before they reach a request thread; this view gives the same answer
    in-process and for requests the worker hands on. See :mod:`stream_engine.web.health`.
    """

    def get(self, request: Request) -> Response:
        status, body = self.context.health.answer({"answered_by": "request thread"})
        response = Response(body=body, status=status, content_type="application/json", charset=None)
        response.cache_control = "no-store"
        return response
