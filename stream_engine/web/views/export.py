"""``POST /catalog/{subsite}/{node}/{sensor}/{method}/{stream}/export``: the stream page's form.

The form (plain HTML, no JavaScript needed) is turned into the original Stream Engine request
body by :func:`request_body`; then, by the ``action`` button pressed:

* ``show``: a page with the JSON body and the ``curl`` command that sends it;
* ``run``: the body is handed to the API route the choices name, in this process, and its
  answer returned as it is: ``POST /particles`` (JSON records), ``/netcdf``, ``/csv``, ``/tab``
  (a zip, downloaded by the browser), or ``POST /jobs`` (an export job: a 303 to the job's page,
  ``/catalog/jobs/{id}``, which follows the job and then links its files).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from webob import Request
from webob.exc import HTTPSeeOther
from webob.multidict import MultiDict

from stream_engine.catalog.times import parse_time
from stream_engine.engine.versions import stream_version
from stream_engine.errors import BadRequest, StreamEngineError
from stream_engine.web.pages import html_page
from stream_engine.web.urls import Urls
from stream_engine.web.validators import not_modified, with_validators
from stream_engine.web.views.base import View
from stream_engine.web.views.catalog import stream_key

if TYPE_CHECKING:
    from webob import Response

    from stream_engine.store.base import StreamKey

SYNC_ROUTES = {"json": "particles", "netcdf": "netcdf", "csv": "csv", "tab": "tab"}
JOB_FORMATS = {"netcdf": "netcdf", "csv": "csv", "tab": "tsv"}
REQUEST_TEMPLATE = "export_request.html"
JOB_TEMPLATE = "export_job.html"
JOB_REFRESH_SECONDS = 2


class RouteUnavailable(StreamEngineError):
    """The API route a form targets is not part of this server."""

    status = 501


def _choice(form: MultiDict, name: str, allowed: tuple[str, ...]) -> str:
    value = form.get(name, allowed[0])
    if value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def request_body(form: MultiDict, key: StreamKey) -> tuple[str, dict[str, Any]]:
    """The API route (``particles``, ``netcdf``, ``csv``, ``tab`` or ``jobs``) and request body
    a submitted form asks for.

    Raises
    ------
    BadRequest
        A field is malformed (quoted in the message).
    """
    output = _choice(form, "output", tuple(SYNC_ROUTES))
    delivery = _choice(form, "delivery", ("sync", "async"))
    parameters = []
    for text in form.getall("parameter"):
        if not text.isdigit():
            raise BadRequest(f"parameter ids are whole numbers (60 for PD60), got {text!r}")
        parameters.append(int(text))
    stream: dict[str, Any] = {"subsite": key.subsite, "node": key.node, "sensor": key.sensor,
                              "method": key.method, "stream": key.stream, "parameters": parameters}
    body: dict[str, Any] = {"streams": [stream]}
    for name in ("start", "stop"):
        if form.get(name, "").strip():
            body[name] = parse_time(form[name], name)
    if "start" in body and "stop" in body and body["stop"] < body["start"]:
        raise BadRequest(f"stop {form['stop']!r} is before start {form['start']!r}")
    limit = form.get("limit", "").strip()
    if limit:
        if output != "json":
            raise BadRequest("a record limit applies to JSON records only; clear it for files")
        if not limit.isdigit() or int(limit) < 1:
            raise BadRequest(f"the record limit must be a whole number above 0, got {limit!r}")
        body["limit"] = int(limit)
    body["include_provenance"] = form.get("include_provenance") == "true"
    if delivery == "sync":
        return SYNC_ROUTES[output], body
    if output == "json":
        raise BadRequest("JSON records are answered at once; choose NetCDF, CSV or tab-separated "
                         "files for an export job")
    return "jobs", {**body, "format": JOB_FORMATS[output]}


def api_view(context: Any, name: str, method: str = "POST") -> tuple[View, dict[str, str]] | None:
    """The view answering ``method /name`` in this application's route table and its
    placeholder values, if there is one."""
    from stream_engine.web.routes import ROUTES

    path = f"/{name}"
    for route in ROUTES:
        params = route.match(path)
        if params is not None:
            view = route.view(context)
            return (view, params) if view.handler(method) is not None else None
    return None


def api_call(context: Any, request: Request, name: str, body: dict[str, Any] | None = None
             ) -> Response:
    """Call the API route ``/name`` of this application in this process: POST ``body``, or GET
    when ``body`` is ``None``."""
    method = "GET" if body is None else "POST"
    found = api_view(context, name, method)
    if found is None:
        raise RouteUnavailable(f"this server does not offer {method} /{name}; send the request "
                               "body to a server that does, or use the OPeNDAP URL")
    view, params = found
    sub = Request.blank(f"/{name}", base_url=request.application_url, method=method)
    if body is not None:
        sub.body = orjson.dumps(body)
        sub.content_type = "application/json"
    sub.environ["stream_engine.request_id"] = request.environ.get("stream_engine.request_id", "")
    return view.handler(method)(sub, **params)


class DownloadView(View):
    """``GET /download/{subsite}/{node}/{sensor}/{method}/{stream}``: the THREDDS HTTP download.

    A zip of the stream's files, one per deployment, as ``POST /netcdf`` makes them (``?format=``
    ``csv`` or ``tab`` for text; ``start``/``stop`` narrow the range, default all of it).
    """

    def get(self, request: Request, subsite: str, node: str, sensor: str, method: str,
            stream: str) -> Response:
        key = stream_key(subsite, node, sensor, method, stream)
        form = MultiDict(request.GET)
        form["output"] = form.get("format", "netcdf")
        form["delivery"] = "sync"
        target, body = request_body(form, key)
        if target == "particles":
            raise BadRequest("downloads are files: format=netcdf, csv or tab")
        # the version is taken before the files are made: never newer than the data it labels
        with self.context.store.snapshot() as view:
            version = stream_version(view, self.context.preload, key, self.context.settings)
        return not_modified(request, version) or with_validators(
            api_call(self.context, request, target, body), version)


class ExportJobPage(View):
    """``GET /catalog/jobs/{job_id}``: an export job for people, from ``GET /jobs/{job_id}``.

    Refreshes itself every few seconds (no JavaScript) until the job is complete or failed;
    then lists its files with their download links, or says why it failed.
    """

    def get(self, request: Request, job_id: str) -> Response:
        answer = api_call(self.context, request, f"jobs/{job_id}")
        job = orjson.loads(answer.body)
        finished = job.get("state") in ("complete", "failed")
        return html_page([JOB_TEMPLATE], {"job": job, "refresh": not finished,
                                          "refresh_seconds": JOB_REFRESH_SECONDS},
                         json_url=job["status_url"],
                         override_dir=self.context.settings.TEMPLATE_OVERRIDE_DIR)


class ExportFormView(View):
    """Builds the request a stream page's form describes, and shows or runs it."""

    def post(self, request: Request, subsite: str, node: str, sensor: str, method: str,
             stream: str) -> Response:
        key = stream_key(subsite, node, sensor, method, stream)
        target, body = request_body(request.POST, key)
        urls = Urls.for_request(request, self.context.settings.BASE_URL)
        override = self.context.settings.TEMPLATE_OVERRIDE_DIR
        if request.POST.get("action", "run") == "show":
            return html_page([REQUEST_TEMPLATE], {
                "key": key, "target": urls.api(target), "stream_url": urls.stream(key),
                "body": orjson.dumps(body, option=orjson.OPT_INDENT_2).decode(),
            }, json_url=None, override_dir=override)
        answer = api_call(self.context, request, target, body)
        if target != "jobs":
            return answer
        job = orjson.loads(answer.body)
        return HTTPSeeOther(location=urls.job_page(job["id"]))
