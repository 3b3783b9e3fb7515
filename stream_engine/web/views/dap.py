"""``/dap/``: every stored stream mounted as a virtual OPeNDAP (DAP2 and DAP4) dataset.

* ``GET /dap/`` lists the datasets (HTML), ``GET /dap.json`` is its JSON twin;
* ``GET /dap/{subsite}/{node}/{sensor}/{method}/{stream}.{dds,das,dods,ascii,asc,html,info,ver,
  help}`` answers the DAP2 request (the bare URL answers with the ``.html`` request form), and
  ``.{dmr,dmr.xml,dap,dsr,dsr.xml}`` the DAP4 one;
* ``GET /dap/<stream path>/<start>/<stop>[.<response>]`` is the dated sub-dataset of the records
  in ``[start, stop)``, for clients that cannot pass a constraint.

The view only finds the stream, builds its dataset (:mod:`dap_handlers.stream_dataset`) and
hands it to :func:`dap_handlers.app.handle_dap` (or :func:`dap_handlers.dap4.service.handle_dap4`),
which checks the constraint, bounds, size cap and conditional headers before any data flows;
the body is streamed as the encoders produce it.
Everything is read through one store snapshot, held until the body is sent or the client goes
away, so a response never mixes two states of the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from webob import Response

from dap_handlers.app import common_headers, handle_dap
from dap_handlers.constraints import parse_constraint
from dap_handlers.dap4.ce import parse_dap4_query
from dap_handlers.dap4.service import DAP4_KINDS, dap4_error_response, dap4_headers, handle_dap4
from dap_handlers.errors import ConstraintError
from dap_handlers.metadata_responses import RESPONSES, KeptResponse, not_modified_answer
from dap_handlers.responses.html import default_environment
from dap_handlers.stream_dataset import dataset_version, stream_coverage, stream_dataset_version
from dap_handlers.time_selection import TimeWindow, iso_to_ntp, window_dataset
from dap_handlers.window_layout import DAP2_ORDER, DAP4_ORDER
from stream_engine import __version__
from stream_engine.engine.dependencies import Dependencies, RecordingStore
from stream_engine.engine.versions import code_fingerprint, preload_fingerprint, streams_version
from stream_engine.errors import NotFound, StreamEngineError
from stream_engine.store.base import StreamKey
from stream_engine.web.validators import for_html, not_modified, with_validators
from stream_engine.web.views.base import ClosingBody, View, json_response, snapshot_scope

if TYPE_CHECKING:
    from webob import Request

    from stream_engine.store.base import StreamCoverage

INDEX_TEMPLATE = "dap_index.html"
#: Response kinds whose body holds data (the constraint's projection matters for them).
DATA_SUFFIXES = ("dods", "ascii", "asc")
#: Response kinds made of metadata alone: kept whole per worker while what they read is unchanged
#: (:mod:`dap_handlers.metadata_responses`).
METADATA_SUFFIXES = frozenset({"dds", "das", "html", "info", "dmr", "dmr.xml", "dsr", "dsr.xml"})
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
        "dmr": url + ".dmr",
        "dated": url + "/{start}/{stop}",
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
    """Names a data request projects (``None``: all, or unparseable: the handler reports it)."""
    if suffix == "dap":
        try:
            names = {name for name, _ in parse_dap4_query(query_string).variables}
        except StreamEngineError:
            return None
        return names or None
    if suffix not in DATA_SUFFIXES:
        return set()
    try:
        projections = parse_constraint(query_string)
    except ConstraintError:
        return None
    if not projections:
        return None
    return {p.name.partition(".")[0] for p in projections}


def _conditional(request: Request) -> bool:
    """Whether the request carries a condition a ``304`` may answer."""
    return "If-None-Match" in request.headers or "If-Modified-Since" in request.headers


def _window(start: str, stop: str) -> TimeWindow:
    """The ``[start, stop)`` window of a dated dataset URL (ISO 8601 dates or date-times)."""
    try:
        first, last = iso_to_ntp(start), iso_to_ntp(stop)
    except ConstraintError as exc:
        raise NotFound(
            f"no dataset at .../{start}/{stop}: a dated dataset is <stream URL>/<start>/<stop> "
            "with ISO 8601 dates or date-times, e.g. .../2019-05-02/2019-05-03"
        ) from exc
    if last <= first:
        raise ConstraintError(
            f"dated dataset {start}/{stop}: the window must end after it starts "
            "(start inclusive, stop exclusive, e.g. .../2019-05-02/2019-05-03)"
        )
    return TimeWindow(first, last)


class DapDatasetView(View):
    """One stream as a DAP dataset; the last path segment is ``<stream>[.<response>]``; DAP2
    responses go to :func:`~dap_handlers.app.handle_dap`, DAP4 ones (``.dmr``, ``.dap``,
    ``.dsr``) to :func:`~dap_handlers.dap4.service.handle_dap4`."""

    def get(
        self, request: Request, subsite: str, node: str, sensor: str, method: str, stream: str
    ) -> Response:
        name, _, suffix = stream.partition(".")
        return self.answer(request, (subsite, node, sensor, method, name), suffix or "html")

    def answer(self, request: Request, parts: tuple[str, str, str, str, str], suffix: str,
               dated: tuple[str, str] | None = None) -> Response:
        """The response of one dataset, cut to the ``dated`` window (start, stop) if given."""
        try:
            key = StreamKey(*parts)
        except TypeError as exc:
            raise NotFound(f"not a stream path: {request.path_info!r}; see /dap/") from exc
        preload, settings = self.context.preload, self.context.settings
        base = _base_url(request, settings.BASE_URL)
        dataset_url = f"{base}{DAP_ROOT}{key.path}" + ("" if dated is None else "/" + "/".join(dated))
        kind = suffix.lower()
        store = self.context.store
        kept_as: tuple[Any, ...] | None = None
        token = None
        if kind in METADATA_SUFFIXES:
            # everything the text depends on besides what the store holds (Dependencies)
            kept_as = (key, kind, request.query_string, dated, dataset_url,
                       code_fingerprint()[0], preload_fingerprint(preload)[0])
            kept, token = RESPONSES.lookup(kept_as, store, (store, preload, settings), dict(request.headers))
            if kept is not None:
                return Response(status=kept.status, headerlist=list(kept.headers), app_iter=kept.body_iter)
        stack, view = snapshot_scope(store)
        recorder = None if kept_as is None else RecordingStore(view)  # notes what the answer reads
        view = recorder or view
        request_id = request.environ.get("stream_engine.request_id")
        try:
            window = None if dated is None else _window(*dated)
            coverage = stream_coverage(view, preload, key)
            server_headers = dap4_headers() if kind in DAP4_KINDS else common_headers()
            unchanged = None
            if kept_as is not None and not request.query_string and _conditional(request):
                # nothing to check in the request: the validators alone (from change tokens) answer
                version = dataset_version(view, preload, key, settings=settings, coverage=coverage)
                unchanged = not_modified_answer(dict(request.headers), version.etag, version.last_modified,
                                                server_headers)
            if unchanged is not None:
                stack.close()
                return Response(status=304, headerlist=list(unchanged.headers), app_iter=[])
            dataset, version = stream_dataset_version(
                view,
                preload,
                key,
                settings=settings,
                projection=_projection(kind, request.query_string),
                coverage=coverage,
                byte_order=DAP4_ORDER if kind in DAP4_KINDS else DAP2_ORDER,
            )
            if window is not None:
                dataset = window_dataset(dataset, window)
            common: dict[str, Any] = {
                "max_response_bytes": settings.DAP_MAX_RESPONSE_BYTES,
                "last_modified": version.last_modified,
                "etag": version.etag,
                "request_headers": dict(request.headers),
                "block_bytes": settings.DAP_BLOCK_BYTES,
                "request_id": request_id,
            }
            if kind in DAP4_KINDS:
                answer = handle_dap4(dataset, suffix, request.query_string,
                                     dataset_url=dataset_url, **common)
            else:
                answer = handle_dap(dataset, suffix, request.query_string, **common)
        except Exception as error:
            stack.close()
            if kind not in DAP4_KINDS:
                raise
            answer = dap4_error_response(error, request_id)
        except BaseException:
            stack.close()
            raise
        if answer.status == 200 and recorder is not None and kept_as is not None:  # metadata: kept whole
            try:
                body = b"".join(answer.body_iter)
                dependencies = Dependencies.read(recorder)
            finally:
                stack.close()
            if dependencies is not None:
                RESPONSES.keep(kept_as, KeptResponse(
                    list(answer.headers), body, version.etag, version.last_modified, server_headers,
                    dependencies, (store, preload, settings), token))
            return Response(status=200, headerlist=list(answer.headers), app_iter=[body])
        if answer.status != 200:
            stack.close()
            return Response(status=answer.status, headerlist=list(answer.headers),
                            app_iter=answer.body_iter)
        return Response(status=answer.status, headerlist=list(answer.headers),
                        app_iter=ClosingBody(answer.body_iter, stack.close))


class DapDatedView(DapDatasetView):
    """A dated sub-dataset, ``/dap/<stream path>/<start>/<stop>[.<response>]``: the stream's
    records in ``[start, stop)`` (ISO 8601 dates or date-times, UTC unless they say otherwise)
    as a dataset of its own, for clients that cannot pass a constraint. Its ``obs`` is the
    window's size, and its DDS, DAS, DMR and data all describe the window."""

    def get(  # type: ignore[override]
        self, request: Request, subsite: str, node: str, sensor: str, method: str, stream: str,
        start: str, stop: str,
    ) -> Response:
        stop, _, suffix = stop.partition(".")
        return self.answer(request, (subsite, node, sensor, method, stream), suffix or "html",
                           dated=(start, stop))
