"""The original asynchronous routes, kept for existing pipelines.

* ``POST /netcdf-fs``, ``/csv-fs``, ``/tab-fs``, ``/particles-fs`` (JSON particle files): the
  request body plus ``directory`` (relative to
  ``ASYNC_DIR``; as the original, only its last two path components are used). The export's
  files go into that folder with ``<start>-<stop>-status.txt`` (``complete``), and the provenance
  / annotation files asked for as ``..._provenance_<start>-<stop>.json`` /
  ``..._annotations_<start>-<stop>.json`` (the annotations even when the range holds no data);
  the answer is
  ``{"code": 200, "message": "[<paths>]"}``. On failure ``<start>-<stop>-failure.json``
  (``{"code", "message": "Request for particles failed for the following reason: ...",
  "requestUUID"}``) is written as the original did, and, unlike the original, the response
  carries the real HTTP status.
* ``POST /aggregate`` (``{"async_job": <folder>}``): merges the sub-jobs' files in the folder
  (:func:`~stream_engine.outputs.aggregate.aggregate_folder`; the provenance and annotation files
  into one of each per stream), writes ``status.json`` and ``status.txt``.
* ``POST /stats`` (``{"async_job"}`` or ``{"directory"}``): ``{"size": bytes, "time": ms}``.

A ``directory`` with ``.`` or ``..`` components, or none, is refused (400); an unknown folder
is 404.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import orjson

from stream_engine.errors import BadRequest, NotFound, StreamEngineError
from stream_engine.outputs.aggregate import aggregate_folder, folder_stats
from stream_engine.outputs.export import run_export
from stream_engine.outputs.layout import compact_time
from stream_engine.web.errors import UNEXPECTED_MESSAGE
from stream_engine.web.views.base import View, json_response
from stream_engine.web.views.exports import ExportView
from stream_engine.web.views.query_body import read_query

if TYPE_CHECKING:
    from webob import Request, Response

    from stream_engine.config import Settings


def async_folder(settings: Settings, directory: Any, field: str = "directory") -> Path:
    """The folder under ``ASYNC_DIR`` named by the last two components of ``directory``."""
    if not isinstance(directory, str) or not directory.strip("/"):
        raise BadRequest(f"{field} must name a folder relative to the asynchronous folder, got {directory!r}")
    parts = [p for p in PurePosixPath(directory).parts if p != "/"][-2:]
    if any(p in (".", "..") or "\\" in p for p in parts):
        raise BadRequest(f"{field} {directory!r} leaves the asynchronous folder")
    return Path(settings.path("ASYNC_DIR")).joinpath(*parts)


def _body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


class AsyncExportView(ExportView):
    """A sub-job writing files into a ``directory`` (the format named by the subclass)."""

    def post(self, request: Request) -> Response:
        context = self.context
        query = read_query(request, context)
        folder = async_folder(context.settings, query.directory)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{compact_time(query.start)}-{compact_time(query.stop)}"
        try:
            result = run_export(context.store, context.preload, query, self.format_name, folder,
                                context.settings, span=stem)
        except Exception as exc:
            status, reason = (exc.status, str(exc)) if isinstance(exc, StreamEngineError) else (500, UNEXPECTED_MESSAGE)
            failure = {"code": status, "requestUUID": query.request_uuid,
                       "message": f"Request for particles failed for the following reason: {reason}"}
            (folder / f"{stem}-failure.json").write_text(json.dumps(failure))
            (folder / f"{stem}-status.txt").write_text("complete")
            raise
        (folder / f"{stem}-status.txt").write_text("complete")
        return json_response({"code": 200, "message": str([str(p) for p in result.files])})


class AggregateView(View):
    """``POST /aggregate``."""

    def post(self, request: Request) -> Response:
        folder = async_folder(self.context.settings, _body(request).get("async_job"), "async_job")
        if not folder.is_dir():
            raise NotFound(f"no asynchronous job folder {folder.name!r}")
        aggregate_folder(folder)
        return json_response({"code": 200, "message": "aggregation complete"})


class StatsView(View):
    """``POST /stats``."""

    def post(self, request: Request) -> Response:
        body = _body(request)
        field = "async_job" if "async_job" in body else "directory"
        folder = async_folder(self.context.settings, body.get(field), field)
        if not folder.is_dir():
            raise NotFound(f"no asynchronous job folder {folder.name!r}")
        return json_response(folder_stats(folder))
