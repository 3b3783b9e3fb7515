"""``GET /version``: what is running, with which dependencies, over which store and preload."""

from __future__ import annotations

import platform
import re
from importlib import metadata
from typing import TYPE_CHECKING, Any

from stream_engine import __version__
from stream_engine.web.views.base import View, json_response

if TYPE_CHECKING:
    from webob import Request, Response

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


def version_info(settings: Settings) -> dict[str, Any]:
    """The body of ``GET /version``."""
    return {
        "name": DISTRIBUTION,
        "version": __version__,
        "python": platform.python_version(),
        "store": settings.STORE,
        "preload": str(settings.path("PRELOAD")),
        "dependencies": {name: installed_version(name) for name in dependency_names()},
    }


class VersionView(View):
    """The engine's version and environment, as JSON."""

    def get(self, request: Request) -> Response:
        return json_response(version_info(self.context.settings))


class HealthView(View):
    """``GET /health``: whether this worker answers and its store can be opened (JSON).

    Cheap on purpose (one file check, no data read) and exempt from the per-client bound, so
    load balancers and operators get an answer while the server is busy; 503 when the store is
    missing or damaged.
    """

    def get(self, request: Request) -> Response:
        store = self.context.store
        store.change_token()
        return json_response({"status": "ok", "store": store.backend, "version": __version__})
