"""``/dap/``: every stored stream mounted as a virtual OPeNDAP (DAP2) dataset.

* ``GET /dap/`` lists the datasets (HTML), ``GET /dap.json`` is its JSON twin;
* ``GET /dap/{subsite}/{node}/{sensor}/{method}/{stream}.{dds,das,dods,ascii,asc,html,info,ver,
  help}`` answers the DAP2 request (the bare URL answers with the ``.html`` request form).

The view only finds the stream, builds its dataset (:mod:`dap_handlers.stream_dataset`) and
hands it to :func:`dap_handlers.app.handle_dap`, which checks the constraint, bounds, size cap
and conditional headers before any data flows; the body is streamed as the encoders produce it.
Everything is read through one store snapshot, held until the body is sent or the client goes
away, so a response never mixes two states of the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from webob import Response

from dap_handlers.app import handle_dap
from dap_handlers.constraints import parse_constraint
from dap_handlers.errors import ConstraintError
from dap_handlers.responses.html import default_environment
from dap_handlers.stream_dataset import stream_coverage, stream_dataset_version
from stream_engine import __version__
from stream_engine.engine.versions import streams_version
from stream_engine.errors import NotFound
from stream_engine.store.base import StreamKey
from stream_engine.web.validators import for_html, not_modified, with_validators
from stream_engine.web.views.base import ClosingBody, View, json_response, snapshot_scope

if TYPE_CHECKING:
    from webob import Request

    from stream_engine.store.base import StreamCoverage

INDEX_TEMPLATE = "dap_index.html"
#: Response kinds whose body holds data (the constraint's projection matters for them).
DATA_SUFFIXES = ("dods", "ascii", "asc")
DAP_ROOT = "/dap/"


def _base_url(request: Request, configured: str) -> str:
    return (configured or request.application_url).rstrip("/")


def dataset_entry(coverage: StreamCoverage, base: str) -> dict[str, Any]:
    """One line of the index: identity, coverage and the dataset's URLs."""
    from stream_engine.outputs.attributes import dataset_id, ntp_to_iso

    key = coverage.key
    url = f"{base}{DAP_ROOT}{key.path}"
    return {
        "id": dataset_id(coverage),
        "subsite": key.subsite,
        "node": key.node,
        "sensor": key.sensor,
        "method": key.method,
        "stream": key.stream,
        "refdes": key.refdes,
        "count": coverage.count,
        "time_coverage_start": ntp_to_iso(coverage.first),
        "time_coverage_end": ntp_to_iso(coverage.last),
        "url": url,
        "html": url + ".html",
        "dds": url + ".dds",
        "das": url + ".das",
        "info": url + ".info",
    }


class DapIndexView(View):
    """The list of mounted datasets: an HTML page, or JSON when the path ends in ``.json``."""

    def get(self, request: Request) -> Response:
        base = _base_url(request, self.context.settings.BASE_URL)
        as_json = request.path_info.endswith(".json")
        with self.context.store.snapshot() as view:
            coverages = view.streams()
            version = streams_version(view, self.context.preload, [c.key for c in coverages])
        if not as_json:
            version = for_html(version)
        unchanged = not_modified(request, version)
        if unchanged is not None:
            return unchanged
        entries = [dataset_entry(c, base) for c in coverages]
        if as_json:
            return with_validators(json_response({"datasets": entries}, headers={
                "Link": f'<{base}{DAP_ROOT}>; rel="alternate"; type="text/html"'}), version)
        subsites = sorted({e["subsite"] for e in entries})
        page = default_environment().get_template(INDEX_TEMPLATE).render(
            datasets=entries, json_url=f"{base}/dap.json", server=f"Stream Engine {__version__}",
            folders=[{"name": s, "url": f"{base}{DAP_ROOT}{s}/"} for s in subsites],
        )
        response = Response(body=page.encode("utf-8"), content_type="text/html", charset="utf-8")
        response.headers["Link"] = f'<{base}/dap.json>; rel="alternate"; type="application/json"'
        return with_validators(response, version)


def _projection(suffix: str, query_string: str) -> set[str] | None:
    """Names a data request projects (``None``: all, or unparseable: handle_dap reports it)."""
    if suffix not in DATA_SUFFIXES:
        return set()
    try:
        projections = parse_constraint(query_string)
    except ConstraintError:
        return None
    if not projections:
        return None
    return {p.name.partition(".")[0] for p in projections}


class DapDatasetView(View):
    """One stream as a DAP2 dataset; the last path segment is ``<stream>[.<response>]``."""

    def get(
        self, request: Request, subsite: str, node: str, sensor: str, method: str, stream: str
    ) -> Response:
        name, _, suffix = stream.partition(".")
        suffix = suffix or "html"
        try:
            key = StreamKey(subsite, node, sensor, method, name)
        except TypeError as exc:
            raise NotFound(f"not a stream path: {request.path_info!r}; see /dap/") from exc
        preload, settings = self.context.preload, self.context.settings
        stack, view = snapshot_scope(self.context.store)
        try:
            coverage = stream_coverage(view, preload, key)
            dataset, version = stream_dataset_version(
                view,
                preload,
                key,
                settings=settings,
                projection=_projection(suffix.lower(), request.query_string),
                coverage=coverage,
            )
            answer = handle_dap(
                dataset,
                suffix,
                request.query_string,
                max_response_bytes=settings.DAP_MAX_RESPONSE_BYTES,
                last_modified=version.last_modified,
                etag=version.etag,
                request_headers=dict(request.headers),
                block_bytes=settings.DAP_BLOCK_BYTES,
                request_id=request.environ.get("stream_engine.request_id"),
            )
        except BaseException:
            stack.close()
            raise
        if answer.status != 200:
            stack.close()
            return Response(status=answer.status, headerlist=list(answer.headers),
                            app_iter=answer.body_iter)
        return Response(status=answer.status, headerlist=list(answer.headers),
                        app_iter=ClosingBody(answer.body_iter, stack.close))
