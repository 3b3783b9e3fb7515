"""HTML pages and their JSON twins: the template environment and the one render helper.

Templates live in the repository's ``templates/`` folder; the folder named by the setting
``TEMPLATE_OVERRIDE_DIR`` is searched first, so an operator can replace any page or partial
(``base.html``, ``_breadcrumb.html``, ...) without touching the code. A page names its templates
from most to least specific (``stream-<stream name>.html`` before ``stream.html``). Every page
renders one JSON-able ``data`` dict, and its ``.json`` twin returns that same dict; both
advertise each other with ``Link: rel="alternate"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from webob import Response

from stream_engine import __version__
from stream_engine.web.views.base import json_response

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
SERVER = f"Stream Engine {__version__}"


def _thousands(value: Any) -> str:
    return f"{int(value):,}"


def _number(value: Any, digits: int = 5) -> str:
    return "" if value is None else f"{float(value):.{digits}g}"


@lru_cache(maxsize=4)
def environment(override_dir: str = "") -> jinja2.Environment:
    """The page templates: ``override_dir`` (if set) searched before ``templates/``; autoescaped."""
    loaders: list[jinja2.BaseLoader] = []
    if override_dir:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    loaders.append(jinja2.FileSystemLoader(TEMPLATES_DIR))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["thousands"] = _thousands
    env.filters["number"] = _number
    env.globals["server"] = SERVER
    return env


def alternate_link(url: str, content_type: str) -> str:
    """A ``Link`` header value pointing at the other form of the same content."""
    return f'<{url}>; rel="alternate"; type="{content_type}"'


def html_page(
    templates: Sequence[str],
    context: Mapping[str, Any],
    *,
    json_url: str | None,
    override_dir: str = "",
    status: int = 200,
) -> Response:
    """Render the first template of ``templates`` that exists into an HTML response.

    ``context`` reaches the template as is; ``json_url`` (the page's twin) is added to it and
    advertised in a ``Link`` header.
    """
    template = environment(override_dir).select_template(list(templates))
    body = template.render(**context, json_url=json_url)
    response = Response(body=body.encode("utf-8"), status=status, content_type="text/html",
                        charset="utf-8")
    if json_url:
        response.headers["Link"] = alternate_link(json_url, "application/json")
    return response


def json_twin(data: Any, html_url: str) -> Response:
    """The JSON twin of a page: ``data`` itself, with a ``Link`` back to the HTML page."""
    return json_response(data, headers={"Link": alternate_link(html_url, "text/html")})
